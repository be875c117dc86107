package master

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nutslave/nutslave/flags"
)

// AckSlack is how much older than this outage's sdf an acknowledgement may
// be and still count (clocks and file times have coarse edges).
const AckSlack = time.Second

// ParseSlaves parses SLAVES: slave names separated by white space, each a
// valid [flags.ValidSlaveName], no duplicates. Empty means "any one
// acknowledgement".
func ParseSlaves(s string) ([]string, error) {
	names := strings.Fields(s)
	seen := map[string]bool{}
	for _, n := range names {
		if err := flags.ValidSlaveName(n); err != nil {
			return nil, err
		}
		if seen[n] {
			return nil, fmt.Errorf("slave %q listed twice", n)
		}
		seen[n] = true
	}
	return names, nil
}

// Ack is one acknowledgement file in ACKDIR.
type Ack struct {
	// Slave is the name after "sdfok."; "" for the anonymous sdfok.
	Slave string
	At    time.Time
}

// Who names the slave, or "(anonymous sdfok)".
func (a Ack) Who() string {
	if a.Slave == "" {
		return "(anonymous sdfok)"
	}
	return a.Slave
}

// Tally is the state of the roster after sdf.
type Tally struct {
	// Acked are the acknowledgements that count, in roster order (or by
	// name when the roster is empty).
	Acked []Ack
	// Missing are the roster's names without a fresh acknowledgement.
	Missing []string
	// Unlisted are fresh acknowledgements from slaves not in the roster.
	Unlisted []Ack
	// Stale are acknowledgements older than this outage's sdf.
	Stale []Ack
	// Complete: every listed slave acknowledged (empty roster: any one).
	Complete bool
}

// Count compares the acknowledgements in ACKDIR (infos, as listed; other
// files are ignored) with the roster want, for an sdf written at sdfAt.
// Only acknowledgements not older than sdfAt-AckSlack count. An anonymous
// sdfok counts for an empty roster or a roster of one.
func Count(want []string, infos []flags.Info, sdfAt time.Time) Tally {
	return Roster{Names: want}.Count(infos, sdfAt)
}

// Roster is whom the master waits for after sdf.
type Roster struct {
	// Names are SLAVES ∪ STAGES; empty means "any one acknowledgement".
	Names []string
	// Anon is the roster name an anonymous (seed-style) sdfok stands for;
	// with a roster of one it is that one.
	Anon string
	// Since holds, for slaves told to go before the global sdf (a stage's
	// sdf.<name>), when they were told: their acknowledgement counts from
	// then on.
	Since map[string]time.Time
}

// NewRoster builds the roster from SLAVES and STAGES and the stages'
// verdict times (by slave). A plain sdfok stands for the only slave of a
// roster of one, or else for the only slave in SLAVES that is not staged
// (a seed-style slave beside staged ones: staged slaves read sdf.<name>
// and so have names).
func NewRoster(slaves []string, stages []Stage, since map[string]time.Time) Roster {
	r := Roster{Names: RosterNames(slaves, stages), Since: since}
	staged := map[string]bool{}
	for _, s := range stages {
		staged[s.Name] = true
	}
	var plain []string
	for _, n := range slaves {
		if !staged[n] {
			plain = append(plain, n)
		}
	}
	switch {
	case len(r.Names) == 1:
		r.Anon = r.Names[0]
	case len(plain) == 1 && len(stages) > 0:
		r.Anon = plain[0]
	}
	return r
}

// Count compares the acknowledgements in ACKDIR (infos, as listed; other
// files are ignored) with the roster, for a global sdf written at sdfAt.
// An acknowledgement counts when it is not older than sdfAt-AckSlack, or
// than the slave's own Since time when that is earlier.
func (ro Roster) Count(infos []flags.Info, sdfAt time.Time) Tally {
	var t Tally
	fresh := map[string]Ack{}
	var anon *Ack
	for _, in := range infos {
		name, ok := flags.AckSlave(in.Name)
		if !ok {
			continue
		}
		a := Ack{Slave: name, At: in.ModTime}
		from := sdfAt
		if s, ok := ro.Since[name]; ok && name != "" && !s.IsZero() && s.Before(from) {
			from = s
		}
		if in.ModTime.Before(from.Add(-AckSlack)) {
			t.Stale = append(t.Stale, a)
			continue
		}
		if name == "" {
			anon = &a
			continue
		}
		fresh[name] = a
	}
	want := ro.Names
	if len(want) == 0 {
		for _, n := range sortedNames(fresh, nil) {
			t.Acked = append(t.Acked, fresh[n])
		}
		if anon != nil {
			t.Acked = append(t.Acked, *anon)
		}
		t.Complete = len(t.Acked) > 0
		return t
	}
	anonFor := ro.Anon
	if anonFor == "" && len(want) == 1 {
		anonFor = want[0]
	}
	listed := map[string]bool{}
	for _, n := range want {
		listed[n] = true
		switch a, ok := fresh[n]; {
		case ok:
			t.Acked = append(t.Acked, a)
		case anon != nil && n == anonFor:
			t.Acked = append(t.Acked, *anon)
			anon = nil
		default:
			t.Missing = append(t.Missing, n)
		}
	}
	for _, n := range sortedNames(fresh, listed) {
		t.Unlisted = append(t.Unlisted, fresh[n])
	}
	if anon != nil {
		t.Unlisted = append(t.Unlisted, *anon)
	}
	t.Complete = len(t.Missing) == 0
	return t
}

// sortedNames returns the keys of by, sorted, without those in skip (nil
// skips none): the order in which the tallies, Ready and Wake list the
// names beyond a roster, or all of them.
func sortedNames[V any](by map[string]V, skip map[string]bool) []string {
	var out []string
	for n := range by {
		if !skip[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// WaitOver reports whether the master stops waiting for its slaves: all
// acknowledged, or HOSTSYNC has passed since sdf. timedOut tells which.
func WaitOver(t Tally, sdfAt, now time.Time, hostSync time.Duration) (over, timedOut bool) {
	if t.Complete {
		return true, false
	}
	if now.Sub(sdfAt) >= hostSync {
		return true, true
	}
	return false, false
}
