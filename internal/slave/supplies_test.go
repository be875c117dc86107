package slave

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nutslave/nutslave/notify"
)

// Two UPSes, A and B, each with its own master, feed this host (a server
// with two power supplies). A verdict from one master condemns that
// supply; the host shuts down only when the supplies left fall below
// MINSUPPLIES, and it always acknowledges to the master that condemned it.

const (
	upsA = "upsA@masterA"
	upsB = "upsB@masterB"
)

// twoSupplies is a watcher fed by A and B (power 1 each) with minSupplies,
// each master scripted by its own look function.
func twoSupplies(t *testing.T, minSupplies int, lookA, lookB func() (notify.Attempt, error), deadTime time.Duration) (*Watcher, *fakeRunner, *fakeRemote, *fakeRemote) {
	t.Helper()
	a := &fakeRemote{look: func(context.Context, int, bool) (notify.Attempt, error) { return lookA() }}
	b := &fakeRemote{look: func(context.Context, int, bool) (notify.Attempt, error) { return lookB() }}
	w, run := newTestWatcher(t, &fakeRemote{look: func(context.Context, int, bool) (notify.Attempt, error) {
		t.Error("the default master was asked; each UPS has its own")
		return quiet()
	}}, deadTime)
	w.remoteFor = func(ups string) Remote {
		if ups == upsA {
			return a
		}
		return b
	}
	w.supplies = notify.Supplies{Min: minSupplies, Feeds: []notify.Feed{{UPS: upsA, Power: 1}, {UPS: upsB, Power: 1}}}
	return w, run, a, b
}

func event(t *testing.T, w *Watcher, ev, ups string) {
	t.Helper()
	if err := bounded(t, func(ctx context.Context) error { return w.HandleEvent(ctx, ev, ups, "") }); err != nil {
		t.Fatal(err)
	}
}

func TestSuppliesOneCondemnedStaysUp(t *testing.T) {
	w, run, a, b := twoSupplies(t, 1, sdf, quiet, time.Minute)
	event(t, w, "ONBATT", upsA)
	if got := run.shutdowns(); len(got) != 0 {
		t.Fatalf("shut down (%q) on A's sdf although B still powers this host (MINSUPPLIES 1)", got)
	}
	if len(a.acks) != 1 || len(b.acks) != 0 {
		t.Errorf("acknowledgements: A %d, B %d; want 1 to A (it may cut its load), none to B", len(a.acks), len(b.acks))
	}
	st, _ := w.store.Load(upsA)
	if st.Condemned.IsZero() || st.Job != notify.JobNone {
		t.Errorf("A after its sdf: condemned %v, job %v; want condemned, idle", st.Condemned, st.Job)
	}

	// Then B's master says sdf too: nothing powers this host any more.
	w2, run2, _, b2 := twoSupplies(t, 1, sdf, sdf, time.Minute)
	w2.store = w.store
	event(t, w2, "ONBATT", upsB)
	if got := run2.shutdowns(); len(got) != 1 {
		t.Fatalf("shutdowns after B's sdf = %q, want one", got)
	}
	if len(b2.acks) != 1 {
		t.Errorf("acknowledgements to B = %d, want 1", len(b2.acks))
	}
}

func TestSuppliesMinSuppliesTwo(t *testing.T) {
	w, run, a, _ := twoSupplies(t, 2, sdf, quiet, time.Minute)
	event(t, w, "ONBATT", upsA)
	if got := run.shutdowns(); len(got) != 1 {
		t.Fatalf("MINSUPPLIES 2: shutdowns after A's sdf = %q, want one", got)
	}
	if len(a.acks) != 1 {
		t.Errorf("acknowledgements to A = %d, want 1", len(a.acks))
	}
}

// TestSuppliesFailSafeOneMaster: master A unreachable for DEADTIME on
// battery condemns A alone; B keeps the host up.
func TestSuppliesFailSafeOneMaster(t *testing.T) {
	w, run, _, _ := twoSupplies(t, 1, unreachable, quiet, 100*time.Millisecond)
	event(t, w, "ONBATT", upsA)
	if got := run.shutdowns(); len(got) != 0 {
		t.Fatalf("shut down (%q) on A's fail-safe although B powers this host", got)
	}
	if st, _ := w.store.Load(upsA); st.Condemned.IsZero() {
		t.Errorf("A not condemned after its fail-safe")
	}
}

// TestSuppliesOnlineRestores: ONLINE on A gives the supply back, so B's
// sdf later leaves the host up on A.
func TestSuppliesOnlineRestores(t *testing.T) {
	w, run, _, _ := twoSupplies(t, 1, sdf, quiet, time.Minute)
	event(t, w, "ONBATT", upsA)
	event(t, w, "ONLINE", upsA)
	if st, _ := w.store.Load(upsA); !st.Condemned.IsZero() {
		t.Fatalf("A still condemned after ONLINE")
	}
	w.remoteFor = func(ups string) Remote {
		return &fakeRemote{look: func(context.Context, int, bool) (notify.Attempt, error) { return sdf() }}
	}
	w.remotes = nil
	event(t, w, "ONBATT", upsB)
	if got := run.shutdowns(); len(got) != 0 {
		t.Fatalf("shut down (%q) on B's sdf although A has power again", got)
	}
}

// TestSuppliesUpsmonDecides: upsmon counts MINSUPPLIES itself; when it
// says SHUTDOWN the host goes down whatever the supplies.
func TestSuppliesUpsmonDecides(t *testing.T) {
	w, run, _, _ := twoSupplies(t, 1, sdf, quiet, time.Minute)
	event(t, w, "ONBATT", upsA) // A condemned, host up
	event(t, w, "SHUTDOWN", "")
	if got := run.shutdowns(); len(got) != 1 {
		t.Fatalf("shutdowns after upsmon's SHUTDOWN = %q, want one", got)
	}
}

// TestSuppliesSingleFeedUnchanged: one MONITOR line is today's behaviour:
// the verdict shuts the host down.
func TestSuppliesSingleFeedUnchanged(t *testing.T) {
	w, run, _, _ := twoSupplies(t, 1, sdf, quiet, time.Minute)
	w.supplies.Feeds = w.supplies.Feeds[:1]
	event(t, w, "ONBATT", upsA)
	if got := run.shutdowns(); len(got) != 1 {
		t.Fatalf("one supply: shutdowns = %q, want one", got)
	}
}

func TestReadUpsmonConf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "upsmon.conf")
	os.WriteFile(p, []byte(strings.Join([]string{
		"# two supplies",
		"MONITOR upsA@masterA 1 monslave secret secondary",
		"  MONITOR upsB@masterB:3493 1 monslave \"pass word\" secondary",
		"MONITOR ups-none@x 0 monslave secret secondary",
		"MINSUPPLIES 1",
	}, "\n")), 0o640)
	u, err := readUpsmonConf(p)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Supplies.Redundant() || u.Supplies.Min != 1 || u.Supplies.Total() != 2 || !u.Supplies.Has("upsB@masterB:3493") {
		t.Errorf("supplies = %+v", u.Supplies)
	}
	if u.Lines["upsB@masterB:3493"] != 3 || u.MinLine != 5 {
		t.Errorf("lines = %v, MINSUPPLIES at %d", u.Lines, u.MinLine)
	}
	os.WriteFile(p, []byte("MONITOR upsA@masterA one monslave secret secondary\n"), 0o640)
	if _, err := readUpsmonConf(p); err == nil || !strings.Contains(err.Error(), ":1: MONITOR upsA@masterA: power value") {
		t.Errorf("bad power value: err = %v", err)
	}
}
