package conf

import (
	"fmt"
	"strings"
	"time"
)

// Validator reports what a check of a whole configuration file finds, at
// the line of the key it is about.
type Validator struct {
	Path  string
	Lines map[string]int // the line of each key in the file (0: not set there)
}

// Bad is err about key, as an [*Error] at key's line.
func (v Validator) Bad(key string, err error) error {
	return &Error{Path: v.Path, Line: v.Lines[key], Key: key, Err: err}
}

// Poll checks the rule the programs share for their polling: POLL from
// 10ms to maxPoll, and DEADTIME at least twice POLL.
func (v Validator) Poll(poll, maxPoll, deadTime time.Duration) error {
	const minPoll = 10 * time.Millisecond
	if poll < minPoll || poll > maxPoll {
		return v.Bad("POLL", fmt.Errorf("%w: %v, want between %s and %s", ErrBadValue, poll, short(minPoll), short(maxPoll)))
	}
	if deadTime < 2*poll {
		return v.Bad("DEADTIME", fmt.Errorf("%w: %v must be at least twice POLL (%v)", ErrBadValue, deadTime, poll))
	}
	return nil
}

// Positive checks that key's duration d is more than zero.
func (v Validator) Positive(key string, d time.Duration) error {
	if d <= 0 {
		return v.Bad(key, fmt.Errorf("%w: must be positive", ErrBadValue))
	}
	return nil
}

// short is d as a person writes it in a configuration file: 1m, not 1m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
