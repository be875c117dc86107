package flagger

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/statefile"
	"github.com/nutslave/nutslave/usbtool"
)

// hookRig is the shutdown hook with a recorded UPS, clock and reboot.
type hookRig struct {
	h        *killHook
	out      bytes.Buffer
	told     []usbtool.ShutdownOptions // what the UPS was told
	slept    []time.Duration
	rebooted string // the reboot recorder's file
	// clock is the hook's clock: the UPS's answer advances it by took,
	// each wait by what was waited.
	clock time.Time
	took  time.Duration
}

// newHookRig: the UPS answers with res and err; the record says an sdf
// happened in boot "boot-A" (armed) or nothing (not).
func newHookRig(t *testing.T, armed bool, res usbtool.ShutdownResult, err error) *hookRig {
	t.Helper()
	dir := t.TempDir()
	cfg := defaultConfig(filepath.Join(dir, "upsflags.conf"))
	cfg.StateDir = dir
	cfg.Trigger = filepath.Join(dir, "upsflags.trigger") // the record goes beside it
	cfg.Source = "usb://0665:5161"
	r := &hookRig{rebooted: filepath.Join(dir, "rebooted")}
	cfg.RebootCmd = []string{"/bin/sh", "-c", "echo reboot >> " + r.rebooted}
	if armed {
		rec := armRecord{BootID: "boot-A", Armed: time.Now(), Device: "usb://0665:5161"}
		if err := statefile.Save(armFile(cfg), rec); err != nil {
			t.Fatal(err)
		}
	}
	r.h = &killHook{
		cfg:  cfg,
		out:  &r.out,
		boot: "boot-A",
		shutdown: func(_ context.Context, sel usbtool.Selector, opt usbtool.ShutdownOptions) (usbtool.ShutdownResult, error) {
			if sel.VID != 0x0665 || sel.PID != 0x5161 {
				t.Errorf("hook told %s, want the armed device usb://0665:5161", sel)
			}
			r.told = append(r.told, opt)
			r.clock = r.clock.Add(r.took)
			return res, err
		},
		sleep: func(_ context.Context, d time.Duration) error {
			r.slept = append(r.slept, d)
			r.clock = r.clock.Add(d)
			return nil
		},
		now: func() time.Time { return r.clock },
	}
	return r
}

func (r *hookRig) reboots() int {
	b, _ := os.ReadFile(r.rebooted)
	return strings.Count(string(b), "reboot")
}

