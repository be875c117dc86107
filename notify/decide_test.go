package notify

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestOnEventTable covers every NOTIFYTYPE upsmon knows, plus unknown and
// empty ones, from each power state with no job running.
func TestOnEventTable(t *testing.T) {
	on := Policy{NoParentShutdown: true}
	type want struct {
		power Power
		job   Job
	}
	// expect gives the outcome of ev from power p; events absent from the
	// switch only log.
	expect := func(ev Event, p Power) want {
		switch ev {
		case Online:
			return want{PowerOnline, JobNone}
		case OnBatt:
			return want{PowerBattery, JobWatch}
		case LowBatt:
			if p == PowerOnline {
				return want{p, JobNone}
			}
			return want{p, JobWaitSDF}
		case FSD, Shutdown:
			return want{p, JobCommitted}
		case NoParent:
			if p == PowerBattery {
				return want{p, JobCommitted}
			}
		case CommBad, NoComm:
			if p == PowerBattery {
				return want{p, JobWatch}
			}
		}
		return want{p, JobNone}
	}
	events := append(append([]Event{}, Events...), "SOMETHING_NEW", "")
	for _, ev := range events {
		for _, p := range []Power{PowerOnline, PowerBattery, PowerUnknown} {
			got := OnEvent(ev, State{Power: p}, on)
			w := expect(ev, p)
			if got.State.Power != w.power || got.State.Job != w.job {
				t.Errorf("OnEvent(%q, power=%v) = power %v job %v, want power %v job %v",
					ev, p, got.State.Power, got.State.Job, w.power, w.job)
			}
			if got.Note == "" {
				t.Errorf("OnEvent(%q, power=%v) has no note to log", ev, p)
			}
		}
	}
}

func TestOnEventTransitions(t *testing.T) {
	on := Policy{NoParentShutdown: true}
	tests := []struct {
		name string
		ev   Event
		from State
		pol  Policy
		want State
	}{
		{"online cancels watch", Online, State{PowerBattery, JobWatch}, on, State{PowerOnline, JobNone}},
		{"online cancels wait for sdf", Online, State{PowerBattery, JobWaitSDF}, on, State{PowerOnline, JobNone}},
		{"online does not cancel a committed shutdown", Online, State{PowerBattery, JobCommitted}, on, State{PowerOnline, JobCommitted}},
		{"onbatt never downgrades", OnBatt, State{PowerBattery, JobCommitted}, on, State{PowerBattery, JobCommitted}},
		{"lowbatt escalates a watch", LowBatt, State{PowerBattery, JobWatch}, on, State{PowerBattery, JobWaitSDF}},
		{"commbad keeps a wait", CommBad, State{PowerBattery, JobWaitSDF}, on, State{PowerBattery, JobWaitSDF}},
		{"noparent with ON_NOPARENT=log", NoParent, State{PowerBattery, JobNone}, Policy{}, State{PowerBattery, JobNone}},
		{"nothing after the shutdown started", Online, State{PowerBattery, JobDone}, on, State{PowerBattery, JobDone}},
		{"fsd after the shutdown started", FSD, State{PowerBattery, JobDone}, on, State{PowerBattery, JobDone}},
		{"unknown event leaves a watch alone", "SOMETHING_NEW", State{PowerBattery, JobWatch}, on, State{PowerBattery, JobWatch}},
		{"replbatt leaves a watch alone", ReplBatt, State{PowerBattery, JobWatch}, on, State{PowerBattery, JobWatch}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OnEvent(tt.ev, tt.from, tt.pol).State; got != tt.want {
				t.Errorf("OnEvent(%q, %+v) = %+v, want %+v", tt.ev, tt.from, got, tt.want)
			}
		})
	}
}

