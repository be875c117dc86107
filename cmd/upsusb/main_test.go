package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nutslave/nutslave/usbtool"
	"github.com/nutslave/nutslave/usbtool/usbtest"
)

const usbtoolTestdata = "../../usbtool/testdata"

func syntheticUPS(t *testing.T) *usbtest.Device {
	t.Helper()
	desc, reps, err := usbtest.LoadFiles(filepath.Join(usbtoolTestdata, "synthetic-ups.rdesc.hex"), filepath.Join(usbtoolTestdata, "synthetic-ups-online.reports.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return &usbtest.Device{
		Info:             usbtool.DeviceInfo{VID: 0x051d, PID: 0x0002, Manufacturer: "Example", Product: "Synthetic UPS", Serial: "SYN001", Bus: 1, Address: 2},
		ReportDescriptor: desc,
		Reports:          reps,
		Strings:          map[uint8]string{4: "PbAc"},
	}
}

func krauler() *usbtest.Device {
	return &usbtest.Device{
		Info: usbtool.DeviceInfo{VID: 0x0001, PID: 0x0000, Bus: 3, Address: 7},
		Strings: map[uint8]string{
			0x03: "(230.0 230.0 230.0 010 50.0 12.5 30.0 00001001\r",
			0x0d: "#230.0 004 12.00 50.0\r",
		},
	}
}

func keyboard() *usbtest.Device {
	return &usbtest.Device{Info: usbtool.DeviceInfo{VID: 0x046d, PID: 0xc31c, Product: "Keyboard", Bus: 1, Address: 5}}
}

// runWith runs upsusb with args against a fake backend.
func runWith(t *testing.T, b *usbtest.Backend, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	testOnlyBackend = func() (usbtool.Backend, error) { return b, nil }
	t.Cleanup(func() { testOnlyBackend = nil })
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"upsusb"}, args...), &out, &errb)
	if b != nil && b.Devices != nil {
		for _, d := range b.Devices {
			if d.Open() != 0 {
				t.Errorf("upsusb %v left %s open", args, d.Info.ID())
			}
		}
	}
	return code, out.String(), errb.String()
}

func TestRun(t *testing.T) {
	busy := syntheticUPS(t)
	busy.OpenErr = fmt.Errorf("claim interface 0: %w", usbtool.ErrDeviceBusy)
	denied := syntheticUPS(t)
	denied.OpenErr = fmt.Errorf("open: %w", fs.ErrPermission)
	tests := []struct {
		name     string
		devs     []*usbtest.Device
		args     []string
		code     int
		stdout   []string // substrings
		stderr   []string
		noStderr bool
	}{
		{"list none", []*usbtest.Device{keyboard()}, []string{"list"}, 0, []string{"no UPS found among 1 USB device(s)"}, nil, true},
		{"list", []*usbtest.Device{keyboard(), syntheticUPS(t), krauler()}, []string{"list"},
			0, []string{"051d:0002", "001/002", "hid-pdc", "Synthetic UPS", "SYN001", "0001:0000", "megatec-krauler"}, nil, true},
		{"list all", []*usbtest.Device{keyboard()}, []string{"list", "--all"}, 0, []string{"046d:c31c", "Keyboard"}, nil, true},
		{"read hid", []*usbtest.Device{syntheticUPS(t)}, []string{"read"}, 0,
			[]string{"battery.charge: 95\n", "battery.runtime: 3600\n", "battery.voltage: 13.5\n", "ups.status: OL CHRG\n", "battery.type: PbAc\n"}, nil, true},
		{"read krauler by device", []*usbtest.Device{syntheticUPS(t), krauler()}, []string{"read", "--device", "0001:0000"}, 0,
			[]string{"ups.status: OL\n", "battery.voltage: 12.5\n", "battery.charge: 81\n"}, nil, true},
		{"read serial", []*usbtest.Device{syntheticUPS(t)}, []string{"read", "--serial", "SYN001"}, 0, []string{"ups.serial: SYN001"}, nil, true},
		{"read wrong serial", []*usbtest.Device{syntheticUPS(t)}, []string{"read", "--serial", "NOPE"}, 1, nil,
			[]string{"upsusb: error: no matching USB UPS found", "upsusb: hint:"}, false},
		{"read no device", nil, []string{"read"}, 1, nil, []string{"upsusb: error: no matching USB UPS found", "upsusb: hint: check the cable"}, false},
		{"read busy", []*usbtest.Device{busy}, []string{"read"}, 1, nil,
			[]string{"busy", "upsusb: hint: NUT's driver", "SOURCE=nut://ups@localhost"}, false},
		{"read permission", []*usbtest.Device{denied}, []string{"read"}, 4, nil, []string{"permission denied", "upsusb: hint: run as root"}, false},
		{"bad device", nil, []string{"read", "--device", "12345:1"}, 2, nil, []string{"e.g. 051d:0002"}, false},
		{"bad flag", nil, []string{"read", "--nope"}, 2, nil, []string{"upsusb: error: flag provided but not defined"}, false},
		{"unknown command", nil, []string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`}, false},
		{"dump", []*usbtest.Device{syntheticUPS(t)}, []string{"dump"}, 0,
			[]string{"report descriptor: 214 bytes", "UPS.PowerSummary.RemainingCapacity id=0x04 off=0 size=8", "UPS.PowerSummary.PresentStatus.ACPresent"}, nil, true},
		{"dump megatec", []*usbtest.Device{krauler()}, []string{"dump"}, 1, nil, []string{"read report descriptor: USB request stalled"}, false},
		{"man", nil, []string{"man"}, 0, []string{".TH UPSUSB 8", "list", "read"}, nil, true},
		{"version", nil, []string{"--version"}, 0, []string{"upsusb version "}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runWith(t, &usbtest.Backend{Devices: tt.devs}, tt.args...)
			checkRun(t, code, out, errs, tt.code, tt.stdout, tt.stderr)
			if tt.noStderr && errs != "" {
				t.Errorf("stderr = %q, want nothing", errs)
			}
		})
	}
}

// checkRun checks a run's exit code and that its stdout and stderr hold
// the wanted texts.
func checkRun(t *testing.T, code int, out, errs string, wantCode int, stdout, stderr []string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, wantCode, out, errs)
	}
	for _, s := range stdout {
		if !strings.Contains(out, s) {
			t.Errorf("stdout lacks %q:\n%s", s, out)
		}
	}
	for _, s := range stderr {
		if !strings.Contains(errs, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errs)
		}
	}
}

func TestReadJSON(t *testing.T) {
	code, out, errs := runWith(t, &usbtest.Backend{Devices: []*usbtest.Device{syntheticUPS(t)}}, "read", "--json")
	if code != 0 {
		t.Fatalf("exit code = %d, stderr %s", code, errs)
	}
	var vars map[string]string
	if err := json.Unmarshal([]byte(out), &vars); err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, out)
	}
	if got := vars["ups.status"]; got != "OL CHRG" {
		t.Errorf(`vars["ups.status"] = %q, want "OL CHRG"`, got)
	}
}

func TestBackendError(t *testing.T) {
	testOnlyBackend = func() (usbtool.Backend, error) { return nil, usbtool.ErrNoBackend }
	t.Cleanup(func() { testOnlyBackend = nil })
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"upsusb", "list"}, &out, &errb); code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "CGO_ENABLED=1") {
		t.Errorf("stderr = %q, want a hint about cgo", errb.String())
	}
}
