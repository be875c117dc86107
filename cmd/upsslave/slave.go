package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/flags/sftpstore"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/lock"
	"github.com/nutslave/nutslave/internal/poweroff"
	"github.com/nutslave/nutslave/notify"
)

// slave applies notify's decisions: it records events, runs the one
// watcher per UPS, acknowledges and shuts down.
type slave struct {
	cfg  *Config
	log  *eventlog.Logger
	boot string
	// simulate: acknowledge nothing on the master, run no command.
	simulate bool
	// shutdownCmd runs the shutdown at most once per boot.
	runner *poweroff.Runner
	sess   *sftpstore.Session
	// warnedOwner avoids repeating the foreign-owner warning every poll.
	warnedOwner map[flags.Name]bool
	// last is the last full reading of the flag directory (listing.go).
	last listing
}

func newSlave(cfg *Config, log *eventlog.Logger) *slave {
	boot := poweroff.BootID()
	return &slave{
		cfg:  cfg,
		log:  log,
		boot: boot,
		runner: &poweroff.Runner{
			Argv:   cfg.ShutdownCmd,
			DryRun: cfg.DryRun,
			Marker: cfg.StateDir + "/shutdown.started",
			BootID: boot,
		},
		warnedOwner: map[flags.Name]bool{},
	}
}

func (s *slave) policy() notify.Policy {
	return notify.Policy{NoParentShutdown: s.cfg.OnNoParent == "shutdown"}
}

func (s *slave) timing() notify.Timing {
	return notify.Timing{SDFWait: s.cfg.SDFWait, DeadTime: s.cfg.DeadTime}
}

// update runs fn on the state of ups under its state lock and saves it.
func (s *slave) update(ctx context.Context, ups string, fn func(st *upsState) error) (*upsState, error) {
	l, err := lock.Acquire(ctx, lockFile(s.cfg.StateDir, ups, "state"))
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	st, err := loadState(s.cfg.StateDir, ups, s.boot)
	if err != nil {
		return nil, err
	}
	before := *st
	if err := fn(st); err != nil {
		return st, err
	}
	if *st == before && st.saved {
		return st, nil // nothing changed: no write, the common case while waiting
	}
	return st, st.save(s.cfg.StateDir)
}

// peek reads the state of ups without locking: state files are replaced
// atomically, so a reader sees the old or the new one, whole.
func (s *slave) peek(ups string) (*upsState, error) {
	return loadState(s.cfg.StateDir, ups, s.boot)
}

