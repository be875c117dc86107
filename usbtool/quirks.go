package usbtool

// Vendor IDs with quirks (NUT subdrivers apc-hid, cps-hid, tripplite-hid,
// powercom-hid).
const (
	vidAPC        = 0x051d
	vidCyberPower = 0x0764
	vidTrippLite  = 0x09ae
	vidPowerCOM   = 0x0d9f
)

// cpsVoltageLogMax is the logical maximum NUT's cps-hid substitutes for
// CyberPower voltages with a broken range (it includes a safety margin).
const cpsVoltageLogMax = 511

// Fix applies NUT's report descriptor corrections for vid:pid in place
// (apc_fix_report_desc, cps_fix_report_desc) and returns a line for each
// change.
func (d *Descriptor) Fix(vid, pid uint16) []string {
	switch {
	case vid == vidAPC && pid == 0x0002:
		return d.fixAPC()
	case vid == vidCyberPower && (pid == 0x0501 || pid == 0x0601):
		return d.fixCyberPower()
	}
	return nil
}

// findID returns the first field of report id whose own usage is u.
func (d *Descriptor) findID(id uint8, u uint32) *Field {
	for i := range d.Fields {
		if f := &d.Fields[i]; f.ReportID == id && f.Usage() == u {
			return f
		}
	}
	return nil
}

const (
	usageVoltage             uint32 = 0x00840030
	usageConfigVoltage       uint32 = 0x00840040
	usageConfigActivePower   uint32 = 0x00840044
	usageHighVoltageTransfer uint32 = 0x00840054
)

// fixAPC: on 230 V Back-UPS units Input.Voltage (0x31) and ConfigVoltage
// (0x30) have a logical maximum below HighVoltageTransfer's (0x33).
func (d *Descriptor) fixAPC() []string {
	var done []string
	hvt := d.findID(0x33, usageHighVoltageTransfer)
	if hvt == nil {
		return nil
	}
	if f := d.findID(0x31, usageVoltage); f != nil && hvt.LogMax > f.LogMax {
		f.LogMin, f.LogMax = 0, 2*hvt.LogMax
		done = append(done, "apc: Input.Voltage (0x31) logical range set to 0..2*HighVoltageTransfer max")
	}
	if f := d.findID(0x30, usageConfigVoltage); f != nil && hvt.LogMax > f.LogMax {
		f.LogMax = 255
		done = append(done, "apc: Input.ConfigVoltage (0x30) logical maximum set to 255")
	}
	return done
}

// fixCyberPower: Output.Voltage (0x12), and sometimes Input.Voltage (0x0f),
// inherit HighVoltageTransfer's (0x10) logical range; encoded-negative
// maxima are capped by the field width; ConfigActivePower (0x18) is raised
// to 2048.
func (d *Descriptor) fixCyberPower() []string {
	var done []string
	out, in := d.findID(0x12, usageVoltage), d.findID(0x0f, usageVoltage)
	if hvt := d.findID(0x10, usageHighVoltageTransfer); hvt != nil && out != nil &&
		out.LogMin == hvt.LogMin && out.LogMax == hvt.LogMax {
		out.LogMin, out.LogMax = 0, cpsVoltageLogMax
		done = append(done, "cps: Output.Voltage (0x12) logical range reset to 0..511")
		if in != nil && in.LogMin == hvt.LogMin && in.LogMax == hvt.LogMax {
			in.LogMin, in.LogMax = 0, cpsVoltageLogMax
			done = append(done, "cps: Input.Voltage (0x0f) logical range reset to 0..511")
		}
	}
	if out != nil && in != nil && (out.AssumedLogMax || in.AssumedLogMax) {
		outMax, inMax := out.LogMax, in.LogMax
		if out.AssumedLogMax && outMax < cpsVoltageLogMax {
			outMax = cpsVoltageLogMax
		}
		if in.AssumedLogMax && inMax < cpsVoltageLogMax {
			inMax = cpsVoltageLogMax
		}
		if out.AssumedLogMax && outMax < inMax {
			outMax = inMax
		} else if in.AssumedLogMax && inMax < outMax {
			inMax = outMax
		}
		capBits := func(f *Field, v int64) int64 {
			if f.AssumedLogMax && f.Size > 1 && f.Size < 63 {
				v = min(v, int64(1)<<f.Size-1)
			}
			return v
		}
		inMax, outMax = capBits(in, inMax), capBits(out, outMax)
		if inMax != in.LogMax {
			in.LogMax = inMax
			done = append(done, "cps: Input.Voltage logical maximum corrected")
		}
		if outMax != out.LogMax {
			out.LogMax = outMax
			done = append(done, "cps: Output.Voltage logical maximum corrected")
		}
	}
	if f := d.findID(0x18, usageConfigActivePower); f != nil && f.LogMax < 2048 {
		f.LogMax = 2048
		done = append(done, "cps: ConfigActivePower (0x18) logical maximum raised to 2048")
	}
	return done
}

// scaleQuirks corrects decoded values the way NUT's subdrivers do after
// reading them. vals holds the numeric values by NUT variable name.
func scaleQuirks(vid, pid uint16, vals map[string]float64) {
	scale := func(name string, k float64) {
		if v, ok := vals[name]; ok {
			vals[name] = v * k
		}
	}
	switch vid {
	case vidCyberPower:
		if pid == 0x0501 {
			// Some firmwares report the battery voltage ×1.5 and the
			// frequencies in 0.1 Hz (cps-hid battery/frequency checks).
			v, okv := vals["battery.voltage"]
			n, okn := vals["battery.voltage.nominal"]
			if okv && okn && n > 0 && v/n > 1.4 {
				scale("battery.voltage", 2.0/3)
			}
			for _, f := range []string{"input.frequency", "output.frequency"} {
				if v, ok := vals[f]; ok && (v < 45 || v > 65) && v/10 >= 45 && v/10 <= 65 {
					vals[f] = v / 10
				}
			}
		}
		if v, ok := vals["battery.charge"]; ok && v > 100 {
			vals["battery.charge"] = 100
		}
	case vidTrippLite:
		switch {
		case pid == 0x3016 || pid == 0x3024:
			// SMART1500LCDT: voltages declared 1e5 too small, frequency
			// and current 100 too large (tripplite-hid smart1500lcdt_scale).
			for _, n := range []string{"battery.voltage", "battery.voltage.nominal", "input.voltage", "input.voltage.nominal", "output.voltage", "output.voltage.nominal"} {
				scale(n, 1e5)
			}
			for _, n := range []string{"input.frequency", "output.frequency", "output.current"} {
				scale(n, 0.01)
			}
		case pid >= 0x1003 && pid <= 0x2014:
			scale("battery.voltage", 0.1)
		}
	}
}
