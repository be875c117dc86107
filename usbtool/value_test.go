package usbtool_test

import (
	"math"
	"testing"

	"github.com/nutslave/nutslave/usbtool"
)

func TestFieldValue(t *testing.T) {
	tests := []struct {
		name   string
		f      usbtool.Field
		report []byte
		want   float64
		ok     bool
	}{
		{"unsigned byte", usbtool.Field{ReportID: 1, Size: 8, LogMax: 255}, []byte{1, 200}, 200, true},
		{"bits", usbtool.Field{ReportID: 1, Offset: 3, Size: 1, LogMax: 1}, []byte{1, 0x08}, 1, true},
		{"16-bit little endian", usbtool.Field{ReportID: 1, Offset: 8, Size: 16, LogMax: 65535}, []byte{1, 0, 0x22, 0x0e}, 3618, true},
		// APC BF500: garbage in the high bits is masked away.
		{"masked", usbtool.Field{ReportID: 1, Size: 32, LogMax: 0xffff}, []byte{1, 0x00, 0x0a, 0x08, 0x80}, 0x0a00, true},
		{"signed", usbtool.Field{ReportID: 1, Size: 16, LogMin: -1, LogMax: 32767}, []byte{1, 0xff, 0xff}, -1, true},
		{"clamped", usbtool.Field{ReportID: 1, Size: 8, LogMin: 136, LogMax: 142}, []byte{1, 121}, 136, true},
		// CyberPower delays: physical = 60 x logical.
		{"physical", usbtool.Field{ReportID: 1, Size: 16, LogMin: -1, LogMax: 32767, PhysMin: -60, PhysMax: 1966020, HavePhysMin: true, HavePhysMax: true}, []byte{1, 2, 0}, 120, true},
		{"volts exponent", usbtool.Field{ReportID: 1, Size: 16, LogMax: 65535, Unit: usbtool.UnitVolt, UnitExp: 5}, []byte{1, 0xb0, 0x04}, 12, true},
		{"volts exponent 6", usbtool.Field{ReportID: 1, Size: 8, LogMax: 255, Unit: usbtool.UnitVolt, UnitExp: 6}, []byte{1, 0xf0}, 24, true},
		{"unitless exponent", usbtool.Field{ReportID: 1, Size: 8, LogMax: 255, UnitExp: -2}, []byte{1, 3}, 0.03, true},
		{"no report id", usbtool.Field{Size: 8, LogMax: 255}, []byte{7}, 7, true},
		{"short", usbtool.Field{ReportID: 1, Offset: 16, Size: 8, LogMax: 255}, []byte{1, 2}, 0, false},
	}
	for _, tt := range tests {
		got, ok := tt.f.Value(tt.report)
		if ok != tt.ok || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: Value(% x) = %v, %v, want %v, %v", tt.name, tt.report, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseDescriptorGlobals(t *testing.T) {
	// Logical Maximum 25 ff (-1) with LogMin 0 becomes 255 (NUT's hack);
	// Unit Exponent 0x0e is -2; a vendor collection type adds an index.
	desc := []byte{
		0x05, 0x84, 0x09, 0x04, 0xa1, 0x01, // UPS application
		0x09, 0x1e, 0xa1, 0x84, // Flow, vendor collection type 0x84 -> [4]
		0x85, 0x0c, 0x15, 0x00, 0x25, 0xff, 0x55, 0x0e, 0x75, 0x08, 0x95, 0x01,
		0x09, 0x40, 0xb1, 0x02, // ConfigVoltage
		0x75, 0x08, 0x95, 0x02, 0xb1, 0x03, // 2 bytes padding, no usage
		0x09, 0x30, 0x95, 0x01, 0xb1, 0x02, // Voltage after the padding
		0xc0, 0xc0,
	}
	d, err := usbtool.ParseDescriptor(desc)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Fields) != 2 {
		t.Fatalf("%d fields, want 2", len(d.Fields))
	}
	f := d.Fields[0]
	if got := f.Path.String(); got != "UPS.Flow.[4].ConfigVoltage" {
		t.Errorf("path = %s", got)
	}
	if f.LogMax != 255 || !f.AssumedLogMax || f.UnitExp != -2 {
		t.Errorf("LogMax %d assumed %v UnitExp %d, want 255 true -2", f.LogMax, f.AssumedLogMax, f.UnitExp)
	}
	if g := d.Fields[1]; g.Offset != 24 || g.Path.String() != "UPS.Flow.[4].Voltage" {
		t.Errorf("second field %s at %d, want UPS.Flow.[4].Voltage at 24", g.Path, g.Offset)
	}
	if n := d.ReportLen(0x0c, usbtool.Feature); n != 5 {
		t.Errorf("ReportLen = %d, want 5", n)
	}
	for _, bad := range [][]byte{{0xc0}, {0xa1, 0x01}, {0x26, 0xff}, {0xfe, 0x05, 0x00, 0x01}} {
		if _, err := usbtool.ParseDescriptor(bad); err == nil {
			t.Errorf("ParseDescriptor(% x) succeeded, want an error", bad)
		}
	}
}

