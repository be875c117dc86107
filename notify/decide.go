package notify

import (
	"fmt"
	"log/slog"
	"time"
)

// Power is what upsslave last learnt about the UPS's input power.
type Power uint8

const (
	PowerUnknown Power = iota
	PowerOnline
	PowerBattery
)

func (p Power) String() string {
	switch p {
	case PowerOnline:
		return "online"
	case PowerBattery:
		return "battery"
	}
	return "unknown"
}

// A Job is what upsslave is doing about a UPS. Jobs only escalate, except
// that power returning cancels the cancellable ones.
type Job uint8

const (
	// JobNone: nothing to wait for.
	JobNone Job = iota
	// JobWatch: on battery; poll the master's flags for its verdict.
	JobWatch
	// JobWaitSDF: the master said battsdf, or the UPS said LOWBATT: wait
	// for sdf up to SDFWAIT, then shut down. Power returning cancels.
	JobWaitSDF
	// JobCommitted: FSD, SHUTDOWN, NOPARENT on battery or sdf seen: wait
	// for sdf up to SDFWAIT, acknowledge, shut down. Nothing cancels.
	JobCommitted
	// JobDone: the shutdown has been started.
	JobDone
)

func (j Job) String() string {
	switch j {
	case JobNone:
		return "idle"
	case JobWatch:
		return "watching"
	case JobWaitSDF:
		return "waiting-for-sdf"
	case JobCommitted:
		return "committed"
	case JobDone:
		return "shutdown-started"
	}
	return fmt.Sprintf("job(%d)", j)
}

// Cancellable reports whether power returning ends the job.
func (j Job) Cancellable() bool { return j == JobWatch || j == JobWaitSDF }

// Waiting reports whether the job needs a watcher process.
func (j Job) Waiting() bool { return j == JobWatch || j == JobWaitSDF || j == JobCommitted }

// The severities a decision is logged at: slog's levels, and above them
// critical (a decision that powers this host off).
const (
	LevelInfo     = slog.LevelInfo
	LevelWarning  = slog.LevelWarn
	LevelCritical = slog.LevelError + 4
)

// State is what upsslave remembers about one UPS between invocations.
type State struct {
	Power Power
	Job   Job
}

// Policy holds the settings the event table depends on.
type Policy struct {
	// NoParentShutdown makes NOPARENT on battery a shutdown (ON_NOPARENT=shutdown).
	NoParentShutdown bool
}

// Plan is the outcome of an event: the new state, how loudly to log and why.
type Plan struct {
	State State
	Level slog.Level
	Note  string
}

// escalate returns the stronger of two jobs.
func escalate(cur, want Job) Job { return max(cur, want) }

// OnEvent applies ev to st. It is the decision table of DESIGN §3; it
// performs no I/O. Unknown events leave the state as it is.
func OnEvent(ev Event, st State, pol Policy) Plan {
	next := st
	if st.Job == JobDone {
		return Plan{State: st, Level: LevelInfo, Note: "shutdown already started"}
	}
	switch ev {
	case OnBatt:
		next.Power = PowerBattery
		next.Job = escalate(st.Job, JobWatch)
		return Plan{next, LevelWarning, "on battery: waiting for the master's verdict"}
	case Online:
		next.Power = PowerOnline
		if st.Job.Cancellable() {
			next.Job = JobNone
			return Plan{next, LevelInfo, "power back: " + st.Job.String() + " cancelled"}
		}
		if st.Job == JobCommitted {
			return Plan{next, LevelWarning, "power back, but the shutdown is committed and continues"}
		}
		return Plan{next, LevelInfo, "on line power"}
	case LowBatt:
		if st.Power == PowerOnline {
			return Plan{next, LevelInfo, "low battery while on line power: nothing to do"}
		}
		next.Job = escalate(st.Job, JobWaitSDF)
		return Plan{next, LevelCritical, "low battery: waiting for the master's sdf, then shutting down"}
	case FSD, Shutdown:
		next.Job = escalate(st.Job, JobCommitted)
		return Plan{next, LevelCritical, "forced shutdown: waiting for the master's sdf, then shutting down"}
	case NoParent:
		if pol.NoParentShutdown && st.Power == PowerBattery {
			next.Job = escalate(st.Job, JobCommitted)
			return Plan{next, LevelCritical, "upsmon's parent died while on battery: shutting down"}
		}
		return Plan{next, LevelCritical, "upsmon's parent died: upsmon can no longer shut this host down"}
	case CommBad, NoComm:
		if st.Power == PowerBattery {
			next.Job = escalate(st.Job, JobWatch)
			return Plan{next, LevelWarning, "lost contact with the UPS while on battery: watching the master (DEADTIME applies)"}
		}
		return Plan{next, LevelWarning, "lost contact with the UPS while not on battery: nothing to do"}
	}
	if !ev.Known() {
		return Plan{next, LevelInfo, "unknown event: ignored"}
	}
	return Plan{next, ev.Level(), "logged"}
}

