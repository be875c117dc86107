package flagger

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/usbtool"
)

// The master arms the UPS the way NUT's primary upsmon does: as its last
// act before its own shutdown it writes POWERDOWNFLAG (upsmon.conf; Debian:
// /etc/killpower) with upsmon's magic first line. At the very end of the
// halt Debian's nut-server runs /lib/systemd/system-shutdown/nutshutdown:
// "upsmon -K" finds the flag, and "upsdrvctl shutdown" tells the UPS to
// cut its load and restore it when the mains returns (POWEROFF_WAIT in
// nut.conf covers a UPS that ignores that on line power). Writing the flag
// rather than asking upsmon to shut down (upsmon -c fsd) keeps one
// shutdown path, upsflags's, with the slaves first and the master last;
// NUT's own hook does the rest with NUT's own driver. `upsflags reset`
// removes the flag at boot, so an ordinary reboot never cuts the power.

// sdMagic is the first line upsmon writes to POWERDOWNFLAG and "upsmon -K"
// checks (NUT clients/upsmon.c).
const sdMagic = "upsmon-shutdown-file"

// upsmonConf reads the master's upsmon.conf (UPSMON_CONF, else
// $UPSMON_CONF, Debian's, RHEL's path): its POWERDOWNFLAG, and whether it
// monitors a UPS as primary (only a primary's flag is NUT's to act on).
func upsmonConf(cfg *Config) (command.Upsmon, error) {
	path := command.UpsmonConf(cfg.UpsmonConf, os.Getenv)
	if path == "" {
		return command.Upsmon{}, errors.New("no upsmon.conf found (set UPSMON_CONF)")
	}
	return command.ReadUpsmon(path)
}

// How the master arms the UPS.
const (
	armNone = iota
	armNUT  // POWERDOWNFLAG for NUT's nutshutdown
	armUSB  // the record for upsflags killpower
)

// armPath says how this master arms the UPS (KILLPOWER): "yes" or "auto"
// through NUT when NUT's driver holds the device, over USB when upsflags
// reads it there itself (sel: which device); never for a file source.
func (f *Flagger) armPath() (how int, sel usbtool.Selector) {
	if f.cfg.Killpower == "no" {
		return armNone, sel
	}
	src := f.src
	if r, ok := src.(*remembering); ok { // METRICS wraps the source
		src = r.Source
	}
	if a, ok := src.(*autoSource); ok && a.used != "" && !strings.HasPrefix(a.used, "nut://") {
		src = a.usb // auto read the UPS over USB: no upsd serves it
		if src == nil {
			src = &usbSource{}
		}
	}
	switch s := src.(type) {
	case *usbSource:
		return armUSB, s.sel
	case *fileSource:
		if f.cfg.Killpower == "yes" {
			return armNUT, sel
		}
		return armNone, sel
	}
	return armNUT, sel
}

// armUPS writes POWERDOWNFLAG just before the master's shutdown command.
// A failure is logged and never holds the shutdown back. With DRYRUN the
// master stays up, so nothing is armed: a flag left on a running master
// would cut the UPS's load at its next ordinary halt.
func (f *Flagger) armUPS() {
	how, sel := f.armPath()
	if how == armNone {
		return
	}
	if f.cfg.DryRun {
		f.log.Info("DRYRUN: the UPS is not armed")
		return
	}
	if how == armUSB {
		f.armUSB(sel)
		return
	}
	u, err := upsmonConf(f.cfg)
	switch {
	case err != nil:
		f.log.Error("cannot arm the UPS: upsmon.conf unreadable; the UPS will not cut and restore its load", "err", err)
		return
	case u.PowerDownFlag == "":
		f.log.Error("cannot arm the UPS: upsmon.conf names no POWERDOWNFLAG; the UPS will not cut and restore its load", "upsmon_conf", u.Path)
		return
	}
	if err := os.WriteFile(u.PowerDownFlag, []byte(sdMagic+"\n"), 0o644); err != nil {
		f.log.Error("cannot arm the UPS", "powerdownflag", u.PowerDownFlag, "err", err)
		return
	}
	f.log.Crit("armed the UPS: wrote POWERDOWNFLAG; at the end of the halt NUT's nutshutdown runs upsdrvctl shutdown (cut the load, restore it when the mains returns)",
		"powerdownflag", u.PowerDownFlag)
}

