package flagger

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/master"
	"github.com/nutslave/nutslave/internal/poweroff"
)

// The master loop on a fake clock: Watch runs as in production (file
// source, real FLAGDIR and ACKDIR in a temporary directory), but time
// moves only when the loop sleeps, and the shutdown command is a
// recorder. Each rule of the loop's timing is one test below; the pure
// decisions behind them are table rows in internal/master.

// fakeClock moves only when the engine sleeps; after each move it runs
// tick, the test's script, with the new time and the sleep's length.
type fakeClock struct {
	now  time.Time
	tick func(now time.Time, d time.Duration)
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.now = c.now.Add(d)
	if c.tick != nil {
		c.tick(c.now, d)
	}
	return ctx.Err()
}

// recorder stands in for the master's shutdown command: it records the
// time of the call and which acknowledgements ACKDIR held then.
type recorder struct {
	mu    sync.Mutex
	clk   *fakeClock
	ackds string
	runs  []recorded
}

type recorded struct {
	at     time.Time
	reason string
	acks   []string
}

func (r *recorder) RunLogged(_ context.Context, reason, _ string, _ poweroff.Logger) (poweroff.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.runs) > 0 {
		return poweroff.AlreadyStarted, nil
	}
	var acks []string
	ents, _ := os.ReadDir(r.ackds)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "sdfok") {
			acks = append(acks, e.Name())
		}
	}
	r.runs = append(r.runs, recorded{at: r.clk.now, reason: reason, acks: acks})
	return poweroff.Ran, nil
}

func (r *recorder) Status() (string, time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.runs) == 0 {
		return "", time.Time{}, false
	}
	return "started", r.runs[0].at, true
}

// rig is one master: its config, the UPS file the source reads, the fake
// clock and the recorder.
type rig struct {
	t     *testing.T
	cfg   *Config
	f     *Flagger
	clk   *fakeClock
	run   *recorder
	ups   string
	log   *bytes.Buffer
	start time.Time
	// polls counts the loop's POLL sleeps; sdfAt is the fake time at
	// which sdf was first seen in FLAGDIR (after a sleep).
	polls int
	sdfAt time.Time
}

// testConfig is a master laid out in dir, as the tests of this package
// run it: SOURCE the file ups in dir, FLAGDIR, ACKDIR and STATEDIR below
// dir, owned by this user. makeDirs creates the directories once the test
// has set the rest.
func testConfig(dir, ups string) *Config {
	cfg := defaultConfig(filepath.Join(dir, "upsflags.conf"))
	cfg.Source = "file:" + filepath.Join(dir, ups)
	cfg.FlagDir = filepath.Join(dir, "flags")
	cfg.AckDir = filepath.Join(dir, "acks")
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.FlagOwner = uint32(os.Geteuid())
	return cfg
}

// makeDirs creates cfg's STATEDIR, then FLAGDIR and ACKDIR as upsflags
// does (ensureDirs).
func makeDirs(t *testing.T, cfg *Config) {
	t.Helper()
	if err := os.Mkdir(cfg.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ensureDirs(cfg, true); err != nil {
		t.Fatal(err)
	}
}

// newRig is a master of slaves on a fake clock (testConfig), with a
// recorder for its shutdown command.
func newRig(t *testing.T, slaves ...string) *rig {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir, "ups")
	cfg.Slaves = slaves
	cfg.Poll = 2 * time.Second
	cfg.HostSync = 120 * time.Second
	cfg.DeadTime = 30 * time.Second
	cfg.Debounce = 2
	cfg.StdwCharge = 50
	makeDirs(t, cfg)
	var buf bytes.Buffer
	log := eventlog.Open(eventlog.Options{Tag: "upsflags", Stderr: &buf})
	f, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, cfg: cfg, f: f, ups: filepath.Join(dir, "ups"), log: &buf}
	r.start = time.Now()
	r.clk = &fakeClock{now: r.start}
	r.run = &recorder{clk: r.clk, ackds: cfg.AckDir}
	f.clock, f.runner = r.clk, r.run
	return r
}

