package master

import (
	"fmt"
	"log/slog"
	"time"
)

// Config holds the thresholds and clocks of the decision.
type Config struct {
	// StdwCharge: on battery, a charge below this (percent) is low.
	StdwCharge float64
	// StdwRuntime: on battery, a runtime below this is low; 0 disables it.
	StdwRuntime time.Duration
	// MaxOnBatt: on battery longer than this is critical; 0 disables it.
	MaxOnBatt time.Duration
	// Debounce is how many consecutive low readings make the UPS critical.
	Debounce int
	// Spacing: a low reading closer than this to the last counted one
	// (two runs at the same moment) counts once.
	Spacing time.Duration
	// DeadTime: no reading for this long while last known on battery is
	// critical.
	DeadTime time.Duration
	// Stages are the slaves with their own thresholds ([DecideStages]).
	Stages []Stage
}

// Phase is where the master stands in an outage.
type Phase string

// Phases. Once Committed, only `upsflags reset` (or a new boot) goes back.
const (
	// PhaseNormal: no shutdown decided.
	PhaseNormal Phase = ""
	// PhaseCommitted: battsdf and sdf are written; waiting for the slaves,
	// then the master shuts down.
	PhaseCommitted Phase = "committed"
	// PhaseDone: the master's shutdown command ran (or DRYRUN logged it).
	PhaseDone Phase = "done"
)

func (p Phase) String() string {
	if p == PhaseNormal {
		return "normal"
	}
	return string(p)
}

// State is what upsflags remembers between runs (STATEDIR/upsflags.state).
// A state from an earlier boot is discarded by the caller.
type State struct {
	Boot string `json:"boot"`
	// Power is the last known power, and PowerSince when it began.
	Power      Power     `json:"power"`
	PowerSince time.Time `json:"power_since,omitzero"`
	// LowCount counts consecutive low readings on battery; LastLow is the
	// time of the last one counted.
	LowCount int       `json:"low_count,omitempty"`
	LastLow  time.Time `json:"last_low,omitzero"`
	// LastReading is the time of the last good reading.
	LastReading time.Time `json:"last_reading,omitzero"`
	// NoReadingSince is the first failed reading of the current run of
	// failures; zero while readings come.
	NoReadingSince time.Time `json:"no_reading_since,omitzero"`
	Phase          Phase     `json:"phase,omitempty"`
	Reason         string    `json:"reason,omitempty"`
	// SDFAt is when this outage's sdf was written (or found).
	SDFAt time.Time `json:"sdf_at,omitzero"`
	// Stages holds the staged slaves' debounce and verdicts, by name.
	Stages map[string]StageState `json:"stages,omitempty"`
}

// Disk is what FLAGDIR holds before the decision.
type Disk struct {
	Onl, BattSDF, SDF bool
	// SDFTime is the modification time of sdf, when present.
	SDFTime time.Time
}

// Op is what to do with one flag file.
type Op int

// Ops.
const (
	Keep Op = iota
	Set
	Clear
)

func (o Op) String() string { return [...]string{"keep", "set", "clear"}[o] }

// How loudly a decision is logged: slog's levels, and above them critical
// (a decision that powers the master off).
const (
	LevelInfo     = slog.LevelInfo
	LevelWarning  = slog.LevelWarn
	LevelCritical = slog.LevelError + 4
)

// Plan is the outcome of [Decide]. The caller applies the flag operations
// in the order BattSDF, SDF, Onl and, when Commit is set, waits for the
// roster and runs the shutdown command.
type Plan struct {
	Onl, BattSDF, SDF Op
	// Commit: the shutdown sequence is on and not finished.
	Commit bool
	// Critical: this decision made the UPS critical (first time).
	Critical bool
	Level    slog.Level
	// Note says why, for the log.
	Note string
}

