package gadget_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nutslave/nutslave/usbtool"
	"github.com/nutslave/nutslave/usbtool/gadget"
)

// wire is a transport that also delivers what the device queues for the
// interrupt IN endpoint (a cypress reply) and counts the OUT requests.
type wire struct {
	transport
	mu   sync.Mutex
	in   []byte
	outs int
}

func (w *wire) Control(ctx context.Context, rt, req uint8, value, index uint16, data []byte) (int, error) {
	if rt&0x80 != 0 {
		return w.transport.Control(ctx, rt, req, value, index, data)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.outs++
	s := gadget.Setup{RequestType: rt, Request: req, Value: value, Index: index, Length: uint16(len(data))}
	out, err := w.dev.ControlOut(s, data)
	if errors.Is(err, gadget.ErrStall) {
		return 0, usbtool.ErrStall
	}
	for _, o := range out {
		w.in = append(w.in, o...)
	}
	return len(data), err
}

func (w *wire) ReadInterrupt(_ context.Context, buf []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.in) == 0 {
		return 0, usbtool.ErrTimeout
	}
	n := copy(buf, w.in)
	w.in = w.in[n:]
	return n, nil
}

// commands returns the recorded commands without their times.
func commands(log *bytes.Buffer) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		if _, cmd, ok := strings.Cut(l, " "); ok {
			out = append(out, cmd)
		}
	}
	return out
}

