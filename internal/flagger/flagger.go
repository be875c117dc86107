// Package flagger is upsflags's engine: it reads the UPS (a Source: upsd,
// USB, a file), takes internal/master's decisions, writes the flags in
// FLAGDIR, waits for the slaves' acknowledgements in ACKDIR and shuts the
// master down last. It also holds the commands for people (status, check,
// reset, drill) and upsflags.conf (Config).
package flagger

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/lock"
	"github.com/nutslave/nutslave/internal/master"
	"github.com/nutslave/nutslave/internal/poweroff"
)

// lockWait is how long a run waits for another decider before leaving the
// decision to it.
const lockWait = 3 * time.Second

// Flagger applies internal/master's decisions: it reads the UPS, writes
// the flags, waits for the slaves and shuts the master down.
type Flagger struct {
	cfg    *Config
	log    *eventlog.Logger
	src    Source
	boot   string
	host   string
	runner poweroff.AtMostOnce
	// marker is the runner's "shutdown started" file, which reset removes.
	marker string
	clock  clock
}

// clock is the engine's time. Tests put in a fake that moves only when
// the engine sleeps, so that HOSTSYNC, DEADTIME and DEBOUNCE pass at once.
type clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx ends (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// New returns the engine for cfg: its UPS source (SOURCE), state in
// STATEDIR and shutdown command.
func New(cfg *Config, log *eventlog.Logger) (*Flagger, error) {
	src, err := parseSource(cfg.Source, cfg.UPS)
	if err != nil {
		return nil, err
	}
	if cfg.Metrics != "" {
		src = &remembering{Source: src}
	}
	boot := poweroff.BootID()
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	marker := filepath.Join(cfg.StateDir, "upsflags.shutdown")
	return &Flagger{
		cfg:    cfg,
		log:    log,
		src:    src,
		boot:   boot,
		host:   host,
		runner: &poweroff.Runner{Argv: cfg.ShutdownCmd, DryRun: cfg.DryRun, Marker: marker, BootID: boot},
		marker: marker,
		clock:  realClock{},
	}, nil
}

func lockPath(cfg *Config) string { return filepath.Join(cfg.StateDir, "upsflags.lock") }

// Once is one run: take the decider lock, decide, and carry out a
// committed shutdown. A run that finds another decider at work leaves the
// decision to it.
func (f *Flagger) Once(ctx context.Context) error {
	_, err := f.locked(ctx, func(fd, ad *flags.Dir) error { return f.step(ctx, fd, ad) })
	f.writeMetrics(ctx)
	return err
}

// locked runs fn with the decider lock held and FLAGDIR and ACKDIR open.
// When another upsflags holds the lock for longer than lockWait, fn does
// not run and ran is false.
func (f *Flagger) locked(ctx context.Context, fn func(fd, ad *flags.Dir) error) (ran bool, err error) {
	lctx, cancel := context.WithTimeout(ctx, lockWait)
	l, err := lock.Acquire(lctx, lockPath(f.cfg))
	cancel()
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			f.log.Info("another upsflags is deciding (or waiting for the slaves); leaving the decision to it")
			return false, nil
		}
		return false, err
	}
	defer l.Unlock()
	fd, ad, notes, err := openDirs(f.cfg)
	for _, n := range notes {
		f.log.Info(n)
	}
	if err != nil {
		f.log.Crit("refusing the flag directory; no flags written", "err", err)
		return false, err
	}
	defer fd.Close()
	defer ad.Close()
	return true, fn(fd, ad)
}

// step reads the UPS, decides and applies the plan, with the lock held.
func (f *Flagger) step(ctx context.Context, fd, ad *flags.Dir) error {
	_, err := f.decide(ctx, fd, ad, true)
	return err
}

