package usbtool

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// hidWritePause separates two writes of one command, as NUT's usbhid-ups
// does between DelayBeforeStartup and DelayBeforeShutdown (some Tripp
// Lite units drop commands that arrive too quickly).
const hidWritePause = 125 * time.Millisecond

// hidPath is a field NUT writes: find is its path in standard names (as
// [Descriptor.Find] takes it, vendor usages in hex), name its name in
// NUT's vendor vocabulary, for people.
type hidPath struct {
	find, name string
	minutes    bool // the field counts minutes, not seconds
}

// path returns a hidPath whose standard and NUT names are the same.
func path(p string) hidPath { return hidPath{find: p, name: p} }

// hidShutdownRule is one NUT subdriver's way to cut and restore the load:
// the candidate paths of its load.on.delay (DelayBeforeStartup),
// load.off.delay (DelayBeforeShutdown) and shutdown.reboot entries, first
// present wins, as NUT's find_nut_info picks them.
type hidShutdownRule struct {
	subdriver         string
	startup, shutdown []hidPath
	reboot            []hidPath
	rebootValue       float64
	// autoRestart is the ups.start.auto field NUT sets to yes (1) before
	// shutdown.return's delays, when the device has it.
	autoRestart []hidPath
}

var (
	psStartup  = path("UPS.PowerSummary.DelayBeforeStartup")
	psShutdown = path("UPS.PowerSummary.DelayBeforeShutdown")
	psReboot   = path("UPS.PowerSummary.DelayBeforeReboot")
	outStartup = path("UPS.Output.DelayBeforeStartup")
	outShut    = path("UPS.Output.DelayBeforeShutdown")
	outReboot  = path("UPS.Output.DelayBeforeReboot")

	// APC's vendor page: APCGeneralCollection 0xff860005,
	// APCDelayBeforeReboot 0xff86007c, APCDelayBeforeShutdown 0xff86007d,
	// APCDelayBeforeStartup 0xff86007e (apc-hid.c).
	apcStartup  = hidPath{find: "UPS.ff860005.ff86007e", name: "UPS.APCGeneralCollection.APCDelayBeforeStartup"}
	apcShutdown = hidPath{find: "UPS.ff860005.ff86007d", name: "UPS.APCGeneralCollection.APCDelayBeforeShutdown"}
	apcReboot   = hidPath{find: "UPS.ff860005.ff86007c", name: "UPS.APCGeneralCollection.APCDelayBeforeReboot"}
	// apcBackUPSCS is the Back-UPS CS's own shutdown.return, written 1.
	apcBackUPSCS = hidPath{find: "UPS.Output.ff86007c", name: "UPS.Output.APCDelayBeforeReboot"}

	// Belkin's (and Liebert's, by belkin-hid) BELKINControls 0x00860027
	// with DelayBeforeReboot 0x55, Startup 0x56 (minutes), Shutdown 0x57.
	belkinStartup  = hidPath{find: "UPS.00860027.00860056", name: "UPS.BELKINControls.BELKINDelayBeforeStartup", minutes: true}
	belkinShutdown = hidPath{find: "UPS.00860027.00860057", name: "UPS.BELKINControls.BELKINDelayBeforeShutdown"}
	belkinReboot   = hidPath{find: "UPS.00860027.00860055", name: "UPS.BELKINControls.BELKINDelayBeforeReboot"}

	// Tripp Lite: the outlet's delays, and TLDelayBeforeStartup 0xffff0056
	// (minutes) and TLWatchdog 0xffff0092 (tripplite-hid.c).
	tlStartup   = path("UPS.OutletSystem.Outlet.DelayBeforeStartup")
	tlTLStartup = hidPath{find: "UPS.OutletSystem.Outlet.ffff0056", name: "UPS.OutletSystem.Outlet.TLDelayBeforeStartup", minutes: true}
	tlShutdown  = path("UPS.OutletSystem.Outlet.DelayBeforeShutdown")
	tlReboot    = path("UPS.OutletSystem.Outlet.DelayBeforeReboot")
	tlWatchdog  = hidPath{find: "UPS.OutletSystem.Outlet.ffff0092", name: "UPS.OutletSystem.Outlet.TLWatchdog"}
	// mge-hid's ups.start.auto: AutomaticRestart is 0xffff0043 there.
	mgeAutoRestart = hidPath{find: "UPS.PowerConverter.Input.[1].ffff0043", name: "UPS.PowerConverter.Input.[1].AutomaticRestart"}
	powercomPaths  = []hidPath{psShutdown, {find: "UPS.PowerSummary.[87]", name: "UPS.PowerSummary.PCMDelayBeforeShutdown"}}
)

