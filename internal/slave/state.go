package slave

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nutslave/nutslave/internal/lock"
	"github.com/nutslave/nutslave/internal/statefile"
	"github.com/nutslave/nutslave/notify"
)

// State is what upsslave remembers about one UPS, in STATEDIR/<ups>.state,
// so that a restarted upsslave resumes where the last one stopped. A file
// from an earlier boot is ignored.
type State struct {
	Boot string `json:"boot"`
	UPS  string `json:"ups"`
	notify.Progress
	// Seq counts events; a watcher that sees it change re-decides at once.
	Seq         uint64       `json:"seq"`
	LastEvent   notify.Event `json:"last_event,omitempty"`
	LastEventAt time.Time    `json:"last_event_at,omitzero"`
	Acked       time.Time    `json:"acked,omitzero"`
	// Condemned is when a verdict on this UPS condemned it as a supply of
	// a host with others (MINSUPPLIES); ONLINE clears it.
	Condemned time.Time `json:"condemned,omitzero"`

	// saved is true when the state came from its file, so an unchanged
	// state need not be written again.
	saved bool
}

// Store keeps the states of one boot in a directory (STATEDIR), one file
// and two locks per UPS: "state" around a read-change-write, "watch" held
// by the one watcher of that UPS.
type Store struct {
	Dir  string
	Boot string
}

// file is where the state of ups lives. UPS names are user@host style
// identifiers; anything outside a safe set becomes '_'.
func (s *Store) file(ups string) string {
	return filepath.Join(s.Dir, safeName(ups)+".state")
}

// LockFile is the path of one of ups's locks ("state" or "watch").
func (s *Store) LockFile(ups, kind string) string {
	return filepath.Join(s.Dir, safeName(ups)+"."+kind+".lock")
}

func safeName(ups string) string {
	if ups == "" {
		return "_host"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '@' {
			return r
		}
		return '_'
	}, ups)
}

// Load reads the state of ups without locking: state files are replaced
// atomically, so a reader sees the old or the new one, whole. A missing,
// unreadable or old-boot file yields a fresh state.
func (s *Store) Load(ups string) (*State, error) {
	var st State
	found, err := statefile.Load(s.file(ups), &st)
	if err != nil {
		return nil, err
	}
	if !found || st.Boot != s.Boot {
		return &State{Boot: s.Boot, UPS: ups}, nil
	}
	st.saved = true
	return &st, nil
}

// Update runs fn on the state of ups under its state lock and saves it
// when fn changed it.
func (s *Store) Update(ctx context.Context, ups string, fn func(st *State) error) (*State, error) {
	l, err := lock.Acquire(ctx, s.LockFile(ups, "state"))
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	st, err := s.Load(ups)
	if err != nil {
		return nil, err
	}
	before := *st
	if err := fn(st); err != nil {
		return st, err
	}
	if *st == before && st.saved {
		return st, nil // nothing changed: no write, the common case while waiting
	}
	return st, statefile.Save(s.file(st.UPS), st)
}

// Known lists the UPS names with a state of this boot.
func (s *Store) Known() []string {
	matches, _ := filepath.Glob(filepath.Join(s.Dir, "*.state"))
	var out []string
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		var st State
		if json.Unmarshal(b, &st) == nil && st.Boot == s.Boot {
			out = append(out, st.UPS)
		}
	}
	return out
}