// Seen is what one poll of the master's flag directory found.
type Seen struct {
	// Reached is true when the poll read the directory.
	Reached bool
	// Onl is true for an onl flag that is news to this job: absent at some
	// poll of the job, or rewritten since (a leftover onl from the last
	// on-line period is not a verdict).
	Onl bool
	// OnlPresent is true whenever an onl flag exists, news or not.
	OnlPresent bool
	BattSDF    bool
	SDF        bool
}

// Timing holds the durations the watch depends on.
type Timing struct {
	SDFWait  time.Duration // longest wait for sdf once shutting down
	DeadTime time.Duration // continuous unreachability on battery before the fail-safe
}

// Watch is a running job's clock: when it started waiting for sdf, and
// since when the master has been unreachable (zero: reachable).
type Watch struct {
	WaitSince        time.Time
	UnreachableSince time.Time
}

// Action is what the watcher does after a poll.
type Action uint8

const (
	// Continue polling.
	Continue Action = iota
	// Stop: the job ended without a shutdown (power is back).
	Stop
	// ShutdownNow: acknowledge and shut down.
	ShutdownNow
	// RetryNow: the fail-safe would fire; make one fresh attempt to reach
	// the master at once, and decide again (Progress.Poll).
	RetryNow
)

// Verdict is the outcome of one poll.
type Verdict struct {
	Job    Job
	Action Action
	Reason string
	// FailSafe marks a shutdown decided because the master was
	// unreachable, not because it said so.
	FailSafe bool
	// Why names the flag the verdict rests on ("sdf", "battsdf", "onl")
	// or "clock", for the log (set by Progress.Poll).
	Why string
}

// Step decides what a watcher does after one poll. Only a flag or a clock
// can end a wait: an unreachable master is never a verdict before DEADTIME
// of continuous unreachability while on battery.
func Step(st State, w Watch, seen Seen, now time.Time, t Timing) Verdict {
	job := st.Job
	if !job.Waiting() {
		return Verdict{Job: job, Action: Stop, Reason: "nothing to wait for"}
	}
	if seen.Reached {
		switch {
		case seen.SDF:
			return Verdict{Job: JobCommitted, Action: ShutdownNow, Reason: "master raised sdf"}
		case seen.Onl && job.Cancellable():
			return Verdict{Job: JobNone, Action: Stop, Reason: "master says power is back (onl)"}
		case seen.OnlPresent && job.Cancellable() && st.Power != PowerBattery:
			// LOWBATT with no ONBATT seen (upsmon sends no ONLINE at its
			// start, so an OL LB UPS gives exactly this): the master's
			// onl says the UPS is on line power, and this host has no
			// news of the contrary.
			return Verdict{Job: JobNone, Action: Stop, Reason: "master says the UPS is on line power (onl), and no ONBATT was seen"}
		case seen.BattSDF && job == JobWatch:
			job = JobWaitSDF
		}
	}
	if st.Power == PowerBattery && !w.UnreachableSince.IsZero() && now.Sub(w.UnreachableSince) >= t.DeadTime {
		return Verdict{Job: job, Action: ShutdownNow, FailSafe: true, Reason: fmt.Sprintf("fail-safe: master unreachable for %v while on battery (DEADTIME %v)",
			now.Sub(w.UnreachableSince).Round(time.Second), t.DeadTime)}
	}
	if job >= JobWaitSDF && !w.WaitSince.IsZero() && now.Sub(w.WaitSince) >= t.SDFWait {
		return Verdict{Job: job, Action: ShutdownNow, Reason: fmt.Sprintf("no sdf from the master within SDFWAIT %v", t.SDFWait)}
	}
	return Verdict{Job: job, Action: Continue}
}
