package master

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var testCfg = Config{
	StdwCharge:  50,
	StdwRuntime: 0,
	MaxOnBatt:   0,
	Debounce:    2,
	Spacing:     time.Second,
	DeadTime:    30 * time.Second,
}

func at(d time.Duration) time.Time { return t0.Add(d) }

func rd(status string, charge float64) Reading {
	return Reading{Status: strings.Fields(status), Charge: charge, HasCharge: true}
}

var errStale = errors.New("upsd: DATA-STALE")

func TestDecide(t *testing.T) {
	onBatt := State{Power: PowerOnBattery, PowerSince: t0}
	online := State{Power: PowerOnLine, PowerSince: t0}
	tests := []struct {
		name  string
		cfg   func(*Config)
		st    State
		r     Reading
		d     Disk
		now   time.Time
		want  Plan // Note is checked as a substring
		phase Phase
		low   int
	}{
		{name: "first run on line writes onl", r: rd("OL CHRG", 100), now: at(0),
			want: Plan{Onl: Set, Note: "on line"}},
		{name: "on line with onl present does not rewrite it", st: online, r: rd("OL", 100), d: Disk{Onl: true}, now: at(5 * time.Second),
			want: Plan{Note: "on line"}},
		{name: "on line clears a leftover battsdf", st: online, r: rd("OL", 100), d: Disk{Onl: true, BattSDF: true}, now: at(5 * time.Second),
			want: Plan{BattSDF: Clear, Note: "on line"}},
		{name: "on battery removes onl", st: online, r: rd("OB DISCHRG", 90), d: Disk{Onl: true}, now: at(5 * time.Second),
			want: Plan{Onl: Clear, Level: LevelWarning, Note: "on battery"}},
		{name: "on battery, onl already absent", st: onBatt, r: rd("OB DISCHRG", 90), now: at(5 * time.Second),
			want: Plan{Level: LevelWarning, Note: "on battery"}},
		{name: "one low reading with DEBOUNCE 2 is no verdict", st: onBatt, r: rd("OB DISCHRG", 40), now: at(5 * time.Second),
			want: Plan{Level: LevelWarning, Note: "low reading 1 of DEBOUNCE 2"}, low: 1},
		{name: "second low reading is critical", st: State{Power: PowerOnBattery, PowerSince: t0, LowCount: 1, LastLow: at(3 * time.Second)},
			r: rd("OB DISCHRG", 40), now: at(5 * time.Second),
			want:  Plan{BattSDF: Set, SDF: Set, Commit: true, Critical: true, Level: LevelCritical, Note: "charge 40% below STDWCHARGE 50% for 2 consecutive readings"},
			phase: PhaseCommitted, low: 2},
		{name: "two low readings at the same moment count once", st: State{Power: PowerOnBattery, PowerSince: t0, LowCount: 1, LastLow: at(5 * time.Second)},
			r: rd("OB DISCHRG", 40), now: at(5*time.Second + 100*time.Millisecond),
			want: Plan{Level: LevelWarning, Note: "low reading 1 of DEBOUNCE 2"}, low: 1},
		{name: "a good reading resets the debounce", st: State{Power: PowerOnBattery, PowerSince: t0, LowCount: 1, LastLow: at(3 * time.Second)},
			r: rd("OB DISCHRG", 60), now: at(5 * time.Second),
			want: Plan{Level: LevelWarning, Note: "on battery"}},
		{name: "DEBOUNCE 1 acts at once", cfg: func(c *Config) { c.Debounce = 1 }, st: onBatt, r: rd("OB", 10), now: at(5 * time.Second),
			want:  Plan{BattSDF: Set, SDF: Set, Commit: true, Critical: true, Level: LevelCritical, Note: "charge 10%"},
			phase: PhaseCommitted, low: 1},
		{name: "LB on battery is critical at once", st: onBatt, r: rd("OB LB", 80), d: Disk{Onl: true}, now: at(5 * time.Second),
			want:  Plan{Onl: Clear, BattSDF: Set, SDF: Set, Commit: true, Critical: true, Level: LevelCritical, Note: "LB"},
			phase: PhaseCommitted},
		{name: "LB on line (charging) is not critical", st: online, r: rd("OL LB CHRG", 20), d: Disk{Onl: true}, now: at(5 * time.Second),
			want: Plan{Note: "on line"}},
		{name: "low charge on line is not critical", st: online, r: rd("OL CHRG", 5), d: Disk{Onl: true}, now: at(5 * time.Second),
			want: Plan{Note: "on line"}},
		{name: "FSD is critical even on line", st: online, r: rd("OL FSD", 100), d: Disk{Onl: true}, now: at(5 * time.Second),
			want:  Plan{Onl: Clear, BattSDF: Set, SDF: Set, Commit: true, Critical: true, Level: LevelCritical, Note: "FSD"},
			phase: PhaseCommitted},
		{name: "runtime below STDWRUNTIME twice", cfg: func(c *Config) { c.StdwRuntime = 5 * time.Minute },
			st: State{Power: PowerOnBattery, PowerSince: t0, LowCount: 1, LastLow: at(time.Second)},
			r:  Reading{Status: []string{"OB"}, Charge: 90, HasCharge: true, Runtime: 4 * time.Minute, HasRuntime: true}, now: at(5 * time.Second),
			want:  Plan{BattSDF: Set, SDF: Set, Commit: true, Critical: true, Level: LevelCritical, Note: "runtime 4m0s below STDWRUNTIME 5m0s"},
			phase: PhaseCommitted, low: 2},
		{name: "runtime unset is ignored", st: onBatt,
			r: Reading{Status: []string{"OB"}, Charge: 90, HasCharge: true, Runtime: time.Second, HasRuntime: true}, now: at(5 * time.Second),
			want: Plan{Level: LevelWarning, Note: "on battery"}},
		{name: "MAXONBATT passed", cfg: func(c *Config) { c.MaxOnBatt = time.Minute }, st: onBatt, r: rd("OB", 95), now: at(61 * time.Second),
			want:  Plan{BattSDF: Set, SDF: Set, Commit: true, Critical: true, Level: LevelCritical, Note: "MAXONBATT 1m0s"},
			phase: PhaseCommitted},
		{name: "MAXONBATT not yet", cfg: func(c *Config) { c.MaxOnBatt = time.Minute }, st: onBatt, r: rd("OB", 95), now: at(59 * time.Second),
			want: Plan{Level: LevelWarning, Note: "on battery"}},
		{name: "no reading on battery within DEADTIME", st: State{Power: PowerOnBattery, PowerSince: t0, NoReadingSince: at(time.Second)},
			r: NoReading(at(20*time.Second), errStale), now: at(20 * time.Second),
			want: Plan{Level: LevelWarning, Note: "critical in 11s"}},
		{name: "no reading on battery for DEADTIME is critical", st: State{Power: PowerOnBattery, PowerSince: t0, NoReadingSince: at(time.Second)},
			r: NoReading(at(31*time.Second), errStale), now: at(31 * time.Second),
			want:  Plan{BattSDF: Set, SDF: Set, Commit: true, Critical: true, Level: LevelCritical, Note: "no reading for 30s while on battery"},
			phase: PhaseCommitted},
		{name: "first failed reading starts the clock", st: State{Power: PowerOnBattery, PowerSince: t0, LastReading: t0},
			r: NoReading(at(time.Hour), errStale), now: at(time.Hour),
			want: Plan{Level: LevelWarning, Note: "critical in 30s"}},
		{name: "no reading on line is never critical", st: State{Power: PowerOnLine, PowerSince: t0, NoReadingSince: at(time.Second)},
			r: NoReading(at(time.Hour), errStale), d: Disk{Onl: true}, now: at(time.Hour),
			want: Plan{Level: LevelWarning, Note: "no reading; flags unchanged"}},
		{name: "no reading with unknown power leaves onl", r: NoReading(at(0), errStale), d: Disk{Onl: true}, now: at(0),
			want: Plan{Level: LevelWarning, Note: "no reading"}},
		{name: "neither OL nor OB changes nothing", st: online, r: rd("BYPASS", 100), d: Disk{Onl: true}, now: at(time.Second),
			want: Plan{Level: LevelWarning, Note: "neither OL nor OB"}},
		{name: "committed stays committed when power returns", st: State{Power: PowerOnBattery, Phase: PhaseCommitted, Reason: "x", SDFAt: t0},
			r: rd("OL CHRG", 100), d: Disk{BattSDF: true, SDF: true}, now: at(5 * time.Second),
			want:  Plan{Commit: true, Level: LevelCritical, Note: "shutdown committed: x"},
			phase: PhaseCommitted},
		{name: "committed restores a removed sdf", st: State{Power: PowerOnBattery, Phase: PhaseCommitted, Reason: "x", SDFAt: t0},
			r: rd("OB", 10), d: Disk{BattSDF: true}, now: at(5 * time.Second),
			want:  Plan{SDF: Set, Commit: true, Level: LevelCritical, Note: "committed"},
			phase: PhaseCommitted, low: 1},
		{name: "an sdf on disk latches", st: online, r: rd("OL", 100), d: Disk{Onl: true, SDF: true, SDFTime: at(time.Second)}, now: at(5 * time.Second),
			want:  Plan{Onl: Clear, BattSDF: Set, Commit: true, Critical: true, Level: LevelCritical, Note: "sdf present"},
			phase: PhaseCommitted},
		{name: "done is not committed again", st: State{Phase: PhaseDone, Reason: "x", SDFAt: t0},
			r: rd("OL", 100), d: Disk{BattSDF: true, SDF: true}, now: at(5 * time.Second),
			want:  Plan{Level: LevelCritical, Note: "committed"},
			phase: PhaseDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCfg
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			r := tt.r
			if r.Time.IsZero() {
				r.Time = tt.now
			}
			st, p := Decide(tt.st, r, tt.d, tt.now, c)
			if !strings.Contains(p.Note, tt.want.Note) {
				t.Errorf("Note = %q, want it to contain %q", p.Note, tt.want.Note)
			}
			p.Note, tt.want.Note = "", ""
			if p != tt.want {
				t.Errorf("Decide() plan = %+v, want %+v", p, tt.want)
			}
			if st.Phase != tt.phase {
				t.Errorf("phase = %v, want %v", st.Phase, tt.phase)
			}
			if st.LowCount != tt.low {
				t.Errorf("LowCount = %d, want %d", st.LowCount, tt.low)
			}
		})
	}
}

