package usbtool

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ReportRef names one report: its ID and type.
type ReportRef struct {
	ID   uint8
	Type ReportType
}

// HIDData is what one read of a HID Power Device returned: the raw reports
// and the string descriptors that fields point to.
type HIDData struct {
	Reports map[ReportRef][]byte
	Strings map[uint8]string
	// Transfers counts the control transfers the read cost.
	Transfers int
}

// HIDOptions tunes the mapping to NUT variables.
type HIDOptions struct {
	// OnlineDischargeOnBattery reports OB instead of OL when the device
	// says both ACPresent and Discharging (NUT's onlinedischarge_onbattery,
	// for CyberPower UT units). By default NUT's rule applies: OL DISCHRG.
	OnlineDischargeOnBattery bool
}

// A varSpec maps one NUT variable to candidate HID paths; the first path
// present in the descriptor wins.
type varSpec struct {
	name   string
	format string
	paths  []string
}

// hidVars is compiled from NUT's hid2nut tables (apc-hid, cps-hid,
// mge-hid, liebert-hid, powercom-hid, tripplite-hid, belkin-hid,
// legrand-hid): UPS.OutletSystem.Outlet.PercentLoad is tripplite-hid's
// ups.load, UPS.PowerConverter.Input.Voltage the input.voltage of
// tripplite-hid, belkin-hid and legrand-hid.
var hidVars = []varSpec{
	{"battery.charge", "%.0f", []string{"UPS.PowerSummary.RemainingCapacity", "UPS.Battery.RemainingCapacity", "UPS.BatterySystem.Battery.RemainingCapacity", "UPS.PowerSummary.RelativeStateOfCharge"}},
	{"battery.charge.low", "%.0f", []string{"UPS.PowerSummary.RemainingCapacityLimit", "UPS.Battery.RemainingCapacityLimit"}},
	{"battery.charge.warning", "%.0f", []string{"UPS.PowerSummary.WarningCapacityLimit", "UPS.Battery.WarningCapacityLimit"}},
	{"battery.runtime", "%.0f", []string{"UPS.PowerSummary.RunTimeToEmpty", "UPS.Battery.RunTimeToEmpty", "UPS.BatterySystem.Battery.RunTimeToEmpty"}},
	{"battery.runtime.low", "%.0f", []string{"UPS.PowerSummary.RemainingTimeLimit", "UPS.Battery.RemainingTimeLimit"}},
	{"battery.voltage", "%.1f", []string{"UPS.PowerSummary.Voltage", "UPS.Battery.Voltage", "UPS.BatterySystem.Voltage", "UPS.BatterySystem.Battery.Voltage"}},
	{"battery.voltage.nominal", "%.1f", []string{"UPS.PowerSummary.ConfigVoltage", "UPS.Battery.ConfigVoltage", "UPS.BatterySystem.ConfigVoltage", "UPS.BatterySystem.Battery.ConfigVoltage"}},
	{"input.voltage", "%.1f", []string{"UPS.Input.Voltage", "UPS.PowerConverter.Input.[1].Voltage", "UPS.PowerSummary.Input.Voltage", "UPS.PowerConverter.Input.Voltage"}},
	{"input.voltage.nominal", "%.0f", []string{"UPS.Input.ConfigVoltage", "UPS.Flow.[1].ConfigVoltage"}},
	{"input.frequency", "%.1f", []string{"UPS.Input.Frequency", "UPS.PowerConverter.Input.[1].Frequency"}},
	{"input.transfer.low", "%.0f", []string{"UPS.Input.LowVoltageTransfer", "UPS.PowerConverter.Output.LowVoltageTransfer"}},
	{"input.transfer.high", "%.0f", []string{"UPS.Input.HighVoltageTransfer", "UPS.PowerConverter.Output.HighVoltageTransfer"}},
	{"output.voltage", "%.1f", []string{"UPS.Output.Voltage", "UPS.PowerConverter.Output.Voltage"}},
	{"output.frequency", "%.1f", []string{"UPS.Output.Frequency", "UPS.PowerConverter.Output.Frequency"}},
	{"ups.load", "%.0f", []string{"UPS.Output.PercentLoad", "UPS.PowerConverter.PercentLoad", "UPS.PowerSummary.PercentLoad", "UPS.OutletSystem.Outlet.PercentLoad"}},
	{"ups.realpower.nominal", "%.0f", []string{"UPS.Output.ConfigActivePower", "UPS.PowerConverter.ConfigActivePower", "UPS.Flow.[4].ConfigActivePower"}},
	{"ups.power.nominal", "%.0f", []string{"UPS.Output.ConfigApparentPower", "UPS.Flow.[4].ConfigApparentPower", "UPS.PowerSummary.ConfigApparentPower"}},
	{"ups.timer.shutdown", "%.0f", []string{"UPS.PowerSummary.DelayBeforeShutdown", "UPS.Output.DelayBeforeShutdown"}},
	{"ups.timer.start", "%.0f", []string{"UPS.PowerSummary.DelayBeforeStartup", "UPS.Output.DelayBeforeStartup"}},
	{"ups.beeper.status", "", []string{"UPS.PowerSummary.AudibleAlarmControl", "UPS.AudibleAlarmControl"}},
	{"ups.test.result", "", []string{"UPS.Battery.Test", "UPS.Output.Test", "UPS.BatterySystem.Test"}},
	{"battery.type", "", []string{"UPS.PowerSummary.iDeviceChemistry", "UPS.Battery.iDeviceChemistry"}},
}

