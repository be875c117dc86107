package usbtool_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nutslave/nutslave/usbtool"
	"github.com/nutslave/nutslave/usbtool/usbtest"
)

func TestParseQ1(t *testing.T) {
	good := "(208.4 140.0 208.4 034 59.9 2.05 35.0 00110000\r"
	q, err := usbtool.ParseQ1(good)
	if err != nil {
		t.Fatalf("ParseQ1(%q): %v", good, err)
	}
	want := usbtool.Q1{InputVoltage: 208.4, InputFaultVoltage: 140, OutputVoltage: 208.4, Load: 34, Frequency: 59.9,
		BatteryVoltage: 2.05, Temperature: 35, Status: [8]bool{false, false, true, true}}
	if diff := cmp.Diff(want, q); diff != "" {
		t.Errorf("ParseQ1 mismatch (-want +got):\n%s", diff)
	}
	bad := []struct{ name, reply string }{
		{"empty", ""},
		{"no paren", "#208.4 140.0 208.4 034 59.9 2.05 35.0 00110000"},
		{"short", "(208.4 140.0 208.4 034 59.9 2.05 35.0 0011000"},
		{"long", "(208.4 140.0 208.4 034 59.9 2.05 35.0 001100001"},
		{"bad bit", "(208.4 140.0 208.4 034 59.9 2.05 35.0 00110002"},
		{"letters", "(208.4 140.0 2x8.4 034 59.9 2.05 35.0 00110000"},
		{"shifted", "(208.4  140.0208.4 034 59.9 2.05 35.0 00110000"},
		{"dashes", "(208.4 140.0 208.4 034 59.9 2.05 --.- 00110000"},
		{"NAK", "NAK\r"},
	}
	for _, tt := range bad {
		if _, err := usbtool.ParseQ1(tt.reply); !errors.Is(err, usbtool.ErrMalformed) {
			t.Errorf("ParseQ1(%q) error = %v, want ErrMalformed", tt.reply, err)
		}
	}
}

func TestParseFI(t *testing.T) {
	f, err := usbtool.ParseF("#220.0 000 024.0 50.0\r")
	if err != nil {
		t.Fatal(err)
	}
	if want := (usbtool.F{Voltage: 220, Current: 0, BatteryVoltage: 24, Frequency: 50}); f != want {
		t.Errorf("ParseF = %+v, want %+v", f, want)
	}
	for _, s := range []string{"", "#220.0 000 024.0 50.", "(220.0 000 024.0 50.0", "#220.0 0a0 024.0 50.0"} {
		if _, err := usbtool.ParseF(s); !errors.Is(err, usbtool.ErrMalformed) {
			t.Errorf("ParseF(%q) error = %v, want ErrMalformed", s, err)
		}
	}
	id, err := usbtool.ParseI("#CLASSIC PRO     UPS1200LX  1.00      \r")
	if err != nil {
		t.Fatal(err)
	}
	if want := (usbtool.I{Manufacturer: "CLASSIC PRO", Model: "UPS1200LX", Firmware: "1.00"}); id != want {
		t.Errorf("ParseI = %+v, want %+v", id, want)
	}
	for _, s := range []string{"", "#CLASSIC PRO", "#CLASSIC PRO    UPS1200LX   1.00      ", "#CLASSIC PRO     UPS1200LX  1.00\x01     "} {
		if _, err := usbtool.ParseI(s); !errors.Is(err, usbtool.ErrMalformed) {
			t.Errorf("ParseI(%q) error = %v, want ErrMalformed", s, err)
		}
	}
}

