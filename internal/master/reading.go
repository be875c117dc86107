// Package master is the pure logic of upsflags, nutslave's master side: what
// a UPS reading says, which flags to write (the decision), and whether the
// slaves have acknowledged (the roster). It does no I/O; cmd/upsflags reads
// the UPS, keeps the state on disk and writes the flag files.
package master

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nutslave/nutslave/internal/conf"
)

// Power is what the last reading said about the mains.
type Power string

// Power values.
const (
	PowerUnknown   Power = ""
	PowerOnLine    Power = "online"
	PowerOnBattery Power = "onbattery"
)

func (p Power) String() string {
	if p == PowerUnknown {
		return "unknown"
	}
	return string(p)
}

var (
	// ErrNoStatus means a reading without ups.status, or with status WAIT
	// (the driver has no data yet): it is no reading.
	ErrNoStatus = errors.New("no ups.status in the reading")
	// ErrSyntax is wrapped by [ParseUpsc] errors.
	ErrSyntax = errors.New("malformed upsc line")
)

// Reading is one look at the UPS. A reading with Err set is "no reading":
// never "fine".
type Reading struct {
	Time time.Time
	// Status holds the tokens of ups.status: OL, OB, LB, CHRG, FSD, ...
	Status []string
	// Charge is battery.charge in percent, when HasCharge.
	Charge    float64
	HasCharge bool
	// Runtime is battery.runtime, when HasRuntime.
	Runtime    time.Duration
	HasRuntime bool
	// Err is why there is no reading.
	Err error
}

// NoReading returns a reading that failed with err at t.
func NoReading(t time.Time, err error) Reading { return Reading{Time: t, Err: err} }

// FromVars builds a reading from NUT-named variables (ups.status,
// battery.charge, battery.runtime). A missing ups.status or the status WAIT
// is no reading ([ErrNoStatus]); unparsable numbers are left out.
func FromVars(vars map[string]string, t time.Time) Reading {
	r := Reading{Time: t, Status: strings.Fields(vars["ups.status"])}
	if len(r.Status) == 0 {
		r.Err = ErrNoStatus
		return r
	}
	if r.Has("WAIT") {
		r.Err = fmt.Errorf("%w: ups.status is WAIT", ErrNoStatus)
		return r
	}
	if v, err := strconv.ParseFloat(strings.TrimSpace(vars["battery.charge"]), 64); err == nil && v >= 0 && v <= 1000 {
		r.Charge, r.HasCharge = v, true
	}
	if v, err := strconv.ParseFloat(strings.TrimSpace(vars["battery.runtime"]), 64); err == nil && v >= 0 && v < 1e7 {
		r.Runtime, r.HasRuntime = time.Duration(v*float64(time.Second)), true
	}
	return r
}

// OK reports whether r is a reading at all.
func (r Reading) OK() bool { return r.Err == nil }

// Has reports whether ups.status holds tok.
func (r Reading) Has(tok string) bool {
	for _, s := range r.Status {
		if s == tok {
			return true
		}
	}
	return false
}

// Power says what r means for the mains: OB is on battery, OL on line,
// anything else (or no reading) unknown.
func (r Reading) Power() Power {
	switch {
	case !r.OK():
		return PowerUnknown
	case r.Has("OB"):
		return PowerOnBattery
	case r.Has("OL"):
		return PowerOnLine
	}
	return PowerUnknown
}

// String renders r for logs: status, charge and runtime, or the error.
func (r Reading) String() string {
	if !r.OK() {
		return "no reading: " + r.Err.Error()
	}
	s := "status=" + strconv.Quote(strings.Join(r.Status, " "))
	if r.HasCharge {
		s += " charge=" + strconv.FormatFloat(r.Charge, 'f', -1, 64)
	}
	if r.HasRuntime {
		s += " runtime=" + r.Runtime.Round(time.Second).String()
	}
	return s
}

// MaxUpscSize caps what [ParseUpsc] reads.
const MaxUpscSize = 64 << 10

// ParseUpsc parses upsc's output, "name: value" lines (the SOURCE=file:
// format). Blank lines and lines starting with '#' are skipped; the name is
// a NUT variable name (letters, digits, '.', '_' and '-').
func ParseUpsc(b []byte) (map[string]string, error) {
	if len(b) > MaxUpscSize {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrSyntax, MaxUpscSize)
	}
	vars := map[string]string{}
	err := conf.Lines(b, func(n int, line string) error {
		name, val, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || !validVarName(name) {
			return fmt.Errorf("%w on line %d: want \"name: value\", e.g. \"ups.status: OB DISCHRG\"", ErrSyntax, n)
		}
		vars[name] = strings.TrimSpace(val)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return vars, nil
}

func validVarName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
