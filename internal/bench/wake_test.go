package bench

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/lab"
)

func TestReturnSummary(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	r := &ReturnResult{ReturnOptions: ReturnOptions{N: 3, Boot: 3 * time.Second}, PowerBack: t0, Runs: 3, Slaves: []SlaveReturn{
		// Woken by the first packet, seen at the second run.
		{Name: "a", Acked: true, Tries: 1, Received: 1, FirstPacket: at(0.1), Waking: at(0.1),
			HeartbeatStart: at(3.1), HeartbeatEnd: at(3.4), Seen: at(3.4), SeenByMaster: at(5.1)},
		// First packet lost, one failed heartbeat before the one that
		// got through.
		{Name: "b", Acked: true, Tries: 2, Received: 2, FirstPacket: at(0.1), Waking: at(30.1),
			HeartbeatStart: at(93.1), HeartbeatEnd: at(93.5), HeartbeatFailed: 1, Seen: at(93.5), SeenByMaster: at(95.1)},
		// Never through.
		{Name: "c", Acked: true, Tries: 3, Received: 3, FirstPacket: at(0.1), Waking: at(0.1),
			HeartbeatStart: at(3.1), HeartbeatEnd: at(4), HeartbeatExit: 1},
	}}
	s := r.Summary()
	if s.Acked != 3 || s.Back != 2 || s.HeartbeatFailed != 2 || s.HeartbeatNever != 1 {
		t.Errorf("counts: %+v", s)
	}
	if s.TriesMin != 1 || s.TriesMax != 3 || s.TriesSum != 6 || s.Received != 6 {
		t.Errorf("packets: %+v", s)
	}
	if len(s.Total) != 2 || s.Total[0] != 5100*time.Millisecond || s.Total[1] != 95100*time.Millisecond {
		t.Errorf("Total = %v", s.Total)
	}
	if len(s.Boot) != 2 || s.Boot[1] != 63400*time.Millisecond {
		t.Errorf("Boot = %v", s.Boot)
	}
	if len(s.Heartbeat) != 2 {
		t.Errorf("Heartbeat = %v, want the two that got through", s.Heartbeat)
	}
	var b strings.Builder
	WriteReturn(&b, r)
	if !strings.Contains(b.String(), "| 3 | 3 | 0 | 3 | 2 | 3 |") || !strings.Contains(b.String(), "**5.10 / 95.10**") || !strings.Contains(b.String(), "| 2 (1) |") {
		t.Errorf("WriteReturn:\n%s", b.String())
	}
}

// TestStaleLANs: only the namespaces NewLAN names, of processes that are
// gone, are stale; the demo's and the e2e tests' are never touched.
func TestStaleLANs(t *testing.T) {
	names := []string{lanName("1", "m"), lanName("1", "s0"), lanName("12", "s99")}
	for _, n := range names {
		if !lanNamespaces.MatchString(n) {
			t.Errorf("lanNamespaces does not match %q, a name NewLAN gives", n)
		}
	}
	list := strings.Join([]string{
		"nsb111-1-m (id: 3)",
		"nsb111-1-s0 (id: 4)",
		"nsb222-2-s1",
		"nsb111-1-other",      // not NewLAN's scheme
		"nsbx-1-m",            // not a pid
		"nutslave-demo-111-m", // the demo's
		"nse2e-m12",           // the e2e tests'
		"my-nsb111-1-m",       // someone else's
		"",
	}, "\n")
	got := lab.StaleNamespaces(list, lanNamespaces, func(pid int) bool { return pid == 222 })
	if want := []string{"nsb111-1-m", "nsb111-1-s0"}; !slices.Equal(got, want) {
		t.Errorf("stale = %q, want %q (222 is alive)", got, want)
	}
}
