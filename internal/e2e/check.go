package e2e

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Want is how an outage must end.
type Want struct {
	// Shutdown are the slaves that must shut down exactly once; every
	// other slave must not shut down at all.
	Shutdown []string
	// NotBefore is the earliest moment a slave shutdown is on time (for
	// the fail-safe: when the master became unreachable plus DEADTIME).
	// Zero: a slave shutdown is on time only once the master's sdf exists
	// and after it was written.
	NotBefore time.Time
	// Master says the master's shutdown command must run exactly once,
	// after the acknowledgement of every slave in Shutdown; otherwise it
	// must not run.
	Master bool
}

// Check compares the recorded shutdowns with want. Its error lists every
// premature, missed and double shutdown, each wrapping ErrUnexpected.
func (c *Cluster) Check(want Want) error {
	var errs []error
	bad := func(kind, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrUnexpected, kind, fmt.Sprintf(format, args...)))
	}
	sdfAt, sdf := c.FlagTime("sdf")
	for _, s := range c.Slaves {
		recs := s.Shutdowns()
		expected := slices.Contains(want.Shutdown, s.Name)
		switch {
		case expected && len(recs) == 0:
			bad("missed", "%s did not shut down", s.Name)
		case !expected && len(recs) > 0:
			bad("premature", "%s shut down at %s although it should not have", s.Name, recs[0].Time.Format(time.RFC3339Nano))
		case len(recs) > 1:
			bad("double", "%s ran its shutdown command %d times", s.Name, len(recs))
		}
		if !expected || len(recs) == 0 {
			continue
		}
		first := recs[0].Time
		switch {
		case !want.NotBefore.IsZero():
			if first.Before(want.NotBefore) {
				bad("premature", "%s shut down at %s, before %s", s.Name, first.Format(time.RFC3339Nano), want.NotBefore.Format(time.RFC3339Nano))
			}
		case !sdf:
			bad("premature", "%s shut down at %s but the master never raised sdf", s.Name, first.Format(time.RFC3339Nano))
		case first.Before(sdfAt):
			bad("premature", "%s shut down at %s, before sdf at %s", s.Name, first.Format(time.RFC3339Nano), sdfAt.Format(time.RFC3339Nano))
		}
	}
	if c.Master != nil {
		recs := c.MasterShutdowns()
		switch {
		case want.Master && len(recs) == 0:
			bad("missed", "the master did not shut down")
		case !want.Master && len(recs) > 0:
			bad("premature", "the master shut down at %s although it should not have", recs[0].Time.Format(time.RFC3339Nano))
		case len(recs) > 1:
			bad("double", "the master ran its shutdown command %d times", len(recs))
		}
		if want.Master && len(recs) > 0 {
			for _, name := range want.Shutdown {
				if t, ok := c.AckTime(name); !ok || t.After(recs[0].Time) {
					bad("premature", "the master shut down at %s before %s acknowledged", recs[0].Time.Format(time.RFC3339Nano), name)
				}
			}
		}
	}
	return errors.Join(errs...)
}
