//go:build linux

// Command upsgadget emulates a USB UPS on Linux FunctionFS, for the VM lab
// of internal/usbvm: a captured HID Power Device of testdata/hid, or a
// Megatec/Q1 unit in the krauler or cypress style. The VM's init sets the
// gadget up in configfs (VID:PID, strings), mounts FunctionFS, starts
// upsgadget, waits for its ready file and binds the UDC.
//
// The simulated UPS state changes through scenario steps written as lines
// to the control FIFO ("onbatt", "charge -10", "lowbatt on", "online"; see
// gadget.ParseStep). Every command the device receives is recorded, one
// line each, to the record file.
//
// It builds without cgo and runs until it is killed.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/nutslave/nutslave/usbtool"
	"github.com/nutslave/nutslave/usbtool/gadget"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

// options are upsgadget's flags.
type options struct {
	ffs, corpus, device, megatec string
	record, control, ready       string
	serial, usbmon               string
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("upsgadget", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.ffs, "ffs", "/dev/ffs-ups", "where the FunctionFS instance is mounted")
	fs.StringVar(&o.corpus, "corpus", "", "directory of the captured HID devices (*.rdesc.hex, *.reports.txt)")
	fs.StringVar(&o.device, "device", "", "captured HID device to emulate, by name, e.g. apc-back-ups-500")
	fs.StringVar(&o.megatec, "megatec", "", "emulate a Megatec/Q1 unit instead: krauler or cypress")
	fs.StringVar(&o.record, "record", "", "file the received commands are appended to")
	fs.StringVar(&o.control, "control", "", "FIFO scenario steps are read from")
	fs.StringVar(&o.ready, "ready", "", "file created once the gadget can be bound")
	fs.StringVar(&o.serial, "serial", "", "krauler: the gadget's configfs serialnumber attribute (string 3, the Q1 reply)")
	fs.StringVar(&o.usbmon, "usbmon", "", "krauler: usbmon text file to observe the string requests on, e.g. /sys/kernel/debug/usb/usbmon/0u")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if (o.device == "") == (o.megatec == "") {
		return o, errors.New("give exactly one of -device NAME and -megatec krauler|cypress")
	}
	return o, nil
}

func run(args []string, stderr io.Writer) int {
	lg := log.New(stderr, "upsgadget: ", log.Lmicroseconds)
	o, err := parse(args, stderr)
	if err != nil {
		lg.Print(err)
		return 2
	}
	if err := serve(o, lg); err != nil {
		lg.Printf("error: %v", err)
		return 1
	}
	return 0
}

func serve(o options, lg *log.Logger) error {
	rec := gadget.NewRecorder(io.Discard)
	if o.record != "" {
		f, err := os.OpenFile(o.record, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("record file: %w", err)
		}
		defer f.Close()
		rec = gadget.NewRecorder(f)
	}
	dev, err := device(o, rec, lg)
	if err != nil {
		return err
	}
	states := make(chan gadget.State, 16)
	if o.control != "" {
		go readSteps(o.control, states, lg)
	}
	srv := &gadget.Server{Dir: o.ffs, Device: dev, Log: lg, Ready: func() error {
		if o.ready == "" {
			return nil
		}
		return os.WriteFile(o.ready, []byte("ready\n"), 0o644)
	}}
	return srv.Serve(states)
}

// device builds the emulated device the options name.
func device(o options, rec *gadget.Recorder, lg *log.Logger) (gadget.Device, error) {
	if o.device != "" {
		c, err := gadget.LoadCorpus(o.corpus, o.device)
		if err != nil {
			return nil, err
		}
		return gadget.NewHID(c.Descriptor, c.Reports, rec)
	}
	style := map[string]usbtool.MegatecStyle{"krauler": usbtool.Krauler, "cypress": usbtool.Cypress}[o.megatec]
	m, err := gadget.NewMegatec(style, o.serial, rec)
	if err != nil {
		return nil, err
	}
	if _, err := m.Apply(gadget.Initial); err != nil {
		return nil, err
	}
	if o.usbmon != "" {
		f, err := os.Open(o.usbmon)
		if err != nil {
			return nil, fmt.Errorf("usbmon: %w", err)
		}
		go func() {
			defer f.Close()
			if err := gadget.WatchUsbmon(f, m.Observe); err != nil {
				lg.Print(err)
			}
		}()
	}
	return m, nil
}

// readSteps reads scenario steps from the FIFO at path, reopening it
// after each writer closes it, and sends the resulting states.
func readSteps(path string, states chan<- gadget.State, lg *log.Logger) {
	st := gadget.Initial
	for {
		f, err := os.Open(path)
		if err != nil {
			lg.Printf("control: %v", err)
			return
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			next, err := gadget.ParseStep(st, sc.Text())
			if err != nil {
				lg.Printf("control: %v", err)
				continue
			}
			st = next
			lg.Printf("state %+v", st)
			states <- st
		}
		f.Close()
	}
}
