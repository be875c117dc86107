// Command recorder is the shutdown command of nutslave's benchmarks: it
// appends "<unix nanoseconds> <pid> <args...>" to the file named by its first
// argument and exits 0. It reads the clock before anything else, so the time
// is when the command started.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	now := time.Now().UnixNano()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: recorder FILE [ARGS...]")
		os.Exit(2)
	}
	line := strconv.FormatInt(now, 10) + " " + strconv.Itoa(os.Getpid()) + " " + strings.Join(os.Args[2:], " ") + "\n"
	f, err := os.OpenFile(os.Args[1], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "recorder:", err)
		os.Exit(1)
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "recorder:", err)
		os.Exit(1)
	}
}
