package master

import (
	"reflect"
	"testing"
	"time"

	"github.com/nutslave/nutslave/flags"
)

func info(name string, at time.Time) flags.Info {
	return flags.Info{Name: flags.Name(name), ModTime: at}
}

func TestCount(t *testing.T) {
	sdf := at(0)
	fresh, stale := at(2*time.Second), at(-time.Hour)
	tests := []struct {
		name     string
		want     []string
		infos    []flags.Info
		acked    []string
		missing  []string
		unlisted []string
		stale    []string
		complete bool
	}{
		{name: "nobody yet", want: []string{"a", "b"}, missing: []string{"a", "b"}},
		{name: "one of two", want: []string{"a", "b"}, infos: []flags.Info{info("sdfok.a", fresh)},
			acked: []string{"a"}, missing: []string{"b"}},
		{name: "both", want: []string{"a", "b"}, infos: []flags.Info{info("sdfok.b", fresh), info("sdfok.a", fresh)},
			acked: []string{"a", "b"}, complete: true},
		{name: "stale ack does not count", want: []string{"a", "b"}, infos: []flags.Info{info("sdfok.a", stale), info("sdfok.b", fresh)},
			acked: []string{"b"}, missing: []string{"a"}, stale: []string{"a"}},
		{name: "within the slack counts", want: []string{"a"}, infos: []flags.Info{info("sdfok.a", sdf.Add(-500*time.Millisecond))},
			acked: []string{"a"}, complete: true},
		{name: "unlisted slave does not complete the roster", want: []string{"a"}, infos: []flags.Info{info("sdfok.x", fresh)},
			missing: []string{"a"}, unlisted: []string{"x"}},
		{name: "empty roster: any named ack", infos: []flags.Info{info("sdfok.x", fresh)}, acked: []string{"x"}, complete: true},
		{name: "empty roster: seed-style sdfok", infos: []flags.Info{info("sdfok", fresh)}, acked: []string{"(anonymous sdfok)"}, complete: true},
		{name: "empty roster: stale only", infos: []flags.Info{info("sdfok", stale)}, stale: []string{"(anonymous sdfok)"}},
		{name: "roster of one: sdfok counts", want: []string{"a"}, infos: []flags.Info{info("sdfok", fresh)},
			acked: []string{"(anonymous sdfok)"}, complete: true},
		{name: "roster of two: sdfok does not", want: []string{"a", "b"}, infos: []flags.Info{info("sdfok", fresh), info("sdfok.a", fresh)},
			acked: []string{"a"}, missing: []string{"b"}, unlisted: []string{"(anonymous sdfok)"}},
		{name: "other files ignored", infos: []flags.Info{info("onl", fresh), info("seen.a", fresh)}},
	}
	who := func(as []Ack) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Who())
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Count(tt.want, tt.infos, sdf)
			if !reflect.DeepEqual(who(got.Acked), tt.acked) || !reflect.DeepEqual(got.Missing, tt.missing) ||
				!reflect.DeepEqual(who(got.Unlisted), tt.unlisted) || !reflect.DeepEqual(who(got.Stale), tt.stale) || got.Complete != tt.complete {
				t.Errorf("Count() = acked %v missing %v unlisted %v stale %v complete %v, want %v %v %v %v %v",
					who(got.Acked), got.Missing, who(got.Unlisted), who(got.Stale), got.Complete,
					tt.acked, tt.missing, tt.unlisted, tt.stale, tt.complete)
			}
		})
	}
}

func TestWaitOver(t *testing.T) {
	sdf := at(0)
	tests := []struct {
		name           string
		complete       bool
		now            time.Duration
		over, timedOut bool
	}{
		{"waiting", false, 10 * time.Second, false, false},
		{"all acknowledged", true, 10 * time.Second, true, false},
		{"HOSTSYNC passed", false, 120 * time.Second, true, true},
		{"complete at the deadline", true, 120 * time.Second, true, false},
	}
	for _, tt := range tests {
		over, to := WaitOver(Tally{Complete: tt.complete}, sdf, at(tt.now), 120*time.Second)
		if over != tt.over || to != tt.timedOut {
			t.Errorf("%s: WaitOver = %v, %v, want %v, %v", tt.name, over, to, tt.over, tt.timedOut)
		}
	}
}

func TestParseSlaves(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"  a  b.c\tweb-1 ", []string{"a", "b.c", "web-1"}, false},
		{"a a", nil, true},
		{"a/b", nil, true},
		{".hidden", nil, true},
		{"a,b", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseSlaves(tt.in)
		if (err != nil) != tt.wantErr || (err == nil && !reflect.DeepEqual(got, tt.want) && len(got)+len(tt.want) > 0) {
			t.Errorf("ParseSlaves(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParseSlaves(f *testing.F) {
	for _, s := range []string{"", "a b", "a a", "web-1 db.2", ".x", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, err := ParseSlaves(s)
		if err != nil {
			return
		}
		for _, n := range names {
			if flags.ValidSlaveName(n) != nil {
				t.Fatalf("ParseSlaves(%q) accepted %q", s, n)
			}
			if _, ok := flags.AckSlave(flags.Ack(n)); !ok {
				t.Fatalf("ParseSlaves(%q): %q has no acknowledgement name", s, n)
			}
		}
	})
}

// TestCountOnACoarseFileClock: the kernel stamps files from a clock that
// moves in ticks and lags the fine clock by up to one. upsflags takes
// sdf's time from the sdf file itself, so both sides of "newer than my
// sdf" come from that clock: an acknowledgement written any time after sdf
// counts and is never older than it; one from the last outage never
// counts.
func TestCountOnACoarseFileClock(t *testing.T) {
	const tick = 4 * time.Millisecond
	stamp := func(fine time.Time) time.Time { return fine.Truncate(tick) }
	for i := range 2000 {
		wrote := at(time.Duration(i) * 37 * time.Microsecond)                  // sdf written (fine clock)
		sdfAt := stamp(wrote)                                                  // sdf's time, read back from the file
		ackAt := stamp(wrote.Add(time.Duration(i%20) * 50 * time.Microsecond)) // acknowledged within 1 ms
		lastOutage := stamp(wrote.Add(-2 * time.Hour))
		tally := Count([]string{"a", "b"}, []flags.Info{info("sdfok.a", ackAt), info("sdfok.b", lastOutage)}, sdfAt)
		if len(tally.Acked) != 1 || tally.Acked[0].Slave != "a" {
			t.Fatalf("sdf at %v, ack at %v: acked %v, want [a]", sdfAt, ackAt, tally.Acked)
		}
		if d := tally.Acked[0].At.Sub(sdfAt); d < 0 {
			t.Fatalf("sdf at %v, ack at %v: the acknowledgement looks %v older than sdf", sdfAt, ackAt, -d)
		}
		if len(tally.Stale) != 1 || tally.Stale[0].Slave != "b" {
			t.Fatalf("last outage's ack: stale %v, want [b]", tally.Stale)
		}
	}
}