// Helper values, not printed themselves.
var hidHelpers = []varSpec{
	{"capacity.mode", "", []string{"UPS.PowerSummary.CapacityMode", "UPS.Battery.CapacityMode"}},
	{"capacity.full", "", []string{"UPS.PowerSummary.FullChargeCapacity", "UPS.Battery.FullChargeCapacity"}},
}

// Status bits, by their own usage; the prefixes are tried in order.
var statusPrefixes = []string{"UPS.PowerSummary.PresentStatus.", "UPS.PowerSummary.", "UPS.PresentStatus.", "UPS.BatterySystem.Battery.", "UPS.PowerConverter.PresentStatus.", "UPS.Output.", "UPS.BatterySystem.Charger."}

var statusUsages = []string{"ACPresent", "Discharging", "Charging", "BelowRemainingCapacityLimit", "ShutdownImminent",
	"RemainingTimeLimitExpired", "NeedReplacement", "BatteryPresent", "Overload", "FullyCharged", "Boost", "Buck", "Good"}

// hidPlan is the set of fields a read needs, resolved against one
// descriptor.
type hidPlan struct {
	vars   map[string]*Field // NUT variable (or helper) -> field
	status map[string]*Field // status usage name -> field
}

// lookup finds path, preferring a Feature field and falling back to an
// Input one.
func (d *Descriptor) lookup(path string) *Field {
	if f := d.Find(path, Feature); f != nil {
		return f
	}
	return d.Find(path, Input)
}

func planHID(d *Descriptor) hidPlan {
	p := hidPlan{vars: map[string]*Field{}, status: map[string]*Field{}}
	for _, spec := range append(append([]varSpec{}, hidVars...), hidHelpers...) {
		for _, path := range spec.paths {
			if f := d.lookup(path); f != nil {
				p.vars[spec.name] = f
				break
			}
		}
	}
	for _, u := range statusUsages {
		for _, pre := range statusPrefixes {
			if f := d.lookup(pre + u); f != nil {
				p.status[u] = f
				break
			}
		}
	}
	return p
}