// TestKillpowerHook: every path through the shutdown hook: when the UPS
// is told, and whether the host reboots instead of halting.
func TestKillpowerHook(t *testing.T) {
	sent := usbtool.ShutdownResult{Protocol: usbtool.ProtocolCypress, Steps: []string{"megatec C", "megatec S.5R0003"}, Status: "OB DISCHRG",
		OffDelay: 30 * time.Second, Warnings: []string{"offdelay 35s truncated to 30s"}}
	sentOL := sent
	sentOL.Status, sentOL.OnLine = "OL", true
	noCmd := fmt.Errorf("%w: krauler has no shutdown command", usbtool.ErrNoShutdownCommand)
	for _, tc := range []struct {
		name    string
		armed   bool
		boot    string // the hook's boot id, "" for the record's
		set     func(c *Config)
		res     usbtool.ShutdownResult
		err     error
		told    int
		took    time.Duration // the UPS's answer takes this long
		slept   []time.Duration
		reboots int
		says    string
	}{
		{name: "ordinary halt: no record", says: "an ordinary poweroff"},
		{name: "record of an earlier boot", armed: true, boot: "boot-B", says: "earlier boot"},
		{name: "KILLPOWER=no", armed: true, set: func(c *Config) { c.Killpower = "no" }, says: "KILLPOWER=no"},
		{name: "on battery: told, halt", armed: true, res: sent, told: 1, says: "sent: megatec S.5R0003"},
		{name: "the UPS's warnings are said", armed: true, res: sent, told: 1, says: "warning: offdelay 35s truncated to 30s"},
		{name: "power race: told, reboot if still up", armed: true, res: sentOL, told: 1,
			slept: []time.Duration{50 * time.Second}, reboots: 1, says: "ignored it on line power"},
		{name: "power race, POWEROFF_WAIT=15s", armed: true, res: sentOL, told: 1, set: func(c *Config) { c.PoweroffWait = 15 * time.Second },
			slept: []time.Duration{15 * time.Second}, reboots: 1},
		{name: "power race, POWEROFF_WAIT=0: halt", armed: true, res: sentOL, told: 1, set: func(c *Config) { c.PoweroffWait = 0 }, says: "POWEROFF_WAIT=0"},
		{name: "krauler on battery: halt, said plainly", armed: true, res: usbtool.ShutdownResult{Protocol: usbtool.ProtocolKrauler, Status: "OB"}, err: noCmd, told: 1,
			says: "krauler has no shutdown command"},
		{name: "krauler, mains back: reboot at once", armed: true, res: usbtool.ShutdownResult{Protocol: usbtool.ProtocolKrauler, Status: "OL", OnLine: true}, err: noCmd, told: 1,
			reboots: 1, says: "rebooting instead of halting"},
		{name: "no UPS found: halt, with the fix", armed: true, err: fmt.Errorf("usb: %w", usbtool.ErrNoDevice), told: 1, says: "upsusb list"},
		{name: "power race, POWEROFF_WAIT=80s after a slow UPS: the wait fits systemd-shutdown's 90 s", armed: true, res: sentOL, told: 1, took: 14 * time.Second,
			set: func(c *Config) { c.PoweroffWait = 80 * time.Second }, slept: []time.Duration{66 * time.Second}, reboots: 1, says: "stops this hook"},
		{name: "DRYRUN, power race: planned only, no reboot", armed: true, res: sentOL, told: 1, set: func(c *Config) { c.DryRun = true }, says: "DRYRUN=yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newHookRig(t, tc.armed, tc.res, tc.err)
			r.took = tc.took
			if tc.boot != "" {
				r.h.boot = tc.boot
			}
			if tc.set != nil {
				tc.set(r.h.cfg)
			}
			r.h.run(context.Background(), "poweroff")
			if len(r.told) != tc.told {
				t.Errorf("the UPS was told %d times, want %d\n%s", len(r.told), tc.told, &r.out)
			}
			for _, opt := range r.told {
				if opt.DryRun != r.h.cfg.DryRun {
					t.Errorf("told with DryRun %v, want DRYRUN's %v", opt.DryRun, r.h.cfg.DryRun)
				}
			}
			if fmt.Sprint(r.slept) != fmt.Sprint(tc.slept) {
				t.Errorf("waited %v, want %v\n%s", r.slept, tc.slept, &r.out)
			}
			if n := r.reboots(); n != tc.reboots {
				t.Errorf("rebooted %d times, want %d\n%s", n, tc.reboots, &r.out)
			}
			if !strings.Contains(r.out.String(), tc.says) {
				t.Errorf("output lacks %q:\n%s", tc.says, &r.out)
			}
		})
	}
}

// TestKillpowerHookDelays: OFFDELAY and ONDELAY reach the UPS.
func TestKillpowerHookDelays(t *testing.T) {
	r := newHookRig(t, true, usbtool.ShutdownResult{}, nil)
	r.h.cfg.OffDelay, r.h.cfg.OnDelay = 30*time.Second, 5*time.Minute
	r.h.run(context.Background(), "poweroff")
	if len(r.told) != 1 || r.told[0].OffDelay != 30*time.Second || r.told[0].OnDelay != 5*time.Minute || r.told[0].DryRun {
		t.Errorf("told %+v, want OffDelay 30s, OnDelay 5m, not a dry run", r.told)
	}
}

