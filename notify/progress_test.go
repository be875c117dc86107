package notify

import (
	"testing"
	"time"
)

// step is one thing that happens to a UPS's progress at a time after t0:
// an event from upsmon, or a poll of the master.
type step struct {
	at time.Duration
	ev Event    // an event, or
	a  *Attempt // a poll
	// What must hold after it (zero values are not checked, except where
	// the want* flags say so).
	action Action
	job    Job
}

func reached(s Seen, onl Onl) *Attempt { return &Attempt{Reach: Reached, Seen: s, Onl: onl} }

var (
	quiet       = reached(Seen{}, Onl{})
	busy        = &Attempt{Reach: Busy}
	unreachable = &Attempt{Reach: Unreachable}
)

// play runs steps from an idle progress and checks each outcome.
func play(t *testing.T, tm Timing, steps []step) Progress {
	t.Helper()
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	var p Progress
	lastChance := false
	for i, s := range steps {
		now := t0.Add(s.at)
		if s.a == nil {
			p, _ = p.Event(s.ev, now, Policy{})
		} else {
			var v Verdict
			p, v = p.Poll(*s.a, now, tm, lastChance)
			lastChance = v.Action == RetryNow
			if v.Action != s.action {
				t.Fatalf("step %d (+%v): action %v (%s), want %v", i, s.at, v.Action, v.Reason, s.action)
			}
		}
		if s.job != 0 && p.Job != s.job {
			t.Fatalf("step %d (+%v): job %v, want %v", i, s.at, p.Job, s.job)
		}
	}
	return p
}