func (p hidPlan) refs() []ReportRef {
	seen := map[ReportRef]bool{}
	var refs []ReportRef
	add := func(f *Field) {
		r := ReportRef{f.ReportID, f.Type}
		if !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	for _, spec := range append(append([]varSpec{}, hidVars...), hidHelpers...) {
		if f := p.vars[spec.name]; f != nil {
			add(f)
		}
	}
	for _, u := range statusUsages {
		if f := p.status[u]; f != nil {
			add(f)
		}
	}
	return refs
}

// NeededReports returns the reports [MapVars] reads for this descriptor and
// device: one per (report ID, type) that holds a mapped field.
func NeededReports(d *Descriptor, vid uint16) []ReportRef {
	refs := planHID(d).refs()
	if vid == vidPowerCOM {
		refs = append(refs, powercomQ1Reports(d)...)
	}
	return refs
}

// AllReports returns every (report ID, type) that holds Input or Feature
// fields, for a full dump. Eaton's special reports 0xfe and 0xff are left
// out, as NUT does.
func AllReports(d *Descriptor, vid uint16) []ReportRef {
	var refs []ReportRef
	for _, t := range []ReportType{Feature, Input} {
		for _, id := range d.ReportIDs(t) {
			if eatonVendors[vid] && id >= 0xfe {
				continue
			}
			refs = append(refs, ReportRef{id, t})
		}
	}
	return refs
}

// FetchReports performs one GET_REPORT per reference. A stalled request
// means "not available" and is left out of the result; any other error
// ends the read.
func FetchReports(ctx context.Context, t Transport, refs []ReportRef) (*HIDData, error) {
	data := &HIDData{Reports: map[ReportRef][]byte{}, Strings: map[uint8]string{}}
	for _, r := range refs {
		if _, ok := data.Reports[r]; ok {
			continue
		}
		data.Transfers++
		b, err := GetReport(ctx, t, r.Type, r.ID)
		if errors.Is(err, ErrStall) {
			continue
		}
		if err != nil {
			return data, err
		}
		data.Reports[r] = b
	}
	return data, nil
}

// value decodes f from the fetched reports.
func (h *HIDData) value(f *Field) (float64, bool) {
	if f == nil || h == nil {
		return 0, false
	}
	b, ok := h.Reports[ReportRef{f.ReportID, f.Type}]
	if !ok {
		return 0, false
	}
	return f.Value(b)
}

// ReadHID reads a HID Power Device once: descriptor, the needed reports
// (one GET_REPORT each), the battery chemistry string, and maps them to
// NUT variables.
func ReadHID(ctx context.Context, t Transport, opt HIDOptions) (map[string]string, error) {
	raw, err := ReadReportDescriptor(ctx, t)
	if err != nil {
		return nil, err
	}
	d, err := ParseDescriptor(raw)
	if err != nil {
		return nil, fmt.Errorf("parse report descriptor: %w", err)
	}
	info := t.Info()
	d.Fix(info.VID, info.PID)
	return readParsedHID(ctx, t, d, opt)
}

func readParsedHID(ctx context.Context, t Transport, d *Descriptor, opt HIDOptions) (map[string]string, error) {
	info := t.Info()
	data, err := FetchReports(ctx, t, NeededReports(d, info.VID))
	if err != nil {
		return nil, err
	}
	if f := planHID(d).vars["battery.type"]; f != nil {
		if idx, ok := data.value(f); ok && idx > 0 && idx < 256 {
			if s, err := t.String(ctx, uint8(idx)); err == nil {
				data.Strings[uint8(idx)] = s
			}
		}
	}
	return MapVars(d, data, info, opt), nil
}

// MapVars turns fetched reports into NUT variables with NUT's rules:
// first matching path per variable, CapacityMode handling for the charge,
// vendor corrections, and ups.status from the status bits. Apply
// [Descriptor.Fix] to d first. It performs no I/O.
func MapVars(d *Descriptor, data *HIDData, info DeviceInfo, opt HIDOptions) map[string]string {
	plan := planHID(d)
	vals := map[string]float64{}
	for name, f := range plan.vars {
		if v, ok := data.value(f); ok {
			vals[name] = v
		}
	}
	// CapacityMode 2 is percent; otherwise compute it (mAh/mWh).
	if mode, ok := vals["capacity.mode"]; ok && mode != 2 {
		if c, okc := vals["battery.charge"]; okc {
			if full, okf := vals["capacity.full"]; okf && full > 0 {
				vals["battery.charge"] = 100 * c / full
			} else {
				delete(vals, "battery.charge")
			}
		}
	}
	if info.VID == vidPowerCOM {
		if q, err := powercomQ1(d, data); err == nil && q.BatteryVoltage > 0 {
			vals["battery.voltage"] = q.BatteryVoltage
		}
	}
	scaleQuirks(info.VID, info.PID, vals)
	if c, ok := vals["battery.charge"]; ok {
		vals["battery.charge"] = min(max(c, 0), 100)
	}

	out := map[string]string{}
	for _, spec := range hidVars {
		v, ok := vals[spec.name]
		if !ok {
			continue
		}
		switch spec.name {
		case "ups.beeper.status":
			names := map[float64]string{1: "disabled", 2: "enabled", 3: "muted"}
			if info.VID == vidPowerCOM {
				// powercom-hid.c powercom_beeper_info.
				names = map[float64]string{1: "enabled", 2: "disabled"}
			}
			if s := names[v]; s != "" {
				out[spec.name] = s
			}
		case "ups.test.result":
			if s := map[float64]string{1: "Done and passed", 2: "Done and warning", 3: "Done and error", 4: "Aborted", 5: "In progress", 6: "No test initiated"}[v]; s != "" {
				out[spec.name] = s
			}
		case "battery.type":
			if s := strings.TrimSpace(data.Strings[uint8(v)]); s != "" {
				out[spec.name] = s
			}
		default:
			out[spec.name] = strconv.FormatFloat(roundTo(v, spec.format), 'f', -1, 64)
		}
	}
	bits := map[string]float64{}
	for u, f := range plan.status {
		if v, ok := data.value(f); ok {
			bits[u] = v
		}
	}
	if f := plan.status["BelowRemainingCapacityLimit"]; f != nil && belkinVendors[info.VID] &&
		f.Path.String() == "UPS.PowerSummary.BelowRemainingCapacityLimit" {
		// belkin-hid (Belkin and Liebert) maps LB only from
		// PresentStatus.BelowRemainingCapacityLimit; the bit directly
		// under PowerSummary is commented out there as "broken!".
		delete(bits, "BelowRemainingCapacityLimit")
	}
	if mgeVendors[info.VID] {
		// mge-hid ignores PresentStatus.Charging/Discharging unless
		// advanced battery monitoring is known to be off
		// (eaton_abm_check_chrg_fun, eaton_abm_check_dischrg_fun); the
		// ABMEnable item is not mapped here, so it never is.
		delete(bits, "Charging")
		delete(bits, "Discharging")
	}
	if st := hidStatus(bits, opt); st != "" {
		out["ups.status"] = st
	}
	addDeviceVars(out, info)
	formatModel(out, info, vals)
	return out
}

// belkinVendors are the vendor IDs of NUT's belkin-hid subdriver: Belkin
// and Liebert.
var belkinVendors = map[uint16]bool{0x050d: true, 0x10af: true}

// mgeVendors are the vendor IDs NUT's mge-hid subdriver claims outright
// (06da only for AEG units, left out here).
var mgeVendors = map[uint16]bool{0x0463: true, 0x047c: true, 0x0592: true, 0x03f0: true, 0x2b2d: true, 0x04b3: true, 0x09d6: true}

// formatModel rewrites ups.model the way NUT's subdrivers build it from
// the product string: APC's apc_format_model cuts it before "FW:" and
// reports what follows as ups.firmware (and after "USB FW:" as
// ups.firmware.aux); mge-hid's mge_format_model appends the nominal
// apparent power (UPS.Flow.[4].ConfigApparentPower, its fallback when
// the iModel string is not read), except for Dell.
func formatModel(out map[string]string, info DeviceInfo, vals map[string]float64) {
	product := info.Product
	switch {
	case info.VID == vidAPC:
		model, fw, ok := strings.Cut(product, "FW:")
		if !ok {
			return
		}
		out["ups.model"] = strings.TrimSpace(model)
		if main, aux, ok := strings.Cut(fw, "USB FW:"); ok {
			fw = main
			if aux = strings.TrimSpace(aux); aux != "" {
				out["ups.firmware.aux"] = aux
			}
		}
		if fw = strings.TrimSpace(fw); fw != "" {
			out["ups.firmware"] = fw
		}
	case mgeVendors[info.VID] && info.VID != 0x047c:
		if va, ok := vals["ups.power.nominal"]; ok && strings.TrimSpace(product) != "" {
			out["ups.model"] = fmt.Sprintf("%s %d", strings.TrimSpace(product), int(va))
		}
	}
}

// roundTo rounds v to the decimals of a "%.Nf" format.
func roundTo(v float64, format string) float64 {
	s := fmt.Sprintf(format, v)
	r, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return v
	}
	return r
}