// TestDecideOutage plays a whole outage through Decide, applying each plan
// to a simulated FLAGDIR.
func TestDecideOutage(t *testing.T) {
	var st State
	var d Disk
	onlWrites := 0
	apply := func(p Plan, now time.Time) {
		op := func(o Op, b *bool) {
			switch o {
			case Set:
				*b = true
			case Clear:
				*b = false
			}
		}
		if p.Onl == Set {
			onlWrites++
		}
		op(p.Onl, &d.Onl)
		op(p.BattSDF, &d.BattSDF)
		if p.SDF == Set {
			d.SDFTime = now
		}
		op(p.SDF, &d.SDF)
	}
	steps := []struct {
		status string
		charge float64
		want   Disk
		commit bool
	}{
		{"OL", 100, Disk{Onl: true}, false},
		{"OL", 100, Disk{Onl: true}, false},
		{"OB DISCHRG", 90, Disk{}, false},
		{"OB DISCHRG", 45, Disk{}, false},
		{"OL CHRG", 45, Disk{Onl: true}, false},
		{"OB DISCHRG", 45, Disk{}, false},
		{"OB DISCHRG", 40, Disk{BattSDF: true, SDF: true}, true},
		{"OL CHRG", 40, Disk{BattSDF: true, SDF: true}, true},
	}
	for i, s := range steps {
		now := at(time.Duration(i) * 5 * time.Second)
		var p Plan
		st, p = Decide(st, Reading{Time: now, Status: strings.Fields(s.status), Charge: s.charge, HasCharge: true}, d, now, testCfg)
		apply(p, now)
		d.SDFTime = time.Time{}
		if d != s.want || p.Commit != s.commit {
			t.Fatalf("step %d (%s %v): disk %+v commit %v, want %+v commit %v (note %q)", i, s.status, s.charge, d, p.Commit, s.want, s.commit, p.Note)
		}
	}
	if onlWrites != 2 {
		t.Errorf("onl written %d times, want 2 (once per on-line period)", onlWrites)
	}
}
