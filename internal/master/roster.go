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
	var t Tally
	fresh := map[string]Ack{}
	var anon *Ack
	for _, in := range infos {
		name, ok := flags.AckSlave(in.Name)
		if !ok {
			continue
		}
		a := Ack{Slave: name, At: in.ModTime}
		if in.ModTime.Before(sdfAt.Add(-AckSlack)) {
			t.Stale = append(t.Stale, a)
			continue
		}
		if name == "" {
			anon = &a
			continue
		}
		fresh[name] = a
	}
	if len(want) == 0 {
		names := make([]string, 0, len(fresh))
		for n := range fresh {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			t.Acked = append(t.Acked, fresh[n])
		}
		if anon != nil {
			t.Acked = append(t.Acked, *anon)
		}
		t.Complete = len(t.Acked) > 0
		return t
	}
	listed := map[string]bool{}
	for _, n := range want {
		listed[n] = true
		switch a, ok := fresh[n]; {
		case ok:
			t.Acked = append(t.Acked, a)
		case anon != nil && len(want) == 1:
			t.Acked = append(t.Acked, *anon)
			anon = nil
		default:
			t.Missing = append(t.Missing, n)
		}
	}
	names := make([]string, 0, len(fresh))
	for n := range fresh {
		if !listed[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		t.Unlisted = append(t.Unlisted, fresh[n])
	}
	if anon != nil {
		t.Unlisted = append(t.Unlisted, *anon)
	}
	t.Complete = len(t.Missing) == 0
	return t
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