func addDeviceVars(out map[string]string, info DeviceInfo) {
	set := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			out[k] = v
		}
	}
	set("ups.mfr", info.Manufacturer)
	set("ups.model", info.Product)
	set("ups.serial", info.Serial)
	set("ups.vendorid", fmt.Sprintf("%04x", info.VID))
	set("ups.productid", fmt.Sprintf("%04x", info.PID))
}

// hidStatus builds ups.status from the status bits the way NUT's
// usbhid-ups ups_status_set does. OL/OB comes from ACPresent, with
// Discharging only as a fallback when ACPresent is absent; with neither,
// no power state is reported (NUT 2.8.0 said OB then; newer NUT says
// nothing, like this). CHRG needs Charging and not FullyCharged, at any
// charge, as in both.
func hidStatus(bits map[string]float64, opt HIDOptions) string {
	is := func(u string, v float64) bool { b, ok := bits[u]; return ok && b == v }
	online, offline := is("ACPresent", 1), is("ACPresent", 0)
	dischrg, chrg := is("Discharging", 1), is("Charging", 1)
	var tok []string
	switch {
	case online && dischrg && opt.OnlineDischargeOnBattery:
		tok = append(tok, "OB")
	case online:
		tok = append(tok, "OL")
	case offline, dischrg:
		tok = append(tok, "OB")
	}
	if dischrg {
		tok = append(tok, "DISCHRG")
	}
	if chrg && !is("FullyCharged", 1) {
		tok = append(tok, "CHRG")
	}
	if is("BelowRemainingCapacityLimit", 1) || is("RemainingTimeLimitExpired", 1) || is("ShutdownImminent", 1) {
		tok = append(tok, "LB")
	}
	if is("NeedReplacement", 1) || is("BatteryPresent", 0) {
		tok = append(tok, "RB")
	}
	if is("Overload", 1) {
		tok = append(tok, "OVER")
	}
	if is("Buck", 1) {
		tok = append(tok, "TRIM")
	}
	if is("Boost", 1) {
		tok = append(tok, "BOOST")
	}
	if is("Good", 0) {
		tok = append(tok, "OFF")
	}
	return strings.Join(tok, " ")
}