func TestFieldEncode(t *testing.T) {
	tests := []struct {
		name string
		f    usbtool.Field
		size int
		v    float64
		want float64 // what Value reads back
	}{
		{"unsigned byte", usbtool.Field{ReportID: 1, Size: 8, LogMax: 255}, 2, 200, 200},
		{"bit among others", usbtool.Field{ReportID: 1, Offset: 3, Size: 1, LogMax: 1}, 2, 1, 1},
		{"16-bit", usbtool.Field{ReportID: 1, Offset: 8, Size: 16, LogMax: 65535}, 4, 3618, 3618},
		{"signed", usbtool.Field{ReportID: 1, Size: 16, LogMin: -1, LogMax: 32767}, 3, -1, -1},
		{"clamped", usbtool.Field{ReportID: 1, Size: 8, LogMin: 136, LogMax: 142}, 2, 121, 136},
		{"physical", usbtool.Field{ReportID: 1, Size: 16, LogMin: -1, LogMax: 32767, PhysMin: -60, PhysMax: 1966020, HavePhysMin: true, HavePhysMax: true}, 3, 120, 120},
		{"volts exponent", usbtool.Field{ReportID: 1, Size: 16, LogMax: 65535, Unit: usbtool.UnitVolt, UnitExp: 5}, 3, 13.58, 13.58},
		{"no report id", usbtool.Field{Size: 8, LogMax: 255}, 1, 7, 7},
	}
	for _, tt := range tests {
		rep := make([]byte, tt.size)
		if tt.f.ReportID != 0 {
			rep[0] = tt.f.ReportID
		}
		for i := 1; i < len(rep); i++ {
			rep[i] = 0xa5 // bits outside the field must survive
		}
		before := append([]byte(nil), rep...)
		if !tt.f.Encode(rep, tt.v) {
			t.Errorf("%s: Encode(%v) failed", tt.name, tt.v)
			continue
		}
		got, ok := tt.f.Value(rep)
		if !ok || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: Value(Encode(%v)) = %v, %v, want %v", tt.name, tt.v, got, ok, tt.want)
		}
		other := usbtool.Field{ReportID: tt.f.ReportID, Offset: tt.f.Offset + tt.f.Size, Size: 8, LogMax: 255}
		if w, okw := other.Raw(before); okw {
			if g, _ := other.Raw(rep); g != w {
				t.Errorf("%s: Encode changed the bits after the field: % x -> % x", tt.name, before, rep)
			}
		}
	}
	short := usbtool.Field{ReportID: 1, Offset: 16, Size: 8, LogMax: 255}
	if short.Encode([]byte{1, 2}, 1) {
		t.Error("Encode into a report too short for the field succeeded")
	}
}
