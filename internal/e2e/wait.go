package e2e

import (
	"context"
	"fmt"
	"time"
)

// WaitFor polls cond every 50 ms until it is true (nil), ctx ends or
// timeout passes (an error naming what).
func WaitFor(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s did not happen within %v", ErrUnexpected, what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
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
