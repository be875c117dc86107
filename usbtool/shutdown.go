package usbtool

import (
	"context"
	"errors"
	"time"
)

// ErrNoShutdownCommand is returned by [Shutdown] and [PlanShutdown] for a
// UPS whose USB protocol has no way to tell it to cut its load: the
// krauler style (0001:0000, the original site's UPS) answers commands as
// string descriptors and has none for S (NUT's nutdrv_qx: "krauler and
// snr do not support shutdown"). The error wraps a sentence saying so.
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
	// Steps are one line a command, for logs and for people:
	// "SET_REPORT feature 0x0f UPS.PowerSummary.DelayBeforeStartup=30",
	// "megatec C", "megatec S.3R0001".
	Steps []string
	// OnLine is the UPS's status just before the command: true when it
	// reported line power (the power race: the mains came back after sdf),
	// false on battery or when unknown.
	OnLine bool
	// Status is the ups.status read just before the command, "" if unread.
	Status string
}

// Shutdown finds the UPS sel selects and tells it to cut its load after
// OffDelay and restore it when the mains returns (NUT's shutdown.return).
// A UPS that cannot be told returns [ErrNoShutdownCommand].
func Shutdown(ctx context.Context, b Backend, sel Selector, opt ShutdownOptions) (ShutdownResult, error) {
	return ShutdownResult{}, errors.New("usbtool: Shutdown not implemented yet")
}

// ShutdownTransport is [Shutdown] on an opened device.
func ShutdownTransport(ctx context.Context, t Transport, opt ShutdownOptions) (ShutdownResult, error) {
	return ShutdownResult{}, errors.New("usbtool: ShutdownTransport not implemented yet")
}

// PlanShutdown is [Shutdown] with DryRun set: it reads the device and
// says what it would send, for "upsflags check" and "upsusb shutdown
// --dry-run".
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