// flagSet reports whether path holds upsmon's POWERDOWNFLAG (its first
// line is sdMagic), as "upsmon -K" checks.
func flagSet(path string) bool {
	b, err := os.ReadFile(path)
	first, _, _ := strings.Cut(string(b), "\n")
	return err == nil && first == sdMagic
}

// disarmUPS removes a POWERDOWNFLAG of upsmon's making at boot (reset):
// left there, the next ordinary halt would cut the UPS's load. It returns
// what it removed, "" for nothing.
func disarmUPS(cfg *Config) (string, error) {
	u, err := upsmonConf(cfg)
	if err != nil || u.PowerDownFlag == "" {
		return "", nil
	}
	b, err := os.ReadFile(u.PowerDownFlag)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if first, _, _ := strings.Cut(string(b), "\n"); first != sdMagic {
		return "", nil // not upsmon's: leave it
	}
	if err := os.Remove(u.PowerDownFlag); err != nil {
		return "", err
	}
	return u.PowerDownFlag, nil
}

// disarm is disarmUPS and disarmUSB with their failures logged; it
// returns what it removed, "" for nothing.
func (f *Flagger) disarm() string {
	var removed []string
	for _, fn := range []func(*Config) (string, error){disarmUPS, disarmUSB} {
		p, err := fn(f.cfg)
		if err != nil {
			f.log.Error("cannot disarm the UPS: the next halt would cut its load", "err", err)
		}
		if p != "" {
			removed = append(removed, p)
		}
	}
	return strings.Join(removed, " ")
}

// checkKillpower says whether the UPS will be armed, and what stands in
// the way.
func checkKillpower(ctx context.Context, k *checker, f *Flagger) {
	how, sel := f.armPath()
	switch how {
	case armNone:
		k.OK("KILLPOWER=%s: the master does not arm the UPS (SOURCE %s)", f.cfg.Killpower, f.src)
		return
	case armUSB:
		checkUSBKill(ctx, k, f.cfg, sel)
		return
	}
	u, err := upsmonConf(f.cfg)
	switch {
	case err != nil:
		k.Warn("cannot read upsmon.conf to arm the UPS: %v; after an outage the UPS will not cut and restore its load", err)
	case u.PowerDownFlag == "":
		k.Warn("%s names no POWERDOWNFLAG: the master cannot arm the UPS (add: POWERDOWNFLAG /etc/killpower)", u.Path)
	case !u.Primary():
		k.Warn("%s monitors no UPS as primary: POWERDOWNFLAG is the primary's, and NUT's shutdown hook may not act on it", u.Path)
	default:
		k.OK("the master arms the UPS at its shutdown: POWERDOWNFLAG %s (from %s)", u.PowerDownFlag, u.Path)
		if flagSet(u.PowerDownFlag) {
			k.Warn("POWERDOWNFLAG %s is set: the next halt cuts the UPS's load (upsflags reset clears it at boot)", u.PowerDownFlag)
		}
	}
}

// validKillpower checks KILLPOWER's value.
func validKillpower(v string) error {
	switch v {
	case "auto", "yes", "no":
		return nil
	}
	return fmt.Errorf("%q: want auto, yes or no", v)
}

// killpowerStatus is the status's view of the arming.
func (f *Flagger) killpowerStatus() KillpowerStatus {
	how, sel := f.armPath()
	switch how {
	case armUSB:
		k := KillpowerStatus{Via: "usb"}
		_, k.Armed = armedIn(f.cfg, f.boot)
		if usbtool.GuessProtocol(sel.VID, sel.PID) == usbtool.ProtocolKrauler {
			k.Note = "this UPS (krauler, " + sel.String() + ") cannot be told over USB to cut its load: see upsflags check"
		}
		return k
	case armNUT:
		k := KillpowerStatus{Via: "nut"}
		u, err := upsmonConf(f.cfg)
		switch {
		case err != nil:
			k.Note = "upsmon.conf unreadable: " + err.Error()
		case u.PowerDownFlag == "":
			k.Note = u.Path + " names no POWERDOWNFLAG"
		default:
			k.Armed = flagSet(u.PowerDownFlag)
		}
		return k
	}
	return KillpowerStatus{Via: "none"}
}