// hidShutdownRules returns the rule of the NUT subdriver that claims vid.
func hidShutdownRules(vid uint16) hidShutdownRule {
	switch {
	case vid == vidAPC:
		return hidShutdownRule{subdriver: "apc-hid",
			startup:  []hidPath{psStartup, outStartup, apcStartup},
			shutdown: []hidPath{psShutdown, outShut, apcShutdown},
			reboot:   []hidPath{psReboot, outReboot, apcReboot}, rebootValue: 10}
	case vid == vidCyberPower:
		return hidShutdownRule{subdriver: "cps-hid", startup: []hidPath{outStartup}, shutdown: []hidPath{outShut},
			reboot: []hidPath{outReboot}, rebootValue: 10}
	case vid == vidTrippLite:
		return hidShutdownRule{subdriver: "tripplite-hid", startup: []hidPath{tlStartup, tlTLStartup}, shutdown: []hidPath{tlShutdown},
			reboot: []hidPath{tlReboot, tlWatchdog}, rebootValue: 10}
	case belkinVendors[vid]:
		return hidShutdownRule{subdriver: "belkin-hid", startup: []hidPath{belkinStartup}, shutdown: []hidPath{belkinShutdown},
			reboot: []hidPath{belkinReboot}, rebootValue: 10}
	case mgeVendors[vid]:
		return hidShutdownRule{subdriver: "mge-hid", startup: []hidPath{psStartup}, shutdown: []hidPath{psShutdown},
			reboot: []hidPath{psReboot}, rebootValue: 10, autoRestart: []hidPath{mgeAutoRestart}}
	case vid == 0x06da:
		// Phoenixtec: NUT's liebert-hid, which has no shutdown.reboot.
		return hidShutdownRule{subdriver: "liebert-hid", startup: []hidPath{psStartup}, shutdown: []hidPath{psShutdown}}
	}
	return hidShutdownRule{subdriver: "generic", startup: []hidPath{psStartup, outStartup}, shutdown: []hidPath{psShutdown, outShut},
		reboot: []hidPath{psReboot, outReboot}, rebootValue: 10}
}

// hidWrite is one planned SET_REPORT: value, in the unit Field.Value
// decodes to, into field f.
type hidWrite struct {
	f     *Field
	path  hidPath
	value float64
	// want is the delay asked for, 0 for a value that is not a delay;
	// what names it, "offdelay" or "ondelay".
	want time.Duration
	what string
	// powercom marks PowerCOM's packed minutes/seconds delay.
	powercom bool
}

// writable returns the Feature field at the first of paths that the
// descriptor declares and that is not constant.
func writable(d *Descriptor, paths []hidPath) (*Field, hidPath) {
	for _, p := range paths {
		if f := d.Find(p.find, Feature); f != nil && f.Flags&1 == 0 {
			return f, p
		}
	}
	return nil, hidPath{}
}

// powercomDelay packs an offdelay the way NUT's powercom-hid does for
// shutdown.return: minutes in the high byte, seconds in the low one, and
// 0x40 ("AC restart normal enable": restore the load when the mains is
// back). 0 would mean the longest delay, so it becomes 1 s.
func powercomDelay(off time.Duration) uint16 {
	s := max(int64(off/time.Second), 1)
	return uint16(s/60)<<8 | uint16(s%60) | 0x40
}

