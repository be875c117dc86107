package slave

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nutslave/nutslave/flags/sftpstore"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/poweroff"
	"github.com/nutslave/nutslave/notify"
)

// fakeRemote is a master whose answers the test scripts: look returns
// the attempt for the n-th Look (from 0), given whether Retry was called.
type fakeRemote struct {
	mu      sync.Mutex
	looks   int
	retries int
	acks    []string
	look    func(ctx context.Context, n int, retried bool) (notify.Attempt, error)
}

func (r *fakeRemote) Look(ctx context.Context) (notify.Attempt, error) {
	r.mu.Lock()
	n, retried := r.looks, r.retries > 0
	r.looks++
	r.mu.Unlock()
	return r.look(ctx, n, retried)
}

func (r *fakeRemote) Acknowledge(ctx context.Context, body []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks = append(r.acks, string(body))
	return nil
}

func (r *fakeRemote) Retry() { r.mu.Lock(); r.retries++; r.mu.Unlock() }

func (r *fakeRemote) Close() error { return nil }

// fakeRunner records shutdowns instead of running one.
type fakeRunner struct {
	mu      sync.Mutex
	reasons []string
}

func (r *fakeRunner) RunLogged(ctx context.Context, reason, _ string, _ poweroff.Logger) (poweroff.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reasons) > 0 {
		return poweroff.AlreadyStarted, nil
	}
	r.reasons = append(r.reasons, reason)
	return poweroff.Ran, nil
}

func (r *fakeRunner) Status() (string, time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reasons) > 0 {
		return "started", time.Now(), true
	}
	return "", time.Time{}, false
}

func (r *fakeRunner) shutdowns() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reasons...)
}

// withRunner replaces the shutdown runner.
func (w *Watcher) withRunner(r Runner) *Watcher { w.runner = r; return w }

func newTestWatcher(t *testing.T, remote *fakeRemote, deadTime time.Duration) (*Watcher, *fakeRunner) {
	t.Helper()
	opts := Options{Name: "slave1", Poll: 5 * time.Millisecond, SDFWait: 5 * time.Second, DeadTime: deadTime,
		ConnectTimeout: time.Second, StateDir: t.TempDir(), NoParentShutdown: true}
	run := &fakeRunner{}
	return New(opts, eventlog.Discard(), remote).withRunner(run), run
}

var (
	quiet = func() (notify.Attempt, error) { return notify.Attempt{Reach: notify.Reached}, nil }
	sdf   = func() (notify.Attempt, error) {
		return notify.Attempt{Reach: notify.Reached, Seen: notify.Seen{SDF: true}}, nil
	}
	unreachable = func() (notify.Attempt, error) {
		return notify.Attempt{Reach: notify.Unreachable}, sftpstore.ErrUnreachable
	}
)

// bounded runs fn with a deadline: a watcher that never ends fails the
// test instead of hanging it.
func bounded(t *testing.T, fn func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := fn(ctx)
	if ctx.Err() != nil {
		t.Fatalf("the watcher was still running after 20 s")
	}
	return err
}

func TestWatcherSDF(t *testing.T) {
	remote := &fakeRemote{look: func(_ context.Context, n int, _ bool) (notify.Attempt, error) {
		if n < 3 {
			return quiet()
		}
		return sdf()
	}}
	w, run := newTestWatcher(t, remote, time.Minute)
	if err := bounded(t, func(ctx context.Context) error { return w.HandleEvent(ctx, "ONBATT", "ups@master", "on battery") }); err != nil {
		t.Fatal(err)
	}
	if got := run.shutdowns(); len(got) != 1 || got[0] != "master raised sdf" {
		t.Errorf("shutdowns = %q, want one for sdf", got)
	}
	if len(remote.acks) != 1 || !strings.Contains(remote.acks[0], "reason=master raised sdf") {
		t.Errorf("acknowledgements = %q, want one", remote.acks)
	}
	st, _ := w.store.Load("ups@master")
	if st.Job != notify.JobDone || st.Acked.IsZero() {
		t.Errorf("state after the shutdown: job %v acked %v", st.Job, st.Acked)
	}
}

