package usbtool_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nutslave/nutslave/usbtool"
	"github.com/nutslave/nutslave/usbtool/usbtest"
)

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in   string
		want usbtool.Selector
		err  bool
	}{
		{"usb", usbtool.Selector{}, false},
		{"usb://0001:0000", usbtool.Selector{VID: 1, PID: 0}, false},
		{"usb://051D:0002", usbtool.Selector{VID: 0x051d, PID: 2}, false},
		{"usb://051d:0002?serial=AB%2012", usbtool.Selector{VID: 0x051d, PID: 2, Serial: "AB 12"}, false},
		{"usb://051d", usbtool.Selector{}, true},
		{"usb://051d:00002", usbtool.Selector{}, true},
		{"usb://xyz:0002", usbtool.Selector{}, true},
		{"usb://051d:0002?bus=1", usbtool.Selector{}, true},
		{"nut://ups@localhost", usbtool.Selector{}, true},
		{"", usbtool.Selector{}, true},
	}
	for _, tt := range tests {
		got, err := usbtool.ParseSelector(tt.in)
		if tt.err {
			if err == nil || !strings.Contains(err.Error(), "e.g. usb://0001:0000") {
				t.Errorf("ParseSelector(%q) error = %v, want an error with an example", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSelector(%q) = %+v, %v, want %+v", tt.in, got, err, tt.want)
		}
		if back, err := usbtool.ParseSelector(got.String()); err != nil || back != got {
			t.Errorf("ParseSelector(%q.String() = %q) = %+v, %v", tt.in, got.String(), back, err)
		}
	}
}

func TestFind(t *testing.T) {
	kbd := &usbtest.Device{Info: usbtool.DeviceInfo{VID: 0x046d, PID: 0xc31c, Bus: 1, Address: 1}}
	ups := &usbtest.Device{Info: usbtool.DeviceInfo{VID: 0x051d, PID: 0x0002, Serial: "S1", Bus: 1, Address: 2}}
	b := &usbtest.Backend{Devices: []*usbtest.Device{kbd, ups}}
	for _, tt := range []struct {
		sel  usbtool.Selector
		want uint16
	}{
		{usbtool.Selector{}, 0x051d},
		{usbtool.Selector{VID: 0x046d, PID: 0xc31c}, 0x046d},
		{usbtool.Selector{Serial: "S1"}, 0x051d},
		{usbtool.Selector{Serial: "S2"}, 0},
		{usbtool.Selector{VID: 0x0001}, 0},
	} {
		got, err := usbtool.Find(context.Background(), b, tt.sel)
		if tt.want == 0 {
			if !errors.Is(err, usbtool.ErrNoDevice) {
				t.Errorf("Find(%+v) error = %v, want ErrNoDevice", tt.sel, err)
			}
			continue
		}
		if err != nil || got.VID != tt.want {
			t.Errorf("Find(%+v) = %04x, %v, want %04x", tt.sel, got.VID, err, tt.want)
		}
	}
}

// TestFindRefusesToGuess: with two UPSes attached, a selector that does
// not tell them apart is an error, never the first one listed; one that
// does picks its UPS.
func TestFindRefusesToGuess(t *testing.T) {
	apc := &usbtest.Device{Info: usbtool.DeviceInfo{VID: 0x051d, PID: 0x0002, Serial: "A1", Bus: 1, Address: 2}}
	apc2 := &usbtest.Device{Info: usbtool.DeviceInfo{VID: 0x051d, PID: 0x0002, Serial: "A2", Bus: 1, Address: 3}}
	krauler := &usbtest.Device{Info: usbtool.DeviceInfo{VID: 0x0001, PID: 0x0000, Bus: 2, Address: 4}}
	b := &usbtest.Backend{Devices: []*usbtest.Device{apc, apc2, krauler}}
	for _, tt := range []struct {
		sel       usbtool.Selector
		ambiguous bool
		want      *usbtest.Device
	}{
		{sel: usbtool.Selector{}, ambiguous: true},
		{sel: usbtool.Selector{VID: 0x051d, PID: 0x0002}, ambiguous: true},
		{sel: usbtool.Selector{VID: 0x051d, PID: 0x0002, Serial: "A2"}, want: apc2},
		{sel: usbtool.Selector{Serial: "A1"}, want: apc},
		{sel: usbtool.Selector{VID: 0x0001, PID: 0x0000}, want: krauler},
	} {
		got, err := usbtool.Find(context.Background(), b, tt.sel)
		if tt.ambiguous {
			if !errors.Is(err, usbtool.ErrAmbiguous) {
				t.Errorf("Find(%v) = %s, %v; want ErrAmbiguous", tt.sel, got.ID(), err)
			}
			continue
		}
		if err != nil || got != tt.want.Info {
			t.Errorf("Find(%v) = %s, %v; want %s", tt.sel, got.ID(), err, tt.want.Info.ID())
		}
	}
	// Neither Read nor Shutdown goes past the ambiguity.
	if _, err := usbtool.Read(context.Background(), b, usbtool.Selector{}, usbtool.Options{}); !errors.Is(err, usbtool.ErrAmbiguous) {
		t.Errorf("Read: %v, want ErrAmbiguous", err)
	}
	if _, err := usbtool.Shutdown(context.Background(), b, usbtool.Selector{}, usbtool.ShutdownOptions{}); !errors.Is(err, usbtool.ErrAmbiguous) {
		t.Errorf("Shutdown: %v, want ErrAmbiguous", err)
	}
	for _, d := range b.Devices {
		if d.Transfers() > 0 || d.Open() > 0 {
			t.Errorf("%s (serial %q) was opened or spoken to", d.Info.ID(), d.Info.Serial)
		}
	}
}

// TestOpenBackend exercises the libusb backend on this machine: it must
// either list devices or return an error, never panic. No UPS is expected.
func TestOpenBackend(t *testing.T) {
	b, err := usbtool.OpenBackend()
	if errors.Is(err, usbtool.ErrNoBackend) {
		t.Skip("built without cgo: no libusb backend")
	}
	if err != nil {
		t.Logf("OpenBackend: %v (acceptable: libusb could not start here)", err)
		return
	}
	devs, err := b.List(context.Background())
	t.Logf("List: %d devices, err %v", len(devs), err)
	_, err = usbtool.Read(context.Background(), b, usbtool.Selector{VID: 0xfffe, PID: 0xfffe}, usbtool.Options{})
	if !errors.Is(err, usbtool.ErrNoDevice) {
		t.Errorf("Read(absent device) error = %v, want ErrNoDevice", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
