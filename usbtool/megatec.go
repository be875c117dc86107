package usbtool

import (
	"fmt"
	"strconv"
	"strings"
)

// Q1 is a parsed Megatec "Q1" status reply:
//
//	(MMM.M NNN.N PPP.P QQQ RR.R S.SS TT.T b7b6b5b4b3b2b1b0<CR>
type Q1 struct {
	InputVoltage      float64
	InputFaultVoltage float64
	OutputVoltage     float64
	Load              float64 // percent
	Frequency         float64 // Hz
	BatteryVoltage    float64 // per cell or per pack on some units (see [MegatecOptions.BatteryPacks])
	Temperature       float64 // °C
	Status            [8]bool // b7..b0, in reply order
}

// Status bits of [Q1.Status], in reply order.
const (
	Q1UtilityFail    = iota // b7: on battery
	Q1BatteryLow            // b6
	Q1BypassBoost           // b5: bypass, boost or buck active
	Q1UPSFailed             // b4
	Q1Standby               // b3: offline/line-interactive type
	Q1TestInProgress        // b2
	Q1ShutdownActive        // b1
	Q1BeeperOn              // b0
)

// q1Fields are the byte ranges [from, to) of the Q1 fields after '(' as
// NUT's nutdrv_qx q1 table lays them out (46 characters plus CR).
var q1Fields = [...][2]int{{1, 6}, {7, 12}, {13, 18}, {19, 22}, {23, 27}, {28, 32}, {33, 37}, {38, 46}}

// trimReply drops one trailing CR (and anything after it, such as the NUL
// padding of a string descriptor).
func trimReply(s string) string {
	if i := strings.IndexByte(s, '\r'); i >= 0 {
		return s[:i]
	}
	return s
}

// malformed returns an error wrapping [ErrMalformed] that quotes a short
// prefix of the reply.
func malformed(what, reply, why string) error {
	if len(reply) > 60 {
		reply = reply[:60] + "..."
	}
	return fmt.Errorf("%w: %s reply %q: %s", ErrMalformed, what, reply, why)
}

func parseNum(what, reply, field string) (float64, error) {
	if field == "" || strings.TrimLeft(field, "0123456789.") != "" || strings.Count(field, ".") > 1 || field == "." {
		return 0, malformed(what, reply, fmt.Sprintf("field %q is not a number", field))
	}
	return strconv.ParseFloat(field, 64)
}

// ParseQ1 parses a Q1 reply strictly: a leading '(', eight fields at their
// fixed positions separated by single spaces, numbers where numbers
// belong and eight 0/1 status bits. A trailing CR is optional. Errors wrap
// [ErrMalformed].
func ParseQ1(reply string) (Q1, error) {
	var q Q1
	s := trimReply(reply)
	if len(s) != 46 {
		return q, malformed("Q1", reply, fmt.Sprintf("%d characters, want 46", len(s)))
	}
	if s[0] != '(' {
		return q, malformed("Q1", reply, "does not start with '('")
	}
	nums := []*float64{&q.InputVoltage, &q.InputFaultVoltage, &q.OutputVoltage, &q.Load, &q.Frequency, &q.BatteryVoltage, &q.Temperature}
	for i, r := range q1Fields {
		if r[0] > 1 && s[r[0]-1] != ' ' {
			return q, malformed("Q1", reply, fmt.Sprintf("no space before field %d", i+1))
		}
		f := s[r[0]:r[1]]
		if i == len(nums) {
			for j, c := range []byte(f) {
				if c != '0' && c != '1' {
					return q, malformed("Q1", reply, fmt.Sprintf("status bits %q are not 0/1", f))
				}
				q.Status[j] = c == '1'
			}
			break
		}
		v, err := parseNum("Q1", reply, f)
		if err != nil {
			return q, err
		}
		*nums[i] = v
	}
	return q, nil
}

