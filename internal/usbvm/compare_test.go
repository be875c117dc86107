package usbvm

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEqual(t *testing.T) {
	tests := []struct {
		ours, nut string
		want      bool
	}{
		{"13.58", "13.6", true},
		{"12", "12.0", true},
		{"100", "100", true},
		{"2580", "2580", true},
		{"27.2", "27.3", false},
		{"OL", "OL", true},
		{"OL CHRG", "OL", false},
		{"PbAc", "PbAc ", true},
		{"x", "1", false},
	}
	for _, tt := range tests {
		if got := Equal(tt.ours, tt.nut); got != tt.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", tt.ours, tt.nut, got, tt.want)
		}
	}
}

func TestCompare(t *testing.T) {
	ours := map[string]string{"battery.charge": "100", "battery.voltage": "13.58", "ups.status": "OL CHRG", "ups.serial": "x"}
	nut := map[string]string{"battery.charge": "100", "battery.voltage": "13.6", "ups.status": "OL", "driver.name": "usbhid-ups"}
	got := Compare(ours, nut, map[string]string{"ups.status": "because"})
	want := []Row{
		{Var: "battery.charge", Ours: "100", NUT: "100", Equal: true},
		{Var: "battery.voltage", Ours: "13.58", NUT: "13.6", Equal: true},
		{Var: "ups.status", Ours: "OL CHRG", NUT: "OL", Explanation: "because"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Compare (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ups.serial"}, Only(ours, nut)); diff != "" {
		t.Errorf("Only (-want +got):\n%s", diff)
	}
}

func TestParseUpsc(t *testing.T) {
	got := ParseUpsc("battery.charge: 100\nups.status: OL CHRG\nInit SSL without certificate database\n")
	want := map[string]string{"battery.charge": "100", "ups.status": "OL CHRG"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseUpsc (-want +got):\n%s", diff)
	}
}

func TestSections(t *testing.T) {
	console := "noise\r\n@@BEGIN upsc@@\r\nbattery.charge: 90\r\n@@END upsc@@\r\n@@FAIL NUT did not start@@\r\n@@BEGIN record@@\n@@END record@@\n@@DONE@@\n"
	s, done, failure := Sections(console)
	want := map[string]string{"upsc": "battery.charge: 90\n", "record": ""}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("Sections (-want +got):\n%s", diff)
	}
	if !done || failure != "NUT did not start" {
		t.Errorf("Sections: done %v, failure %q, want true, %q", done, failure, "NUT did not start")
	}
}

func TestWithDeviceAliases(t *testing.T) {
	got := WithDeviceAliases(map[string]string{"device.model": "UPS1200LX", "device.mfr": "x", "ups.mfr": "CLASSIC PRO"})
	want := map[string]string{"device.model": "UPS1200LX", "device.mfr": "x", "ups.mfr": "CLASSIC PRO", "ups.model": "UPS1200LX"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("WithDeviceAliases (-want +got):\n%s", diff)
	}
}