func TestStep(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tm := Timing{SDFWait: 60 * time.Second, DeadTime: 30 * time.Second}
	reached := func(s Seen) Seen { s.Reached = true; return s }
	tests := []struct {
		name   string
		st     State
		w      Watch
		seen   Seen
		now    time.Time
		job    Job
		action Action
	}{
		{"quiet master: keep watching", State{PowerBattery, JobWatch}, Watch{}, reached(Seen{}), t0, JobWatch, Continue},
		{"sdf: go", State{PowerBattery, JobWatch}, Watch{}, reached(Seen{SDF: true}), t0, JobCommitted, ShutdownNow},
		{"sdf wins over onl", State{PowerBattery, JobWatch}, Watch{}, reached(Seen{SDF: true, Onl: true}), t0, JobCommitted, ShutdownNow},
		{"battsdf: wait for sdf", State{PowerBattery, JobWatch}, Watch{}, reached(Seen{BattSDF: true}), t0, JobWaitSDF, Continue},
		{"onl ends a watch", State{PowerBattery, JobWatch}, Watch{}, reached(Seen{Onl: true}), t0, JobNone, Stop},
		{"onl ends a wait for sdf", State{PowerBattery, JobWaitSDF}, Watch{WaitSince: t0}, reached(Seen{Onl: true}), t0, JobNone, Stop},
		{"onl does not end a committed wait", State{PowerBattery, JobCommitted}, Watch{WaitSince: t0}, reached(Seen{Onl: true}), t0.Add(time.Second), JobCommitted, Continue},
		{"flags unseen when unreached", State{PowerBattery, JobWatch}, Watch{UnreachableSince: t0}, Seen{SDF: true, Onl: true}, t0.Add(time.Second), JobWatch, Continue},
		{"unreachable just under DEADTIME", State{PowerBattery, JobWatch}, Watch{UnreachableSince: t0}, Seen{}, t0.Add(29 * time.Second), JobWatch, Continue},
		{"unreachable for DEADTIME on battery: fail-safe", State{PowerBattery, JobWatch}, Watch{UnreachableSince: t0}, Seen{}, t0.Add(30 * time.Second), JobWatch, ShutdownNow},
		{"unreachable for DEADTIME, power unknown: no fail-safe", State{PowerUnknown, JobWatch}, Watch{UnreachableSince: t0}, Seen{}, t0.Add(time.Hour), JobWatch, Continue},
		{"unreachable for DEADTIME, power back: no fail-safe", State{PowerOnline, JobCommitted}, Watch{UnreachableSince: t0, WaitSince: t0}, Seen{}, t0.Add(31 * time.Second), JobCommitted, Continue},
		{"no sdf within SDFWAIT", State{PowerBattery, JobWaitSDF}, Watch{WaitSince: t0}, reached(Seen{}), t0.Add(60 * time.Second), JobWaitSDF, ShutdownNow},
		{"SDFWAIT not over", State{PowerBattery, JobCommitted}, Watch{WaitSince: t0}, reached(Seen{}), t0.Add(59 * time.Second), JobCommitted, Continue},
		{"a watch has no SDFWAIT", State{PowerBattery, JobWatch}, Watch{}, reached(Seen{}), t0.Add(time.Hour), JobWatch, Continue},
		{"nothing to do", State{PowerOnline, JobNone}, Watch{}, reached(Seen{SDF: true}), t0, JobNone, Stop},
		{"LOWBATT, no ONBATT seen, master has onl: on line, stop", State{PowerUnknown, JobWaitSDF}, Watch{WaitSince: t0}, reached(Seen{OnlPresent: true}), t0, JobNone, Stop},
		{"LOWBATT on battery: a leftover onl does not stop it", State{PowerBattery, JobWaitSDF}, Watch{WaitSince: t0}, reached(Seen{OnlPresent: true}), t0, JobWaitSDF, Continue},
		{"FSD, power unknown: onl does not stop it", State{PowerUnknown, JobCommitted}, Watch{WaitSince: t0}, reached(Seen{OnlPresent: true}), t0, JobCommitted, Continue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Step(tt.st, tt.w, tt.seen, tt.now, tm)
			if got.Job != tt.job || got.Action != tt.action {
				t.Errorf("Step() = job %v action %v (%s), want job %v action %v", got.Job, got.Action, got.Reason, tt.job, tt.action)
			}
			if got.FailSafe != strings.HasPrefix(got.Reason, "fail-safe") {
				t.Errorf("FailSafe = %v for %q", got.FailSafe, got.Reason)
			}
			if got.Action == ShutdownNow && got.Reason == "" {
				t.Error("a shutdown without a reason to log")
			}
		})
	}
}

func TestParseEvent(t *testing.T) {
	for _, ev := range Events {
		if got, err := ParseEvent(string(ev)); err != nil || got != ev {
			t.Errorf("ParseEvent(%q) = %q, %v", ev, got, err)
		}
	}
	if got, err := ParseEvent(" onbatt "); err != nil || got != OnBatt {
		t.Errorf("ParseEvent(onbatt) = %q, %v", got, err)
	}
	for _, s := range []string{"", "FOO", "ON BATT", "ONBATT;rm", string(make([]byte, 100))} {
		if _, err := ParseEvent(s); !errors.Is(err, ErrUnknownEvent) {
			t.Errorf("ParseEvent(%q) error = %v, want ErrUnknownEvent", s, err)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, ev := range Events {
		f.Add(string(ev))
	}
	f.Add("")
	f.Add("unknown_thing")
	f.Fuzz(func(t *testing.T, s string) {
		ev, err := ParseEvent(s)
		if err == nil && !ev.Known() {
			t.Fatalf("ParseEvent(%q) = %q without error but not known", s, ev)
		}
		// Whatever arrives, the decision must not panic and must keep
		// the job within its range.
		for _, p := range []Power{PowerUnknown, PowerOnline, PowerBattery} {
			for j := JobNone; j <= JobDone; j++ {
				got := OnEvent(ev, State{p, j}, Policy{NoParentShutdown: true})
				if got.State.Job > JobDone || (got.State.Job < j && !j.Cancellable()) {
					t.Fatalf("OnEvent(%q, %v/%v) went to job %v", ev, p, j, got.State.Job)
				}
			}
		}
	})
}

// TestEventLevels: every NOTIFYTYPE of NUT 2.6.5 to 2.8.6-dev that changes
// nothing by itself is logged at the level it deserves: a warning when the
// UPS is not protecting as it should, info otherwise and for the NOT…
// events that end such a state. Unknown events are info.
func TestEventLevels(t *testing.T) {
	warn := map[Event]bool{ReplBatt: true, Off: true, Bypass: true, Alarm: true, Over: true, Other: true, SuspendTimeJump: true}
	acting := map[Event]bool{Online: true, OnBatt: true, LowBatt: true, FSD: true, Shutdown: true, NoParent: true, CommBad: true, NoComm: true}
	for _, ev := range append(append([]Event{}, Events...), "SOMETHING_NEW") {
		if acting[ev] {
			continue
		}
		got := OnEvent(ev, State{Power: PowerOnline}, Policy{})
		want := LevelInfo
		if warn[ev] {
			want = LevelWarning
		}
		if got.Level != want {
			t.Errorf("OnEvent(%s).Level = %v, want %v", ev, got.Level, want)
		}
		if got.State.Job != JobNone {
			t.Errorf("OnEvent(%s) started job %v, want none", ev, got.State.Job)
		}
	}
	for _, ev := range []Event{CommBad, NoComm} {
		if ev.Level() != LevelWarning {
			t.Errorf("%s.Level() = %v, want warning", ev, ev.Level())
		}
	}
}