// reading makes the UPS say status and charge ("" removes the file: no
// reading).
func (r *rig) reading(status string, charge int) {
	r.t.Helper()
	if status == "" {
		os.Remove(r.ups)
		return
	}
	body := fmt.Sprintf("ups.status: %s\nbattery.charge: %d\n", status, charge)
	if err := os.WriteFile(r.ups, []byte(body), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// ack writes sdfok.<slave> now; an age > 0 backdates it.
func (r *rig) ack(slave string, age time.Duration) {
	r.t.Helper()
	p := filepath.Join(r.cfg.AckDir, string(flags.Ack(slave)))
	if err := os.WriteFile(p, []byte("host="+slave+"\n"), 0o644); err != nil {
		r.t.Fatal(err)
	}
	if age > 0 {
		old := time.Now().Add(-age)
		if err := os.Chtimes(p, old, old); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *rig) has(n flags.Name) bool {
	_, err := os.Stat(filepath.Join(r.cfg.FlagDir, string(n)))
	return err == nil
}

// watch runs Watch until the script cancels it or maxPolls POLLs passed.
// script runs after each POLL sleep with the number of POLLs so far; the
// roster wait's short sleeps run wait with the fake time since sdf.
func (r *rig) watch(maxPolls int, script func(poll int, stop func()), wait func(sinceSDF time.Duration)) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r.clk.tick = func(now time.Time, d time.Duration) {
		if r.sdfAt.IsZero() && r.has(flags.SDF) {
			r.sdfAt = now
		}
		if d != r.cfg.Poll {
			if wait != nil {
				wait(now.Sub(r.sdfAt))
			}
			return
		}
		r.polls++
		if r.polls >= maxPolls {
			cancel()
			return
		}
		if script != nil {
			script(r.polls, cancel)
		}
	}
	if err := r.f.Watch(ctx, 0); err != nil {
		r.t.Fatalf("Watch: %v\nlog:\n%s", err, r.log)
	}
	if ctx.Err() == context.DeadlineExceeded {
		r.t.Fatalf("Watch ran past the real 20 s deadline\nlog:\n%s", r.log)
	}
}

// TestLoopMasterLastAfterEveryAck: DEBOUNCE low readings write battsdf
// and sdf; the master waits for every slave in SLAVES and shuts down
// once, after the last acknowledgement, long before HOSTSYNC. Mains
// back after sdf changes nothing: sdf is irreversible.
func TestLoopMasterLastAfterEveryAck(t *testing.T) {
	r := newRig(t, "web1", "db1")
	r.reading("OB", 40)
	r.watch(10, nil, func(since time.Duration) {
		switch {
		case since >= 30*time.Second:
			r.ack("db1", 0)
		case since >= 5*time.Second:
			r.ack("web1", 0)
			r.reading("OL", 41) // the power race: mains back after sdf
		}
	})
	if len(r.run.runs) != 1 {
		t.Fatalf("shutdowns = %d, want 1\nlog:\n%s", len(r.run.runs), r.log)
	}
	run := r.run.runs[0]
	if got := strings.Join(run.acks, " "); got != "sdfok.db1 sdfok.web1" {
		t.Errorf("acknowledgements when the master shut down = %q, want both slaves'", got)
	}
	if d := run.at.Sub(r.sdfAt); d < 30*time.Second || d > 31*time.Second {
		t.Errorf("master shut down %v after sdf, want right after db1's acknowledgement at 30 s", d)
	}
	// Written at the DEBOUNCE's second low reading, one POLL in (and seen
	// at the roster wait's first short sleep).
	if d := r.sdfAt.Sub(r.start); d < r.cfg.Poll || d > r.cfg.Poll+r.f.ackPoll() {
		t.Errorf("sdf seen %v after the first low reading, want one POLL (DEBOUNCE 2)", d)
	}
	if !r.has(flags.BattSDF) || r.has(flags.Onl) {
		t.Errorf("after the mains came back: battsdf %v, onl %v; want battsdf kept, no onl", r.has(flags.BattSDF), r.has(flags.Onl))
	}
	if !strings.Contains(run.reason, "below STDWCHARGE") {
		t.Errorf("shutdown reason %q, want the charge rule", run.reason)
	}
	for _, want := range []string{"slave acknowledged slave=web1", "slave acknowledged slave=db1", "every slave acknowledged; shutting the master down last"} {
		if !strings.Contains(r.log.String(), want) {
			t.Errorf("log lacks %q\nlog:\n%s", want, r.log)
		}
	}
}

// TestLoopHostSync: a slave that never answers holds the master until
// HOSTSYNC after sdf, not a moment less, and an acknowledgement from
// before this outage's sdf does not count.
func TestLoopHostSync(t *testing.T) {
	for _, tc := range []struct {
		name string
		prep func(r *rig)
	}{
		{"silent slave", func(*rig) {}},
		{"stale acknowledgement", func(r *rig) { r.ack("web1", time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "web1")
			r.reading("OB", 10)
			r.cfg.Debounce = 1
			tc.prep(r)
			r.watch(5, nil, nil)
			if len(r.run.runs) != 1 {
				t.Fatalf("shutdowns = %d, want 1\nlog:\n%s", len(r.run.runs), r.log)
			}
			d := r.run.runs[0].at.Sub(r.start)
			if d < r.cfg.HostSync || d > r.cfg.HostSync+time.Second {
				t.Errorf("master shut down %v after the outage began, want HOSTSYNC %v", d, r.cfg.HostSync)
			}
			if !strings.Contains(r.log.String(), "HOSTSYNC passed without every slave's acknowledgement") {
				t.Errorf("log does not say HOSTSYNC passed\nlog:\n%s", r.log)
			}
		})
	}
}

// TestLoopFlapNeverCommits: low readings that are not consecutive (the
// mains flaps between them) never reach DEBOUNCE; onl comes back each
// time and nothing shuts down.
func TestLoopFlapNeverCommits(t *testing.T) {
	r := newRig(t, "web1")
	r.cfg.Debounce = 2
	r.reading("OB", 40)
	onlSeen := 0
	r.watch(12, func(poll int, _ func()) {
		if r.has(flags.Onl) {
			onlSeen++
		}
		if poll%2 == 1 {
			r.reading("OL", 40)
		} else {
			r.reading("OB", 40)
		}
	}, nil)
	if len(r.run.runs) != 0 || r.has(flags.SDF) || r.has(flags.BattSDF) {
		t.Fatalf("flapping power: shutdowns %d, sdf %v, battsdf %v; want none\nlog:\n%s", len(r.run.runs), r.has(flags.SDF), r.has(flags.BattSDF), r.log)
	}
	if onlSeen < 5 {
		t.Errorf("onl present after %d of 11 POLLs, want it back after each OL reading", onlSeen)
	}
}

// TestLoopDeadTime: last known on battery, then no reading. The master
// commits once DEADTIME has passed since the first failed reading, not a
// POLL sooner; while on line power, no reading never commits.
func TestLoopDeadTime(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   bool
	}{{"OB", true}, {"OL", false}} {
		t.Run(tc.status, func(t *testing.T) {
			r := newRig(t, "web1")
			r.reading(tc.status, 90)
			var lost time.Time
			r.watch(40, func(poll int, stop func()) {
				if poll == 2 {
					r.reading("", 0)
					lost = r.clk.now
				}
				if !r.sdfAt.IsZero() {
					stop()
				}
			}, nil)
			committed := r.sdfAt
			if !tc.want {
				if r.has(flags.SDF) || len(r.run.runs) != 0 {
					t.Fatalf("no reading on line power committed a shutdown\nlog:\n%s", r.log)
				}
				return
			}
			if committed.IsZero() {
				t.Fatalf("no sdf after %d POLLs without a reading\nlog:\n%s", r.polls, r.log)
			}
			// The first failed reading comes right after the file went;
			// sdf is seen at the roster wait's first short sleep.
			if d := committed.Sub(lost); d < r.cfg.DeadTime || d > r.cfg.DeadTime+r.cfg.Poll {
				t.Errorf("sdf %v after the first failed reading, want DEADTIME %v (within a POLL)", d, r.cfg.DeadTime)
			}
		})
	}
}

// TestLoopMaxOnBatt: a charge that stays high still commits after
// MAXONBATT on battery.
func TestLoopMaxOnBatt(t *testing.T) {
	r := newRig(t)
	r.cfg.MaxOnBatt = 60 * time.Second
	r.reading("OB", 95)
	r.watch(60, func(_ int, stop func()) {
		if !r.sdfAt.IsZero() {
			stop()
		}
	}, nil)
	committed := r.sdfAt
	if committed.IsZero() {
		t.Fatalf("no sdf after MAXONBATT\nlog:\n%s", r.log)
	}
	if d := committed.Sub(r.start); d < r.cfg.MaxOnBatt || d > r.cfg.MaxOnBatt+r.cfg.Poll {
		t.Errorf("sdf %v after the outage began, want MAXONBATT %v", d, r.cfg.MaxOnBatt)
	}
}

// TestLoopShutdownOncePerBoot: after the master's shutdown command ran,
// later runs of the loop find it started and never run it again, with
// every slave acknowledged or not.
func TestLoopShutdownOncePerBoot(t *testing.T) {
	r := newRig(t)
	r.cfg.Debounce = 1
	r.reading("OB", 10)
	r.watch(8, nil, nil)
	if len(r.run.runs) != 1 {
		t.Fatalf("shutdowns = %d, want 1\nlog:\n%s", len(r.run.runs), r.log)
	}
	if n := strings.Count(r.log.String(), "shutting the master down"); n != 1 {
		t.Errorf("the log says %d times that the master shuts down, want 1\nlog:\n%s", n, r.log)
	}
}

// TestLoopStagedSlaveCountsFromItsOwnVerdict: a staged slave (STAGES
// web1:80) gets sdf.web1 when the charge falls below 80 and answers it
// then; that answer, written long before the global sdf, still counts,
// and the master does not wait for HOSTSYNC.
func TestLoopStagedSlaveCountsFromItsOwnVerdict(t *testing.T) {
	r := newRig(t, "db1")
	r.cfg.Stages = []master.Stage{{Name: "web1", Charge: 80}}
	r.cfg.Debounce = 1
	r.reading("OB", 70)
	var staged time.Time
	r.watch(20, func(poll int, _ func()) {
		if staged.IsZero() && r.has(flags.StagedSDF("web1")) {
			staged = r.clk.now
			r.ack("web1", 0)
		}
		if poll == 5 {
			r.reading("OB", 30)
		}
	}, func(since time.Duration) {
		if since >= 10*time.Second {
			r.ack("db1", 0)
		}
	})
	if staged.IsZero() || r.sdfAt.IsZero() || !staged.Before(r.sdfAt) {
		t.Fatalf("sdf.web1 at %v, sdf at %v: want the staged verdict first\nlog:\n%s", staged, r.sdfAt, r.log)
	}
	if len(r.run.runs) != 1 {
		t.Fatalf("shutdowns = %d, want 1\nlog:\n%s", len(r.run.runs), r.log)
	}
	if d := r.run.runs[0].at.Sub(r.sdfAt); d > 11*time.Second {
		t.Errorf("master shut down %v after sdf, want right after db1's answer at 10 s (web1's early answer counted)\nlog:\n%s", d, r.log)
	}
	if got := strings.Join(r.run.runs[0].acks, " "); got != "sdfok.db1 sdfok.web1" {
		t.Errorf("acknowledgements when the master shut down = %q, want both", got)
	}
}

// TestLoopWatchWindow: "upsflags watch --for" (cron's minute) starts no
// decision once its window has passed, but a master that is waiting for
// its slaves when it passes keeps waiting and shuts down.
func TestLoopWatchWindow(t *testing.T) {
	r := newRig(t, "web1")
	r.reading("OL", 100)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.f.Watch(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := r.clk.now.Sub(r.start); d < 10*time.Second || d > 10*time.Second+r.cfg.Poll {
		t.Errorf("the watch ended %v after it began, want its 10 s window", d)
	}
	if !strings.Contains(r.log.String(), "watch window over") {
		t.Errorf("log lacks the end of the window\nlog:\n%s", r.log)
	}

	// An outage that commits inside the window: the roster wait runs past
	// the window's end, to HOSTSYNC, and the master shuts down.
	r2 := newRig(t, "web1")
	r2.cfg.Debounce = 1
	r2.reading("OB", 10)
	if err := r2.f.Watch(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if len(r2.run.runs) != 1 {
		t.Fatalf("shutdowns = %d, want 1 (the window must not cut the roster wait)\nlog:\n%s", len(r2.run.runs), r2.log)
	}
	if d := r2.run.runs[0].at.Sub(r2.start); d < r2.cfg.HostSync {
		t.Errorf("master shut down %v in, want after HOSTSYNC %v", d, r2.cfg.HostSync)
	}
}
