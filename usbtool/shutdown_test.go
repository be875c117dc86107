package usbtool_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nutslave/nutslave/usbtool"
	"github.com/nutslave/nutslave/usbtool/usbtest"
)

func TestMegatecShutdownCommand(t *testing.T) {
	s := time.Second
	tests := []struct {
		off, on         time.Duration
		cmd             string
		effOff, effOn   time.Duration
		wantErrContains string
	}{
		{20 * s, 60 * s, "S.3R0001", 18 * s, 60 * s, ""},
		{30 * s, 180 * s, "S.5R0003", 30 * s, 180 * s, ""},
		{12 * s, 60 * s, "S.2R0001", 12 * s, 60 * s, ""},
		{59 * s, 60 * s, "S.9R0001", 54 * s, 60 * s, ""},
		{60 * s, 120 * s, "S01R0002", 60 * s, 120 * s, ""},
		{119 * s, 119 * s, "S01R0001", 60 * s, 60 * s, ""},
		{600 * s, 599940 * s, "S10R9999", 600 * s, 599940 * s, ""},
		{30 * s, 59 * s, "S.5", 30 * s, 0, ""},
		{30 * s, 0, "S.5", 30 * s, 0, ""},
		{11 * s, 60 * s, "", 0, 0, "12s to 600s"},
		{601 * s, 60 * s, "", 0, 0, "12s to 600s"},
		{30 * s, 599941 * s, "", 0, 0, "9999 minutes"},
		{30 * s, -s, "", 0, 0, "9999 minutes"},
	}
	for _, tt := range tests {
		cmd, off, on, err := usbtool.MegatecShutdownCommand(tt.off, tt.on)
		if tt.wantErrContains != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErrContains) {
				t.Errorf("(%s, %s): err = %v, want one saying %q", tt.off, tt.on, err, tt.wantErrContains)
			}
			continue
		}
		if err != nil || cmd != tt.cmd || off != tt.effOff || on != tt.effOn {
			t.Errorf("(%s, %s) = %q, %s, %s, %v; want %q, %s, %s", tt.off, tt.on, cmd, off, on, err, tt.cmd, tt.effOff, tt.effOn)
		}
	}
}

