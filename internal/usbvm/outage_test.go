//go:build usbvm

package usbvm

import (
	"strings"
	"testing"
)

// TestUSBVMOutage rides an outage inside the VM: upsflags reads the
// emulated UPS over USB while its charge falls 10 points every 2 s,
// writes battsdf and sdf below STDWCHARGE=50 and runs the master's
// SHUTDOWNCMD (a recorder) once; then NUT's killpower reaches the
// emulated UPS and the emulator's recording is checked.
func TestUSBVMOutage(t *testing.T) {
	l := requireLab(t)
	for _, dev := range []string{"megatec-krauler", "apc-back-ups-500"} {
		t.Run(dev, func(t *testing.T) {
			s := boot(t, l, dev, "outage")
			t.Logf("outage timeline:\n%s", s["outage"])
			t.Logf("emulator recorded (after the outage, the killpower):\n%s", afterMark(s["record"], "killpower"))
			if n := strings.Count(s["shutdown"], "shutdown master"); n != 1 {
				t.Errorf("the master's SHUTDOWNCMD ran %d times, want 1; upsflags log:\n%s", n, Tail(s["upsflags-log"], 30))
			}
			sdfAt := firstLineWith(s["outage"], "sdf")
			if sdfAt == "" {
				t.Fatalf("sdf never written:\n%s", s["outage"])
			}
			// Charge 100 -> 40 takes six steps: sdf first shows in a step
			// at or below 40 %, never while the charge is above STDWCHARGE.
			if pre := strings.Split(s["outage"], sdfAt)[0]; strings.Count(pre, "charge -10") < 5 {
				t.Errorf("sdf written after only %d charge steps (charge above 50 %%):\n%s", strings.Count(pre, "charge -10"), s["outage"])
			}
			if !strings.Contains(sdfAt, "battsdf") {
				t.Errorf("sdf without battsdf: %q", sdfAt)
			}
			kill := afterMark(s["record"], "killpower")
			switch dev {
			case "megatec-krauler":
				// krauler carries no S command (nutdrv_qx.c krauler_command
				// echoes it locally); NUT's kill sequence sends C first.
				if !strings.Contains(kill, "megatec C (krauler string 0x0b)") {
					t.Errorf("killpower: no C reached the UPS; recorded:\n%s\nkillpower output:\n%s", kill, s["killpower"])
				}
				if strings.Contains(s["record"], "megatec S") {
					t.Errorf("an S command reached a krauler UPS:\n%s", s["record"])
				}
			case "apc-back-ups-500":
				if !strings.Contains(kill, "SET_REPORT feature") {
					t.Errorf("killpower: no SET_REPORT reached the UPS; recorded:\n%s\nkillpower output:\n%s", kill, s["killpower"])
				}
			}
			if strings.Contains(before(s["record"], "killpower"), "SET_REPORT") || strings.Contains(before(s["record"], "killpower"), "megatec S") {
				t.Errorf("upsflags sent a command to the UPS during the outage:\n%s", s["record"])
			}
		})
	}
}

// afterMark returns the lines of a recording after "@@MARK name@@".
func afterMark(rec, name string) string {
	_, after, _ := strings.Cut(rec, "@@MARK "+name+"@@\n")
	return after
}

// before returns the lines of a recording before "@@MARK name@@".
func before(rec, name string) string {
	b, _, _ := strings.Cut(rec, "@@MARK "+name+"@@")
	return b
}

// firstLineWith returns the first line of s that lists flag among its
// flags ("... flags: battsdf sdf").
func firstLineWith(s, flag string) string {
	for _, line := range strings.Split(s, "\n") {
		_, flags, ok := strings.Cut(line, "flags: ")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(flags) {
			if f == flag {
				return line
			}
		}
	}
	return ""
}
