package lock

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestTryLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	a, err := TryLock(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(p); !errors.Is(err, ErrHeld) {
		t.Fatalf("second TryLock = %v, want ErrHeld", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, p); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire while held = %v, want deadline exceeded", err)
	}
	go func() { time.Sleep(20 * time.Millisecond); a.Unlock() }()
	b, err := Acquire(context.Background(), p)
	if err != nil {
		t.Fatalf("Acquire after unlock: %v", err)
	}
	b.Unlock()
}
