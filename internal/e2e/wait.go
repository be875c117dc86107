package e2e

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nutslave/nutslave/internal/lab"
)

// WaitFor polls cond every 50 ms until it is true (nil), ctx ends or
// timeout passes (an error wrapping ErrUnexpected, naming what).
func WaitFor(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	err := lab.WaitFor(ctx, timeout, what, cond)
	if _, ok := errors.AsType[*lab.TimeoutError](err); ok {
		return fmt.Errorf("%w: %w", ErrUnexpected, err)
	}
	return err
}

// Exited reports whether the upsmons of every slave (and the primary, if
// primary is true) have exited, as upsmon does after its SHUTDOWNCMD.
func (c *Cluster) Exited(primary bool) bool {
	for _, s := range c.Slaves {
		if s.Upsmon == nil {
			continue
		}
		select {
		case <-s.Upsmon.Done():
		default:
			return false
		}
	}
	if primary && c.Primary != nil {
		select {
		case <-c.Primary.Done():
		default:
			return false
		}
	}
	return true
}
