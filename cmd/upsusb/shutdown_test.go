package main

import (
	"path/filepath"
	"testing"

	"github.com/nutslave/nutslave/usbtool"
	"github.com/nutslave/nutslave/usbtool/usbtest"
)

// cyberpower returns the captured CP1500PFCLCD, emulated; it stalls every
// SET_REPORT, so a run that succeeds on it sent none.
func cyberpower(t *testing.T) *usbtest.Device {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "hid")
	desc, reps, err := usbtest.LoadFiles(filepath.Join(dir, "cyberpower-cp1500pfclcd.rdesc.hex"), filepath.Join(dir, "cyberpower-cp1500pfclcd.reports.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return &usbtest.Device{Info: usbtool.DeviceInfo{VID: 0x0764, PID: 0x0501, Bus: 1, Address: 6}, ReportDescriptor: desc, Reports: reps}
}

func cypressUPS() *usbtest.Device {
	return &usbtest.Device{
		Info:     usbtool.DeviceInfo{VID: 0x0665, PID: 0x5161, Bus: 2, Address: 3},
		Commands: map[string]string{"Q1": "(230.0 230.0 230.0 010 50.0 13.5 30.0 10001001\r"},
	}
}

func TestShutdown(t *testing.T) {
	tests := []struct {
		name   string
		dev    *usbtest.Device
		args   []string
		code   int
		stdout []string
		stderr []string
		sent   bool // the device saw transfers
	}{
		{"refused without --yes", cyberpower(t), []string{"shutdown"}, 2, nil,
			[]string{"upsusb: error: shutdown cuts the power of everything plugged into the UPS", "refusing without --yes", "upsusb: hint: see what would be sent with 'upsusb shutdown --dry-run'"}, false},
		{"dry run", cyberpower(t), []string{"shutdown", "--dry-run"}, 0,
			[]string{"protocol: hid-pdc\n", "status: OL", "dry run, nothing sent; would send:\n",
				"  SET_REPORT feature 0x16 UPS.Output.DelayBeforeStartup=120\n  SET_REPORT feature 0x15 UPS.Output.DelayBeforeShutdown=60\n",
				"cuts its load in 60s and restores it 120s after the mains returns"}, nil, true},
		{"dry run rounds to minutes", cyberpower(t), []string{"shutdown", "-n", "--offdelay", "20s", "--ondelay", "90s"}, 0,
			[]string{"DelayBeforeStartup=120", "DelayBeforeShutdown=60"},
			[]string{"upsusb: warning: CyberPower firmware counts these delays in whole minutes", "offdelay 20s and ondelay 90s are sent as 60s and 120s"}, true},
		{"minutes keep ondelay above offdelay", cyberpower(t), []string{"shutdown", "-n", "--offdelay", "20s", "--ondelay", "30s"}, 0,
			[]string{"DelayBeforeStartup=120", "DelayBeforeShutdown=60", "cuts its load in 60s and restores it 120s"}, nil, true},
		{"offdelay not below ondelay", cyberpower(t), []string{"shutdown", "-n", "--offdelay", "2m", "--ondelay", "1m"}, 1, nil,
			[]string{"offdelay 120s is not shorter than ondelay 60s"}, true},
		{"cypress", cypressUPS(), []string{"shutdown", "--yes", "--offdelay", "20s", "--ondelay", "60s"}, 0,
			[]string{"protocol: megatec-cypress\n", "status: OB\n", "sent:\n  megatec C\n  megatec S.3R0001\n", "cuts its load in 18s and restores it 60s"},
			[]string{"upsusb: warning: offdelay 20s truncated to 18s"}, true},
		{"megatec out of range", cypressUPS(), []string{"shutdown", "--yes", "--offdelay", "11m"}, 1, nil, []string{"12s to 600s"}, true},
		{"krauler", krauler(), []string{"shutdown", "--yes"}, 1, []string{"status: OL\n"},
			[]string{"upsusb: error: shutdown 0001:0000: this UPS cannot be told over USB to cut its load: the krauler protocol", "upsusb: hint: the UPS will run until its battery is empty"}, true},
		{"man", nil, []string{"man"}, 0, []string{".SS shutdown", "(--dry-run | --yes)"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &usbtest.Backend{}
			if tt.dev != nil {
				b.Devices = []*usbtest.Device{tt.dev}
			}
			code, out, errs := runWith(t, b, tt.args...)
			checkRun(t, code, out, errs, tt.code, tt.stdout, tt.stderr)
			if tt.dev != nil && (tt.dev.Transfers() != 0) != tt.sent {
				t.Errorf("%d transfers, want some: %v", tt.dev.Transfers(), tt.sent)
			}
		})
	}
}
