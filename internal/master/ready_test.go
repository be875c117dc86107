package master

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseHeartbeat(t *testing.T) {
	mtime := at(-10 * time.Second)
	tests := []struct {
		name string
		body string
		want Heartbeat
	}{
		{name: "full report", body: "time=2026-03-01T11:59:00Z\nhost=web1\nversion=1.2\nresult=problem\nuid=0\nproblems=error: SHUTDOWNCMD gone; warning: x\n",
			want: Heartbeat{Name: "web1", At: at(-time.Minute), Result: "problem", Problems: "error: SHUTDOWNCMD gone; warning: x", Version: "1.2", Host: "web1"}},
		{name: "empty body falls back to mtime", body: "",
			want: Heartbeat{Name: "web1", At: mtime, FromMtime: true}},
		{name: "time in the future falls back to mtime", body: "time=2027-01-01T00:00:00Z\nresult=ok\n",
			want: Heartbeat{Name: "web1", At: mtime, FromMtime: true, Result: "ok"}},
		{name: "garbage is cleaned", body: "time=nonsense\nresult=ok\x1b[2J\nproblems=" + strings.Repeat("x", 400) + "\n",
			want: Heartbeat{Name: "web1", At: mtime, FromMtime: true, Result: "ok [2J", Problems: strings.Repeat("x", maxShown) + "…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseHeartbeat("web1", []byte(tt.body), mtime, t0)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseHeartbeat() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReady(t *testing.T) {
	hbs := []Heartbeat{
		{Name: "web1", At: at(-30 * time.Second), Result: "ok"},
		{Name: "db1", At: at(-12 * time.Minute), Result: "ok"},
		{Name: "nas", At: at(-5 * time.Second), Result: "problem", Problems: "error: HOST KEY CHANGED"},
		{Name: "zz-extra", At: at(-time.Hour), Result: "ok"},
	}
	got := Ready([]string{"web1", "db1", "nas", "ghost"}, hbs, t0, 5*time.Minute)
	type row struct {
		Name                string
		Listed, Seen, Stale bool
		Problem             bool
		Describe            string
	}
	var rows []row
	for _, r := range got {
		rows = append(rows, row{r.Name, r.Listed, r.Seen, r.Stale, r.Problem(), r.Describe()})
	}
	want := []row{
		{"web1", true, true, false, false, "seen 30s ago"},
		{"db1", true, true, true, false, "last seen 12m ago"},
		{"nas", true, true, false, true, "seen 5s ago, reported: error: HOST KEY CHANGED"},
		{"ghost", true, false, true, false, "never seen (no seen.ghost: is its heartbeat timer running?)"},
		{"zz-extra", false, true, false, false, "seen 1h0m ago"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("Ready() mismatch (-want +got):\n%s", diff)
	}
}

func FuzzParseHeartbeat(f *testing.F) {
	f.Add([]byte("time=2026-03-01T11:59:00Z\nhost=web1\nresult=problem\nproblems=error: x\n"))
	f.Add([]byte("\x00\xff=\n=x\nproblems=\u202e"))
	f.Fuzz(func(t *testing.T, body []byte) {
		h := ParseHeartbeat("s", body, t0, t0)
		for _, s := range []string{h.Result, h.Problems, h.Version, h.Host} {
			if len([]rune(s)) > maxShown+1 {
				t.Fatalf("field of %d runes", len([]rune(s)))
			}
			for _, r := range s {
				if r < 0x20 || r == 0x7f {
					t.Fatalf("control character %q kept in %q", r, s)
				}
			}
		}
		if h.At.After(t0.Add(time.Minute)) {
			t.Fatalf("At = %v in the future", h.At)
		}
	})
}

func TestTallyDrill(t *testing.T) {
	answers := []DrillAnswer{
		{Name: "web1", ID: "drill-2", At: at(time.Second)},
		{Name: "db1", ID: "drill-1", At: at(-time.Hour)}, // an older drill
		{Name: "other", ID: "drill-2", At: at(2 * time.Second)},
	}
	tests := []struct {
		name     string
		roster   []string
		answered []string
		missing  []string
		unlisted []string
		complete bool
	}{
		{name: "one answered, one answered an old drill", roster: []string{"web1", "db1"},
			answered: []string{"web1"}, missing: []string{"db1"}, unlisted: []string{"other"}},
		{name: "all answered", roster: []string{"web1"}, answered: []string{"web1"}, unlisted: []string{"other"}, complete: true},
		{name: "empty roster: any answer", answered: []string{"other", "web1"}, complete: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TallyDrill(tt.roster, answers, "drill-2")
			names := func(as []DrillAnswer) []string {
				var n []string
				for _, a := range as {
					n = append(n, a.Name)
				}
				return n
			}
			if diff := cmp.Diff(tt.answered, names(got.Answered)); diff != "" {
				t.Errorf("Answered (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.missing, got.Missing); diff != "" {
				t.Errorf("Missing (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.unlisted, names(got.Unlisted)); diff != "" {
				t.Errorf("Unlisted (-want +got):\n%s", diff)
			}
			if got.Complete != tt.complete {
				t.Errorf("Complete = %v, want %v", got.Complete, tt.complete)
			}
		})
	}
	if got := TallyDrill(nil, []DrillAnswer{{Name: "a", ID: ""}}, ""); got.Complete {
		t.Error("an answer without a drill id completed a drill without an id")
	}
}
