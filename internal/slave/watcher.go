// Package slave is upsslave's engine: it records upsmon's events, runs the
// one watcher per UPS that polls the master's flags, acknowledges and
// shuts this host down. Every decision is notify's (pure, tested on
// explicit times); this package carries them out: the state store, the
// master (a [Remote]), the at-most-once shutdown.
package slave

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/flags/sftpstore"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/lock"
	"github.com/nutslave/nutslave/internal/poweroff"
	"github.com/nutslave/nutslave/notify"
)

// Options are the settings of upsslave.conf the engine uses.
type Options struct {
	Name           string // NAME: sdfok.<NAME>, sdf.<NAME>
	FlagDir        string // as seen over SFTP
	AckDir         string
	FlagOwner      uint32
	Poll           time.Duration
	SDFWait        time.Duration
	DeadTime       time.Duration
	ConnectTimeout time.Duration
	ShutdownCmd    []string
	DryRun         bool
	StateDir       string
	// NoParentShutdown: NOPARENT on battery shuts down (ON_NOPARENT).
	NoParentShutdown bool
	// Version goes into the acknowledgements, for people.
	Version string
}

// Runner runs the shutdown command at most once per boot, and logs what
// it did (poweroff.Runner).
type Runner = poweroff.AtMostOnce

// Watcher applies notify's decisions for this host.
type Watcher struct {
	opts   Options
	log    *eventlog.Logger
	store  *Store
	remote Remote
	runner Runner
	// Simulate: acknowledge nothing on the master, run no command.
	Simulate bool

	// supplies are the UPSes feeding this host (upsmon.conf); with more
	// than one, a verdict condemns one supply and the host goes down only
	// below MINSUPPLIES.
	supplies notify.Supplies
	// remoteFor gives the master of a UPS (MASTERS); nil: remote for all.
	remoteFor func(ups string) Remote
	remotes   map[string]Remote
	// upsmonDecided: upsmon itself, which counts MINSUPPLIES, wants this
	// host down (SHUTDOWN, SHUTDOWNCMD); no supply is spared then.
	upsmonDecided bool
}

// remoteOf is the master of ups.
func (w *Watcher) remoteOf(ups string) Remote {
	if w.remoteFor == nil {
		return w.remote
	}
	if r, ok := w.remotes[ups]; ok {
		return r
	}
	r := w.remoteFor(ups)
	if w.remotes == nil {
		w.remotes = map[string]Remote{}
	}
	w.remotes[ups] = r
	return r
}

// closeRemotes ends every master connection.
func (w *Watcher) closeRemotes() {
	w.remote.Close()
	for _, r := range w.remotes {
		r.Close()
	}
}

// New returns a watcher that keeps its state in opts.StateDir, reaches the
// master through remote and shuts down with opts.ShutdownCmd.
func New(opts Options, log *eventlog.Logger, remote Remote) *Watcher {
	boot := poweroff.BootID()
	return &Watcher{
		opts:   opts,
		log:    log,
		store:  &Store{Dir: opts.StateDir, Boot: boot},
		remote: remote,
		runner: &poweroff.Runner{
			Argv:   opts.ShutdownCmd,
			DryRun: opts.DryRun,
			Marker: opts.StateDir + "/shutdown.started",
			BootID: boot,
		},
	}
}

func (w *Watcher) policy() notify.Policy {
	return notify.Policy{NoParentShutdown: w.opts.NoParentShutdown}
}

func (w *Watcher) timing() notify.Timing {
	return notify.Timing{SDFWait: w.opts.SDFWait, DeadTime: w.opts.DeadTime}
}

