package usbtool_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nutslave/nutslave/usbtool"
	"github.com/nutslave/nutslave/usbtool/usbtest"
)

// updateGolden reports whether golden files should be rewritten.
func updateGolden() bool { return os.Getenv("UPDATE_GOLDEN") != "" }

func readHexFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	d, err := usbtest.ParseHex(string(b))
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return d
}

func readReportsFile(tb testing.TB, path string) map[usbtool.ReportRef][]byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, err := usbtest.ParseReports(f)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return r
}

// syntheticUPS returns the emulated hand-made HID UPS with the given
// reports file from testdata.
func syntheticUPS(tb testing.TB, reports string) *usbtest.Device {
	tb.Helper()
	return &usbtest.Device{
		Info:             usbtool.DeviceInfo{VID: 0x1234, PID: 0x5678, Manufacturer: "Example", Product: "Synthetic UPS", Serial: "SYN001", Bus: 1, Address: 2},
		ReportDescriptor: readHexFile(tb, filepath.Join("testdata", "synthetic-ups.rdesc.hex")),
		Reports:          readReportsFile(tb, filepath.Join("testdata", reports)),
		Strings:          map[uint8]string{2: "Synthetic UPS", 4: "PbAc"},
	}
}

// megatecReplies reads testdata/ups1200lx.replies.txt: command TAB reply.
func megatecReplies(tb testing.TB) map[string]string {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", "ups1200lx.replies.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); l != "" && l[0] != '#' {
			cmd, reply, _ := strings.Cut(l, "\t")
			out[cmd] = reply + "\r"
		}
	}
	return out
}

// krauler returns an emulated 0001:0000 unit that answers through string
// descriptors (the first character of each reply is replaced by the
// driver, so the emulation sends a different one, as real units do).
func krauler(tb testing.TB) *usbtest.Device {
	r := megatecReplies(tb)
	strs := map[uint8]string{}
	for cmd, idx := range map[string]uint8{"Q1": 3, "F": 0x0d, "I": 0x0c} {
		strs[idx] = "?" + r[cmd][1:]
	}
	return &usbtest.Device{
		Info:    usbtool.DeviceInfo{VID: 0x0001, PID: 0x0000, Bus: 1, Address: 3},
		Strings: strs,
	}
}

// cypress returns an emulated 0665:5161 unit.
func cypress(tb testing.TB) *usbtest.Device {
	return &usbtest.Device{
		Info:     usbtool.DeviceInfo{VID: 0x0665, PID: 0x5161, Bus: 1, Address: 4},
		Commands: megatecReplies(tb),
	}
}
