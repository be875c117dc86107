package master

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nutslave/nutslave/flags"
)

// ErrBadStage is wrapped by [ParseStages] errors.
var ErrBadStage = errors.New("bad stage")

// A Stage is one slave's own shutdown threshold (STAGES=name:70 or
// name:300s): on battery, when the charge falls below Charge percent (or,
// when Runtime is set, battery.runtime below Runtime) for DEBOUNCE
// consecutive readings, the master writes battsdf.<name> and sdf.<name>
// and that slave alone shuts down.
type Stage struct {
	Name string
	// Charge is the threshold in percent; it applies when Runtime is 0.
	Charge float64
	// Runtime, when positive, is a runtime threshold instead.
	Runtime time.Duration
}

// String renders s as in STAGES: "db1:40" or "db1:300s".
func (s Stage) String() string {
	if s.Runtime > 0 {
		return s.Name + ":" + s.Runtime.String()
	}
	return s.Name + ":" + strconv.FormatFloat(s.Charge, 'f', -1, 64)
}

// Threshold renders the threshold alone: "40%" or "runtime<300s".
func (s Stage) Threshold() string {
	if s.Runtime > 0 {
		return "runtime<" + s.Runtime.String()
	}
	return strconv.FormatFloat(s.Charge, 'f', -1, 64) + "%"
}

// low reports whether r is below the stage's threshold.
func (s Stage) low(r Reading) bool {
	if s.Runtime > 0 {
		return r.HasRuntime && r.Runtime < s.Runtime
	}
	return r.HasCharge && r.Charge < s.Charge
}

// why says what crossed the threshold, for the log and the flag body.
func (s Stage) why(r Reading, n int) string {
	if s.Runtime > 0 {
		return fmt.Sprintf("stage %s: runtime %v below %v for %d consecutive readings", s.Name, r.Runtime.Round(time.Second), s.Runtime, n)
	}
	return fmt.Sprintf("stage %s: charge %v%% below %v%% for %d consecutive readings", s.Name, r.Charge, s.Charge, n)
}

// ParseStages parses STAGES: white-space separated name:threshold pairs,
// where the threshold is a percentage ("70", "70%") or a runtime with a
// unit ("300s", "5m"). Names are valid slave names, each listed once.
func ParseStages(s string) ([]Stage, error) {
	var stages []Stage
	seen := map[string]bool{}
	for _, f := range strings.Fields(s) {
		name, th, ok := strings.Cut(f, ":")
		if !ok || th == "" {
			return nil, fmt.Errorf("%w %q: want name:percent or name:runtime, e.g. web1:70 db1:300s", ErrBadStage, f)
		}
		if err := flags.ValidSlaveName(name); err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: slave %q staged twice", ErrBadStage, name)
		}
		seen[name] = true
		st := Stage{Name: name}
		if last := th[len(th)-1]; last >= '0' && last <= '9' || last == '%' || last == '.' {
			n, err := strconv.ParseFloat(strings.TrimSuffix(th, "%"), 64)
			if err != nil || n <= 0 || n > 100 {
				return nil, fmt.Errorf("%w %q: %q is not a percentage from 1 to 100 (a runtime needs a unit, e.g. 300s)", ErrBadStage, f, th)
			}
			st.Charge = n
		} else {
			d, err := time.ParseDuration(th)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("%w %q: %q is neither a percentage nor a runtime such as 300s", ErrBadStage, f, th)
			}
			st.Runtime = d
		}
		stages = append(stages, st)
	}
	return stages, nil
}

// RosterNames is whom the master waits for: SLAVES, then the staged
// slaves not already in SLAVES.
func RosterNames(slaves []string, stages []Stage) []string {
	names := append([]string(nil), slaves...)
	in := map[string]bool{}
	for _, n := range slaves {
		in[n] = true
	}
	for _, s := range stages {
		if !in[s.Name] {
			names = append(names, s.Name)
			in[s.Name] = true
		}
	}
	return names
}

// StageState is what upsflags remembers about one staged slave.
type StageState struct {
	// LowCount and LastLow debounce the stage's own threshold.
	LowCount int       `json:"low_count,omitempty"`
	LastLow  time.Time `json:"last_low,omitzero"`
	// SDFAt is when sdf.<name> was written (or found); zero while the
	// slave has not been told to go. Latched until reset.
	SDFAt  time.Time `json:"sdf_at,omitzero"`
	Reason string    `json:"reason,omitempty"`
}

// StageFlags is what FLAGDIR holds for one slave: battsdf.<name>,
// sdf.<name> and the latter's modification time.
type StageFlags struct {
	BattSDF, SDF bool
	SDFTime      time.Time
}