// F is a parsed Megatec "F" (rating) reply: #MMM.M QQQ SS.SS RR.R<CR>.
type F struct {
	Voltage        float64 // rated voltage
	Current        float64 // rated current
	BatteryVoltage float64 // nominal battery voltage
	Frequency      float64 // rated frequency
}

// ParseF parses an F reply strictly; errors wrap [ErrMalformed].
func ParseF(reply string) (F, error) {
	var f F
	s := trimReply(reply)
	if len(s) != 21 {
		return f, malformed("F", reply, fmt.Sprintf("%d characters, want 21", len(s)))
	}
	if s[0] != '#' {
		return f, malformed("F", reply, "does not start with '#'")
	}
	for i, r := range [][2]int{{1, 6}, {7, 10}, {11, 16}, {17, 21}} {
		if s[r[0]-1] != ' ' && r[0] > 1 {
			return f, malformed("F", reply, fmt.Sprintf("no space before field %d", i+1))
		}
		v, err := parseNum("F", reply, s[r[0]:r[1]])
		if err != nil {
			return f, err
		}
		*[]*float64{&f.Voltage, &f.Current, &f.BatteryVoltage, &f.Frequency}[i] = v
	}
	return f, nil
}

// I is a parsed Megatec "I" (identification) reply:
// #Company_Name(15) UPS_Model(10) Version(10)<CR>.
type I struct {
	Manufacturer, Model, Firmware string
}

// ParseI parses an I reply strictly (fixed widths, printable ASCII);
// errors wrap [ErrMalformed].
func ParseI(reply string) (I, error) {
	s := trimReply(reply)
	if len(s) != 38 {
		return I{}, malformed("I", reply, fmt.Sprintf("%d characters, want 38", len(s)))
	}
	if s[0] != '#' || s[16] != ' ' || s[27] != ' ' {
		return I{}, malformed("I", reply, "want '#' and fields of 15, 10 and 10 characters")
	}
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return I{}, malformed("I", reply, "non-printable character")
		}
	}
	return I{strings.TrimSpace(s[1:16]), strings.TrimSpace(s[17:27]), strings.TrimSpace(s[28:38])}, nil
}

// MegatecOptions configures the charge estimate, as NUT's nutdrv_qx
// options battery.voltage.high/low and battery.packs do.
type MegatecOptions struct {
	// BatteryVoltageHigh and BatteryVoltageLow are the voltages of a full
	// and an empty battery. Zero means NUT's guess from the nominal
	// voltage: low = 104/120 and high = 130/120 of it.
	BatteryVoltageHigh, BatteryVoltageLow float64
	// BatteryPacks multiplies the Q1 battery voltage (units that report a
	// cell). Zero means NUT's autodetection from the nominal voltage.
	BatteryPacks float64
}

// packCandidates are the multipliers NUT tries, highest first.
var packCandidates = []float64{120, 100, 80, 60, 48, 36, 30, 24, 18, 12, 8, 6, 4, 3, 2, 1, 0.5}