// decide is one decision with the lock held: read the UPS, decide, write
// the flags (global, then per-slave). When finish is set a committed
// shutdown is carried out (roster wait, SHUTDOWNCMD); otherwise the caller
// does that. It returns the new state.
func (f *Flagger) decide(ctx context.Context, fd, ad *flags.Dir, finish bool) (master.State, error) {
	r := f.src.Read(ctx)
	old, err := loadState(f.cfg, f.boot)
	if err != nil {
		return old, err
	}
	disk, staged, drill, err := f.disk(ctx, fd, ad)
	if err != nil {
		return old, err
	}
	now := f.clock.Now()
	st, plan := master.Decide(old, r, disk, now, f.cfg.decision())
	st, stagePlans := master.DecideStages(st, r, staged, now, f.cfg.decision())
	if drill && (plan.Critical || plan.Commit) {
		// A real outage takes precedence over a drill at once.
		if err := fd.Clear(ctx, flags.Drill); err != nil {
			f.log.Error("cannot remove the drill flag", "err", err)
		} else {
			f.log.Crit("real outage during a drill: removed the drill flag; the real shutdown sequence proceeds")
		}
	}
	if err := f.apply(ctx, fd, plan, r, st); err != nil {
		f.log.Crit("could not write the flags", "err", err)
		saveState(f.cfg, st)
		return st, err
	}
	if err := f.applyStages(ctx, fd, stagePlans, r, st); err != nil {
		f.log.Crit("could not write a staged slave's flags", "err", err)
		saveState(f.cfg, st)
		return st, err
	}
	st = stampVerdicts(ctx, fd, st, plan, stagePlans)
	if err := saveState(f.cfg, st); err != nil {
		return st, err
	}
	if changed(old, st, plan) {
		kv := []any{"ups", f.src, "reading", r, "power", st.Power}
		if plan.Critical {
			kv = append(kv, "slaves", slavesText(f.cfg.roster()))
		}
		f.log.At(plan.Level, plan.Note, kv...)
	}
	for _, sp := range stagePlans {
		switch {
		case sp.Fired:
			f.log.Crit("stage verdict: "+sp.Note, "slave", sp.Name, "reading", r)
		case sp.Changed():
			f.log.Warn(sp.Note, "slave", sp.Name, "reading", r)
		case old.Stages[sp.Name].LowCount != st.Stages[sp.Name].LowCount:
			f.log.Info(sp.Note, "slave", sp.Name, "reading", r)
		}
	}
	var srcErr error
	if !r.OK() && permanent(r.Err) {
		srcErr = fmt.Errorf("SOURCE %s: %w", f.src, r.Err)
		f.log.Error("cannot read the UPS; fix SOURCE", "err", r.Err)
	}
	if plan.Commit && finish {
		if err := f.finish(ctx, ad, st); err != nil {
			return st, err
		}
	}
	if st.Phase == master.PhaseNormal && !drill {
		f.wakeAfterOutage(ctx, r, now)
	}
	return st, srcErr
}

// disk lists FLAGDIR: the global flags, the per-slave verdicts (by slave)
// and whether a drill is on. An sdf (or sdf.<name>) from before this boot
// (the boot-time reset did not run) is cleared with the other flags of
// that outage, so it cannot turn this boot into an instant shutdown.
func (f *Flagger) disk(ctx context.Context, fd, ad *flags.Dir) (master.Disk, map[string]master.StageFlags, bool, error) {
	infos, err := fd.List(ctx)
	if err != nil {
		return master.Disk{}, nil, false, err
	}
	d, staged, drill, oldest := scanFlags(infos)
	if bt := bootTime(); !oldest.IsZero() && !bt.IsZero() && oldest.Before(bt) {
		f.log.Warn("sdf is from before this boot (upsflags reset did not run at boot); clearing the last outage's flags",
			"sdf_time", oldest.Format(time.RFC3339), "boot", bt.Format(time.RFC3339))
		if _, err := resetFlags(ctx, fd, ad); err != nil {
			return d, staged, drill, err
		}
		// The reset would also have disarmed the UPS.
		if flag := f.disarm(); flag != "" {
			f.log.Warn("removed the last outage's POWERDOWNFLAG", "powerdownflag", flag)
		}
		return master.Disk{Onl: d.Onl}, nil, false, nil
	}
	return d, staged, drill, nil
}

