package master

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nutslave/nutslave/flags"
)

func TestParseStages(t *testing.T) {
	tests := []struct {
		in   string
		want []Stage
		err  bool
	}{
		{in: "", want: nil},
		{in: "web1:70 web2:70% db1:40", want: []Stage{{Name: "web1", Charge: 70}, {Name: "web2", Charge: 70}, {Name: "db1", Charge: 40}}},
		{in: "db1:300s  nas:5m", want: []Stage{{Name: "db1", Runtime: 300 * time.Second}, {Name: "nas", Runtime: 5 * time.Minute}}},
		{in: "web1:62.5", want: []Stage{{Name: "web1", Charge: 62.5}}},
		{in: "web1", err: true},
		{in: "web1:", err: true},
		{in: "web1:300", err: true},
		{in: "web1:0", err: true},
		{in: "web1:-5s", err: true},
		{in: "web1:fast", err: true},
		{in: "web1:70 web1:40", err: true},
		{in: "../x:70", err: true},
	}
	for _, tt := range tests {
		got, err := ParseStages(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseStages(%q) error = %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseStages(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
	if _, err := ParseStages("web1:fast"); !errors.Is(err, ErrBadStage) {
		t.Errorf("ParseStages(web1:fast) = %v, want ErrBadStage", err)
	}
}

func FuzzParseStages(f *testing.F) {
	for _, s := range []string{"web1:70 db1:300s", "a:1%", "x:5m y:99.5", "a:b:c", "db1:300"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		stages, err := ParseStages(s)
		if err != nil {
			return
		}
		for _, sg := range stages {
			if flags.ValidSlaveName(sg.Name) != nil {
				t.Fatalf("ParseStages(%q) accepted name %q", s, sg.Name)
			}
			if (sg.Runtime > 0) == (sg.Charge > 0) || sg.Charge > 100 {
				t.Fatalf("ParseStages(%q) gave %+v", s, sg)
			}
			again, err := ParseStages(sg.String())
			if err != nil || len(again) != 1 || again[0] != sg {
				t.Fatalf("ParseStages(%q) = %v, %v; want %+v back", sg.String(), again, err, sg)
			}
		}
	})
}

var stagedCfg = func() Config {
	c := testCfg
	c.StdwCharge = 20
	c.Stages = []Stage{{Name: "web1", Charge: 70}, {Name: "db1", Charge: 40}, {Name: "nas", Runtime: 300 * time.Second}}
	return c
}()

func rdr(status string, charge float64, runtime time.Duration) Reading {
	return Reading{Status: strings.Fields(status), Charge: charge, HasCharge: true, Runtime: runtime, HasRuntime: true}
}

// TestDecideStages is the stage decision, one row per situation.
func TestDecideStages(t *testing.T) {
	onBatt := State{Power: PowerOnBattery, PowerSince: t0}
	low := func(n int, name string) State {
		st := onBatt
		st.Stages = map[string]StageState{name: {LowCount: n, LastLow: at(3 * time.Second)}}
		return st
	}
	latched := func(name string) State {
		st := onBatt
		st.Stages = map[string]StageState{name: {SDFAt: at(time.Second), Reason: "x"}}
		return st
	}
	tests := []struct {
		name  string
		st    State
		r     Reading
		d     map[string]StageFlags
		now   time.Time
		want  []StagePlan // Note is checked as a substring
		low   map[string]int
		fired []string // stages latched after the decision
	}{
		{name: "on line: nothing", st: State{Power: PowerOnLine}, r: rdr("OL", 100, time.Hour), now: at(5 * time.Second)},
		{name: "above every threshold", st: onBatt, r: rdr("OB", 80, time.Hour), now: at(5 * time.Second)},
		{name: "first low reading counts", st: onBatt, r: rdr("OB", 65, time.Hour), now: at(5 * time.Second),
			want: []StagePlan{{Name: "web1", Note: "low reading 1 of DEBOUNCE 2"}}, low: map[string]int{"web1": 1}},
		{name: "second low reading fires the stage", st: low(1, "web1"), r: rdr("OB", 65, time.Hour), now: at(5 * time.Second),
			want:  []StagePlan{{Name: "web1", BattSDF: Set, SDF: Set, Fired: true, Note: "stage web1: charge 65% below 70% for 2 consecutive readings"}},
			low:   map[string]int{"web1": 2},
			fired: []string{"web1"}},
		{name: "two readings at one moment count once", st: low(1, "web1"), r: rdr("OB", 65, time.Hour), now: at(3*time.Second + time.Millisecond),
			want: []StagePlan{{Name: "web1", Note: "low reading 1"}}, low: map[string]int{"web1": 1}},
		{name: "a good reading resets the stage's debounce", st: low(1, "web1"), r: rdr("OB", 75, time.Hour), now: at(5 * time.Second)},
		{name: "runtime stage fires on runtime only", st: low(1, "nas"), r: rdr("OB", 90, 200*time.Second), now: at(5 * time.Second),
			want:  []StagePlan{{Name: "nas", BattSDF: Set, SDF: Set, Fired: true, Note: "runtime 3m20s below 5m0s"}},
			low:   map[string]int{"nas": 2},
			fired: []string{"nas"}},
		{name: "a deep drop fires two stages, the lower one debounced separately", st: low(1, "web1"), r: rdr("OB", 35, time.Hour), now: at(5 * time.Second),
			want: []StagePlan{
				{Name: "db1", Note: "low reading 1"},
				{Name: "web1", BattSDF: Set, SDF: Set, Fired: true, Note: "stage web1"},
			},
			low:   map[string]int{"web1": 2, "db1": 1},
			fired: []string{"web1"}},
		{name: "latched stage keeps its flags when power returns", st: latched("web1"), r: rdr("OL CHRG", 65, time.Hour),
			d: map[string]StageFlags{"web1": {BattSDF: true, SDF: true}}, now: at(5 * time.Second), fired: []string{"web1"}},
		{name: "latched stage restores a removed sdf.<name>", st: latched("web1"), r: rdr("OB", 65, time.Hour),
			d: map[string]StageFlags{"web1": {BattSDF: true}}, now: at(5 * time.Second),
			want: []StagePlan{{Name: "web1", SDF: Set, Note: "latched"}}, fired: []string{"web1"}},
		{name: "an sdf.<name> on disk latches", st: State{Power: PowerOnLine}, r: rdr("OL", 100, time.Hour),
			d: map[string]StageFlags{"db1": {SDF: true, SDFTime: at(time.Second)}}, now: at(5 * time.Second),
			want: []StagePlan{{Name: "db1", BattSDF: Set, Note: "latched"}}, fired: []string{"db1"}},
		{name: "power returns: a battsdf.<name> without sdf.<name> is cancelled", st: low(1, "db1"), r: rdr("OL CHRG", 35, time.Hour),
			d: map[string]StageFlags{"db1": {BattSDF: true}}, now: at(5 * time.Second),
			want: []StagePlan{{Name: "db1", BattSDF: Clear, Note: "cancelled"}}},
		{name: "no reading keeps everything", st: low(1, "web1"), r: NoReading(at(5*time.Second), errStale),
			d: map[string]StageFlags{"db1": {BattSDF: true}}, now: at(5 * time.Second), low: map[string]int{"web1": 1}},
		{name: "globally committed: stages are left to the global sdf", st: State{Power: PowerOnBattery, Phase: PhaseCommitted, Stages: map[string]StageState{"web1": {LowCount: 1, LastLow: at(time.Second)}}},
			r: rdr("OB", 10, time.Hour), now: at(5 * time.Second), low: map[string]int{"web1": 1}},
		{name: "leftover battsdf of a slave no longer staged is removed", st: onBatt, r: rdr("OB", 90, time.Hour),
			d: map[string]StageFlags{"old": {BattSDF: true}}, now: at(5 * time.Second),
			want: []StagePlan{{Name: "old", BattSDF: Clear, Note: "leftover"}}},
		{name: "sdf of a slave no longer staged stays latched", st: State{Power: PowerOnLine}, r: rdr("OL", 100, time.Hour),
			d: map[string]StageFlags{"old": {SDF: true, BattSDF: true}}, now: at(5 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if r.Time.IsZero() {
				r.Time = tt.now
			}
			st, plans := DecideStages(tt.st, r, tt.d, tt.now, stagedCfg)
			if len(plans) != len(tt.want) {
				t.Fatalf("DecideStages() = %+v, want %+v", plans, tt.want)
			}
			for i, p := range plans {
				w := tt.want[i]
				if !strings.Contains(p.Note, w.Note) {
					t.Errorf("plan %s Note = %q, want it to contain %q", p.Name, p.Note, w.Note)
				}
				p.Note, w.Note = "", ""
				if p != w {
					t.Errorf("plan %d = %+v, want %+v", i, p, w)
				}
			}
			gotLow := map[string]int{}
			var gotFired []string
			for n, ss := range st.Stages {
				if ss.LowCount > 0 {
					gotLow[n] = ss.LowCount
				}
				if !ss.SDFAt.IsZero() {
					gotFired = append(gotFired, n)
				}
			}
			if tt.low == nil {
				tt.low = map[string]int{}
			}
			if diff := cmp.Diff(tt.low, gotLow); diff != "" {
				t.Errorf("low counts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.fired, gotFired); diff != "" {
				t.Errorf("latched stages (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStagedOutage plays an outage with two stages through Decide and
// DecideStages, applying the plans to a simulated FLAGDIR: the upper
// stage goes first, the lower later, the master last, each told once; and
// power returning between stages keeps the lower stage and the master up.
func TestStagedOutage(t *testing.T) {
	c := testCfg
	c.StdwCharge = 20
	c.Stages = []Stage{{Name: "web1", Charge: 70}, {Name: "web2", Charge: 70}, {Name: "db1", Charge: 40}}
	type step struct {
		status string
		charge float64
		want   string // sorted flags present after the step
	}
	play := func(t *testing.T, steps []step) map[string]int {
		var st State
		var d Disk
		sd := map[string]StageFlags{}
		told := map[string]int{}
		for i, s := range steps {
			now := at(time.Duration(i) * 5 * time.Second)
			r := Reading{Time: now, Status: strings.Fields(s.status), Charge: s.charge, HasCharge: true}
			var p Plan
			var sp []StagePlan
			st, p = Decide(st, r, d, now, c)
			st, sp = DecideStages(st, r, sd, now, c)
			apply := func(o Op, b *bool) {
				if o == Set {
					*b = true
				} else if o == Clear {
					*b = false
				}
			}
			apply(p.Onl, &d.Onl)
			apply(p.BattSDF, &d.BattSDF)
			if p.SDF == Set {
				told["master"]++
			}
			apply(p.SDF, &d.SDF)
			for _, x := range sp {
				f := sd[x.Name]
				apply(x.BattSDF, &f.BattSDF)
				if x.SDF == Set {
					told[x.Name]++
				}
				apply(x.SDF, &f.SDF)
				sd[x.Name] = f
			}
			var got []string
			for _, x := range []struct {
				n string
				b bool
			}{{"onl", d.Onl}, {"battsdf", d.BattSDF}, {"sdf", d.SDF}} {
				if x.b {
					got = append(got, x.n)
				}
			}
			for _, n := range []string{"db1", "web1", "web2"} {
				if sd[n].BattSDF {
					got = append(got, "battsdf."+n)
				}
				if sd[n].SDF {
					got = append(got, "sdf."+n)
				}
			}
			if g := strings.Join(got, " "); g != s.want {
				t.Fatalf("step %d (%s %v): flags %q, want %q", i, s.status, s.charge, g, s.want)
			}
		}
		return told
	}
	t.Run("charge falls through both stages", func(t *testing.T) {
		told := play(t, []step{
			{"OL", 100, "onl"},
			{"OB", 80, ""},
			{"OB", 65, ""},
			{"OB", 64, "battsdf.web1 sdf.web1 battsdf.web2 sdf.web2"},
			{"OB", 50, "battsdf.web1 sdf.web1 battsdf.web2 sdf.web2"},
			{"OB", 35, "battsdf.web1 sdf.web1 battsdf.web2 sdf.web2"},
			{"OB", 34, "battsdf.db1 sdf.db1 battsdf.web1 sdf.web1 battsdf.web2 sdf.web2"},
			{"OB", 15, "battsdf.db1 sdf.db1 battsdf.web1 sdf.web1 battsdf.web2 sdf.web2"},
			{"OB", 14, "battsdf sdf battsdf.db1 sdf.db1 battsdf.web1 sdf.web1 battsdf.web2 sdf.web2"},
			{"OL", 14, "battsdf sdf battsdf.db1 sdf.db1 battsdf.web1 sdf.web1 battsdf.web2 sdf.web2"},
		})
		if diff := cmp.Diff(map[string]int{"web1": 1, "web2": 1, "db1": 1, "master": 1}, told); diff != "" {
			t.Errorf("sdf writes (-want +got):\n%s", diff)
		}
	})
	t.Run("power returns between stages", func(t *testing.T) {
		told := play(t, []step{
			{"OB", 65, ""},
			{"OB", 64, "battsdf.web1 sdf.web1 battsdf.web2 sdf.web2"},
			{"OB", 39, "battsdf.web1 sdf.web1 battsdf.web2 sdf.web2"},
			{"OL CHRG", 39, "onl battsdf.web1 sdf.web1 battsdf.web2 sdf.web2"},
			{"OL CHRG", 45, "onl battsdf.web1 sdf.web1 battsdf.web2 sdf.web2"},
			{"OB", 39, "battsdf.web1 sdf.web1 battsdf.web2 sdf.web2"},
			{"OL", 39, "onl battsdf.web1 sdf.web1 battsdf.web2 sdf.web2"},
		})
		if diff := cmp.Diff(map[string]int{"web1": 1, "web2": 1}, told); diff != "" {
			t.Errorf("sdf writes (-want +got):\n%s", diff)
		}
	})
}

func TestRosterWithStages(t *testing.T) {
	stages := []Stage{{Name: "web1", Charge: 70}, {Name: "db1", Charge: 40}}
	sdfAt := at(time.Minute)
	ack := func(n string, d time.Duration) flags.Info {
		name := flags.AnonAck
		if n != "" {
			name = flags.Ack(n)
		}
		return flags.Info{Name: name, ModTime: at(d)}
	}
	tests := []struct {
		name     string
		slaves   []string
		since    map[string]time.Time
		infos    []flags.Info
		missing  []string
		complete bool
	}{
		{name: "roster is SLAVES and STAGES", slaves: []string{"a"}, infos: []flags.Info{ack("a", 61*time.Second)},
			missing: []string{"web1", "db1"}},
		{name: "a stage's early acknowledgement counts from its own verdict", slaves: []string{"a"},
			since: map[string]time.Time{"web1": at(10 * time.Second)},
			infos: []flags.Info{ack("a", 61*time.Second), ack("web1", 11*time.Second), ack("db1", 62*time.Second)}, complete: true},
		{name: "without the stage's time its early acknowledgement is stale", slaves: []string{"a"},
			infos:   []flags.Info{ack("a", 61*time.Second), ack("web1", 11*time.Second), ack("db1", 62*time.Second)},
			missing: []string{"web1"}},
		{name: "a plain sdfok stands for the only unstaged slave", slaves: []string{"old"},
			infos: []flags.Info{ack("", 61*time.Second), ack("web1", 61*time.Second), ack("db1", 62*time.Second)}, complete: true},
		{name: "a plain sdfok is ambiguous with two unstaged slaves", slaves: []string{"old", "b"},
			infos:   []flags.Info{ack("", 61*time.Second), ack("web1", 61*time.Second), ack("db1", 62*time.Second)},
			missing: []string{"old", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tally := NewRoster(tt.slaves, stages, tt.since).Count(tt.infos, sdfAt)
			if diff := cmp.Diff(tt.missing, tally.Missing); diff != "" {
				t.Errorf("Missing (-want +got):\n%s", diff)
			}
			if tally.Complete != tt.complete {
				t.Errorf("Complete = %v, want %v", tally.Complete, tt.complete)
			}
		})
	}
}