// planHIDShutdown chooses the writes for NUT's shutdown chain on this
// device: shutdown.return (the subdriver's own entry, else ups.start.auto
// ← yes where mapped, DelayBeforeStartup ← on, DelayBeforeShutdown ←
// off), else shutdown.reboot, else load.off.delay alone.
func planHIDShutdown(d *Descriptor, vid uint16, off, on time.Duration, res *ShutdownResult) ([]hidWrite, error) {
	if vid == vidPowerCOM {
		f, p := writable(d, powercomPaths)
		if f == nil {
			return nil, fmt.Errorf("%w: this PowerCOM unit's report descriptor has no writable %s", ErrNoShutdownCommand, pathNames(powercomPaths))
		}
		if off > 255*time.Minute+59*time.Second {
			return nil, fmt.Errorf("offdelay %s is out of PowerCOM's range: its delay holds up to 255 minutes 59 seconds", off)
		}
		res.warnf("PowerCOM takes no ondelay: it restores its load as soon as the mains is back (the 0x40 flag of its delay)")
		return []hidWrite{{f: f, path: p, value: float64(powercomDelay(off)), want: off, what: "offdelay", powercom: true}}, nil
	}
	rule := hidShutdownRules(vid)
	if vid == vidAPC {
		if f, p := writable(d, []hidPath{apcBackUPSCS}); f != nil {
			res.warnf("APC Back-UPS CS: its shutdown.return is %s ← 1; it ignores offdelay and ondelay", p.name)
			return []hidWrite{{f: f, path: p, value: 1}}, nil
		}
	}
	fs, ps := writable(d, rule.startup)
	fo, po := writable(d, rule.shutdown)
	switch {
	case fs != nil && fo != nil:
		if vid == vidCyberPower {
			// NUT: "CPS devices tend to round delays by 60 sec down";
			// rounded up here first, so the cut never comes sooner.
			offM, onM := ceilUnit(off, time.Minute), ceilUnit(on, time.Minute)
			if onM <= offM {
				onM = offM + time.Minute // still longer than the offdelay
			}
			if offM != off || onM != on {
				res.warnf("CyberPower firmware counts these delays in whole minutes and rounds down: offdelay %s and ondelay %s are sent as %s and %s",
					seconds(off), seconds(on), seconds(offM), seconds(onM))
			}
			off, on = offM, onM
		}
		var ws []hidWrite
		if fa, pa := writable(d, rule.autoRestart); fa != nil {
			ws = append(ws, hidWrite{f: fa, path: pa, value: 1})
		}
		return append(ws, hidWrite{f: fs, path: ps, value: delayValue(on, ps), want: on, what: "ondelay"},
			hidWrite{f: fo, path: po, value: delayValue(off, po), want: off, what: "offdelay"}), nil
	}
	if fr, pr := writable(d, rule.reboot); fr != nil {
		v := rule.rebootValue
		if pr == apcReboot {
			// NUT writes 10, which APC units with only this field
			// acknowledge and ignore; 1 works (NUT issues #2683 and #3481,
			// PR #3566).
			v = 1
		}
		res.warnf("the UPS has no %s field: using NUT's next command, shutdown.reboot (%s ← %g), which power-cycles the load; offdelay and ondelay are not applied",
			missing(fs, fo, rule), pr.name, v)
		return []hidWrite{{f: fr, path: pr, value: v}}, nil
	}
	if fo != nil {
		res.warnf("the UPS has no %s field: only the cut is set (NUT's load.off.delay); whether the load comes back when the mains returns is up to the UPS's firmware",
			pathNames(rule.startup))
		return []hidWrite{{f: fo, path: po, value: delayValue(off, po), want: off, what: "offdelay"}}, nil
	}
	all := append(append(append([]hidPath{}, rule.startup...), rule.shutdown...), rule.reboot...)
	if vid == vidAPC {
		all = append(all, apcBackUPSCS)
	}
	return nil, fmt.Errorf("%w: its report descriptor declares none of the writable fields NUT's %s writes to cut the load (%s)",
		ErrNoShutdownCommand, rule.subdriver, pathNames(all))
}

// missing names the delay field(s) the rule did not find.
func missing(fs, fo *Field, rule hidShutdownRule) string {
	switch {
	case fs == nil && fo == nil:
		return pathNames(rule.startup) + " or " + pathNames(rule.shutdown)
	case fs == nil:
		return pathNames(rule.startup)
	}
	return pathNames(rule.shutdown)
}

func pathNames(ps []hidPath) string {
	n := make([]string, len(ps))
	for i, p := range ps {
		n[i] = p.name
	}
	return strings.Join(n, ", ")
}

// delayValue is d in the field's unit: seconds, or whole minutes (rounded
// up, so the UPS never restores its load sooner than asked). [delays]
// has already rounded d up to whole seconds.
func delayValue(d time.Duration, p hidPath) float64 {
	if p.minutes {
		return math.Ceil(d.Seconds() / 60)
	}
	return math.Ceil(d.Seconds())
}

// fieldRange returns the smallest and largest values f can hold.
func fieldRange(f *Field) (lo, hi float64) {
	scale := math.Pow10(f.Exponent())
	return f.Physical(f.LogMin) * scale, f.Physical(f.LogMax) * scale
}

// fieldStep returns the change in value one logical unit of f makes.
func fieldStep(f *Field) float64 {
	lo, hi := fieldRange(f)
	if f.LogMax <= f.LogMin {
		return 0
	}
	return (hi - lo) / float64(f.LogMax-f.LogMin)
}