// Decide is one decision: the new state and what to do with the flags,
// from the old state, a reading, what FLAGDIR holds and the time.
//
// On line: onl present (written only when absent, so its modification time
// marks the start of the on-line period), battsdf absent. On battery: onl
// absent. Critical (FSD; or on battery with LB, DEBOUNCE low readings,
// MAXONBATT passed; or no reading for DEADTIME while last known on battery):
// battsdf and sdf, and the state latches in PhaseCommitted. An sdf already
// in FLAGDIR latches too. Once committed nothing is undone: battsdf and sdf
// stay, onl stays away.
func Decide(st State, r Reading, d Disk, now time.Time, c Config) (State, Plan) {
	st = observe(st, r, now, c)
	latched := func(p Plan) (State, Plan) {
		if !d.BattSDF {
			p.BattSDF = Set
		}
		if !d.SDF {
			p.SDF = Set
		}
		if d.Onl {
			p.Onl = Clear
		}
		p.Commit = st.Phase == PhaseCommitted
		return st, p
	}
	switch {
	case st.Phase != PhaseNormal:
		return latched(Plan{Level: LevelCritical, Note: "shutdown committed: " + st.Reason})
	case d.SDF:
		st.Phase, st.Reason, st.SDFAt = PhaseCommitted, "sdf present in FLAGDIR", d.SDFTime
		if st.SDFAt.IsZero() || st.SDFAt.After(now) {
			st.SDFAt = now
		}
		return latched(Plan{Level: LevelCritical, Critical: true, Note: "shutdown committed: " + st.Reason})
	}
	if why := critical(st, r, now, c); why != "" {
		st.Phase, st.Reason, st.SDFAt = PhaseCommitted, why, now
		return latched(Plan{Level: LevelCritical, Critical: true, Note: "UPS critical: " + why})
	}
	var p Plan
	switch {
	case !r.OK():
		p.Level = LevelWarning
		p.Note = "no reading; flags unchanged"
		if st.Power == PowerOnBattery {
			left := c.DeadTime - now.Sub(st.NoReadingSince)
			p.Note = fmt.Sprintf("no reading while on battery; critical in %v (DEADTIME %v)", left.Round(time.Millisecond), c.DeadTime)
		}
	case r.Power() == PowerOnLine:
		if !d.Onl {
			p.Onl = Set
		}
		if d.BattSDF {
			p.BattSDF = Clear
		}
		p.Note = "on line power"
	case r.Power() == PowerOnBattery:
		if d.Onl {
			p.Onl = Clear
		}
		if d.BattSDF {
			p.BattSDF = Clear // not critical: a leftover
		}
		p.Level = LevelWarning
		p.Note = "on battery"
		if st.LowCount > 0 {
			p.Note = fmt.Sprintf("on battery, low reading %d of DEBOUNCE %d", st.LowCount, c.Debounce)
		}
	default:
		p.Level = LevelWarning
		p.Note = "status says neither OL nor OB; flags unchanged"
	}
	return st, p
}

// observe books a reading into the state: power and its start, the low
// reading counter and the no-reading clock.
func observe(st State, r Reading, now time.Time, c Config) State {
	if !r.OK() {
		if st.NoReadingSince.IsZero() {
			st.NoReadingSince = now
		}
		return st
	}
	st.NoReadingSince = time.Time{}
	st.LastReading = r.Time
	pw := r.Power()
	if pw == PowerUnknown {
		return st
	}
	if pw != st.Power {
		st.Power, st.PowerSince = pw, now
		st.LowCount, st.LastLow = 0, time.Time{}
	}
	if pw != PowerOnBattery {
		return st
	}
	if low(r, c) {
		if st.LastLow.IsZero() || now.Sub(st.LastLow) >= c.Spacing {
			st.LowCount++
			st.LastLow = now
		}
	} else {
		st.LowCount, st.LastLow = 0, time.Time{}
	}
	return st
}

func low(r Reading, c Config) bool {
	return (r.HasCharge && r.Charge < c.StdwCharge) ||
		(c.StdwRuntime > 0 && r.HasRuntime && r.Runtime < c.StdwRuntime)
}

// critical returns why the UPS is critical now, or "".
func critical(st State, r Reading, now time.Time, c Config) string {
	if !r.OK() {
		if st.Power == PowerOnBattery && !st.NoReadingSince.IsZero() && now.Sub(st.NoReadingSince) >= c.DeadTime {
			return fmt.Sprintf("no reading for %v while on battery (DEADTIME %v): %v",
				now.Sub(st.NoReadingSince).Round(time.Millisecond), c.DeadTime, r.Err)
		}
		return ""
	}
	if r.Has("FSD") {
		return "UPS status FSD (forced shutdown)"
	}
	if st.Power != PowerOnBattery {
		return ""
	}
	switch {
	case r.Has("LB"):
		return "low battery (LB) on battery"
	case st.LowCount >= max(c.Debounce, 1):
		what := ""
		if r.HasCharge && r.Charge < c.StdwCharge {
			what = fmt.Sprintf("charge %v%% below STDWCHARGE %v%%", r.Charge, c.StdwCharge)
		} else {
			what = fmt.Sprintf("runtime %v below STDWRUNTIME %v", r.Runtime.Round(time.Second), c.StdwRuntime)
		}
		return fmt.Sprintf("%s for %d consecutive readings", what, st.LowCount)
	case c.MaxOnBatt > 0 && now.Sub(st.PowerSince) >= c.MaxOnBatt:
		return fmt.Sprintf("on battery for %v (MAXONBATT %v)", now.Sub(st.PowerSince).Round(time.Second), c.MaxOnBatt)
	}
	return ""
}
