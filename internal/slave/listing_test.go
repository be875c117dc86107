package slave

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nutslave/nutslave/flags"
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

// TestRead: which flags of a listing are a verdict for the slave web1.
// Only the master (FLAGOWNER, uid 0 here) gives verdicts: the master's
// sdf and battsdf for everyone, sdf.web1 and battsdf.web1 for web1 alone.
// Another slave's staged verdict, a flag another uid wrote (a slave that
// could write FLAGDIR), and the slaves' own acknowledgements are never a
// verdict for web1.
func TestRead(t *testing.T) {
	at := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	master := func(n flags.Name) flags.Info { return flags.Info{Name: n, ModTime: at, Size: 60, HasOwner: true} }
	byUID := func(n flags.Name, uid uint32) flags.Info { in := master(n); in.UID = uid; return in }
	noOwner := func(n flags.Name) flags.Info { in := master(n); in.HasOwner = false; return in }
	onl := notify.Onl{Present: true, ModTime: at, Size: 60}
	tests := []struct {
		name    string
		infos   []flags.Info
		seen    notify.Seen
		onl     notify.Onl
		drill   bool
		foreign int
	}{
		{"empty", nil, notify.Seen{}, notify.Onl{}, false, 0},
		{"the master's sdf", []flags.Info{master(flags.SDF)}, notify.Seen{SDF: true}, notify.Onl{}, false, 0},
		{"the master's battsdf", []flags.Info{master(flags.BattSDF)}, notify.Seen{BattSDF: true}, notify.Onl{}, false, 0},
		{"this slave's staged sdf", []flags.Info{master(flags.StagedSDF("web1"))}, notify.Seen{SDF: true}, notify.Onl{}, false, 0},
		{"this slave's staged battsdf", []flags.Info{master(flags.StagedBattSDF("web1"))}, notify.Seen{BattSDF: true}, notify.Onl{}, false, 0},
		{"another slave's staged verdicts", []flags.Info{master(flags.StagedSDF("web2")), master(flags.StagedBattSDF("web2")), master(flags.StagedSDF("web10"))}, notify.Seen{}, notify.Onl{}, false, 0},
		{"a name that only starts like this slave's", []flags.Info{master(flags.StagedSDF("web1x"))}, notify.Seen{}, notify.Onl{}, false, 0},
		{"onl", []flags.Info{master(flags.Onl)}, notify.Seen{}, onl, false, 0},
		{"sdf written by another uid", []flags.Info{byUID(flags.SDF, 1000)}, notify.Seen{}, notify.Onl{}, false, 1},
		{"staged sdf written by another uid", []flags.Info{byUID(flags.StagedSDF("web1"), 1000), byUID(flags.BattSDF, 1000)}, notify.Seen{}, notify.Onl{}, false, 2},
		{"onl written by another uid", []flags.Info{byUID(flags.Onl, 1000)}, notify.Seen{}, notify.Onl{}, false, 1},
		{"an SFTP server that reports no owners", []flags.Info{noOwner(flags.SDF), noOwner(flags.Onl)}, notify.Seen{SDF: true}, onl, false, 0},
		{"the drill", []flags.Info{master(flags.Drill)}, notify.Seen{}, notify.Onl{}, true, 0},
		{"a drill written by another uid", []flags.Info{byUID(flags.Drill, 1000)}, notify.Seen{}, notify.Onl{}, false, 1},
		{"the slaves' own answers", []flags.Info{master(flags.Ack("web1")), master(flags.Seen("web1")), master(flags.DrillAck("web1")), master(flags.AnonAck)}, notify.Seen{}, notify.Onl{}, false, 0},
		{"everything at once", []flags.Info{master(flags.Onl), master(flags.BattSDF), master(flags.SDF), master(flags.Drill)}, notify.Seen{SDF: true, BattSDF: true}, onl, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := read(tc.infos, "web1", 0)
			if r.seen != tc.seen {
				t.Errorf("seen %+v, want %+v", r.seen, tc.seen)
			}
			if r.onl != tc.onl {
				t.Errorf("onl %+v, want %+v", r.onl, tc.onl)
			}
			if (r.drill != nil) != tc.drill {
				t.Errorf("drill %v, want %v", r.drill, tc.drill)
			}
			if len(r.foreign) != tc.foreign {
				t.Errorf("%d foreign flags %v, want %d", len(r.foreign), r.foreign, tc.foreign)
			}
		})
	}
}