// HandleEvent is drop-in mode: record the event, then wait for the master
// if the plan says so and no other upsslave is already waiting.
func (w *Watcher) HandleEvent(ctx context.Context, rawType, ups, msg string) error {
	ev, evErr := notify.ParseEvent(rawType)
	defer w.closeRemotes()
	if ev == notify.Shutdown || ev == notify.NoParent {
		w.upsmonDecided = true
	}
	targets := []string{ups}
	if ups == "" {
		// Host events (SHUTDOWN, NOPARENT) concern every UPS we track.
		if known := w.store.Known(); len(known) > 0 {
			targets = known
		}
	}
	var firstErr error
	for _, u := range targets {
		var plan notify.Plan
		st, err := w.store.Update(ctx, u, func(st *State) error {
			now := time.Now()
			st.Progress, plan = st.Progress.Event(ev, now, w.policy())
			st.Seq++
			st.LastEvent, st.LastEventAt = ev, now
			if ev == notify.Online {
				st.Condemned = time.Time{} // this supply has power again
			}
			return nil
		})
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		lvl := plan.Level
		if evErr != nil {
			lvl = notify.LevelInfo
		}
		w.log.At(lvl, plan.Note, "event", orDash(rawType), "ups", orDash(u), "power", st.Power, "job", st.Job, "msg", msg)
		if st.Job.Waiting() {
			if err := w.watchIfIdle(ctx, u); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

// ShutdownCommand is upsmon's SHUTDOWNCMD: upsmon has decided this host
// goes down. Finish the handshake (wait for sdf up to SDFWAIT, acknowledge)
// and power off, unless an upsslave already did in this boot.
func (w *Watcher) ShutdownCommand(ctx context.Context) error {
	if state, _, ok := w.runner.Status(); ok && state != "failed" {
		w.log.Info("upsmon's SHUTDOWNCMD: the shutdown was already started in this boot", "state", state)
		return nil
	}
	ups := w.store.Known()
	if len(ups) == 0 {
		ups = []string{""}
	}
	for _, u := range ups {
		w.store.Update(ctx, u, func(st *State) error {
			now := time.Now()
			st.Seq++
			st.LastEvent, st.LastEventAt = "SHUTDOWNCMD", now
			if st.Job == notify.JobDone {
				st.Job = notify.JobCommitted // the earlier attempt failed: try again
				return nil
			}
			st.Progress, _ = st.Progress.Event(notify.Shutdown, now, w.policy())
			return nil
		})
	}
	defer w.closeRemotes()
	w.upsmonDecided = true
	w.log.Crit("upsmon's SHUTDOWNCMD: finishing the handshake with the master, then powering off", "ups", strings.Join(ups, ","))
	// The whole command is bounded: SDFWAIT plus time to acknowledge.
	deadline := time.Now().Add(w.opts.SDFWait + 3*w.opts.ConnectTimeout)
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	u := ups[0]
	for dctx.Err() == nil {
		if state, _, ok := w.runner.Status(); ok && state != "failed" {
			return nil
		}
		wl, err := lock.TryLock(w.store.LockFile(u, "watch"))
		if err == nil {
			err = w.watch(dctx, u)
			wl.Unlock()
			if err == nil {
				if state, _, ok := w.runner.Status(); ok && state != "failed" {
					return nil
				}
			} else if dctx.Err() == nil {
				return err
			}
			continue
		}
		select {
		case <-dctx.Done():
		case <-time.After(w.opts.Poll):
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// upsmon wants this host down: never return without trying.
	w.log.Crit("no handshake within SDFWAIT; powering off anyway (upsmon's decision)")
	return w.shutdown(context.WithoutCancel(ctx), u, "upsmon SHUTDOWNCMD, no sdf within SDFWAIT", false)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// watchIfIdle becomes the watcher of ups unless another process is one;
// that process sees the new event within one POLL.
func (w *Watcher) watchIfIdle(ctx context.Context, ups string) error {
	wl, err := lock.TryLock(w.store.LockFile(ups, "watch"))
	if errors.Is(err, lock.ErrHeld) {
		w.log.Info("another upsslave is already waiting for the master; it takes this event within one POLL", "ups", orDash(ups))
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
	return w.watch(ctx, ups)
}

// watch polls the master's flags until the job ends: a verdict, a clock,
// or a newer event that cancels it. Each poll's outcome is decided by
// notify (Progress.Poll); this loop only carries it out.
func (w *Watcher) watch(ctx context.Context, ups string) error {
	var seenSeq uint64
	var lastErrClass string
	lastChance := false
	for {
		st, err := w.store.Load(ups)
		if err != nil {
			return err
		}
		if !st.Job.Waiting() {
			if seenSeq != 0 {
				w.log.Info("wait ended, no shutdown", "ups", orDash(ups), "why", "event "+string(st.LastEvent), "job", st.Job)
			}
			return nil
		}
		if seenSeq != 0 && st.Seq != seenSeq {
			w.log.Info("newer event taken into account", "ups", orDash(ups), "event", st.LastEvent, "job", st.Job)
		}
		seenSeq = st.Seq

		attempt, pollErr, interrupted := w.lookUnlessNewEvent(ctx, ups, seenSeq)
		if ctx.Err() != nil {
			w.log.Warn("interrupted while waiting for the master; the next upsslave resumes", "ups", orDash(ups), "job", st.Job)
			return ctx.Err()
		}
		if interrupted {
			continue // a newer event arrived mid-poll: decide again at once
		}
		if pollErr != nil {
			if class := errClass(pollErr); class != lastErrClass {
				w.log.Warn("master not answering; retrying", "ups", orDash(ups), "err", pollErr)
				lastErrClass = class
			}
		} else if lastErrClass != "" {
			w.log.Info("master answers again", "ups", orDash(ups))
			lastErrClass = ""
		}

		// Decide on a copy first: while nothing changes (the common case,
		// four times a second) the state is neither locked nor written.
		now := time.Now()
		next, verdict := st.Progress.Poll(attempt, now, w.timing(), lastChance)
		if next != st.Progress || verdict.Action != notify.Continue {
			changed := false
			st, err = w.store.Update(ctx, ups, func(cur *State) error {
				if cur.Seq != seenSeq {
					changed = true // an event arrived during the poll: decide again
					return nil
				}
				before := cur.Job
				cur.Progress, verdict = cur.Progress.Poll(attempt, now, w.timing(), lastChance)
				if cur.Job != before {
					w.log.Info("job changes", "ups", orDash(ups), "from", before, "to", cur.Job, "why", verdict.Why)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if changed {
				continue
			}
		}
		lastChance = verdict.Action == notify.RetryNow
		switch verdict.Action {
		case notify.Stop:
			w.log.Info("wait ended, no shutdown", "ups", orDash(ups), "why", verdict.Reason)
			return nil
		case notify.RetryNow:
			// One fresh attempt, back-off or not, before the fail-safe:
			// the master may have just come back.
			w.remoteOf(ups).Retry()
			continue
		case notify.ShutdownNow:
			return w.shutdown(ctx, ups, verdict.Reason, verdict.FailSafe)
		}
		select {
		case <-ctx.Done():
			w.log.Warn("interrupted while waiting for the master; the next upsslave resumes", "ups", orDash(ups), "job", st.Job)
			return ctx.Err()
		case <-time.After(w.opts.Poll):
		}
	}
}

func errClass(err error) string {
	for _, e := range []error{sftpstore.ErrHostKey, sftpstore.ErrAuth, sftpstore.ErrBusy, sftpstore.ErrUnreachable, fs.ErrPermission, fs.ErrNotExist} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "other"
}

// lookUnlessNewEvent looks at the master, but gives up the look as soon
// as a newer event is recorded for ups, so that an event is honoured
// within one POLL even while a connection attempt hangs.
func (w *Watcher) lookUnlessNewEvent(ctx context.Context, ups string, seq uint64) (a notify.Attempt, err error, interrupted bool) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	var newer bool
	go func() {
		defer close(done)
		t := time.NewTicker(w.opts.Poll)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
				if st, err := w.store.Load(ups); err == nil && st.Seq != seq {
					newer = true
					cancel()
					return
				}
			}
		}
	}()
	a, err = w.remoteOf(ups).Look(pctx)
	cancel()
	<-done
	return a, err, newer && ctx.Err() == nil
}

// shutdown acknowledges (at most once, bounded in time) and runs the
// shutdown command (at most once per boot). masterGone is set by the
// fail-safe, whose last fresh attempt to reach the master has just failed:
// then no acknowledgement is tried, so the battery is not spent waiting
// for a master that is not there.
func (w *Watcher) shutdown(ctx context.Context, ups, reason string, masterGone bool) error {
	w.log.Crit("shutting down", "ups", orDash(ups), "name", w.opts.Name, "reason", reason)
	st, err := w.store.Load(ups)
	if err != nil {
		return err
	}
	switch {
	case !st.Acked.IsZero():
	case masterGone:
		w.log.Warn("not acknowledging: the master did not answer a fresh attempt just now", "ups", orDash(ups), "flag", flags.Ack(w.opts.Name))
	default:
		if err := w.acknowledge(ctx, ups, reason); err != nil {
			w.log.Error("could not acknowledge to the master; shutting down anyway", "ups", orDash(ups), "err", err)
		} else {
			w.store.Update(ctx, ups, func(cur *State) error { cur.Acked = time.Now(); return nil })
		}
	}
	if w.spared(ctx, ups, reason) {
		return nil
	}
	if w.Simulate {
		w.log.Crit("simulate: would run the shutdown command", "cmd", fmt.Sprintf("%q", w.opts.ShutdownCmd))
		w.store.Update(ctx, ups, func(cur *State) error { cur.Job = notify.JobDone; return nil })
		return nil
	}
	if outcome, runErr := w.runner.RunLogged(ctx, reason, "this host", w.log); outcome == poweroff.Failed {
		if poweroff.IsPermission(runErr) && os.Geteuid() != 0 {
			w.log.Crit("fix: upsmon runs NOTIFYCMD unprivileged; set upsmon's SHUTDOWNCMD to \"/usr/sbin/upsslave shutdown\" (it runs as root), or SHUTDOWNCMD=\"sudo -n /sbin/shutdown -h +0\" with a sudoers rule for the nut user")
		}
		// Leave the job committed so upsmon's SHUTDOWNCMD (upsslave
		// shutdown, as root) finishes it.
		w.store.Update(ctx, ups, func(cur *State) error { cur.Job = notify.JobCommitted; return nil })
		if poweroff.IsPermission(runErr) {
			return fmt.Errorf("%w: %v", fs.ErrPermission, runErr)
		}
		return runErr
	}
	_, err = w.store.Update(ctx, ups, func(cur *State) error { cur.Job = notify.JobDone; return nil })
	return err
}

// spared condemns ups as a supply of a host powered by several UPSes and
// reports whether the others still give MINSUPPLIES: then this host stays
// up (its acknowledgement to ups's master is written: that master may cut
// its load) and the job ends. A host with one supply, or one that upsmon
// itself wants down, is never spared.
func (w *Watcher) spared(ctx context.Context, ups, reason string) bool {
	if w.upsmonDecided || !w.supplies.Redundant() || !w.supplies.Has(ups) {
		return false
	}
	if _, err := w.store.Update(ctx, ups, func(cur *State) error {
		if cur.Condemned.IsZero() {
			cur.Condemned = time.Now()
		}
		return nil
	}); err != nil {
		w.log.Error("cannot record the condemned supply; shutting down", "ups", ups, "err", err)
		return false
	}
	condemned := func(u string) bool {
		st, err := w.store.Load(u)
		return err != nil || !st.Condemned.IsZero()
	}
	left, up := w.supplies.StaysUp(condemned)
	if !up {
		w.log.Crit("the last supply this host needs is condemned too; shutting down",
			"ups", ups, "power_left", left, "minsupplies", max(w.supplies.Min, 1))
		return false
	}
	w.log.Crit("supply condemned; this host stays up on its other supplies",
		"ups", ups, "reason", reason, "power_left", left, "minsupplies", max(w.supplies.Min, 1))
	w.store.Update(ctx, ups, func(cur *State) error { cur.Job = notify.JobNone; return nil })
	return true
}

// acknowledge writes sdfok.<NAME> in ACKDIR, within a bounded time.
func (w *Watcher) acknowledge(ctx context.Context, ups, reason string) error {
	if w.Simulate {
		w.log.Info("simulate: would acknowledge", "flag", flags.Ack(w.opts.Name))
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, max(2*w.opts.ConnectTimeout, 3*time.Second))
	defer cancel()
	var lastErr error
	for actx.Err() == nil {
		body := flags.Stamp(time.Now(), w.opts.Name,
			flags.Field{Key: "ups", Value: ups}, flags.Field{Key: "reason", Value: reason}, flags.Field{Key: "version", Value: w.opts.Version})
		err := w.remoteOf(ups).Acknowledge(actx, body)
		if err == nil {
			w.log.Info("acknowledged", "flag", flags.Ack(w.opts.Name), "ackdir", w.opts.AckDir)
			return nil
		}
		lastErr = err
		select {
		case <-actx.Done():
		case <-time.After(min(w.opts.Poll, 200*time.Millisecond)):
		}
	}
	return lastErr
}
