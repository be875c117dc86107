package usbtool_test

import (
	"context"
	"testing"

	"github.com/nutslave/nutslave/usbtool"
	"github.com/nutslave/nutslave/usbtool/usbtest"
)

// rs1000g returns an emulated APC Back-UPS RS 1000G (1133-byte descriptor
// from the corpus). The corpus holds no report bytes for it, so every
// report is served zero-filled at its declared length.
func rs1000g(b *testing.B) *usbtest.Device {
	raw := readHexFile(b, corpusFile(b, "apc-back-ups-rs-1000g.rdesc.hex"))
	d, err := usbtool.ParseDescriptor(raw)
	if err != nil {
		b.Fatal(err)
	}
	reps := map[usbtool.ReportRef][]byte{}
	for _, r := range usbtool.AllReports(d, 0x051d) {
		rep := make([]byte, max(d.ReportLen(r.ID, r.Type), 1))
		rep[0] = r.ID
		reps[r] = rep
	}
	return &usbtest.Device{Info: usbtool.DeviceInfo{VID: 0x051d, PID: 0x0002}, ReportDescriptor: raw, Reports: reps}
}

// BenchmarkAPCRS1000GRead measures one ReadVars-style read: descriptor,
// parse, one GET_REPORT per needed report, mapping.
func BenchmarkAPCRS1000GRead(b *testing.B) {
	dev := rs1000g(b)
	before := dev.Transfers()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := usbtool.ReadTransport(context.Background(), dev.Transport(), usbtool.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(dev.Transfers()-before)/float64(b.N), "transfers/op")
}

// BenchmarkAPCRS1000GFullRead measures parse plus a full read: every
// report ID the descriptor declares, fetched once, every field decoded.
func BenchmarkAPCRS1000GFullRead(b *testing.B) {
	dev := rs1000g(b)
	t := dev.Transport()
	ctx := context.Background()
	transfers := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw, err := usbtool.ReadReportDescriptor(ctx, t)
		if err != nil {
			b.Fatal(err)
		}
		d, err := usbtool.ParseDescriptor(raw)
		if err != nil {
			b.Fatal(err)
		}
		data, err := usbtool.FetchReports(ctx, t, usbtool.AllReports(d, 0x051d))
		if err != nil {
			b.Fatal(err)
		}
		for j := range d.Fields {
			f := &d.Fields[j]
			f.Value(data.Reports[usbtool.ReportRef{ID: f.ReportID, Type: f.Type}])
		}
		transfers += 1 + data.Transfers
	}
	b.ReportMetric(float64(transfers)/float64(b.N), "transfers/op")
}