// TestArmUSB: a master reading its UPS over USB (directly, or through
// SOURCE=auto with no upsd) records the sdf for the hook; DRYRUN does
// not; reset removes the record.
func TestArmUSB(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  Source
		want string
	}{
		{"usb://", &usbSource{sel: usbtool.Selector{VID: 0x051d, PID: 0x0002}}, "usb://051d:0002"},
		{"auto, no upsd", &autoSource{used: "usb", usb: &usbSource{}}, "usb"},
		{"krauler behind METRICS", &remembering{Source: &usbSource{sel: usbtool.Selector{VID: 1}}}, "usb://0001:0000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, flag, log := killpowerRig(t)
			f.cfg.StateDir = t.TempDir()
			f.src = tc.src
			f.armUPS()
			var rec armRecord
			if found, err := statefile.Load(armFile(f.cfg), &rec); !found || err != nil || rec.Device != tc.want || rec.BootID != f.boot {
				t.Fatalf("record = %+v (found %v, %v), want device %s of this boot\nlog:\n%s", rec, found, err, tc.want, log)
			}
			if _, err := os.Stat(flag); err == nil {
				t.Errorf("POWERDOWNFLAG written for a USB source: NUT's hook would also act")
			}
			if k := f.killpowerStatus(); k.Via != "usb" || !k.Armed {
				t.Errorf("status after arming: %+v, want via usb, armed", k)
			}
			if got := f.disarm(); got != armFile(f.cfg) {
				t.Errorf("disarm removed %q, want %s", got, armFile(f.cfg))
			}
			if k := f.killpowerStatus(); k.Armed {
				t.Errorf("status after disarm: %+v, want not armed", k)
			}
		})
	}
	f, _, _ := killpowerRig(t)
	f.src = &usbSource{sel: usbtool.Selector{VID: 1}}
	if k := f.killpowerStatus(); !strings.Contains(k.Note, "cannot be told") {
		t.Errorf("status of a krauler UPS: %+v, want a note that it cannot be told", k)
	}
	f.cfg.StateDir = t.TempDir()
	f.cfg.DryRun = true
	f.src = &usbSource{}
	f.armUPS()
	if _, err := os.Stat(armFile(f.cfg)); err == nil {
		t.Errorf("DRYRUN armed the UPS: its next ordinary halt would cut the load")
	}
}

// TestCheckUSBKill: check says what the hook will send, or plainly that
// the UPS cannot be told.
func TestCheckUSBKill(t *testing.T) {
	defer func(old func(context.Context, usbtool.Selector, usbtool.ShutdownOptions) (usbtool.ShutdownResult, error)) {
		tellUSB = old
	}(tellUSB)
	for _, tc := range []struct {
		name string
		res  usbtool.ShutdownResult
		err  error
		want string
	}{
		{"HID", usbtool.ShutdownResult{Steps: []string{"SET_REPORT feature 0x0f UPS.PowerSummary.DelayBeforeStartup=30"}}, nil, "sends over USB: SET_REPORT"},
		{"krauler", usbtool.ShutdownResult{}, fmt.Errorf("%w: krauler", usbtool.ErrNoShutdownCommand), "firmware powers on at AC recovery"},
		{"busy", usbtool.ShutdownResult{}, usbtool.ErrDeviceBusy, "another driver holds the UPS"},
		{"POWEROFF_WAIT not longer than the offdelay", usbtool.ShutdownResult{OffDelay: 20 * time.Second}, nil, "POWEROFF_WAIT 15s is not longer than the UPS's offdelay 20s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tellUSB = func(_ context.Context, _ usbtool.Selector, opt usbtool.ShutdownOptions) (usbtool.ShutdownResult, error) {
				if !opt.DryRun {
					t.Errorf("check told the UPS for real")
				}
				return tc.res, tc.err
			}
			dir := t.TempDir()
			cfg := defaultConfig(filepath.Join(dir, "upsflags.conf"))
			cfg.StateDir, cfg.Trigger = dir, filepath.Join(dir, "upsflags.trigger")
			cfg.PoweroffWait = 15 * time.Second
			var out bytes.Buffer
			k := &checker{Checker: command.Checker{W: &out}}
			checkUSBKill(context.Background(), k, cfg, usbtool.Selector{})
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("check said:\n%s\nwant %q", &out, tc.want)
			}
		})
	}
}
