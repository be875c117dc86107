package notify

import (
	"testing"
	"time"
)

func TestOnlNews(t *testing.T) {
	ev := time.Date(2026, 12, 5, 10, 0, 0, 700e6, time.UTC) // the ONBATT
	sec := func(d time.Duration) time.Time { return ev.Add(d).Truncate(time.Second) }
	onl := func(at time.Time) Onl { return Onl{Present: true, ModTime: at, Size: 60} }
	leftover := onl(sec(-3 * time.Hour))
	for _, tc := range []struct {
		name     string
		baseline string
		onl      Onl
		since    time.Time
		news     bool
	}{
		{"leftover from the last on-line period, at the first reading", "", leftover, ev, false},
		{"leftover from a power return 3 s before this ONBATT", "", onl(sec(-3 * time.Second)), ev, false},
		{"written before the first reading, after the event", "", onl(sec(300 * time.Millisecond)), ev, true},
		// SFTP's whole seconds put an onl written 0.2 s after the event
		// 0.7 s before it.
		{"written just after the event, whole-second time", "", onl(sec(200 * time.Millisecond)), ev, true},
		{"master's clock a second behind", "", onl(sec(-time.Second + 100*time.Millisecond)), ev, true},
		{"power state unknown: no time rule", "", onl(sec(time.Second)), time.Time{}, false},
		{"absent at the first reading", "", Onl{}, ev, false},
		{"seen absent, now present", onlAbsent, leftover, ev, true},
		{"still the leftover", leftover.mark(), leftover, ev, false},
		{"rewritten since (new time)", leftover.mark(), onl(sec(5 * time.Second)), ev, true},
		{"rewritten since (new size)", leftover.mark(), Onl{Present: true, ModTime: leftover.ModTime, Size: 61}, ev, true},
		{"gone again", onl(sec(time.Second)).mark(), Onl{}, ev, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			news, next := OnlNews(tc.baseline, tc.onl, tc.since)
			if news != tc.news {
				t.Errorf("OnlNews(%q, %+v, %v) news = %v, want %v", tc.baseline, tc.onl, tc.since, news, tc.news)
			}
			if want := tc.onl.mark(); next != want {
				t.Errorf("next baseline = %q, want %q", next, want)
			}
		})
	}
}

// TestOnlNewsSequence plays a watch poll by poll: a leftover onl, removed
// by the master when it sees the outage, then written again when the
// power returns.
func TestOnlNewsSequence(t *testing.T) {
	ev := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	left := Onl{Present: true, ModTime: ev.Add(-time.Hour), Size: 60}
	back := Onl{Present: true, ModTime: ev.Add(40 * time.Second), Size: 60}
	base := ""
	for i, step := range []struct {
		onl  Onl
		news bool
	}{{left, false}, {left, false}, {Onl{}, false}, {Onl{}, false}, {back, true}} {
		var news bool
		news, base = OnlNews(base, step.onl, ev)
		if news != step.news {
			t.Fatalf("poll %d: news = %v, want %v", i, news, step.news)
		}
	}
}