// TestHIDShutdownCorpus runs Shutdown against every captured device
// emulated in-process and checks the SET_REPORTs the emulator recorded:
// which fields, in which order (startup before shutdown), with which
// values, decoded back by the emulator from the bytes sent.
func TestHIDShutdownCorpus(t *testing.T) {
	tests := []struct {
		name     string
		vid, pid uint16
		opt      usbtool.ShutdownOptions
		want     []string // recorded SET_REPORTs, from the report ID on
		steps    []string
		err      error
		warning  string        // a substring of one warning
		off, on  time.Duration // the result's delays, as the device holds them
	}{
		{
			off: 60 * time.Second, on: 120 * time.Second,
			name: "cyberpower-cp1500pfclcd", vid: 0x0764, pid: 0x0501,
			want: []string{
				"SET_REPORT feature 0x16 16 02 00 (UPS.Output.DelayBeforeStartup=120)",
				"SET_REPORT feature 0x15 15 01 00 (UPS.Output.DelayBeforeShutdown=60)",
			},
			steps: []string{"SET_REPORT feature 0x16 UPS.Output.DelayBeforeStartup=120", "SET_REPORT feature 0x15 UPS.Output.DelayBeforeShutdown=60"},
		},
		{
			off: 60 * time.Second, on: 120 * time.Second,
			name: "cyberpower-cp1500pfclcd", vid: 0x0764, pid: 0x0501, opt: usbtool.ShutdownOptions{OffDelay: 20 * time.Second, OnDelay: 90 * time.Second},
			want: []string{
				"SET_REPORT feature 0x16 16 02 00 (UPS.Output.DelayBeforeStartup=120)",
				"SET_REPORT feature 0x15 15 01 00 (UPS.Output.DelayBeforeShutdown=60)",
			},
			warning: "whole minutes",
		},
		{
			off: 20 * time.Second, on: 30 * time.Second,
			name: "eaton-3s-700", vid: 0x0463, pid: 0xffff,
			want: []string{
				"SET_REPORT feature 0x0a 0a 1e 00 00 00 (UPS.PowerSummary.DelayBeforeStartup=30)",
				"SET_REPORT feature 0x09 09 14 00 00 00 (UPS.PowerSummary.DelayBeforeShutdown=20)",
			},
		},
		{
			off: 45 * time.Second, on: 300 * time.Second,
			name: "powerwalker-vi-1200-shl", vid: 0x06da, pid: 0xffff, opt: usbtool.ShutdownOptions{OffDelay: 45 * time.Second, OnDelay: 300 * time.Second},
			want: []string{
				"SET_REPORT feature 0x0a 0a 2c 01 00 00 (UPS.PowerSummary.DelayBeforeStartup=300)",
				"SET_REPORT feature 0x09 09 2d 00 00 00 (UPS.PowerSummary.DelayBeforeShutdown=45)",
			},
		},
		{
			off: 20 * time.Second, on: 30 * time.Second,
			name: "tripplite-09ae-3016", vid: 0x09ae, pid: 0x3016,
			want: []string{
				"SET_REPORT feature 0x61 61 1e 00 (UPS.OutletSystem.Outlet.DelayBeforeStartup=30)",
				"SET_REPORT feature 0x15 15 14 00 (UPS.OutletSystem.Outlet.DelayBeforeShutdown=20)",
			},
		},
		{
			// One 16-bit write: 0 minutes, 20 seconds, 0x40 restart on AC.
			off: 20 * time.Second, on: 0 * time.Second,
			name: "powercom-0d9f-0004", vid: 0x0d9f, pid: 0x0004,
			want:    []string{"SET_REPORT feature 0x0f 0f 54 00 (UPS.PowerSummary.DelayBeforeShutdown=84)"},
			steps:   []string{"SET_REPORT feature 0x0f UPS.PowerSummary.DelayBeforeShutdown=84 (0x0054: 0 min 20 s, restart on AC)"},
			warning: "no ondelay",
		},
		{
			off: 90 * time.Second, on: 0 * time.Second,
			name: "powercom-0d9f-0004", vid: 0x0d9f, pid: 0x0004, opt: usbtool.ShutdownOptions{OffDelay: 90 * time.Second, OnDelay: 120 * time.Second},
			want: []string{"SET_REPORT feature 0x0f 0f 5e 01 (UPS.PowerSummary.DelayBeforeShutdown=350)"},
		},
		{
			// Only APCGeneralCollection.APCDelayBeforeReboot (0..1).
			off: 0 * time.Second, on: 0 * time.Second,
			name: "apc-back-ups-500", vid: 0x051d, pid: 0x0002,
			want:    []string{"SET_REPORT feature 0x40 40 01 (UPS.ff860005.ff86007c=1)"},
			steps:   []string{"SET_REPORT feature 0x40 UPS.APCGeneralCollection.APCDelayBeforeReboot=1"},
			warning: "shutdown.reboot",
		},
		{
			// DelayBeforeShutdown but no DelayBeforeStartup: shutdown.return
			// cannot be done, shutdown.reboot can.
			// Report 0x40 is 24 bytes long there; the recorded one is short.
			off: 0 * time.Second, on: 0 * time.Second,
			name: "apc-back-ups-bk650m2-ch", vid: 0x051d, pid: 0x0002,
			want:    []string{"SET_REPORT feature 0x40 40 01" + strings.Repeat(" 00", 22) + " (UPS.ff860005.ff86007c=1)"},
			warning: "UPS.PowerSummary.DelayBeforeStartup",
		},
		{
			off: 0 * time.Second, on: 0 * time.Second,
			name: "apc-smart-ups-x-750", vid: 0x051d, pid: 0x0003,
			want: []string{"SET_REPORT feature 0x13 13 0a 00 00 (UPS.PowerSummary.DelayBeforeReboot=10)"},
		},
		{
			// belkin-hid's Liebert: no BELKINControls delays at all.
			off: 0 * time.Second, on: 0 * time.Second,
			name: "liebert-gxt4", vid: 0x10af, pid: 0x0000,
			err: usbtool.ErrNoShutdownCommand,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			h := loadHID(t, tt.name, gadget.NewRecorder(&log))
			tr := &wire{transport: transport{dev: h, info: usbtool.DeviceInfo{VID: tt.vid, PID: tt.pid}}}
			res, err := usbtool.ShutdownTransport(context.Background(), tr, tt.opt)
			if !errors.Is(err, tt.err) {
				t.Fatalf("ShutdownTransport: %v, want %v", err, tt.err)
			}
			var got []string
			for _, c := range commands(&log) {
				if strings.HasPrefix(c, "SET_REPORT") {
					got = append(got, c)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("recorded SET_REPORTs (-want +got):\n%s\nsteps: %q\nwarnings: %q", diff, res.Steps, res.Warnings)
			}
			if tt.err != nil {
				if tr.outs != 0 || len(res.Steps) != 0 {
					t.Errorf("%d OUT requests and steps %q after %v, want none", tr.outs, res.Steps, err)
				}
				if !strings.Contains(err.Error(), "DelayBefore") {
					t.Errorf("error %q does not name the fields looked for", err)
				}
			}
			if tt.steps != nil {
				if diff := cmp.Diff(tt.steps, res.Steps); diff != "" {
					t.Errorf("Steps (-want +got):\n%s", diff)
				}
			}
			if tt.warning != "" && !strings.Contains(strings.Join(res.Warnings, "\n"), tt.warning) {
				t.Errorf("warnings %q lack %q", res.Warnings, tt.warning)
			}
			if res.OffDelay != tt.off || res.OnDelay != tt.on {
				t.Errorf("delays %s, %s, want %s, %s", res.OffDelay, res.OnDelay, tt.off, tt.on)
			}
			if res.Protocol != usbtool.ProtocolHID {
				t.Errorf("Protocol = %q", res.Protocol)
			}
		})
	}
}

