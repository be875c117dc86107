package usbtool_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nutslave/nutslave/usbtool"
	"github.com/nutslave/nutslave/usbtool/usbtest"
)

// descriptorSeeds returns the authored descriptor and the captured ones.
func descriptorSeeds(f *testing.F) [][]byte {
	seeds := [][]byte{readHexFile(f, filepath.Join("testdata", "synthetic-ups.rdesc.hex"))}
	for _, d := range loadCorpus(f) {
		seeds = append(seeds, d.rdesc)
	}
	return seeds
}

func FuzzParseDescriptor(f *testing.F) {
	for _, s := range descriptorSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := usbtool.ParseDescriptor(b)
		if err != nil {
			return
		}
		if len(d.Fields) > 4096 {
			t.Fatalf("%d fields", len(d.Fields))
		}
		_ = d.Dump(0x0463)
		for _, id := range d.ReportIDs(usbtool.Feature, usbtool.Input) {
			if n := d.ReportLen(id, usbtool.Feature); n < 0 {
				t.Fatalf("ReportLen(%d) = %d", id, n)
			}
		}
	})
}

// FuzzDecode serves arbitrary report bytes for every report of a
// descriptor and reads the device through the whole HID path.
func FuzzDecode(f *testing.F) {
	for _, s := range descriptorSeeds(f) {
		f.Add(s, []byte{0x64, 0x00, 0x10, 0x0e, 0x01}, uint16(0x051d), uint16(0x0002))
		f.Add(s, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint16(0x0764), uint16(0x0501))
		f.Add(s, []byte{}, uint16(0x09ae), uint16(0x3016))
		f.Add(s, []byte("(228.0 228.0 228.0 007 50.0 26.6 39.0 00001001\r"), uint16(0x0d9f), uint16(0x0004))
	}
	f.Fuzz(func(t *testing.T, desc, body []byte, vid, pid uint16) {
		d, err := usbtool.ParseDescriptor(desc)
		if err != nil {
			return
		}
		if len(body) > 64 {
			body = body[:64]
		}
		reps := map[usbtool.ReportRef][]byte{}
		for _, r := range usbtool.AllReports(d, vid) {
			reps[r] = append([]byte{r.ID}, body...)
		}
		for i := range d.Fields {
			fl := &d.Fields[i]
			fl.Value(reps[usbtool.ReportRef{ID: fl.ReportID, Type: fl.Type}])
			fl.Value(body)
		}
		dev := &usbtest.Device{Info: usbtool.DeviceInfo{VID: vid, PID: pid}, ReportDescriptor: desc, Reports: reps, Strings: map[uint8]string{1: "x"}}
		vars, err := usbtool.ReadTransport(context.Background(), dev.Transport(), usbtool.Options{})
		if err == nil && d.IsPowerDevice() && vars == nil {
			t.Fatal("nil vars without error")
		}
	})
}

func FuzzParseQ1(f *testing.F) {
	for _, s := range megatecReplies(f) {
		f.Add(s)
	}
	f.Add("(208.4 140.0 208.4 034 59.9 2.05 35.0 00110000\r")
	f.Add("#220.0 000 024.0 50.0\r")
	f.Fuzz(func(t *testing.T, s string) {
		if q, err := usbtool.ParseQ1(s); err == nil {
			fr, _ := usbtool.ParseF(s)
			v := usbtool.MegatecVars(q, &fr, nil, usbtool.MegatecOptions{})
			if v["ups.status"] == "" {
				t.Fatalf("ParseQ1(%q) gave no ups.status", s)
			}
		}
		usbtool.ParseF(s)
		usbtool.ParseI(s)
	})
}
