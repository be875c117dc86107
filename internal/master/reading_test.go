package master

import (
	"errors"
	"testing"
)

func TestFromVars(t *testing.T) {
	tests := []struct {
		name  string
		vars  map[string]string
		power Power
		ok    bool
		str   string
	}{
		{"on line", map[string]string{"ups.status": "OL CHRG", "battery.charge": "100", "battery.runtime": "1800"}, PowerOnLine, true,
			`status="OL CHRG" charge=100 runtime=30m0s`},
		{"on battery", map[string]string{"ups.status": "OB DISCHRG LB", "battery.charge": "12.5"}, PowerOnBattery, true,
			`status="OB DISCHRG LB" charge=12.5`},
		{"no status", map[string]string{"battery.charge": "100"}, PowerUnknown, false, ""},
		{"WAIT", map[string]string{"ups.status": "WAIT"}, PowerUnknown, false, ""},
		{"garbage numbers", map[string]string{"ups.status": "OL", "battery.charge": "n/a", "battery.runtime": "-5"}, PowerOnLine, true, `status="OL"`},
		{"bypass", map[string]string{"ups.status": "BYPASS"}, PowerUnknown, true, `status="BYPASS"`},
	}
	for _, tt := range tests {
		r := FromVars(tt.vars, t0)
		if r.Power() != tt.power || r.OK() != tt.ok {
			t.Errorf("%s: FromVars() power %v ok %v, want %v %v", tt.name, r.Power(), r.OK(), tt.power, tt.ok)
		}
		if !tt.ok && !errors.Is(r.Err, ErrNoStatus) {
			t.Errorf("%s: Err = %v, want ErrNoStatus", tt.name, r.Err)
		}
		if tt.ok && r.String() != tt.str {
			t.Errorf("%s: String() = %s, want %s", tt.name, r.String(), tt.str)
		}
	}
	if got := NoReading(t0, errors.New("boom")).String(); got != "no reading: boom" {
		t.Errorf("NoReading.String() = %q", got)
	}
}

func TestParseUpsc(t *testing.T) {
	vars, err := ParseUpsc([]byte("# a test UPS\nbattery.charge: 40\nups.status: OB DISCHRG\n\ndevice.mfr:   Some: Thing  \n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"battery.charge": "40", "ups.status": "OB DISCHRG", "device.mfr": "Some: Thing"}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("ParseUpsc: %s = %q, want %q", k, vars[k], v)
		}
	}
	for _, bad := range []string{"no colon here", "bad name!: x", ": empty name"} {
		if _, err := ParseUpsc([]byte(bad)); !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseUpsc(%q) error = %v, want ErrSyntax", bad, err)
		}
	}
	if _, err := ParseUpsc(make([]byte, MaxUpscSize+1)); !errors.Is(err, ErrSyntax) {
		t.Errorf("ParseUpsc(oversized) error = %v, want ErrSyntax", err)
	}
}

func FuzzParseUpsc(f *testing.F) {
	for _, s := range []string{"ups.status: OL\nbattery.charge: 100\n", "ups.status: OB LB\n", "x", "a:b:c", "# c\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vars, err := ParseUpsc(b)
		if err != nil {
			return
		}
		r := FromVars(vars, t0)
		if r.OK() && len(r.Status) == 0 {
			t.Fatalf("reading without status is OK: %+v", r)
		}
		if r.HasCharge && (r.Charge < 0 || r.Charge > 1000) {
			t.Fatalf("charge out of range: %v", r.Charge)
		}
		_ = r.String()
	})
}
