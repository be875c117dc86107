package usbtool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrNoShutdownCommand is returned by [Shutdown] and [PlanShutdown] for a
// UPS whose USB protocol has no way to tell it to cut its load: the
// krauler style (0001:0000, the original site's UPS) answers commands as
// string descriptors and has none for S (NUT's nutdrv_qx: "krauler and
// snr do not support shutdown"), and a HID Power Device whose report
// descriptor declares none of the delay fields NUT writes. The error
// wraps a sentence saying so.
var ErrNoShutdownCommand = errors.New("this UPS cannot be told over USB to cut its load")

// ShutdownOptions say when the UPS cuts its load and when it restores it,
// as NUT's offdelay and ondelay do. Zero takes the device's default
// ([DefaultDelays]).
type ShutdownOptions struct {
	// OffDelay: the UPS cuts its load this long after the command.
	OffDelay time.Duration
	// OnDelay: the UPS restores its load once the mains is back and at
	// least this long has passed (HID: DelayBeforeStartup; Megatec: the R
	// part, whole minutes).
	OnDelay time.Duration
	// DryRun plans the commands and sends nothing.
	DryRun bool
}

// ShutdownResult says what was sent (or, with DryRun, would be sent).
type ShutdownResult struct {
	Protocol Protocol
	// Steps are one line a command that went out (with DryRun: would go
	// out), in order, for logs and for people:
	// "SET_REPORT feature 0x0f UPS.PowerSummary.DelayBeforeStartup=30",
	// "megatec C", "megatec S.3R0001".
	Steps []string
	// OnLine is the UPS's status just before the command: true when it
	// reported line power (the power race: the mains came back after sdf),
	// false on battery or when unknown.
	OnLine bool
	// Status is the ups.status read just before the command, "" if unread.
	Status string
	// OffDelay and OnDelay are the delays the commands carry, after the
	// defaults and the device's own resolution were applied (a CyberPower
	// or Megatec unit counts in minutes, for instance). Zero means the
	// command carries none: PowerCOM and Megatec's S<n> restore the load
	// as soon as the mains is back, and NUT's fallback commands
	// (shutdown.reboot, load.off.delay alone) take no ondelay; Warnings
	// then say what the UPS does instead.
	OffDelay, OnDelay time.Duration
	// Warnings say where the UPS does less than asked or differently:
	// delays rounded to what the device holds, a command that only cuts
	// the load, a status that could not be read. Log them.
	Warnings []string
}

func (r *ShutdownResult) warnf(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// Shutdown finds the UPS sel selects and tells it to cut its load after
// OffDelay and restore it when the mains returns (NUT's shutdown.return).
// A UPS that cannot be told returns [ErrNoShutdownCommand], with the
// result's Status and OnLine filled when the status could be read.
func Shutdown(ctx context.Context, b Backend, sel Selector, opt ShutdownOptions) (ShutdownResult, error) {
	info, err := Find(ctx, b, sel)
	if err != nil {
		return ShutdownResult{}, err
	}
	t, err := b.Open(ctx, info)
	if err != nil {
		return ShutdownResult{}, fmt.Errorf("open %s: %w", info.ID(), err)
	}
	defer t.Close()
	res, err := ShutdownTransport(ctx, t, opt)
	if err != nil {
		return res, fmt.Errorf("shutdown %s: %w", info.ID(), err)
	}
	return res, nil
}

// ShutdownTransport is [Shutdown] on an opened device. The protocol is
// chosen as [ReadTransport] chooses it: a report descriptor with Power
// Device usages means HID PDC, otherwise a known Megatec VID:PID the
// Megatec/Q1 style.
func ShutdownTransport(ctx context.Context, t Transport, opt ShutdownOptions) (ShutdownResult, error) {
	d, style, err := detect(ctx, t)
	if err != nil {
		return ShutdownResult{}, err
	}
	if d != nil {
		return shutdownHID(ctx, t, d, opt)
	}
	return shutdownMegatec(ctx, t, style, opt)
}

// PlanShutdown is [Shutdown] with DryRun set: it reads the device and
// says what it would send.
func PlanShutdown(ctx context.Context, b Backend, sel Selector, opt ShutdownOptions) (ShutdownResult, error) {
	opt.DryRun = true
	return Shutdown(ctx, b, sel, opt)
}

// DefaultDelays returns the delays used when ShutdownOptions leaves them
// zero, by protocol and vendor (NUT's defaults: usbhid-ups 20 s / 30 s,
// CyberPower 60 s / 120 s; nutdrv_qx 30 s / 180 s).
func DefaultDelays(p Protocol, vid uint16) (off, on time.Duration) {
	switch {
	case p == ProtocolKrauler || p == ProtocolCypress:
		return 30 * time.Second, 180 * time.Second
	case vid == 0x0764:
		return 60 * time.Second, 120 * time.Second
	}
	return 20 * time.Second, 30 * time.Second
}

// delays applies the defaults to opt, rejects negative delays and rounds
// them up to whole seconds, so that no device cuts its load sooner than
// asked.
func delays(p Protocol, vid uint16, opt ShutdownOptions) (off, on time.Duration, err error) {
	if opt.OffDelay < 0 {
		return 0, 0, fmt.Errorf("offdelay %s is negative: give the time after which the UPS cuts its load, e.g. 20s", opt.OffDelay)
	}
	if opt.OnDelay < 0 {
		return 0, 0, fmt.Errorf("ondelay %s is negative: give the time after which the UPS restores its load once the mains is back, e.g. 30s", opt.OnDelay)
	}
	off, on = DefaultDelays(p, vid)
	if opt.OffDelay != 0 {
		off = opt.OffDelay
	}
	if opt.OnDelay != 0 {
		on = opt.OnDelay
	} else if on <= off {
		// Only the offdelay was given, longer than the UPS's default
		// ondelay: the ondelay must be the longer one, so it follows.
		on = off + 10*time.Second
	}
	return ceilUnit(off, time.Second), ceilUnit(on, time.Second), nil
}

// onLine reports whether a ups.status holds the OL token.
func onLine(status string) bool { return slices.Contains(strings.Fields(status), "OL") }

// seconds formats d as whole seconds, e.g. "20s".
func seconds(d time.Duration) string { return fmt.Sprintf("%ds", int64(d/time.Second)) }

// ceilUnit rounds d up to a whole number of units.
func ceilUnit(d, unit time.Duration) time.Duration {
	return (d + unit - 1) / unit * unit
}
