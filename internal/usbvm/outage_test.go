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
// emulated UPS and the emulator's recording is checked: the krauler unit
// gets only C (its string-descriptor protocol has no S), the cypress unit
// C and S.3R0001, the APC unit a SET_REPORT.
func TestUSBVMOutage(t *testing.T) {
	t.Parallel()
	l := requireLab(t)
	for _, dev := range []string{"megatec-krauler", "megatec-cypress", "apc-back-ups-500"} {
		t.Run(dev, func(t *testing.T) {
			t.Parallel()
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
			case "megatec-cypress":
				// nutdrv_qx's kill sequence: C, then shutdown.return with
				// offdelay 20 s and ondelay 60 s: S.3R0001.
				for _, want := range []string{"megatec C (cypress SET_REPORT)", "megatec S.3R0001 (cypress SET_REPORT)"} {
					if !strings.Contains(kill, want) {
						t.Errorf("killpower: %q not recorded; recorded:\n%s\nkillpower output:\n%s", want, kill, s["killpower"])
					}
				}
			case "apc-back-ups-500":
				if !strings.Contains(kill, "SET_REPORT feature") {
					t.Errorf("killpower: no SET_REPORT reached the UPS; recorded:\n%s\nkillpower output:\n%s", kill, s["killpower"])
				}
			}
			if cmds := commands(before(s["record"], "hook")); len(cmds) > 0 {
				t.Errorf("upsflags sent commands to the UPS during the outage: %q", cmds)
			}
			checkHook(t, dev, s)
		})
	}
}

// checkHook checks the package's halt hook (upsflags killpower) after the
// outage: what reached the UPS, that the master reboots because the mains
// is back (the power race), and that after "upsflags reset" an ordinary
// halt sends nothing.
func checkHook(t *testing.T, dev string, s map[string]string) {
	t.Helper()
	hook := before(afterMark(s["record"], "hook"), "ordinary")
	t.Logf("the hook said:\n%s\nemulator recorded:\n%s", s["hook"], hook)
	sent := commands(hook)
	switch dev {
	case "megatec-krauler":
		// Nothing can tell a krauler unit to cut its load: the hook says
		// so and reboots at once, since the mains is back.
		if len(sent) > 0 {
			t.Errorf("the hook sent commands to a krauler UPS: %q", sent)
		}
		if !strings.Contains(s["hook"], "cannot be told") {
			t.Errorf("the hook did not say the krauler UPS cannot be told:\n%s", s["hook"])
		}
	case "megatec-cypress":
		// NUT's sequence and format: C, then S.3R0001 (OFFDELAY=20, ONDELAY=60).
		want := []string{"megatec C (cypress SET_REPORT)", "megatec S.3R0001 (cypress SET_REPORT)"}
		if len(sent) != 2 || !strings.Contains(sent[0], want[0]) || !strings.Contains(sent[1], want[1]) {
			t.Errorf("the hook sent %q, want %q", sent, want)
		}
	case "apc-back-ups-500":
		// This unit has no DelayBeforeStartup/Shutdown, only APC's own
		// reboot delay (0xff86007c, report 0x40), as NUT found too.
		if len(sent) == 0 || !strings.Contains(hook, "SET_REPORT feature 0x40") {
			t.Errorf("the hook wrote no SET_REPORT to report 0x40:\n%s", hook)
		}
	}
	if n := strings.Count(s["reboot"], "shutdown reboot"); n != 1 {
		t.Errorf("the master rebooted %d times after the hook, want 1 (the UPS reports line power); recorded:\n%s\nhook:\n%s", n, s["reboot"], s["hook"])
	}
	if cmds := commands(before(afterMark(s["record"], "ordinary"), "killpower")); len(cmds) > 0 {
		t.Errorf("an ordinary halt (after upsflags reset) sent commands to the UPS: %q\nhook:\n%s", cmds, s["ordinary"])
	}
	if !strings.Contains(s["ordinary"], "no sdf in this boot") {
		t.Errorf("the ordinary halt's hook said:\n%s", s["ordinary"])
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

// commands returns the recorded lines that are more than a query: a HID
// SET_REPORT, or a Megatec command other than Q1, F and I.
func commands(rec string) []string {
	var out []string
	for _, line := range strings.Split(rec, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[1] == "SET_REPORT":
			out = append(out, line)
		case len(f) >= 3 && f[1] == "megatec" && f[2] != "Q1" && f[2] != "F" && f[2] != "I":
			out = append(out, line)
		}
	}
	return out
}
