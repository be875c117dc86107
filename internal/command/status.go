package command

import (
	"strconv"
	"time"
)

// StatusSchema names the layout of `upsflags status --json` and `upsslave
// status --json` (docs/status-json.md). Adding a field keeps it; renaming
// or removing one, or changing its type or meaning, bumps the number.
const StatusSchema = "nutslave.status/1"

// Seconds is a duration that JSON renders as a number of seconds
// (microsecond precision).
type Seconds time.Duration

// MarshalJSON renders s as seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(s).Round(time.Microsecond).Seconds(), 'f', -1, 64), nil
}

// UnmarshalJSON reads a number of seconds.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*s = Seconds(f * float64(time.Second))
	return nil
}

// UTC is t in UTC, as the JSON status shows times; the zero time stays
// zero.
func UTC(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// StatusHeader opens the status of both programs: the layout, the program
// and its version, the host, when, and the configuration file.
type StatusHeader struct {
	Schema  string    `json:"schema"`
	Program string    `json:"program"`
	Version string    `json:"version"`
	Host    string    `json:"host"`
	Time    time.Time `json:"time"`
	Config  string    `json:"config"`
}

// NewStatusHeader is the header of program's status at now (shown in UTC).
func NewStatusHeader(program, version, host string, now time.Time, config string) StatusHeader {
	return StatusHeader{Schema: StatusSchema, Program: program, Version: version, Host: host, Time: now.UTC(), Config: config}
}

// FlagFile is one flag file and its modification time (the master's
// clock), in both programs' status.
type FlagFile struct {
	Name string    `json:"name"`
	Time time.Time `json:"time"`
}

// ShutdownStatus is a host's own shutdown in this boot: the at-most-once
// runner's state ("started", "dry-run", "failed") and when.
type ShutdownStatus struct {
	State string    `json:"state"`
	Time  time.Time `json:"time,omitzero"`
}
