package master

import (
	"testing"
	"time"
)

// TestDecideAfterKill: every path out of the shutdown hook. A reboot on
// battery would restart hosts on a draining UPS; a halt after the mains
// came back, with no cut coming, leaves every host off until someone
// walks in.
func TestDecideAfterKill(t *testing.T) {
	const wait = 40 * time.Second
	for _, tc := range []struct {
		name   string
		o      KillOutcome
		wait   time.Duration
		reboot bool
		after  time.Duration
	}{
		{"on battery, told: halt, the UPS restores", KillOutcome{Sent: true}, wait, false, 0},
		{"on battery, not told: halt", KillOutcome{}, wait, false, 0},
		{"power race, told: reboot if still up", KillOutcome{Sent: true, OnLine: true}, wait, true, wait},
		{"power race, cannot tell: reboot now", KillOutcome{OnLine: true}, wait, true, 0},
		{"power race, fallback off: halt", KillOutcome{Sent: true, OnLine: true}, 0, false, 0},
		{"power race, cannot tell, fallback off: halt", KillOutcome{OnLine: true}, 0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DecideAfterKill(tc.o, tc.wait)
			if got.Reboot != tc.reboot || got.Wait != tc.after {
				t.Errorf("DecideAfterKill(%+v, %v) = reboot %v after %v, want reboot %v after %v (%s)",
					tc.o, tc.wait, got.Reboot, got.Wait, tc.reboot, tc.after, got.Why)
			}
			if got.Why == "" {
				t.Error("no reason given")
			}
		})
	}
}

// TestAutoPoweroffWait: the wait covers the UPS's delay and stays inside
// systemd-shutdown's 90 s for its hooks.
func TestAutoPoweroffWait(t *testing.T) {
	for off, want := range map[time.Duration]time.Duration{
		20 * time.Second: 40 * time.Second,
		30 * time.Second: 50 * time.Second,
		60 * time.Second: 80 * time.Second,
		10 * time.Minute: MaxPoweroffWait,
	} {
		if got := AutoPoweroffWait(off); got != want {
			t.Errorf("AutoPoweroffWait(%v) = %v, want %v", off, got, want)
		}
	}
}
