package slave

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nutslave/nutslave/notify"
)

func TestListingDue(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	read := func(at time.Time, mark string, conn int) *listing {
		l := &listing{}
		l.record(at, mark, conn, notify.Seen{Reached: true}, notify.Onl{})
		return l
	}
	reread := func(l *listing, at time.Time) *listing {
		l.record(at, l.mark, l.conn, l.seen, l.onl)
		return l
	}
	settled := t0.Add(listSettle)
	tests := []struct {
		name string
		l    *listing
		now  time.Time
		mark string
		conn int
		want bool
	}{
		{"never read", &listing{}, t0, "100/4096/drwxr-xr-x", 1, true},
		{"mark first seen just now: same-second changes are invisible", read(t0, "100/4096/drwxr-xr-x", 1), t0.Add(250 * time.Millisecond), "100/4096/drwxr-xr-x", 1, true},
		{"settled, unchanged, recently read", reread(read(t0, "100/4096/drwxr-xr-x", 1), settled.Add(-100*time.Millisecond)), settled, "100/4096/drwxr-xr-x", 1, false},
		{"directory changed", read(t0, "100/4096/drwxr-xr-x", 1), settled, "101/4096/drwxr-xr-x", 1, true},
		{"directory size changed", read(t0, "100/4096/drwxr-xr-x", 1), settled, "100/8192/drwxr-xr-x", 1, true},
		{"new connection", read(t0, "100/4096/drwxr-xr-x", 1), settled, "100/4096/drwxr-xr-x", 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.l.due(tt.now, tt.mark, tt.conn); got != tt.want {
				t.Errorf("due = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("a reading listRefresh old is read again", func(t *testing.T) {
		l := read(t0, "100/4096/drwxr-xr-x", 1)
		l.record(settled, "100/4096/drwxr-xr-x", 1, notify.Seen{Reached: true}, notify.Onl{})
		if l.due(settled.Add(listRefresh-time.Millisecond), "100/4096/drwxr-xr-x", 1) {
			t.Error("due before listRefresh")
		}
		if !l.due(settled.Add(listRefresh), "100/4096/drwxr-xr-x", 1) {
			t.Error("not due after listRefresh")
		}
	})
	t.Run("re-reading an unchanged mark keeps when it was first seen", func(t *testing.T) {
		l := read(t0, "100/4096/drwxr-xr-x", 1)
		l.record(t0.Add(time.Second), "100/4096/drwxr-xr-x", 1, notify.Seen{Reached: true}, notify.Onl{})
		if !l.markSeen.Equal(t0) {
			t.Errorf("markSeen = %v, want %v", l.markSeen, t0)
		}
	})
}

// TestListingNeverMissesAChange plays a master that changes its flag
// directory at random times, with directory times in whole seconds (and in
// two-second steps, as FAT has them), against a slave polling every 250 ms
// with jitter. Every change of the directory must be read at the first
// poll after it; a flag rewritten in place, which leaves the directory as
// it was, within two seconds and one poll.
func TestListingNeverMissesAChange(t *testing.T) {
	// The promise for a flag rewritten in place: read within two seconds
	// and one poll.
	const inPlaceWithin = 2*time.Second + 300*time.Millisecond
	for _, granularity := range []time.Duration{time.Second, 2 * time.Second} {
		t.Run(fmt.Sprintf("mtime in steps of %v", granularity), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(granularity)))
			start := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
			end := start.Add(30 * time.Minute)
			// The master's changes, far more often than real outages
			// bring them: bursts (battsdf, then sdf a moment later, as
			// upsflags writes them), some in place.
			type change struct {
				at      time.Time
				inPlace bool
			}
			var changes []change
			for at := start.Add(time.Second); at.Before(end); at = at.Add(time.Duration(rng.Int64N(int64(40 * time.Second)))) {
				changes = append(changes, change{at: at, inPlace: rng.IntN(5) == 0})
				for range rng.IntN(3) {
					at = at.Add(time.Duration(rng.Int64N(int64(1500 * time.Millisecond))))
					changes = append(changes, change{at: at})
				}
			}
			// The directory as the slave would find it at time now: the
			// version of its content, and its mark.
			dir := func(now time.Time) (version int, mark string) {
				var mtime time.Time
				for i, c := range changes {
					if c.at.After(now) {
						break
					}
					version = i + 1
					if !c.inPlace {
						mtime = c.at.Truncate(granularity)
					}
				}
				return version, fmt.Sprintf("%d/4096/drwxr-xr-x", mtime.Unix())
			}
			var l listing
			known, reads, polls := 0, 0, 0
			for now := start; now.Before(end); now = now.Add(200*time.Millisecond + time.Duration(rng.Int64N(int64(100*time.Millisecond)))) {
				polls++
				version, mark := dir(now)
				if l.due(now, mark, 1) {
					reads++
					known = version
					l.record(now, mark, 1, notify.Seen{Reached: true}, notify.Onl{})
				}
				if known == version {
					continue
				}
				// Not read although the content changed: only a change in
				// place may wait, and not past listRefresh plus a poll.
				first := changes[known] // the first change not read yet
				if !first.inPlace {
					t.Fatalf("at %v: change at %v (directory mark %s) not read", now.Sub(start), first.at.Sub(start), mark)
				}
				if late := now.Sub(first.at); late > inPlaceWithin {
					t.Fatalf("at %v: in-place change at %v still not read after %v", now.Sub(start), first.at.Sub(start), late)
				}
			}
			t.Logf("%d changes, %d polls, %d full readings (%.0f %%)", len(changes), polls, reads, 100*float64(reads)/float64(polls))
			if reads*3 > polls {
				t.Errorf("%d full readings in %d polls: the LSTAT saves nothing", reads, polls)
			}
		})
	}
}