// MegatecVars maps Q1 (and, when available, F and I) replies to NUT
// variables. The charge is estimated linearly between the low and high
// battery voltages and clamped to 0..100, as NUT does.
func MegatecVars(q Q1, f *F, id *I, opt MegatecOptions) map[string]string {
	out := map[string]string{}
	num := func(k string, v float64, format string) {
		out[k] = strconv.FormatFloat(roundTo(v, format), 'f', -1, 64)
	}
	num("input.voltage", q.InputVoltage, "%.1f")
	num("input.voltage.fault", q.InputFaultVoltage, "%.1f")
	num("output.voltage", q.OutputVoltage, "%.1f")
	num("ups.load", q.Load, "%.0f")
	num("input.frequency", q.Frequency, "%.1f")
	num("battery.voltage", q.BatteryVoltage, "%.2f")
	num("ups.temperature", q.Temperature, "%.1f")

	var tok []string
	if q.Status[Q1UtilityFail] {
		tok = append(tok, "OB")
	} else {
		tok = append(tok, "OL")
	}
	if q.Status[Q1BatteryLow] {
		tok = append(tok, "LB")
	}
	if q.Status[Q1BypassBoost] && q.InputVoltage > 0 {
		vi, vo := q.InputVoltage, q.OutputVoltage
		switch {
		case vo < 0.5*vi:
		case vo < 0.95*vi:
			tok = append(tok, "TRIM")
		case vo < 1.05*vi:
			tok = append(tok, "BYPASS")
		case vo < 1.5*vi:
			tok = append(tok, "BOOST")
		}
	}
	if q.Status[Q1TestInProgress] {
		tok = append(tok, "CAL")
	}
	if q.Status[Q1ShutdownActive] {
		tok = append(tok, "FSD")
	}
	out["ups.status"] = strings.Join(tok, " ")
	if q.Status[Q1UPSFailed] {
		out["ups.alarm"] = "UPS selftest failed!"
	}
	if q.Status[Q1Standby] {
		out["ups.type"] = "offline / line interactive"
	} else {
		out["ups.type"] = "online"
	}
	if q.Status[Q1BeeperOn] {
		out["ups.beeper.status"] = "enabled"
	} else {
		out["ups.beeper.status"] = "disabled"
	}

	nominal := 0.0
	if f != nil {
		num("input.voltage.nominal", f.Voltage, "%.0f")
		num("input.current.nominal", f.Current, "%.1f")
		num("battery.voltage.nominal", f.BatteryVoltage, "%.1f")
		num("input.frequency.nominal", f.Frequency, "%.0f")
		nominal = f.BatteryVoltage
	}
	if id != nil {
		for k, v := range map[string]string{"ups.mfr": id.Manufacturer, "ups.model": id.Model, "ups.firmware": id.Firmware} {
			if v != "" {
				out[k] = v
			}
		}
	}

	low, high := opt.BatteryVoltageLow, opt.BatteryVoltageHigh
	if (low == 0 || high == 0) && nominal > 0 {
		low, high = 104*nominal/120, 130*nominal/120
	}
	packs := opt.BatteryPacks
	if packs == 0 {
		packs = 1
		if nominal > 0 && q.BatteryVoltage > 0 {
			for _, p := range packCandidates {
				if p*q.BatteryVoltage > 1.25*nominal {
					continue
				}
				if p*q.BatteryVoltage >= 0.8*nominal {
					packs = p
				}
				break
			}
		}
	}
	if low > 0 && high > low && q.BatteryVoltage > 0 {
		act := q.BatteryVoltage * packs
		c := 100 * (act - low) / (high - low)
		num("battery.charge", min(max(c, 0), 100), "%.0f")
		num("battery.voltage.low", low, "%.2f")
		num("battery.voltage.high", high, "%.2f")
	}
	return out
}

// powercomQ1Reports returns PowerCOM's tunnel reports 0xa0..0xae (feature)
// that the descriptor declares.
func powercomQ1Reports(d *Descriptor) []ReportRef {
	var refs []ReportRef
	for _, id := range d.ReportIDs(Feature) {
		if id >= 0xa0 && id <= 0xae {
			refs = append(refs, ReportRef{id, Feature})
		}
	}
	return refs
}

// powercomQ1 reassembles the ASCII Q1 reply PowerCOM units tunnel through
// feature reports 0xa0..0xae (the data bytes after each report ID, the
// first byte of 0xa0 being a length) and parses it.
func powercomQ1(d *Descriptor, data *HIDData) (Q1, error) {
	var b strings.Builder
	for _, r := range powercomQ1Reports(d) {
		rep, ok := data.Reports[r]
		if !ok || len(rep) < 2 {
			break
		}
		b.Write(rep[1:])
		if strings.IndexByte(b.String(), '\r') >= 0 {
			break
		}
	}
	s := b.String()
	if i := strings.IndexByte(s, '('); i >= 0 {
		s = s[i:]
	}
	return ParseQ1(s)
}