// StagePlan is the decision for one slave's flags. The caller applies
// BattSDF before SDF.
type StagePlan struct {
	Name         string
	BattSDF, SDF Op
	// Fired: this decision sends the slave down (the first time).
	Fired bool
	// Note says why, for the log.
	Note string
}

// Changed reports whether p touches a flag.
func (p StagePlan) Changed() bool { return p.BattSDF != Keep || p.SDF != Keep }

// DecideStages is the per-slave part of a decision. st is the state
// [Decide] returned for the same reading (its Power and Phase are
// current); d holds the per-slave flags found in FLAGDIR, keyed by slave.
//
// Once the master is committed (global sdf) it leaves the per-slave flags
// alone: sdf tells every slave. Otherwise, on battery, a stage whose
// threshold is crossed for DEBOUNCE readings fires: battsdf.<name>, then
// sdf.<name>. An sdf.<name> latches (it is rewritten if removed, until
// reset). A battsdf.<name> without its sdf.<name> is cancelled on any
// reading that does not fire the stage, in particular when power returns.
// Plans come back sorted by slave name, one per slave whose flags change.
func DecideStages(st State, r Reading, d map[string]StageFlags, now time.Time, c Config) (State, []StagePlan) {
	if len(c.Stages) == 0 && len(d) == 0 {
		return st, nil
	}
	old := st.Stages
	st.Stages = make(map[string]StageState, len(old))
	for k, v := range old {
		st.Stages[k] = v
	}
	staged := map[string]bool{}
	var plans []StagePlan
	for _, sg := range c.Stages {
		staged[sg.Name] = true
		ss, f := st.Stages[sg.Name], d[sg.Name]
		if f.SDF && ss.SDFAt.IsZero() {
			ss.SDFAt, ss.Reason = f.SDFTime, "sdf."+sg.Name+" present in FLAGDIR"
			if ss.SDFAt.IsZero() || ss.SDFAt.After(now) {
				ss.SDFAt = now
			}
		}
		p := StagePlan{Name: sg.Name}
		switch {
		case !ss.SDFAt.IsZero():
			// Latched: keep both flags, rewrite one that went missing.
			if !f.BattSDF {
				p.BattSDF = Set
			}
			if !f.SDF {
				p.SDF = Set
			}
			if p.Changed() {
				p.Note = "stage " + sg.Name + " latched, restoring its flags: " + ss.Reason
			}
		case st.Phase != PhaseNormal:
			// The global sdf tells every slave.
		case !r.OK():
			// No reading: flags unchanged, debounce kept.
		default:
			if st.Power == PowerOnBattery && r.Power() == PowerOnBattery && sg.low(r) {
				if ss.LastLow.IsZero() || now.Sub(ss.LastLow) >= c.Spacing {
					ss.LowCount++
					ss.LastLow = now
				}
			} else {
				ss.LowCount, ss.LastLow = 0, time.Time{}
			}
			if ss.LowCount >= max(c.Debounce, 1) {
				ss.SDFAt, ss.Reason = now, sg.why(r, ss.LowCount)
				p.BattSDF, p.SDF, p.Fired = Set, Set, true
				if f.BattSDF {
					p.BattSDF = Keep
				}
				if f.SDF {
					p.SDF = Keep
				}
				p.Note = ss.Reason
				break
			}
			if f.BattSDF {
				p.BattSDF = Clear
				p.Note = "stage " + sg.Name + " cancelled: not told to go (no sdf." + sg.Name + ")"
			} else if ss.LowCount > 0 {
				p.Note = fmt.Sprintf("stage %s: low reading %d of DEBOUNCE %d", sg.Name, ss.LowCount, c.Debounce)
			}
		}
		if ss == (StageState{}) {
			delete(st.Stages, sg.Name)
		} else {
			st.Stages[sg.Name] = ss
		}
		if p.Changed() || p.Note != "" {
			plans = append(plans, p)
		}
	}
	// Per-slave flags for slaves no longer in STAGES: an sdf.<name>
	// latches like any sdf; a lone battsdf.<name> is a leftover.
	for name, f := range d {
		if staged[name] {
			continue
		}
		p := StagePlan{Name: name}
		if f.SDF && !f.BattSDF && st.Phase == PhaseNormal {
			p.BattSDF = Set
			p.Note = "sdf." + name + " present (slave not in STAGES): latched until reset"
		}
		if f.BattSDF && !f.SDF && st.Phase == PhaseNormal && r.OK() {
			p.BattSDF = Clear
			p.Note = "removing a leftover battsdf." + name + " (slave not in STAGES)"
		}
		if p.Changed() {
			plans = append(plans, p)
		}
	}
	if len(st.Stages) == 0 {
		st.Stages = nil
	}
	sort.Slice(plans, func(i, j int) bool { return plans[i].Name < plans[j].Name })
	return st, plans
}