// handleEvent is drop-in mode: record the event, then wait for the
// master if the plan says so and no other upsslave is already waiting.
func (s *slave) handleEvent(ctx context.Context, rawType, ups, msg string) error {
	ev, evErr := notify.ParseEvent(rawType)
	defer s.close()
	targets := []string{ups}
	if ups == "" {
		// Host events (SHUTDOWN, NOPARENT) concern every UPS we track.
		if known := knownUPSes(s.cfg.StateDir, s.boot); len(known) > 0 {
			targets = known
		}
	}
	var firstErr error
	for _, u := range targets {
		var plan notify.Plan
		st, err := s.update(ctx, u, func(st *upsState) error {
			now := time.Now()
			before := st.decision()
			plan = notify.OnEvent(ev, before, s.policy())
			st.Seq++
			st.LastEvent, st.LastEventAt = ev, now
			if plan.State.Power != before.Power {
				st.Power, st.PowerSince = plan.State.Power, now
			}
			s.setJob(st, plan.State.Job, now)
			return nil
		})
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		lvl := logLevel(plan.Level)
		if evErr != nil {
			lvl = eventlog.Info
		}
		s.log.Log(lvl, plan.Note, "event", orDash(rawType), "ups", orDash(u), "power", st.Power, "job", st.Job, "msg", msg)
		if st.Job.Waiting() {
			if err := s.watchIfIdle(ctx, u); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

func logLevel(l notify.Level) eventlog.Level {
	switch l {
	case notify.LevelWarning:
		return eventlog.Warning
	case notify.LevelCritical:
		return eventlog.Critical
	}
	return eventlog.Info
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// setJob changes the job and starts its clocks.
func (s *slave) setJob(st *upsState, job notify.Job, now time.Time) {
	if job == st.Job {
		return
	}
	if st.Job == notify.JobNone || job == notify.JobNone {
		// A new job starts with a fresh view of the master.
		st.OnlBaseline, st.UnreachableSince, st.WaitSince = "", time.Time{}, time.Time{}
	}
	st.Job, st.JobSince = job, now
	if job >= notify.JobWaitSDF && job != notify.JobDone && st.WaitSince.IsZero() {
		st.WaitSince = now
	}
}

// session returns the one SSH session of this process, creating it on
// first use.
func (s *slave) session() *sftpstore.Session {
	if s.sess == nil {
		signer, err := sftpstore.LoadSigner(s.cfg.Identity)
		if err != nil {
			s.log.Error("cannot load the ssh identity; the master cannot be reached, only the fail-safe clocks apply", "err", err)
		}
		s.sess = sftpstore.NewSession(sshConfig(s.cfg, signer))
	}
	return s.sess
}

// close ends the SSH session, if any.
func (s *slave) close() {
	if s.sess != nil {
		s.sess.Close()
		s.sess = nil
	}
}

// watchIfIdle becomes the watcher of ups unless another process is one;
// that process sees the new event within one POLL.
func (s *slave) watchIfIdle(ctx context.Context, ups string) error {
	wl, err := lock.TryLock(lockFile(s.cfg.StateDir, ups, "watch"))
	if errors.Is(err, lock.ErrHeld) {
		s.log.Info("another upsslave is already waiting for the master; it takes this event within one POLL", "ups", orDash(ups))
		return nil
	}
	if err != nil {
		return err
	}
	defer wl.Unlock()
	// A watcher's work is sequential: one P spares each SFTP round trip
	// the wake-ups of idle threads, and the runtime its periodic
	// re-reading of CPU limits.
	runtime.GOMAXPROCS(1)
	return s.watch(ctx, ups)
}

// watch polls the master's flags over one SSH connection until the job
// ends: a verdict, a clock, or a newer event that cancels it.
func (s *slave) watch(ctx context.Context, ups string) error {
	var seenSeq uint64
	var lastErrClass string
	lastChance := false
	for {
		st, err := s.peek(ups)
		if err != nil {
			return err
		}
		if !st.Job.Waiting() {
			if seenSeq != 0 {
				s.log.Info("wait ended, no shutdown", "ups", orDash(ups), "why", "event "+string(st.LastEvent), "job", st.Job)
			}
			return nil
		}
		if seenSeq != 0 && st.Seq != seenSeq {
			s.log.Info("newer event taken into account", "ups", orDash(ups), "event", st.LastEvent, "job", st.Job)
		}
		seenSeq = st.Seq

		seen, onl, pollErr, interrupted := s.pollUnlessNewEvent(ctx, ups, seenSeq)
		if ctx.Err() != nil {
			s.log.Warn("interrupted while waiting for the master; the next upsslave resumes", "ups", orDash(ups), "job", st.Job)
			return ctx.Err()
		}
		if interrupted {
			continue // a newer event arrived mid-poll: decide again at once
		}
		if pollErr != nil {
			if class := errClass(pollErr); class != lastErrClass {
				s.log.Warn("master not answering; retrying", "ups", orDash(ups), "err", pollErr)
				lastErrClass = class
			}
		} else if lastErrClass != "" {
			s.log.Info("master answers again", "ups", orDash(ups))
			lastErrClass = ""
		}

		// Decide on a copy first: while nothing changes (the common case,
		// four times a second) the state is neither locked nor written.
		apply := func(cur *upsState, logChanges bool) notify.Verdict {
			now := time.Now()
			switch {
			case seen.Reached:
				cur.UnreachableSince = time.Time{}
			case errors.Is(pollErr, sftpstore.ErrBusy):
				// sshd accepted and closed before its banner: the master
				// is alive, just busy. Not a step towards the fail-safe.
			case cur.UnreachableSince.IsZero():
				cur.UnreachableSince = now
			}
			if seen.Reached {
				var onBattSince time.Time
				if cur.Power == notify.PowerBattery {
					onBattSince = cur.PowerSince
				}
				seen.Onl, cur.OnlBaseline = notify.OnlNews(cur.OnlBaseline, onl, onBattSince)
				seen.OnlPresent = onl.Present
			}
			v := notify.Step(cur.decision(), notify.Watch{WaitSince: cur.WaitSince, UnreachableSince: cur.UnreachableSince}, seen, now, s.timing())
			if logChanges && v.Job != cur.Job {
				s.log.Info("job changes", "ups", orDash(ups), "from", cur.Job, "to", v.Job, "why", flagReason(seen))
			}
			s.setJob(cur, v.Job, now)
			if v.Action == notify.ShutdownNow {
				cur.Reason = v.Reason
			}
			return v
		}
		trial := *st
		verdict := apply(&trial, false)
		if trial != *st || verdict.Action != notify.Continue {
			changed := false
			st, err = s.update(ctx, ups, func(cur *upsState) error {
				if cur.Seq != seenSeq {
					changed = true // an event arrived during the poll: decide again
					return nil
				}
				verdict = apply(cur, true)
				return nil
			})
			if err != nil {
				return err
			}
			if changed {
				continue
			}
		}
		switch verdict.Action {
		case notify.Stop:
			s.log.Info("wait ended, no shutdown", "ups", orDash(ups), "why", verdict.Reason)
			return nil
		case notify.ShutdownNow:
			if verdict.FailSafe && !lastChance {
				// One fresh attempt, back-off or not, before the
				// fail-safe: the master may have just come back.
				lastChance = true
				s.session().Retry()
				continue
			}
			return s.shutdown(ctx, ups, verdict.Reason, verdict.FailSafe)
		}
		lastChance = false
		select {
		case <-ctx.Done():
			s.log.Warn("interrupted while waiting for the master; the next upsslave resumes", "ups", orDash(ups), "job", st.Job)
			return ctx.Err()
		case <-time.After(s.cfg.Poll):
		}
	}
}

func flagReason(seen notify.Seen) string {
	switch {
	case seen.SDF:
		return "sdf"
	case seen.BattSDF:
		return "battsdf"
	case seen.Onl:
		return "onl"
	}
	return "clock"
}

func errClass(err error) string {
	for _, e := range []error{sftpstore.ErrHostKey, sftpstore.ErrAuth, sftpstore.ErrBusy, sftpstore.ErrUnreachable, fs.ErrPermission, fs.ErrNotExist} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "other"
}

// pollUnlessNewEvent polls the master, but gives up the poll as soon as a
// newer event is recorded for ups, so that an event is honoured within one
// POLL even while a connection attempt hangs.
func (s *slave) pollUnlessNewEvent(ctx context.Context, ups string, seq uint64) (seen notify.Seen, onl notify.Onl, err error, interrupted bool) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	var newer bool
	go func() {
		defer close(done)
		t := time.NewTicker(s.cfg.Poll)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
				if st, err := loadState(s.cfg.StateDir, ups, s.boot); err == nil && st.Seq != seq {
					newer = true
					cancel()
					return
				}
			}
		}
	}()
	seen, onl, err = s.poll(pctx)
	cancel()
	<-done
	return seen, onl, err, newer && ctx.Err() == nil
}

// poll reads the master's flags once: an LSTAT of the flag directory, and
// a full reading of it when it may have changed (listing.go), with the
// onl flag as found.
func (s *slave) poll(ctx context.Context) (seen notify.Seen, onl notify.Onl, err error) {
	c, err := s.session().Client(ctx)
	if err != nil {
		return seen, onl, err
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	store := sftpstore.New(c, s.cfg.FlagDir)
	broken := func(err error) error {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			s.sess.Broken()
		}
		return err
	}
	mark, err := store.DirMark(pctx)
	if err != nil {
		return seen, onl, broken(err)
	}
	if now := time.Now(); !s.last.due(now, mark, s.sess.Connects) {
		return s.last.seen, s.last.onl, nil
	}
	infos, err := store.List(pctx)
	if err != nil {
		return seen, onl, broken(err)
	}
	seen.Reached = true
	mySDF, myBatt := flags.StagedSDF(s.cfg.Name), flags.StagedBattSDF(s.cfg.Name)
	for _, in := range infos {
		if in.HasOwner && in.UID != s.cfg.FlagOwner {
			if !s.warnedOwner[in.Name] {
				s.warnedOwner[in.Name] = true
				s.log.Warn("ignoring a flag not owned by FLAGOWNER: someone other than the master wrote it", "flag", in.Name, "uid", in.UID, "want", s.cfg.FlagOwner)
			}
			continue
		}
		switch in.Name {
		case flags.SDF:
			seen.SDF = true
		case flags.BattSDF:
			seen.BattSDF = true
		case mySDF:
			seen.SDF = true
		case myBatt:
			seen.BattSDF = true
		case flags.Onl:
			onl = notify.Onl{Present: true, ModTime: in.ModTime, Size: in.Size}
		case flags.Drill:
			s.answerDrill(pctx, c, in)
		}
	}
	s.last.record(time.Now(), mark, s.sess.Connects, seen, onl)
	return seen, onl, nil
}

// shutdown acknowledges (at most once, bounded in time) and runs the
// shutdown command (at most once per boot). masterGone is set by the
// fail-safe, whose last fresh attempt to reach the master has just failed:
// then no acknowledgement is tried, so the battery is not spent waiting
// for a master that is not there.
func (s *slave) shutdown(ctx context.Context, ups, reason string, masterGone bool) error {
	s.log.Crit("shutting down", "ups", orDash(ups), "name", s.cfg.Name, "reason", reason)
	st, err := s.peek(ups)
	if err != nil {
		return err
	}
	switch {
	case !st.Acked.IsZero():
	case masterGone:
		s.log.Warn("not acknowledging: the master did not answer a fresh attempt just now", "ups", orDash(ups), "flag", flags.Ack(s.cfg.Name))
	default:
		if err := s.acknowledge(ctx, ups, reason); err != nil {
			s.log.Error("could not acknowledge to the master; shutting down anyway", "ups", orDash(ups), "err", err)
		} else {
			s.update(ctx, ups, func(cur *upsState) error { cur.Acked = time.Now(); return nil })
		}
	}
	if s.simulate {
		s.log.Crit("simulate: would run the shutdown command", "cmd", fmt.Sprintf("%q", s.cfg.ShutdownCmd))
		s.update(ctx, ups, func(cur *upsState) error { cur.Job = notify.JobDone; return nil })
		return nil
	}
	outcome, runErr := s.runner.Run(ctx, reason)
	switch outcome {
	case poweroff.Ran:
		s.log.Crit("shutdown command started", "cmd", fmt.Sprintf("%q", s.cfg.ShutdownCmd))
	case poweroff.DryRun:
		s.log.Crit("DRYRUN: would run the shutdown command now", "cmd", fmt.Sprintf("%q", s.cfg.ShutdownCmd))
	case poweroff.AlreadyStarted:
		s.log.Info("shutdown already started by another upsslave in this boot", "ups", orDash(ups))
	case poweroff.Failed:
		s.log.Crit("THE SHUTDOWN COMMAND FAILED; this host is still running on a failing UPS", "err", runErr)
		if poweroff.IsPermission(runErr) && os.Geteuid() != 0 {
			s.log.Crit("fix: upsmon runs NOTIFYCMD unprivileged; set upsmon's SHUTDOWNCMD to \"/usr/sbin/upsslave shutdown\" (it runs as root), or SHUTDOWNCMD=\"sudo -n /sbin/shutdown -h +0\" with a sudoers rule for the nut user")
		}
		// Leave the job committed so upsmon's SHUTDOWNCMD (upsslave
		// shutdown, as root) finishes it.
		s.update(ctx, ups, func(cur *upsState) error { cur.Job = notify.JobCommitted; return nil })
		if poweroff.IsPermission(runErr) {
			return fmt.Errorf("%w: %v", fs.ErrPermission, runErr)
		}
		return runErr
	}
	_, err = s.update(ctx, ups, func(cur *upsState) error { cur.Job = notify.JobDone; return nil })
	return err
}

// acknowledge writes sdfok.<NAME> in ACKDIR, within a bounded time.
func (s *slave) acknowledge(ctx context.Context, ups, reason string) error {
	if s.simulate {
		s.log.Info("simulate: would acknowledge", "flag", flags.Ack(s.cfg.Name))
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, max(2*s.cfg.ConnectTimeout, 3*time.Second))
	defer cancel()
	var lastErr error
	for actx.Err() == nil {
		c, err := s.session().Client(actx)
		if err == nil {
			body := flags.Stamp(time.Now(), s.cfg.Name,
				flags.Field{Key: "ups", Value: ups}, flags.Field{Key: "reason", Value: reason}, flags.Field{Key: "version", Value: version})
			err = sftpstore.New(c, s.cfg.AckDir).Set(actx, flags.Ack(s.cfg.Name), body)
			if err == nil {
				s.log.Info("acknowledged", "flag", flags.Ack(s.cfg.Name), "ackdir", s.cfg.AckDir)
				return nil
			}
			if !errors.Is(err, fs.ErrPermission) && !errors.Is(err, fs.ErrNotExist) {
				s.sess.Broken()
			}
		}
		lastErr = err
		select {
		case <-actx.Done():
		case <-time.After(min(s.cfg.Poll, 200*time.Millisecond)):
		}
	}
	return lastErr
}