func TestMegatecCharge(t *testing.T) {
	q1 := func(batt string, status string) usbtool.Q1 {
		q, err := usbtool.ParseQ1("(230.0 230.0 230.0 010 50.0 " + batt + " 30.0 " + status)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	f24 := &usbtool.F{Voltage: 230, BatteryVoltage: 24, Frequency: 50}
	tests := []struct {
		name   string
		q      usbtool.Q1
		f      *usbtool.F
		opt    usbtool.MegatecOptions
		charge string // "" = absent
		status string
	}{
		// 24 V nominal: low 20.8, high 26.0 (NUT's guess).
		{"guess mid", q1("25.2", "00001001"), f24, usbtool.MegatecOptions{}, "85", "OL"},
		{"guess full", q1("27.3", "00001001"), f24, usbtool.MegatecOptions{}, "100", "OL"},
		{"guess empty", q1("19.0", "11001001"), f24, usbtool.MegatecOptions{}, "0", "OB LB"},
		{"configured", q1("25.2", "10001001"), f24, usbtool.MegatecOptions{BatteryVoltageLow: 21, BatteryVoltageHigh: 27}, "70", "OB"},
		// A unit reporting one cell (2.10 V) of a 24 V battery: 12 packs.
		{"per cell", q1("2.10", "00001001"), f24, usbtool.MegatecOptions{}, "85", "OL"},
		{"explicit packs", q1("2.10", "00001001"), f24, usbtool.MegatecOptions{BatteryPacks: 12}, "85", "OL"},
		{"no F reply, no limits", q1("25.2", "00001001"), nil, usbtool.MegatecOptions{}, "", "OL"},
		{"no F reply, configured", q1("25.2", "00000001"), nil, usbtool.MegatecOptions{BatteryVoltageLow: 20.8, BatteryVoltageHigh: 26}, "85", "OL"},
		{"test and shutdown", q1("25.2", "00001110"), f24, usbtool.MegatecOptions{}, "85", "OL CAL FSD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := usbtool.MegatecVars(tt.q, tt.f, nil, tt.opt)
			if got := v["battery.charge"]; got != tt.charge {
				t.Errorf("battery.charge = %q, want %q", got, tt.charge)
			}
			if got := v["ups.status"]; got != tt.status {
				t.Errorf("ups.status = %q, want %q", got, tt.status)
			}
		})
	}
}

func TestMegatecBoostTrim(t *testing.T) {
	for _, tt := range []struct{ in, out, want string }{
		{"200.0", "230.0", "OL BOOST"},
		{"250.0", "230.0", "OL TRIM"},
		{"230.0", "230.0", "OL BYPASS"},
	} {
		q, err := usbtool.ParseQ1("(" + tt.in + " 230.0 " + tt.out + " 010 50.0 27.3 30.0 00101001")
		if err != nil {
			t.Fatal(err)
		}
		if got := usbtool.MegatecVars(q, nil, nil, usbtool.MegatecOptions{})["ups.status"]; got != tt.want {
			t.Errorf("in %s out %s: ups.status = %q, want %q", tt.in, tt.out, got, tt.want)
		}
	}
}

func TestReadMegatecUSB(t *testing.T) {
	want := map[string]string{
		"battery.charge": "85", "battery.voltage": "25.2", "battery.voltage.high": "26", "battery.voltage.low": "20.8",
		"battery.voltage.nominal": "24", "input.current.nominal": "12", "input.frequency": "60", "input.frequency.nominal": "60",
		"input.voltage": "100", "input.voltage.fault": "100", "input.voltage.nominal": "100", "output.voltage": "100",
		"ups.beeper.status": "enabled", "ups.firmware": "1.00", "ups.load": "12", "ups.mfr": "CLASSIC PRO", "ups.model": "UPS1200LX",
		"ups.status": "OL", "ups.temperature": "25", "ups.type": "offline / line interactive",
	}
	for _, tt := range []struct {
		name string
		dev  *usbtest.Device
		vid  uint16
		pid  uint16
	}{
		{"krauler", krauler(t), 0x0001, 0x0000},
		{"cypress", cypress(t), 0x0665, 0x5161},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := &usbtest.Backend{Devices: []*usbtest.Device{tt.dev}}
			got, err := usbtool.Read(context.Background(), b, usbtool.Selector{}, usbtool.Options{})
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			w := map[string]string{"ups.vendorid": "0001", "ups.productid": "0000"}
			if tt.vid != 1 {
				w = map[string]string{"ups.vendorid": "0665", "ups.productid": "5161"}
			}
			for k, v := range want {
				w[k] = v
			}
			if diff := cmp.Diff(w, got); diff != "" {
				t.Errorf("Read() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKraulerNoAck(t *testing.T) {
	dev := krauler(t)
	dev.Strings[3] = "UPS No Ack"
	_, err := usbtool.MegatecCommand(context.Background(), dev.Transport(), usbtool.Krauler, "Q1", 0)
	if !errors.Is(err, usbtool.ErrTimeout) {
		t.Errorf("err = %v, want ErrTimeout after retries", err)
	}
	if got := dev.Transfers(); got != 10 {
		t.Errorf("transfers = %d, want 10 attempts", got)
	}
}

func TestCypressSilent(t *testing.T) {
	dev := cypress(t)
	dev.Commands = map[string]string{}
	_, err := usbtool.ReadMegatec(context.Background(), dev.Transport(), usbtool.Cypress, usbtool.MegatecOptions{})
	if !errors.Is(err, usbtool.ErrTimeout) {
		t.Errorf("err = %v, want ErrTimeout", err)
	}
}