func TestProgressTiming(t *testing.T) {
	tm := Timing{SDFWait: 60 * time.Second, DeadTime: 30 * time.Second}
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	old := Onl{Present: true, ModTime: time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC), Size: 60}
	fresh := Onl{Present: true, ModTime: time.Date(2026, 12, 5, 10, 0, 3, 0, time.UTC), Size: 60}
	tests := []struct {
		name  string
		steps []step
	}{
		{"DEADTIME counts from the first failed attempt, not the last good poll", []step{
			{at: 0, ev: OnBatt, job: JobWatch},
			{at: sec(1), a: quiet, action: Continue},
			{at: sec(20), a: unreachable, action: Continue},
			{at: sec(49), a: unreachable, action: Continue},
			{at: sec(50), a: unreachable, action: RetryNow},
			{at: sec(50), a: unreachable, action: ShutdownNow, job: JobWatch},
		}},
		{"the fail-safe's last fresh attempt finds the master back: no shutdown", []step{
			{at: 0, ev: OnBatt},
			{at: sec(1), a: unreachable, action: Continue},
			{at: sec(31), a: unreachable, action: RetryNow},
			{at: sec(31), a: quiet, action: Continue},
			{at: sec(32), a: unreachable, action: Continue}, // a new run of failures starts its own clock
			{at: sec(61), a: unreachable, action: Continue},
			{at: sec(62), a: unreachable, action: RetryNow},
		}},
		{"busy is not unreachable: it never advances the fail-safe", []step{
			{at: 0, ev: OnBatt},
			{at: sec(1), a: busy, action: Continue},
			{at: sec(100), a: busy, action: Continue},
			{at: sec(101), a: unreachable, action: Continue},
			{at: sec(130), a: busy, action: Continue},
			{at: sec(131), a: unreachable, action: RetryNow},
		}},
		{"busy does not reset a running unreachability clock either", []step{
			{at: 0, ev: OnBatt},
			{at: sec(1), a: unreachable, action: Continue},
			{at: sec(20), a: busy, action: Continue},
			{at: sec(31), a: unreachable, action: RetryNow},
		}},
		{"no fail-safe on line power", []step{
			{at: 0, ev: LowBatt, job: JobWaitSDF}, // power unknown
			{at: sec(1), a: unreachable, action: Continue},
			{at: sec(59), a: unreachable, action: Continue},
			{at: sec(60), a: unreachable, action: ShutdownNow}, // SDFWAIT, not the fail-safe
		}},
		{"SDFWAIT runs from battsdf and is kept when LOWBATT escalates", []step{
			{at: 0, ev: OnBatt},
			{at: sec(10), a: reached(Seen{BattSDF: true}, Onl{}), action: Continue, job: JobWaitSDF},
			{at: sec(30), ev: LowBatt, job: JobWaitSDF},
			{at: sec(40), ev: FSD, job: JobCommitted},
			{at: sec(69), a: quiet, action: Continue},
			{at: sec(70), a: quiet, action: ShutdownNow},
		}},
		{"sdf: shut down at once", []step{
			{at: 0, ev: OnBatt},
			{at: sec(1), a: reached(Seen{SDF: true}, Onl{}), action: ShutdownNow, job: JobCommitted},
		}},
		{"a leftover onl is not power back; its removal and return is", []step{
			{at: 0, ev: OnBatt},
			{at: sec(1), a: reached(Seen{}, old), action: Continue},
			{at: sec(2), a: reached(Seen{}, Onl{}), action: Continue},
			{at: sec(40), a: reached(Seen{}, fresh), action: Stop, job: JobNone},
		}},
		{"onl written after the event, first seen at the first reading", []step{
			{at: 0, ev: OnBatt},
			{at: sec(1), a: unreachable, action: Continue},
			{at: sec(5), a: reached(Seen{}, fresh), action: Stop, job: JobNone},
		}},
		{"ONLINE ends the job; the next ONBATT starts fresh clocks", []step{
			{at: 0, ev: OnBatt},
			{at: sec(1), a: unreachable, action: Continue},
			{at: sec(20), ev: Online, job: JobNone},
			{at: sec(21), ev: OnBatt, job: JobWatch},
			{at: sec(22), a: unreachable, action: Continue},
			{at: sec(51), a: unreachable, action: Continue}, // 29 s of this job's failures
			{at: sec(52), a: unreachable, action: RetryNow},
		}},
		{"a committed shutdown is not cancelled by onl", []step{
			{at: 0, ev: OnBatt},
			{at: sec(1), ev: FSD, job: JobCommitted},
			{at: sec(2), a: reached(Seen{}, Onl{}), action: Continue},
			{at: sec(3), a: reached(Seen{}, fresh), action: Continue, job: JobCommitted},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { play(t, tm, tt.steps) })
	}
}

func TestProgressClockResets(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	tm := Timing{SDFWait: time.Minute, DeadTime: 30 * time.Second}
	var p Progress
	p, _ = p.Event(OnBatt, t0, Policy{})
	if !p.PowerSince.Equal(t0) || !p.JobSince.Equal(t0) || !p.WaitSince.IsZero() {
		t.Fatalf("after ONBATT: %+v", p)
	}
	p, _ = p.Poll(Attempt{Reach: Unreachable}, t0.Add(time.Second), tm, false)
	p, _ = p.Event(LowBatt, t0.Add(2*time.Second), Policy{})
	if !p.WaitSince.Equal(t0.Add(2*time.Second)) || !p.UnreachableSince.Equal(t0.Add(time.Second)) {
		t.Fatalf("LOWBATT must start SDFWAIT and keep the unreachability clock: %+v", p)
	}
	p, _ = p.Event(OnBatt, t0.Add(3*time.Second), Policy{})
	if !p.PowerSince.Equal(t0) {
		t.Errorf("a repeated ONBATT moved PowerSince to %v", p.PowerSince)
	}
	p, _ = p.Event(Online, t0.Add(4*time.Second), Policy{})
	if p.Job != JobNone || !p.WaitSince.IsZero() || !p.UnreachableSince.IsZero() || p.OnlBaseline != "" {
		t.Errorf("ONLINE must clear the job's clocks: %+v", p)
	}
}