// shutdownHID reads the status, plans the writes and performs them: for
// each, GET_REPORT(Feature) of the report holding the field, the field
// patched with the value encoded as [Field.Encode] does, SET_REPORT
// (Feature).
func shutdownHID(ctx context.Context, t Transport, d *Descriptor, opt ShutdownOptions) (ShutdownResult, error) {
	info := t.Info()
	res := ShutdownResult{Protocol: ProtocolHID}
	off, on, err := delays(ProtocolHID, info.VID, opt)
	if err != nil {
		return res, err
	}
	if off >= on {
		return res, fmt.Errorf("offdelay %s is not shorter than ondelay %s: NUT says the ondelay must be the longer one, or the UPS may start counting its restart before it has cut the load; e.g. offdelay 20s, ondelay 30s",
			seconds(off), seconds(on))
	}
	// The reports fetched for the status are also the starting point of
	// the writes to them: each report is read once.
	data, err := FetchReports(ctx, t, NeededReports(d, info.VID))
	if err == nil {
		res.Status = MapVars(d, data, info, HIDOptions{})["ups.status"]
		res.OnLine = onLine(res.Status)
	} else if isFatal(err) {
		return res, err
	} else {
		res.warnf("status unread: %v", err)
	}
	writes, err := planHIDShutdown(d, info.VID, off, on, &res)
	if err != nil {
		return res, err
	}
	for _, w := range writes {
		if w.want == 0 {
			continue
		}
		if lo, hi := fieldRange(w.f); !w.powercom && (w.value < lo || w.value > hi) {
			unit := "s"
			if w.path.minutes {
				unit = " minutes"
			}
			return res, fmt.Errorf("%s %s is out of the range of %s: it holds %g%s to %g%s", w.what, seconds(w.want), w.path.name, lo, unit, hi, unit)
		}
	}
	for i, w := range writes {
		if i > 0 && !opt.DryRun {
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(hidWritePause):
			}
		}
		step, sent, err := hidSet(ctx, t, d, data.Reports, w, opt.DryRun, &res)
		if err != nil {
			return res, err
		}
		res.Steps = append(res.Steps, step)
		switch w.what {
		case "offdelay":
			res.OffDelay = sent
		case "ondelay":
			res.OnDelay = sent
		}
	}
	return res, nil
}

// hidSet performs one write (without the SET_REPORT when dryRun) and
// returns its step line and, for a delay, the delay the field now holds.
// The report is patched from its copy in reports, read with GET_REPORT
// when absent, and stored back patched, so a later write to another
// field of the same report keeps this one.
func hidSet(ctx context.Context, t Transport, d *Descriptor, reports map[ReportRef][]byte, w hidWrite, dryRun bool, res *ShutdownResult) (step string, sent time.Duration, err error) {
	id := w.f.ReportID
	ref := ReportRef{id, Feature}
	rep, ok := reports[ref]
	if ok {
		rep = append([]byte(nil), rep...)
	} else {
		rep, err = GetReport(ctx, t, Feature, id)
		if errors.Is(err, ErrStall) {
			res.warnf("report 0x%02x could not be read first: its other fields are written as 0", id)
			rep, err = nil, nil
		}
		if err != nil {
			return "", 0, err
		}
	}
	if n := d.ReportLen(id, Feature); len(rep) < n {
		rep = append(rep, make([]byte, n-len(rep))...)
	}
	if id != 0 && len(rep) > 0 {
		rep[0] = id
	}
	if !w.f.Encode(rep, w.value) {
		return "", 0, fmt.Errorf("%s does not fit in report 0x%02x (%d bytes)", w.path.name, id, len(rep))
	}
	got, _ := w.f.Value(rep)
	if inc := fieldStep(w.f); w.want != 0 && inc > 0 && got < w.value-inc/1e6 {
		// Never sooner than asked: a field in minutes (CyberPower's
		// physical range) takes the next whole step up, where NUT's
		// truncation would make a 20s offdelay 0, an immediate cut.
		w.f.Encode(rep, w.value+inc)
		got, _ = w.f.Value(rep)
	}
	step = fmt.Sprintf("SET_REPORT feature 0x%02x %s=%s", id, w.path.name, strconv.FormatFloat(got, 'f', -1, 64))
	switch {
	case w.powercom:
		v := uint16(got)
		step += fmt.Sprintf(" (0x%04x: %d min %d s, restart on AC)", v, v>>8, v&0x3f)
		sent = time.Duration(v>>8)*time.Minute + time.Duration(v&0x3f)*time.Second
	case w.path.minutes:
		step += " (minutes)"
		sent = time.Duration(got * float64(time.Minute))
	default:
		sent = time.Duration(got * float64(time.Second))
	}
	if w.want == 0 {
		sent = 0
	} else if sent != w.want {
		res.warnf("%s holds %s, not the %s asked: the field's resolution", w.path.name, seconds(sent), seconds(w.want))
	}
	reports[ref] = rep
	if dryRun {
		return step, sent, nil
	}
	if _, err := t.Control(ctx, typeClassIfaceOut, reqSetReport, uint16(Feature)<<8|uint16(id), 0, rep); err != nil {
		return step, sent, fmt.Errorf("%s: set feature report 0x%02x: %w", w.path.name, id, err)
	}
	return step, sent, nil
}
