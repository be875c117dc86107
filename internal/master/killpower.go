package master

import (
	"fmt"
	"time"
)

// The master's shutdown hook (upsflags killpower, at the very end of the
// halt after an sdf of this boot) tells a USB UPS to cut its load and
// restore it when the mains returns. What the host does next is decided
// here: halt as asked, or reboot because the power came back while it was
// going down (the power race) and nothing else would bring it back.

// MaxPoweroffWait bounds POWEROFF_WAIT: systemd-shutdown gives its hooks
// 90 s before it kills them and halts anyway.
const MaxPoweroffWait = 80 * time.Second

// AutoPoweroffWait is POWEROFF_WAIT=auto: long enough for a UPS that took
// the command to cut the load (offdelay), with a margin, within the bound.
func AutoPoweroffWait(offDelay time.Duration) time.Duration {
	return min(offDelay+20*time.Second, MaxPoweroffWait)
}

// KillOutcome is what the hook found: whether anything may have reached
// the UPS, and whether the UPS reported line power just before.
type KillOutcome struct {
	// Sent: the command (or part of it) went out. False when the UPS
	// cannot be told (krauler) or could not be reached.
	Sent bool
	// OnLine: the UPS reported line power (OL) just before the command.
	// False on battery and when its status could not be read.
	OnLine bool
}

// AfterKill is what the host does after the hook told (or failed to
// tell) the UPS.
type AfterKill struct {
	// Reboot after Wait instead of halting.
	Reboot bool
	Wait   time.Duration
	// Why, for the console and the kernel log.
	Why string
}

// DecideAfterKill applies the rules, given POWEROFF_WAIT (0: no reboot
// fallback):
//   - on battery, or with the status unknown: halt. A UPS that took the
//     command restores the load when the mains returns; one that did not
//     runs flat, and the host comes back only if its firmware powers on at
//     AC recovery (or by Wake-on-LAN).
//   - on line power with POWEROFF_WAIT 0: halt, as configured.
//   - on line power after a command: wait POWEROFF_WAIT for the UPS to cut
//     the load; still running after that, it ignored the command on line
//     power: reboot.
//   - on line power and nothing sent: reboot at once; no cut is coming.
func DecideAfterKill(o KillOutcome, wait time.Duration) AfterKill {
	switch {
	case !o.OnLine && o.Sent:
		return AfterKill{Why: "on battery: the UPS cuts its load after its delay and restores it when the mains returns"}
	case !o.OnLine:
		return AfterKill{Why: "halting: the UPS was not told to cut its load; this host comes back when the mains returns only if its firmware powers on at AC recovery (BIOS: restore on AC power loss) or by Wake-on-LAN"}
	case wait <= 0:
		return AfterKill{Why: "the UPS reports line power but POWEROFF_WAIT=0: halting; if the UPS does not cut its load, this host stays off until powered on"}
	case o.Sent:
		return AfterKill{Reboot: true, Wait: wait, Why: fmt.Sprintf("the UPS reports line power (the mains came back during the shutdown): if it has not cut the load within POWEROFF_WAIT (%v), it ignored the command on line power and this host reboots", wait)}
	}
	return AfterKill{Reboot: true, Why: "the UPS reports line power and cannot be told to cut its load: rebooting instead of halting, so that this host comes back"}
}