// TestDelayEncodeRoundTrip encodes delays into every delay field of the
// captured descriptors and decodes them back with Field.Value.
func TestDelayEncodeRoundTrip(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "hid", "*.rdesc.hex"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured descriptors: %v", err)
	}
	n := 0
	for _, fn := range files {
		d, err := usbtool.ParseDescriptor(readHexFile(t, fn))
		if err != nil {
			t.Fatal(err)
		}
		for i := range d.Fields {
			f := &d.Fields[i]
			if !strings.Contains(f.Path.String(), "DelayBefore") || f.Type != usbtool.Feature {
				continue
			}
			n++
			// A physical range that makes one logical unit a minute
			// (CyberPower) holds multiples of 60 only.
			step := 1.0
			if f.HavePhysMin && f.HavePhysMax && f.PhysMax > f.PhysMin {
				step = math.Round(float64(f.PhysMax-f.PhysMin) / float64(f.LogMax-f.LogMin))
			}
			for _, v := range []float64{0, 1, 18, 20, 30, 60, 120, 255, 600, 3600} {
				v = math.Round(v/step) * step
				lo := f.Physical(f.LogMin)
				hi := f.Physical(f.LogMax)
				if v < lo || v > hi {
					continue
				}
				rep := make([]byte, d.ReportLen(f.ReportID, f.Type))
				rep[0] = f.ReportID
				if !f.Encode(rep, v) {
					t.Fatalf("%s %s: Encode(%g) failed on %d bytes", filepath.Base(fn), f.Path, v, len(rep))
				}
				if got, ok := f.Value(rep); !ok || math.Abs(got-v) > 1e-9 {
					t.Errorf("%s %s: Encode(%g) then Value = %g, %v", filepath.Base(fn), f.Path, v, got, ok)
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d delay fields found in the corpus", n)
	}
}

// TestPlanShutdownSendsNothing uses the fake backend: PlanShutdown reads
// and plans, and the device sees no OUT request.
func TestPlanShutdownSendsNothing(t *testing.T) {
	dev := cypress(t)
	b := &usbtest.Backend{Devices: []*usbtest.Device{dev}}
	res, err := usbtool.PlanShutdown(context.Background(), b, usbtool.Selector{}, usbtool.ShutdownOptions{OffDelay: 20 * time.Second, OnDelay: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"megatec C", "megatec S.3R0001"}; strings.Join(res.Steps, "|") != strings.Join(want, "|") {
		t.Errorf("Steps = %q, want %q", res.Steps, want)
	}
	if res.Status == "" {
		t.Error("status not read")
	}
	if dev.Open() != 0 {
		t.Error("transport left open")
	}

	k := krauler(t)
	b = &usbtest.Backend{Devices: []*usbtest.Device{k}}
	res, err = usbtool.Shutdown(context.Background(), b, usbtool.Selector{}, usbtool.ShutdownOptions{})
	if !errors.Is(err, usbtool.ErrNoShutdownCommand) || res.Status == "" {
		t.Errorf("krauler: %+v, %v; want ErrNoShutdownCommand with the status", res, err)
	}
	if !strings.Contains(err.Error(), "0001:0000") {
		t.Errorf("error %q does not name the device", err)
	}
}

func TestShutdownUnknownDevice(t *testing.T) {
	dev := &usbtest.Device{Info: usbtool.DeviceInfo{VID: 0x1234, PID: 0x0001, Bus: 1, Address: 9}, ReportDescriptor: []byte{0x06, 0x00, 0xff, 0x09, 0x01, 0xa1, 0x01, 0xc0}}
	b := &usbtest.Backend{Devices: []*usbtest.Device{dev}}
	_, err := usbtool.Shutdown(context.Background(), b, usbtool.Selector{VID: 0x1234, PID: 1}, usbtool.ShutdownOptions{})
	if !errors.Is(err, usbtool.ErrUnsupported) {
		t.Errorf("err = %v, want ErrUnsupported", err)
	}
}

// countingTransport counts the GET_REPORTs by report and the OUT
// requests (SET_REPORT) made through it, but for a cypress unit's Q1
// (the status read).
type countingTransport struct {
	usbtool.Transport
	gets map[uint16]int
	outs int
}

func (c *countingTransport) Control(ctx context.Context, rType, req uint8, value, index uint16, data []byte) (int, error) {
	switch {
	case rType == 0xa1 && req == 0x01:
		c.gets[value]++
	case rType&0x80 == 0 && !bytes.HasPrefix(data, []byte("Q1\r")):
		c.outs++
	}
	return c.Transport.Control(ctx, rType, req, value, index, data)
}

// TestShutdownDryRunReadsOnce: a dry run sends no OUT request, and a HID
// device has each of its reports read once, not again before the write.
func TestShutdownDryRunReadsOnce(t *testing.T) {
	for _, dev := range []*usbtest.Device{eaton(t), cypress(t)} {
		ct := &countingTransport{Transport: dev.Transport(), gets: map[uint16]int{}}
		res, err := usbtool.ShutdownTransport(context.Background(), ct, usbtool.ShutdownOptions{DryRun: true})
		ct.Close()
		if err != nil {
			t.Fatalf("%s: %v", dev.Info.ID(), err)
		}
		if len(res.Steps) == 0 {
			t.Errorf("%s: no steps planned", dev.Info.ID())
		}
		if ct.outs != 0 {
			t.Errorf("%s: dry run sent %d OUT requests", dev.Info.ID(), ct.outs)
		}
		for v, n := range ct.gets {
			if n > 1 {
				t.Errorf("%s: report 0x%04x read %d times", dev.Info.ID(), v, n)
			}
		}
	}
}

// failingTransport takes the first ok OUT requests (a cypress unit's Q1
// aside) and fails the rest: the device went away mid-command.
type failingTransport struct {
	usbtool.Transport
	ok int
}

func (f *failingTransport) Control(ctx context.Context, rType, req uint8, value, index uint16, data []byte) (int, error) {
	if rType&0x80 == 0 && !bytes.HasPrefix(data, []byte("Q1\r")) {
		if f.ok == 0 {
			return 0, usbtool.ErrNoDevice
		}
		f.ok--
		return len(data), nil // taken
	}
	return f.Transport.Control(ctx, rType, req, value, index, data)
}

// TestShutdownStepsAreWhatWentOut: when a command fails, Steps holds only
// the commands that went out before it, never a planned one or an empty
// line: the halt hook takes a step as a command the UPS may have acted on.
func TestShutdownStepsAreWhatWentOut(t *testing.T) {
	for _, tc := range []struct {
		dev  *usbtest.Device
		ok   int
		want []string
	}{
		{eaton(t), 0, nil},
		{eaton(t), 1, []string{"SET_REPORT"}},
		{cypress(t), 1, []string{"megatec C"}},
	} {
		ft := &failingTransport{Transport: tc.dev.Transport(), ok: tc.ok}
		res, err := usbtool.ShutdownTransport(context.Background(), ft, usbtool.ShutdownOptions{})
		ft.Close()
		if !errors.Is(err, usbtool.ErrNoDevice) {
			t.Errorf("%s after %d commands: err %v, want ErrNoDevice", tc.dev.Info.ID(), tc.ok, err)
		}
		if len(res.Steps) != len(tc.want) {
			t.Errorf("%s after %d commands: steps %q, want %d like %q", tc.dev.Info.ID(), tc.ok, res.Steps, len(tc.want), tc.want)
			continue
		}
		for i, w := range tc.want {
			if !strings.HasPrefix(res.Steps[i], w) {
				t.Errorf("%s: step %d %q, want %q…", tc.dev.Info.ID(), i, res.Steps[i], w)
			}
		}
	}
}

func eaton(t *testing.T) *usbtest.Device {
	t.Helper()
	dir := filepath.Join("..", "testdata", "hid")
	desc, reps, err := usbtest.LoadFiles(filepath.Join(dir, "eaton-3s-700.rdesc.hex"), filepath.Join(dir, "eaton-3s-700.reports.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return &usbtest.Device{Info: usbtool.DeviceInfo{VID: 0x0463, PID: 0xffff, Bus: 1, Address: 5}, ReportDescriptor: desc, Reports: reps}
}

// TestShutdownDelaysRoundUp: a fractional delay is rounded up to whole
// seconds, never down, so the UPS does not cut its load sooner than asked.
func TestShutdownDelaysRoundUp(t *testing.T) {
	b := &usbtest.Backend{Devices: []*usbtest.Device{eaton(t)}}
	res, err := usbtool.PlanShutdown(context.Background(), b, usbtool.Selector{}, usbtool.ShutdownOptions{OffDelay: 20400 * time.Millisecond, OnDelay: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.OffDelay != 21*time.Second || res.OnDelay != 30*time.Second {
		t.Errorf("delays = %s, %s; want 21s, 30s", res.OffDelay, res.OnDelay)
	}
	if steps := strings.Join(res.Steps, "\n"); !strings.Contains(steps, "DelayBeforeShutdown=21") {
		t.Errorf("steps do not write 21 to DelayBeforeShutdown:\n%s", steps)
	}
}

// TestShutdownOnDelayFollowsOffDelay: an offdelay longer than the UPS's
// default ondelay, with no ondelay given, is not refused (the hook would
// then tell the UPS nothing): the ondelay follows it; one given is kept,
// and refused when it is not the longer one.
func TestShutdownOnDelayFollowsOffDelay(t *testing.T) {
	b := &usbtest.Backend{Devices: []*usbtest.Device{eaton(t)}}
	res, err := usbtool.PlanShutdown(context.Background(), b, usbtool.Selector{}, usbtool.ShutdownOptions{OffDelay: 45 * time.Second})
	if err != nil || res.OffDelay != 45*time.Second || res.OnDelay != 55*time.Second {
		t.Errorf("offdelay 45s alone: %s, %s, %v; want 45s, 55s", res.OffDelay, res.OnDelay, err)
	}
	if _, err := usbtool.PlanShutdown(context.Background(), b, usbtool.Selector{}, usbtool.ShutdownOptions{OffDelay: 45 * time.Second, OnDelay: 30 * time.Second}); err == nil {
		t.Error("offdelay 45s, ondelay 30s: planned, want refused")
	}
}
