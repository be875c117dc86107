package bench

import (
	"strings"
	"testing"
	"time"
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