// TestHIDShutdownStatus: the status is read before the command, and the
// power race (mains back before killpower) shows as OnLine.
func TestHIDShutdownStatus(t *testing.T) {
	for _, st := range []struct {
		state  gadget.State
		online bool
	}{{gadget.State{Online: true, Charge: 40}, true}, {gadget.State{Online: false, Charge: 40}, false}} {
		h := loadHID(t, "eaton-3s-700", nil)
		if _, err := h.Apply(st.state); err != nil {
			t.Fatal(err)
		}
		tr := &wire{transport: transport{dev: h, info: usbtool.DeviceInfo{VID: 0x0463, PID: 0xffff}}}
		res, err := usbtool.ShutdownTransport(context.Background(), tr, usbtool.ShutdownOptions{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.OnLine != st.online || res.Status == "" {
			t.Errorf("state %+v: OnLine = %v, Status %q", st.state, res.OnLine, res.Status)
		}
	}
}

// TestHIDShutdownDryRun: the plan is made and nothing is written.
func TestHIDShutdownDryRun(t *testing.T) {
	for _, name := range []string{"cyberpower-cp1500pfclcd", "eaton-3s-700", "powercom-0d9f-0004", "apc-back-ups-500"} {
		var log bytes.Buffer
		h := loadHID(t, name, gadget.NewRecorder(&log))
		vid := map[string]uint16{"cyberpower-cp1500pfclcd": 0x0764, "eaton-3s-700": 0x0463, "powercom-0d9f-0004": 0x0d9f, "apc-back-ups-500": 0x051d}[name]
		tr := &wire{transport: transport{dev: h, info: usbtool.DeviceInfo{VID: vid, PID: 2}}}
		res, err := usbtool.ShutdownTransport(context.Background(), tr, usbtool.ShutdownOptions{DryRun: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tr.outs != 0 || log.Len() != 0 {
			t.Errorf("%s: dry run sent %d OUT requests: %q", name, tr.outs, log.String())
		}
		if len(res.Steps) == 0 || !strings.HasPrefix(res.Steps[0], "SET_REPORT feature ") {
			t.Errorf("%s: dry run steps %q", name, res.Steps)
		}
	}
}

func TestHIDShutdownBadDelays(t *testing.T) {
	for _, opt := range []usbtool.ShutdownOptions{
		{OffDelay: -time.Second},
		{OnDelay: -time.Second},
		{OffDelay: 30 * time.Second, OnDelay: 30 * time.Second},
		{OffDelay: 60 * time.Second, OnDelay: 45 * time.Second}, // not below the ondelay given (left at 0, it follows: TestShutdownOnDelayFollowsOffDelay)
		{OffDelay: 20 * time.Second, OnDelay: 1e6 * time.Hour},  // beyond the field
	} {
		var log bytes.Buffer
		h := loadHID(t, "eaton-3s-700", gadget.NewRecorder(&log))
		tr := &wire{transport: transport{dev: h, info: usbtool.DeviceInfo{VID: 0x0463, PID: 0xffff}}}
		if _, err := usbtool.ShutdownTransport(context.Background(), tr, opt); err == nil || errors.Is(err, usbtool.ErrNoShutdownCommand) {
			t.Errorf("%+v: err = %v, want a delay error", opt, err)
		}
		if tr.outs != 0 {
			t.Errorf("%+v: %d OUT requests sent", opt, tr.outs)
		}
	}
}

func TestCypressShutdown(t *testing.T) {
	tests := []struct {
		opt   usbtool.ShutdownOptions
		steps []string
	}{
		{usbtool.ShutdownOptions{OffDelay: 20 * time.Second, OnDelay: 60 * time.Second}, []string{"megatec C", "megatec S.3R0001"}},
		{usbtool.ShutdownOptions{}, []string{"megatec C", "megatec S.5R0003"}},
	}
	for _, tt := range tests {
		var log bytes.Buffer
		m, err := gadget.NewMegatec(usbtool.Cypress, "", gadget.NewRecorder(&log))
		if err != nil {
			t.Fatal(err)
		}
		tr := &wire{transport: transport{dev: m, info: usbtool.DeviceInfo{VID: 0x0665, PID: 0x5161}}}
		res, err := usbtool.ShutdownTransport(context.Background(), tr, tt.opt)
		if err != nil {
			t.Fatalf("%+v: %v", tt.opt, err)
		}
		if diff := cmp.Diff(tt.steps, res.Steps); diff != "" {
			t.Errorf("Steps (-want +got):\n%s", diff)
		}
		want := []string{"megatec Q1 (cypress SET_REPORT)", "megatec C (cypress SET_REPORT)", tt.steps[1] + " (cypress SET_REPORT)"}
		if diff := cmp.Diff(want, commands(&log)); diff != "" {
			t.Errorf("recorded (-want +got):\n%s", diff)
		}
		if res.Status != "OL" || !res.OnLine || res.Protocol != usbtool.ProtocolCypress {
			t.Errorf("Status %q OnLine %v Protocol %q", res.Status, res.OnLine, res.Protocol)
		}
		q, _ := usbtool.ParseQ1(m.Q1())
		if !q.Status[usbtool.Q1ShutdownActive] {
			t.Errorf("shutdown bit not set after %s: %q", tt.steps[1], m.Q1())
		}
	}
}

func TestCypressShutdownDryRun(t *testing.T) {
	var log bytes.Buffer
	m, _ := gadget.NewMegatec(usbtool.Cypress, "", gadget.NewRecorder(&log))
	tr := &wire{transport: transport{dev: m, info: usbtool.DeviceInfo{VID: 0x0665, PID: 0x5161}}}
	res, err := usbtool.ShutdownTransport(context.Background(), tr, usbtool.ShutdownOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"megatec Q1 (cypress SET_REPORT)"}, commands(&log)); diff != "" {
		t.Errorf("dry run sent more than Q1 (-want +got):\n%s", diff)
	}
	if len(res.Steps) != 2 {
		t.Errorf("Steps = %q", res.Steps)
	}
}

// TestKraulerShutdown: the krauler protocol has no shutdown command; the
// status is still read, and no command goes out.
func TestKraulerShutdown(t *testing.T) {
	m, err := gadget.NewMegatec(usbtool.Krauler, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(gadget.State{Online: false, Charge: 50}); err != nil {
		t.Fatal(err)
	}
	strs := map[uint8]string{3: m.Q1()}
	for i, s := range m.Strings() {
		strs[uint8(gadget.KraulerFirstString+i)] = s
	}
	tr := &wire{transport: transport{dev: m, info: usbtool.DeviceInfo{VID: 0x0001, PID: 0x0000}, strings: strs}}
	for _, dry := range []bool{false, true} {
		res, err := usbtool.ShutdownTransport(context.Background(), tr, usbtool.ShutdownOptions{DryRun: dry})
		if !errors.Is(err, usbtool.ErrNoShutdownCommand) || !strings.Contains(err.Error(), "krauler") {
			t.Fatalf("err = %v, want ErrNoShutdownCommand naming krauler", err)
		}
		if tr.outs != 0 || len(res.Steps) != 0 {
			t.Errorf("%d OUT requests, steps %q: want nothing sent", tr.outs, res.Steps)
		}
		if res.Status != "OB" || res.OnLine {
			t.Errorf("Status %q OnLine %v, want OB", res.Status, res.OnLine)
		}
	}
}

// TestMGEAutoRestart: mge-hid sets ups.start.auto (AutomaticRestart) to
// yes before the delays, where the device has it. No captured unit has
// it, so the descriptor is hand-made: UPS.PowerSummary.DelayBeforeStartup
// (0x01) and DelayBeforeShutdown (0x02), and
// UPS.PowerConverter.Input.[1].AutomaticRestart (0x03, Eaton page).
func TestMGEAutoRestart(t *testing.T) {
	desc := []byte{
		0x05, 0x84, 0x09, 0x04, 0xa1, 0x01, // UPS
		0x09, 0x24, 0xa1, 0x00, // PowerSummary
		0x75, 0x20, 0x95, 0x01, 0x15, 0xff, 0x27, 0xff, 0xff, 0xff, 0x7f, 0x66, 0x01, 0x10,
		0x85, 0x01, 0x09, 0x56, 0xb1, 0x02, // DelayBeforeStartup
		0x85, 0x02, 0x09, 0x57, 0xb1, 0x02, // DelayBeforeShutdown
		0xc0,
		0x09, 0x16, 0xa1, 0x00, 0x09, 0x1a, 0xa1, 0x81, // PowerConverter.Input.[1]
		0x06, 0xff, 0xff, 0x75, 0x08, 0x15, 0x00, 0x25, 0x01, 0x65, 0x00,
		0x85, 0x03, 0x09, 0x43, 0xb1, 0x02, // AutomaticRestart
		0xc0, 0xc0, 0xc0,
	}
	var log bytes.Buffer
	h, err := gadget.NewHID(desc, nil, gadget.NewRecorder(&log))
	if err != nil {
		t.Fatal(err)
	}
	tr := &wire{transport: transport{dev: h, info: usbtool.DeviceInfo{VID: 0x0463, PID: 0xffff}}}
	res, err := usbtool.ShutdownTransport(context.Background(), tr, usbtool.ShutdownOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"SET_REPORT feature 0x03 UPS.PowerConverter.Input.[1].AutomaticRestart=1",
		"SET_REPORT feature 0x01 UPS.PowerSummary.DelayBeforeStartup=30",
		"SET_REPORT feature 0x02 UPS.PowerSummary.DelayBeforeShutdown=20",
	}
	if diff := cmp.Diff(want, res.Steps); diff != "" {
		t.Errorf("Steps (-want +got):\n%s", diff)
	}
	if got := commands(&log); len(got) != 3 || !strings.HasPrefix(got[0], "SET_REPORT feature 0x03 03 01") {
		t.Errorf("recorded %q", got)
	}
}