// TestWatcherFailSafe: unreachable for DEADTIME on battery, the watcher
// makes one fresh attempt, then shuts down without acknowledging.
func TestWatcherFailSafe(t *testing.T) {
	remote := &fakeRemote{look: func(context.Context, int, bool) (notify.Attempt, error) { return unreachable() }}
	w, run := newTestWatcher(t, remote, 100*time.Millisecond)
	bounded(t, func(ctx context.Context) error { return w.HandleEvent(ctx, "ONBATT", "ups@master", "") })
	if got := run.shutdowns(); len(got) != 1 || !strings.HasPrefix(got[0], "fail-safe") {
		t.Fatalf("shutdowns = %q, want one fail-safe", got)
	}
	if remote.retries != 1 {
		t.Errorf("fresh attempts before the fail-safe = %d, want 1", remote.retries)
	}
	if len(remote.acks) != 0 {
		t.Errorf("acknowledged %q to a master that did not answer", remote.acks)
	}
}

// TestWatcherFailSafeMasterBack: the fresh attempt finds the master back,
// with power back: no shutdown.
func TestWatcherFailSafeMasterBack(t *testing.T) {
	onl := notify.Onl{Present: true, ModTime: time.Now().Add(time.Second), Size: 10}
	remote := &fakeRemote{look: func(_ context.Context, _ int, retried bool) (notify.Attempt, error) {
		if !retried {
			return unreachable()
		}
		return notify.Attempt{Reach: notify.Reached, Onl: onl}, nil
	}}
	w, run := newTestWatcher(t, remote, 100*time.Millisecond)
	bounded(t, func(ctx context.Context) error { return w.HandleEvent(ctx, "ONBATT", "ups@master", "") })
	if got := run.shutdowns(); len(got) != 0 {
		t.Fatalf("shut down (%q) although the last fresh attempt reached the master", got)
	}
}

// TestWatcherBusyNeverFailSafe: a master that only ever says "busy" never
// starts the fail-safe clock; the watch ends with ONLINE.
func TestWatcherBusyNeverFailSafe(t *testing.T) {
	remote := &fakeRemote{look: func(context.Context, int, bool) (notify.Attempt, error) {
		return notify.Attempt{Reach: notify.Busy}, sftpstore.ErrBusy
	}}
	w, run := newTestWatcher(t, remote, 50*time.Millisecond)
	done := make(chan error, 1)
	go func() {
		done <- bounded(t, func(ctx context.Context) error { return w.HandleEvent(ctx, "ONBATT", "ups@master", "") })
	}()
	time.Sleep(300 * time.Millisecond) // six DEADTIMEs of "busy"
	if err := w.HandleEvent(context.Background(), "ONLINE", "ups@master", ""); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := run.shutdowns(); len(got) != 0 {
		t.Fatalf("shut down (%q) for a busy master", got)
	}
}

// TestWatcherNewEventDuringHangingLook: a Look that hangs (a connection
// attempt to a silent master) does not delay a newer event: ONLINE ends
// the watch within a POLL or so, and the hanging Look is cancelled.
func TestWatcherNewEventDuringHangingLook(t *testing.T) {
	started := make(chan struct{}, 1)
	remote := &fakeRemote{look: func(ctx context.Context, _ int, _ bool) (notify.Attempt, error) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return notify.Attempt{Reach: notify.Unreachable}, ctx.Err()
	}}
	w, run := newTestWatcher(t, remote, time.Minute)
	done := make(chan error, 1)
	go func() {
		done <- bounded(t, func(ctx context.Context) error { return w.HandleEvent(ctx, "ONBATT", "ups@master", "") })
	}()
	<-started
	if err := w.HandleEvent(context.Background(), "ONLINE", "ups@master", ""); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ONLINE did not end a watch whose Look hung")
	}
	if got := run.shutdowns(); len(got) != 0 {
		t.Fatalf("shut down: %q", got)
	}
}

// TestWatcherOneWatcherOneShutdown: many events at once, one watcher, one
// acknowledgement, one shutdown.
func TestWatcherOneWatcherOneShutdown(t *testing.T) {
	remote := &fakeRemote{look: func(_ context.Context, n int, _ bool) (notify.Attempt, error) {
		if n < 5 {
			return quiet()
		}
		return sdf()
	}}
	w, run := newTestWatcher(t, remote, time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := []string{"ONBATT", "LOWBATT", "FSD", "COMMBAD"}[i%4]
			errs <- bounded(t, func(ctx context.Context) error {
				// Each invocation is its own process in production, with its
				// own connection: here they share the fake master.
				return New(w.opts, eventlog.Discard(), remote).withRunner(run).HandleEvent(ctx, ev, "ups@master", "")
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	}
	if got := run.shutdowns(); len(got) != 1 {
		t.Errorf("shutdowns = %q, want exactly one", got)
	}
	if len(remote.acks) != 1 {
		t.Errorf("acknowledgements = %d, want 1", len(remote.acks))
	}
}
