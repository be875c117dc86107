package lab

import (
	"context"
	"fmt"
	"time"
)

// TimeoutError is WaitFor's error when its condition did not come true in
// time.
type TimeoutError struct {
	What    string
	Timeout time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s did not happen within %v", e.What, e.Timeout)
}

// WaitFor polls cond every 50 ms until it is true (nil), ctx ends (its
// error) or timeout passes (a *TimeoutError naming what).
func WaitFor(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return &TimeoutError{What: what, Timeout: timeout}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// Closed reports whether done is closed: for a process's done channel,
// whether the process has ended. It never blocks.
func Closed(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}
