package flagger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nutslave/nutslave/internal/master"
	"github.com/nutslave/nutslave/internal/poweroff"
	"github.com/nutslave/nutslave/internal/statefile"
	"github.com/nutslave/nutslave/usbtool"
)

// With SOURCE=usb no NUT driver holds the UPS, so NUT's nutshutdown has
// nothing to do; the package's own systemd-shutdown hook
// (/usr/lib/systemd/system-shutdown/nutslave-killpower: "upsflags
// killpower") tells the UPS instead. The master records, just before its
// shutdown command, that this boot ended in an sdf (/run/nutslave/
// upsflags.killpower, with the boot's id); the hook acts only on a record
// of the current boot, so an ordinary halt or reboot never cuts the load.
// At that point the file systems are read-only and journald is gone: the
// hook reports on the console and in the kernel log.

// usbBound bounds finding and commanding the UPS in the hook: the halt
// waits at most this, plus POWEROFF_WAIT when the mains is back, and
// hookBudget in all.
const usbBound = 15 * time.Second

// hookBudget is how long the whole hook may take: systemd-shutdown kills
// its hooks after 90 s and halts anyway, which after the power race would
// leave this host off. The wait for the UPS's cut is shortened to fit, with
// rebootReserve left for REBOOTCMD.
const (
	hookBudget    = 85 * time.Second
	rebootReserve = 5 * time.Second
)

// armRecord is upsflags.killpower beside TRIGGER (see armFile).
type armRecord struct {
	BootID string    `json:"boot_id"`
	Armed  time.Time `json:"armed"`
	// Device is the USB UPS to tell, as usbtool.ParseSelector takes it.
	Device string `json:"device"`
}

// armFile is upsflags.killpower in TRIGGER's directory, /run/nutslave by
// default: a tmpfs that systemd-shutdown keeps mounted until after its
// hooks, where STATEDIR (/var/lib) may be unmounted by then on a host with
// a /var of its own, and that every boot starts empty.
func armFile(cfg *Config) string {
	return filepath.Join(filepath.Dir(cfg.Trigger), "upsflags.killpower")
}

// armUSB records that this boot ended in an sdf, for the shutdown hook.
func (f *Flagger) armUSB(sel usbtool.Selector) {
	rec := armRecord{BootID: f.boot, Armed: time.Now().UTC(), Device: sel.String()}
	err := os.MkdirAll(filepath.Dir(armFile(f.cfg)), 0o750) // the package's tmpfiles.d makes it; a bare install may not
	if err == nil {
		err = statefile.Save(armFile(f.cfg), rec)
	}
	if err != nil {
		f.log.Error("cannot arm the UPS: the shutdown hook will not tell it to cut and restore its load", "file", armFile(f.cfg), "err", err)
		return
	}
	f.log.Crit("armed the UPS: at the end of the halt upsflags killpower tells it over USB to cut its load and restore it when the mains returns",
		"device", rec.Device, "file", armFile(f.cfg))
}

// armedIn returns the record when it was written in boot.
func armedIn(cfg *Config, boot string) (armRecord, bool) {
	var rec armRecord
	found, _ := statefile.Load(armFile(cfg), &rec)
	return rec, found && rec.BootID == boot
}

// disarmUSB removes the record at boot (reset); it returns what it
// removed, "" for nothing.
func disarmUSB(cfg *Config) (string, error) {
	err := os.Remove(armFile(cfg))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", nil
	case err != nil:
		return "", err
	}
	return armFile(cfg), nil
}

// killHook is "upsflags killpower" with what tests replace.
type killHook struct {
	cfg *Config
	out io.Writer
	// kmsg is where say also writes, the kernel log device ("" for
	// none); note, for an ordinary halt, only prints.
	kmsg string
	boot string
	// shutdown tells the UPS (usbtool.Shutdown on the libusb backend).
	shutdown func(ctx context.Context, sel usbtool.Selector, opt usbtool.ShutdownOptions) (usbtool.ShutdownResult, error)
	sleep    func(ctx context.Context, d time.Duration) error
	now      func() time.Time
}

