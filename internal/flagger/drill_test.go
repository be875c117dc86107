package flagger

import (
	"regexp"
	"testing"
	"time"
)

// TestDrillID: drills started within one second have different ids (a
// slave answers each id once, so a shared id goes unanswered).
func TestDrillID(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC)
	seen := map[string]bool{}
	for _, d := range []time.Duration{0, time.Millisecond, 999 * time.Millisecond, time.Second} {
		id := drillID(t0.Add(d))
		if seen[id] {
			t.Errorf("drillID(%v) = %s, already used by an earlier drill", t0.Add(d), id)
		}
		seen[id] = true
		if !regexp.MustCompile(`^drill-179565492[34]\.\d{9}$`).MatchString(id) {
			t.Errorf("drillID(%v) = %s, want drill-<unix time>.<ns>", t0.Add(d), id)
		}
	}
}
