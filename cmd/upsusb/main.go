// Command upsusb lists, dumps and reads USB UPSes directly (HID Power
// Device Class or Megatec/Q1), without NUT.
package main

import (
	"context"
	"os"
)

func main() { os.Exit(run(context.Background(), os.Args, os.Stdout, os.Stderr)) }