// scanFlags sorts FLAGDIR's listing into the global flags, the per-slave
// verdicts and the drill flag; oldest is the earliest sdf or sdf.<name>.
func scanFlags(infos []flags.Info) (d master.Disk, staged map[string]master.StageFlags, drill bool, oldest time.Time) {
	staged = map[string]master.StageFlags{}
	sdfTime := func(t time.Time) {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	for _, in := range infos {
		switch in.Name {
		case flags.Onl:
			d.Onl = true
		case flags.BattSDF:
			d.BattSDF = true
		case flags.SDF:
			d.SDF, d.SDFTime = true, in.ModTime
			sdfTime(in.ModTime)
		case flags.Drill:
			drill = true
		default:
			slave, verdict, ok := flags.StagedSlave(in.Name)
			if !ok {
				continue
			}
			sf := staged[slave]
			if verdict == flags.SDF {
				sf.SDF, sf.SDFTime = true, in.ModTime
				sdfTime(in.ModTime)
			} else {
				sf.BattSDF = true
			}
			staged[slave] = sf
		}
	}
	return d, staged, drill, oldest
}

// applyStages writes and clears the per-slave verdicts: battsdf.<name>
// before sdf.<name>.
func (f *Flagger) applyStages(ctx context.Context, fd *flags.Dir, plans []master.StagePlan, r master.Reading, st master.State) error {
	for _, sp := range plans {
		reason := st.Stages[sp.Name].Reason
		if reason == "" {
			reason = sp.Note
		}
		for _, op := range []struct {
			name flags.Name
			op   master.Op
		}{{flags.StagedBattSDF(sp.Name), sp.BattSDF}, {flags.StagedSDF(sp.Name), sp.SDF}} {
			switch op.op {
			case master.Set:
				if err := fd.Set(ctx, op.name, f.body(r, master.State{}, master.Plan{Note: reason})); err != nil {
					return err
				}
				f.log.Crit("wrote "+string(op.name), "slave", sp.Name, "flagdir", f.cfg.FlagDir)
			case master.Clear:
				if err := fd.Clear(ctx, op.name); err != nil {
					return err
				}
				f.log.Info("removed "+string(op.name), "slave", sp.Name, "flagdir", f.cfg.FlagDir)
			}
		}
	}
	return nil
}

// stampVerdicts takes the times of the sdf flags just written from the
// files themselves. The acknowledgements are stamped by the same
// filesystem clock, which moves in ticks and lags time.Now by up to one,
// so "written after my sdf" compares like with like: an acknowledgement
// written right after sdf is never older than it.
func stampVerdicts(ctx context.Context, fd *flags.Dir, st master.State, p master.Plan, stages []master.StagePlan) master.State {
	if p.SDF == master.Set {
		if in, err := fd.Stat(ctx, flags.SDF); err == nil {
			st.SDFAt = in.ModTime
		}
	}
	for _, sp := range stages {
		if sp.SDF != master.Set {
			continue
		}
		if in, err := fd.Stat(ctx, flags.StagedSDF(sp.Name)); err == nil {
			ss := st.Stages[sp.Name]
			ss.SDFAt = in.ModTime
			st.Stages[sp.Name] = ss
		}
	}
	return st
}

func changed(old, st master.State, p master.Plan) bool {
	return p.Onl != master.Keep || p.BattSDF != master.Keep || p.SDF != master.Keep || p.Critical ||
		old.Power != st.Power || old.LowCount != st.LowCount || old.Phase != st.Phase ||
		old.NoReadingSince.IsZero() != st.NoReadingSince.IsZero()
}

// apply writes and clears flags in the plan's order: battsdf, sdf, onl.
func (f *Flagger) apply(ctx context.Context, fd *flags.Dir, p master.Plan, r master.Reading, st master.State) error {
	for _, op := range []struct {
		name flags.Name
		op   master.Op
	}{{flags.BattSDF, p.BattSDF}, {flags.SDF, p.SDF}, {flags.Onl, p.Onl}} {
		switch op.op {
		case master.Set:
			if err := fd.Set(ctx, op.name, f.body(r, st, p)); err != nil {
				return err
			}
			f.log.At(flagLevel(op.name), "wrote "+string(op.name), "flagdir", f.cfg.FlagDir)
		case master.Clear:
			if err := fd.Clear(ctx, op.name); err != nil {
				return err
			}
			f.log.Info("removed "+string(op.name), "flagdir", f.cfg.FlagDir)
		}
	}
	return nil
}

func flagLevel(n flags.Name) slog.Level {
	if n == flags.Onl {
		return slog.LevelInfo
	}
	return eventlog.LevelCritical
}

// body is a flag's content: for people only.
func (f *Flagger) body(r master.Reading, st master.State, p master.Plan) []byte {
	fields := []flags.Field{{Key: "ups", Value: f.src.String()}}
	if r.OK() {
		fields = append(fields, flags.Field{Key: "status", Value: strings.Join(r.Status, " ")})
		if r.HasCharge {
			fields = append(fields, flags.Field{Key: "charge", Value: strconv.FormatFloat(r.Charge, 'f', -1, 64)})
		}
		if r.HasRuntime {
			fields = append(fields, flags.Field{Key: "runtime", Value: strconv.Itoa(int(r.Runtime.Seconds()))})
		}
	}
	reason := p.Note
	if st.Reason != "" && st.Phase != master.PhaseNormal {
		reason = st.Reason
	}
	fields = append(fields, flags.Field{Key: "reason", Value: reason}, flags.Field{Key: "version", Value: f.cfg.Version})
	return flags.Stamp(f.clock.Now(), f.host, fields...)
}

func slavesText(s []string) string {
	if len(s) == 0 {
		return "(any one)"
	}
	return strings.Join(s, " ")
}

// ackPoll is how often ACKDIR is read while waiting for the slaves.
func (f *Flagger) ackPoll() time.Duration { return min(f.cfg.Poll, 250*time.Millisecond) }

// finish waits for the roster (until HOSTSYNC after sdf), then runs the
// master's shutdown command, at most once per boot.
func (f *Flagger) finish(ctx context.Context, ad *flags.Dir, st master.State) error {
	if state, _, ok := f.runner.Status(); ok && state != "failed" {
		st.Phase = master.PhaseDone
		return saveState(f.cfg, st)
	}
	tally, timedOut, err := f.waitRoster(ctx, ad, st)
	if err != nil {
		return err
	}
	var acked []string
	for _, a := range tally.Acked {
		acked = append(acked, a.Who())
	}
	f.recordOutage(st, tally)
	f.armUPS()
	if timedOut {
		f.log.Crit("HOSTSYNC passed without every slave's acknowledgement; shutting the master down anyway",
			"missing", strings.Join(tally.Missing, " "), "acknowledged", orDash(strings.Join(acked, " ")), "hostsync", f.cfg.HostSync)
	} else {
		f.log.Crit("every slave acknowledged; shutting the master down last", "acknowledged", strings.Join(acked, " "))
	}
	if outcome, runErr := f.runner.RunLogged(ctx, st.Reason, "the master", f.log); outcome == poweroff.Failed {
		if poweroff.IsPermission(runErr) {
			return fmt.Errorf("%w: %v", fs.ErrPermission, runErr)
		}
		return runErr
	}
	st.Phase = master.PhaseDone
	return saveState(f.cfg, st)
}

// waitRoster polls ACKDIR until every listed slave acknowledged this
// outage's sdf or HOSTSYNC passed, logging each acknowledgement once.
func (f *Flagger) waitRoster(ctx context.Context, ad *flags.Dir, st master.State) (master.Tally, bool, error) {
	sdfAt := st.SDFAt
	roster := rosterFor(f.cfg, st)
	seen := map[string]bool{}
	first := true
	var listErr string
	for {
		infos, err := ad.List(ctx)
		if err != nil && err.Error() != listErr {
			listErr = err.Error()
			f.log.Error("cannot read ACKDIR; still waiting", "err", err)
		}
		t := roster.Count(infos, sdfAt)
		now := f.clock.Now()
		if first {
			for _, a := range t.Stale {
				f.log.Info("ignoring an acknowledgement from before this outage's sdf", "slave", a.Who(), "at", a.At.Format(time.RFC3339))
			}
		}
		for _, a := range t.Acked {
			if !seen["ok:"+a.Who()] {
				seen["ok:"+a.Who()] = true
				// A staged slave answers its own sdf.<name>: "after" counts
				// from that verdict, not from the later global sdf.
				told := sdfAt
				if ss := st.Stages[a.Slave]; a.Slave != "" && !ss.SDFAt.IsZero() {
					told = ss.SDFAt
				}
				f.log.Info("slave acknowledged", "slave", a.Who(), "at", a.At.Format(time.RFC3339Nano), "after", a.At.Sub(told).Round(time.Millisecond), "body", f.ackBody(ctx, ad, a))
			}
		}
		for _, a := range t.Unlisted {
			if !seen["x:"+a.Who()] {
				seen["x:"+a.Who()] = true
				f.log.Warn("acknowledgement from a slave not in SLAVES or STAGES; not counted", "slave", a.Who(), "at", a.At.Format(time.RFC3339))
			}
		}
		if over, timedOut := master.WaitOver(t, sdfAt, now, f.cfg.HostSync); over {
			return t, timedOut, nil
		}
		if first {
			f.log.Info("waiting for the slaves to acknowledge sdf", "slaves", slavesText(roster.Names),
				"missing", strings.Join(t.Missing, " "), "until", sdfAt.Add(f.cfg.HostSync).Format(time.RFC3339))
			first = false
		}
		if err := f.clock.Sleep(ctx, f.ackPoll()); err != nil {
			f.log.Warn("interrupted while waiting for the slaves; the next upsflags run resumes the wait")
			return t, false, err
		}
	}
}

// ackBody reads an acknowledgement (size-limited) for the log only.
func (f *Flagger) ackBody(ctx context.Context, ad *flags.Dir, a master.Ack) string {
	name := flags.AnonAck
	if a.Slave != "" {
		name = flags.Ack(a.Slave)
	}
	b, err := ad.Get(ctx, name)
	if err != nil && len(b) == 0 {
		return "(unreadable: " + err.Error() + ")"
	}
	if s := flags.Summary(b); s != "" {
		return s
	}
	return "(empty)"
}

// rosterFor is whom the master waits for in the outage st describes: the
// staged slaves' acknowledgements count from their own verdicts.
func rosterFor(cfg *Config, st master.State) master.Roster {
	since := map[string]time.Time{}
	for n, ss := range st.Stages {
		if !ss.SDFAt.IsZero() {
			since[n] = ss.SDFAt
		}
	}
	return master.NewRoster(cfg.Slaves, cfg.Stages, since)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// resetFlags clears sdf, battsdf, the per-slave sdf.<name> and
// battsdf.<name> and any drill in FLAGDIR, and every acknowledgement
// (sdfok*, drillok.*) in ACKDIR; it returns what it removed. Heartbeats
// (seen.*) stay.
func resetFlags(ctx context.Context, fd, ad *flags.Dir) ([]string, error) {
	var removed []string
	for _, n := range []flags.Name{flags.SDF, flags.BattSDF, flags.Drill} {
		if _, err := fd.Stat(ctx, n); err == nil {
			removed = append(removed, string(n))
		}
		if err := fd.Clear(ctx, n); err != nil {
			return removed, err
		}
	}
	infos, err := fd.List(ctx)
	if err != nil {
		return removed, err
	}
	for _, in := range infos {
		if _, _, ok := flags.StagedSlave(in.Name); !ok {
			continue
		}
		if err := fd.Clear(ctx, in.Name); err != nil {
			return removed, err
		}
		removed = append(removed, string(in.Name))
	}
	infos, err = ad.List(ctx)
	if err != nil {
		return removed, err
	}
	for _, in := range infos {
		_, ack := flags.AckSlave(in.Name)
		_, drill := flags.DrillSlave(in.Name)
		if !ack && !drill {
			continue
		}
		if err := ad.Clear(ctx, in.Name); err != nil {
			return removed, err
		}
		removed = append(removed, string(in.Name))
	}
	return removed, nil
}

// Reset is `upsflags reset`, at boot before NUT starts: clear sdf, battsdf,
// the per-slave verdicts, any drill, the acknowledgements and this boot's
// state.
func (f *Flagger) Reset(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, 2*lockWait)
	l, err := lock.Acquire(lctx, lockPath(f.cfg))
	cancel()
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return &command.Hinted{Err: errors.New("another upsflags holds the lock (maybe waiting for the slaves to shut down)"),
				Hint: "reset is for boot time; stop the other upsflags first if you really mean to cancel a shutdown"}
		}
		return err
	}
	defer l.Unlock()
	fd, ad, notes, err := openDirs(f.cfg)
	for _, n := range notes {
		f.log.Info(n)
	}
	if err != nil {
		return err
	}
	defer fd.Close()
	defer ad.Close()
	removed, err := resetFlags(ctx, fd, ad)
	if err != nil {
		return err
	}
	if flag := f.disarm(); flag != "" {
		removed = append(removed, flag)
	}
	// This boot's state and shutdown marker go too: after a drill or a
	// reset by hand, the next outage starts from scratch.
	for _, p := range []string{stateFile(f.cfg), f.marker} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	f.log.Info("reset: cleared the last power event's flags", "removed", orDash(strings.Join(removed, " ")))
	return nil
}

