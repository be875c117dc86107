package usbtool

import "math"

// Units whose NUT exponent base differs from the SI unit (HID PDC 1.0
// §3.2.3): volts and volt-amperes/watts are encoded in 10^-7 of the SI
// unit system the HID unit item describes, so 7 is subtracted from the
// unit exponent. Every other unit (A, s, K, Hz, A·s, none) keeps it.
const (
	UnitVolt uint32 = 0x00f0d121
	UnitWatt uint32 = 0x0000d121 // also VA
)

// hibit returns the number of significant bits of x.
func hibit(x uint64) uint {
	var n uint
	for x > 0 {
		x >>= 1
		n++
	}
	return n
}

// Raw extracts the field's bits from report (report[0] is the report ID
// when the field's ID is not 0), without any interpretation. ok is false
// when the report is too short to hold the field.
func (f *Field) Raw(report []byte) (v uint64, ok bool) {
	bit, n, ok := f.bits(report)
	if !ok {
		return 0, false
	}
	for w := 0; w < n; w, bit = w+1, bit+1 {
		if report[bit>>3]&(1<<(bit&7)) != 0 {
			v |= 1 << w
		}
	}
	return v, true
}

// bits returns where the field's bits start in report (report[0] is the
// report ID when the field's ID is not 0) and how many are used (at most
// 32); ok is false when report is too short to hold them.
func (f *Field) bits(report []byte) (bit, n int, ok bool) {
	bit = f.Offset
	if f.ReportID != 0 {
		bit += 8
	}
	n = min(f.Size, 32)
	if f.Offset < 0 || n < 0 || (bit+n+7)/8 > len(report) {
		return 0, 0, false
	}
	return bit, n, true
}

// Logical returns the field's logical value from report the way NUT's
// GetValue does: the bits are masked to the width needed for
// LogMin..LogMax (devices put garbage in the high bits), sign-extended
// when LogMin is negative, and clamped to LogMin..LogMax.
func (f *Field) Logical(report []byte) (int64, bool) {
	raw, ok := f.Raw(report)
	if !ok {
		return 0, false
	}
	mag := func(x int64) uint64 {
		if x >= 0 {
			return uint64(x)
		}
		return uint64(-(x + 1))
	}
	signbit := uint64(1) << hibit(max(mag(f.LogMax), mag(f.LogMin)))
	mask := signbit - 1
	if f.LogMin < 0 {
		mask |= signbit
	}
	raw &= mask
	v := int64(raw)
	if f.LogMin < 0 && raw&signbit != 0 {
		v = int64(raw | ^mask)
	}
	return min(max(v, f.LogMin), f.LogMax), true
}

// Physical converts a logical value to the physical range when the field
// has a usable one (both limits present and not both 0), clamping to it;
// otherwise it returns the logical value.
func (f *Field) Physical(logical int64) float64 {
	factor, ok := f.physFactor()
	if !ok {
		return float64(logical)
	}
	p := float64(logical-f.LogMin)*factor + float64(f.PhysMin)
	return min(max(p, float64(f.PhysMin)), float64(f.PhysMax))
}

// physFactor returns the physical units of one logical unit, when the
// field has a usable physical range (both limits present, not both 0,
// and both ranges increasing).
func (f *Field) physFactor() (float64, bool) {
	if !f.HavePhysMin || !f.HavePhysMax || (f.PhysMin == 0 && f.PhysMax == 0) ||
		f.PhysMax <= f.PhysMin || f.LogMax <= f.LogMin {
		return 0, false
	}
	return float64(f.PhysMax-f.PhysMin) / float64(f.LogMax-f.LogMin), true
}

// Exponent returns the power of ten the physical value is scaled by: the
// unit exponent, less 7 for volts and watts.
func (f *Field) Exponent() int {
	e := int(f.UnitExp)
	if f.Unit == UnitVolt || f.Unit == UnitWatt {
		e -= 7
	}
	return e
}

// Value decodes the field from report into the value NUT reports: logical
// (masked, sign-extended, clamped), mapped to the physical range, times
// 10^[Field.Exponent]. ok is false when report is too short.
func (f *Field) Value(report []byte) (float64, bool) {
	l, ok := f.Logical(report)
	if !ok {
		return 0, false
	}
	return f.Physical(l) * math.Pow10(f.Exponent()), true
}

// Encode writes v, a value as [Field.Value] returns it, into the field's
// bits of report: the unit exponent and physical range are undone, the
// result is rounded and clamped to LogMin..LogMax and stored in two's
// complement. It is the inverse of Value for values the field can hold,
// and is what a device (or an emulator of one) does to build a report.
// ok is false when report is too short to hold the field.
func (f *Field) Encode(report []byte, v float64) (ok bool) {
	bit, n, ok := f.bits(report)
	if !ok || n == 0 {
		return false
	}
	p := v / math.Pow10(f.Exponent())
	if factor, ok := f.physFactor(); ok {
		p = (p-float64(f.PhysMin))/factor + float64(f.LogMin)
	}
	l := min(max(int64(math.Round(p)), f.LogMin), f.LogMax)
	raw := uint64(l)
	for w := 0; w < n; w, bit = w+1, bit+1 {
		if raw&(1<<w) != 0 {
			report[bit>>3] |= 1 << (bit & 7)
		} else {
			report[bit>>3] &^= 1 << (bit & 7)
		}
	}
	return true
}
