package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nutslave/nutslave/notify"
)

// upsState is what upsslave remembers about one UPS, in
// STATEDIR/<ups>.state, so that a restarted upsslave resumes where the last
// one stopped. A file from an earlier boot is ignored.
type upsState struct {
	Boot       string       `json:"boot"`
	UPS        string       `json:"ups"`
	Power      notify.Power `json:"power"`
	PowerSince time.Time    `json:"power_since,omitzero"`
	Job        notify.Job   `json:"job"`
	JobSince   time.Time    `json:"job_since,omitzero"`
	// Seq counts events; a watcher that sees it change re-decides at once.
	Seq         uint64       `json:"seq"`
	LastEvent   notify.Event `json:"last_event,omitempty"`
	LastEventAt time.Time    `json:"last_event_at,omitzero"`
	// WaitSince is when the wait for sdf began (JobWaitSDF and later).
	WaitSince time.Time `json:"wait_since,omitzero"`
	// UnreachableSince is the first failed attempt of the current run of
	// failures; zero while the master answers.
	UnreachableSince time.Time `json:"unreachable_since,omitzero"`
	// OnlBaseline remembers the onl flag as last seen in this job
	// (notify.OnlNews): a leftover onl is not a verdict.
	OnlBaseline string    `json:"onl_baseline,omitempty"`
	Acked       time.Time `json:"acked,omitzero"`
	Reason      string    `json:"reason,omitempty"`

	// saved is true when the state came from its file, so an unchanged
	// state need not be written again.
	saved bool
}

func (s *upsState) decision() notify.State { return notify.State{Power: s.Power, Job: s.Job} }

// stateFile is where the state of ups lives. UPS names are user@host style
// identifiers; anything outside a safe set becomes '_'.
func stateFile(dir, ups string) string {
	return filepath.Join(dir, safeName(ups)+".state")
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

// loadState reads the state of ups; a missing, unreadable or old-boot file
// yields a fresh state.
func loadState(dir, ups, boot string) (*upsState, error) {
	b, err := os.ReadFile(stateFile(dir, ups))
	if errors.Is(err, fs.ErrNotExist) {
		return &upsState{Boot: boot, UPS: ups}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var s upsState
	if err := json.Unmarshal(b, &s); err != nil || s.Boot != boot {
		return &upsState{Boot: boot, UPS: ups}, nil
	}
	s.saved = true
	return &s, nil
}

// save writes the state atomically.
func (s *upsState) save(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	path := stateFile(dir, s.UPS)
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// knownUPSes lists the UPS names with a state file in dir.
func knownUPSes(dir string, boot string) []string {
	matches, _ := filepath.Glob(filepath.Join(dir, "*.state"))
	var out []string
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		var s upsState
		if json.Unmarshal(b, &s) == nil && s.Boot == boot {
			out = append(out, s.UPS)
		}
	}
	return out
}

func lockFile(dir, ups, kind string) string {
	return filepath.Join(dir, safeName(ups)+"."+kind+".lock")
}