// Watch runs a decision every POLL until ctx ends, or, with a window
// above zero, until the window has passed (cron starts one such watch a
// minute on a master without systemd). The window never cuts a decision
// short: a master waiting for its slaves when it passes finishes first.
func (f *Flagger) Watch(ctx context.Context, window time.Duration) error {
	f.log.Info("watching the UPS", "source", f.src, "poll", f.cfg.Poll)
	var end time.Time
	if window > 0 {
		end = f.clock.Now().Add(window)
	}
	var lastErr string
	for {
		if !end.IsZero() && !f.clock.Now().Before(end) {
			f.log.Info("watch window over", "window", window)
			return nil
		}
		err := f.Once(ctx)
		if ctx.Err() != nil {
			f.log.Info("watch stopped")
			return nil
		}
		if err != nil {
			if errors.Is(err, ErrUnsafeDir) || errors.Is(err, ErrNoDir) {
				return err
			}
			if err.Error() != lastErr {
				f.log.Error("run failed; retrying every POLL", "err", err)
				lastErr = err.Error()
			}
		} else {
			lastErr = ""
		}
		if f.clock.Sleep(ctx, f.cfg.Poll) != nil {
			f.log.Info("watch stopped")
			return nil
		}
	}
}

// Trigger touches TRIGGER, so that upsflags.path starts the root service:
// NOTIFYCMD mode for a user that may not write FLAGDIR.
func Trigger(cfg *Config, event, ups string) error {
	fd, err := os.OpenFile(cfg.Trigger, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscallNoFollow, 0o660)
	if err != nil {
		return fmt.Errorf("touch TRIGGER: %w", err)
	}
	_, err = fmt.Fprintf(fd, "event=%s ups=%s time=%s pid=%d\n", event, ups, time.Now().Format(time.RFC3339Nano), os.Getpid())
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("touch TRIGGER: %w", err)
	}
	return nil
}