// Killpower is the systemd-shutdown hook of SOURCE=usb: after an sdf of
// this boot it tells the UPS to cut its load after OFFDELAY and restore
// it when the mains returns, then, if the UPS reported line power (the
// power race), reboots after POWEROFF_WAIT if it is still running. action
// is systemd-shutdown's argument (poweroff, halt, reboot, kexec), for the
// log. Without an sdf of this boot it does nothing and says so.
func Killpower(ctx context.Context, cfg *Config, action string, out io.Writer) error {
	h := &killHook{
		cfg:      cfg,
		out:      out,
		kmsg:     "/dev/kmsg",
		boot:     poweroff.BootID(),
		shutdown: tellUSB,
		sleep:    sleepCtx,
		now:      time.Now,
	}
	return h.run(ctx, action)
}

// tellUSB tells (or with DryRun, plans telling) the USB UPS; tests
// replace it.
var tellUSB = usbShutdown

// hookPaths are where the packages install the hook: the deb's, the
// rpm's.
var hookPaths = []string{"/lib/systemd/system-shutdown/nutslave-killpower", "/usr/lib/systemd/system-shutdown/nutslave-killpower"}

// hookInstalled returns the installed hook's path, "" for none.
func hookInstalled() string {
	for _, p := range hookPaths {
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func usbShutdown(ctx context.Context, sel usbtool.Selector, opt usbtool.ShutdownOptions) (usbtool.ShutdownResult, error) {
	b, err := usbtool.OpenBackend()
	if err != nil {
		return usbtool.ShutdownResult{}, err
	}
	defer b.Close()
	return usbtool.Shutdown(ctx, b, sel, opt)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// note writes one line to the console: what an ordinary halt says.
func (h *killHook) note(format string, args ...any) string {
	msg := "upsflags killpower: " + fmt.Sprintf(format, args...)
	fmt.Fprintln(h.out, msg)
	return msg
}

// say writes one line to the console and the kernel log: what the hook
// does once it acts.
func (h *killHook) say(format string, args ...any) {
	msg := h.note(format, args...)
	if h.kmsg == "" {
		return
	}
	if k, err := os.OpenFile(h.kmsg, os.O_WRONLY, 0); err == nil {
		fmt.Fprintf(k, "<4>%s\n", msg) // KERN_WARNING: shown on the console
		k.Close()
	}
}

func (h *killHook) run(ctx context.Context, action string) error {
	start := h.now()
	if h.cfg.Killpower == "no" {
		h.note("KILLPOWER=no: the UPS is not told anything")
		return nil
	}
	var rec armRecord
	found, err := statefile.Load(armFile(h.cfg), &rec)
	switch {
	case err != nil:
		h.say("cannot read %s: %v; the UPS is not told anything", armFile(h.cfg), err)
		return err
	case !found:
		h.note("no sdf in this boot: an ordinary %s, the UPS is not told anything", action)
		return nil
	case rec.BootID != h.boot:
		h.note("%s is from an earlier boot (upsflags reset did not run): an ordinary %s, the UPS is not told anything", armFile(h.cfg), action)
		return nil
	}
	sel, err := usbtool.ParseSelector(rec.Device)
	if err != nil {
		h.say("%s: %v; the UPS is not told anything", armFile(h.cfg), err)
		return err
	}
	h.say("sdf at %s in this boot: telling the UPS %s to cut its load and restore it when the mains returns (%s)",
		rec.Armed.Format(time.RFC3339), sel, action)
	if h.cfg.DryRun {
		h.say("DRYRUN=yes: only planning what the UPS would be told; no reboot either")
	}
	uctx, cancel := context.WithTimeout(ctx, usbBound)
	res, err := h.shutdown(uctx, sel, usbtool.ShutdownOptions{OffDelay: h.cfg.OffDelay, OnDelay: h.cfg.OnDelay, DryRun: h.cfg.DryRun})
	cancel()
	for _, s := range res.Steps {
		h.say("sent: %s", s)
	}
	for _, w := range res.Warnings {
		h.say("warning: %s", w)
	}
	sent := err == nil
	switch {
	case errors.Is(err, usbtool.ErrNoShutdownCommand):
		h.say("%v", err)
	case err != nil:
		h.say("could not tell the UPS: %v (%s)", err, usbHint(err))
		sent = len(res.Steps) > 0 // part of it may have gone out
	}
	if res.Status != "" {
		h.say("the UPS reported %q just before", res.Status)
	}
	off := res.OffDelay // what the UPS holds, after its rounding
	if off == 0 {
		off = h.cfg.OffDelay
	}
	if off == 0 {
		off, _ = usbtool.DefaultDelays(res.Protocol, sel.VID)
	}
	wait := h.cfg.PoweroffWait
	if wait < 0 {
		wait = master.AutoPoweroffWait(off)
	}
	next := master.DecideAfterKill(master.KillOutcome{Sent: sent, OnLine: res.OnLine}, wait)
	h.say("%s", next.Why)
	if !next.Reboot || h.cfg.DryRun {
		return err
	}
	if left := hookBudget - rebootReserve - h.now().Sub(start); next.Wait > left {
		next.Wait = max(left, 0)
		h.say("waiting %v only: systemd-shutdown stops this hook %v after it started", next.Wait.Round(time.Second), 90*time.Second)
	}
	if next.Wait > 0 {
		if serr := h.sleep(ctx, next.Wait); serr != nil {
			return serr
		}
		h.say("still running %v after the command: the UPS ignored it on line power; rebooting", next.Wait)
	}
	return h.reboot(ctx)
}

// reboot runs REBOOTCMD, bounded.
func (h *killHook) reboot(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, h.cfg.RebootCmd[0], h.cfg.RebootCmd[1:]...).CombinedOutput()
	if err != nil {
		h.say("REBOOTCMD %q failed: %v %s", strings.Join(h.cfg.RebootCmd, " "), err, strings.TrimSpace(string(out)))
		return err
	}
	return nil
}

// usbHint says how to fix a failure to reach the UPS at the halt.
func usbHint(err error) string {
	switch {
	case errors.Is(err, usbtool.ErrNoDevice):
		return "no USB UPS matched: check the cable and SOURCE with upsusb list"
	case errors.Is(err, usbtool.ErrAmbiguous):
		return "several USB UPSes match SOURCE: name this host's UPS, SOURCE=usb://VID:PID?serial=... (upsusb list shows them)"
	case errors.Is(err, usbtool.ErrDeviceBusy):
		return "another driver holds the UPS: with NUT's driver running use SOURCE=auto or nut://, and NUT's nutshutdown arms it"
	case errors.Is(err, os.ErrPermission):
		return "permission denied: the hook runs as root; check udev rules and SELinux"
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("the UPS did not answer within %v", usbBound)
	}
	return "see upsusb shutdown --dry-run"
}

// checkUSBKill says what the hook will send the USB UPS after an outage,
// or plainly that it cannot tell it anything, and what covers that.
func checkUSBKill(ctx context.Context, k *checker, cfg *Config, sel usbtool.Selector) {
	hook := hookInstalled()
	if hook == "" {
		hook = hookPaths[0]
		k.Warn("the shutdown hook %s is missing: after an outage nothing tells the UPS to cut and restore its load (reinstall nutslave-master)", hook)
	}
	ctx, cancel := context.WithTimeout(ctx, usbBound)
	defer cancel()
	res, err := tellUSB(ctx, sel, usbtool.ShutdownOptions{OffDelay: cfg.OffDelay, OnDelay: cfg.OnDelay, DryRun: true})
	switch {
	case errors.Is(err, usbtool.ErrNoShutdownCommand):
		k.Warn("%v. After an outage the hosts come back when the mains returns only if their firmware powers on at AC recovery (BIOS: restore on AC power loss) or by Wake-on-LAN from the master; if the mains returns during the shutdown, the master reboots instead of halting (POWEROFF_WAIT)", err)
	case err != nil:
		k.Warn("cannot plan the UPS's shutdown command over USB (%s): %v; %s", sel, err, usbHint(err))
	default:
		k.OK("the master arms the UPS at its shutdown: at the end of the halt %s sends over USB: %s", hook, strings.Join(res.Steps, "; "))
	}
	for _, w := range res.Warnings {
		k.Warn("the UPS's shutdown command: %s", w)
	}
	// A warning, not a configuration error: a master whose configuration
	// does not load does not shut anything down.
	if off := cmp.Or(res.OffDelay, cfg.OffDelay); cfg.PoweroffWait > 0 && cfg.PoweroffWait <= off {
		k.Warn("POWEROFF_WAIT %v is not longer than the UPS's offdelay %v: in the power race the master reboots before the UPS cuts its load, and loses power while it boots; make it longer, or auto", cfg.PoweroffWait, off)
	}
	if rec, ok := armedIn(cfg, poweroff.BootID()); ok {
		k.Warn("the UPS is armed (%s, %s): the next halt tells it to cut its load (upsflags reset clears it at boot)", armFile(cfg), rec.Armed.Format(time.RFC3339))
	}
}
