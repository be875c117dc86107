package usbtool

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Selector picks a USB UPS. Zero VID/PID means "the one UPS-like device
// attached"; with several, [Find] refuses to guess.
type Selector struct {
	VID, PID uint16
	Serial   string
}

// String returns the selector in the form [ParseSelector] accepts.
func (s Selector) String() string {
	if s.VID == 0 && s.PID == 0 && s.Serial == "" {
		return "usb"
	}
	v := fmt.Sprintf("usb://%04x:%04x", s.VID, s.PID)
	if s.Serial != "" {
		v += "?serial=" + url.QueryEscape(s.Serial)
	}
	return v
}

// Matches reports whether the device matches the selector. A zero
// selector matches only UPS-like devices ([GuessProtocol] is not
// [ProtocolUnknown]).
func (s Selector) Matches(d DeviceInfo) bool {
	if s.VID == 0 && s.PID == 0 {
		if GuessProtocol(d.VID, d.PID) == ProtocolUnknown {
			return false
		}
	} else if d.VID != s.VID || d.PID != s.PID {
		return false
	}
	return s.Serial == "" || s.Serial == strings.TrimSpace(d.Serial)
}

const selectorExample = `want "usb", "usb://VID:PID" or "usb://VID:PID?serial=XYZ" with 4-digit hex ids, e.g. usb://0001:0000`

// ParseSelector parses "usb", "usb://VID:PID" and
// "usb://VID:PID?serial=XYZ" (hex ids). Errors carry an example.
func ParseSelector(s string) (Selector, error) {
	if s == "usb" || s == "usb://" {
		return Selector{}, nil
	}
	rest, ok := strings.CutPrefix(s, "usb://")
	if !ok {
		return Selector{}, fmt.Errorf("invalid USB source %q: %s", s, selectorExample)
	}
	ids, query, _ := strings.Cut(rest, "?")
	sel, err := ParseVIDPID(ids)
	if err != nil {
		return Selector{}, fmt.Errorf("invalid USB source %q: %s", s, selectorExample)
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return Selector{}, fmt.Errorf("invalid USB source %q: %v: %s", s, err, selectorExample)
		}
		for k := range q {
			if k != "serial" {
				return Selector{}, fmt.Errorf("invalid USB source %q: unknown parameter %q: %s", s, k, selectorExample)
			}
		}
		sel.Serial = q.Get("serial")
	}
	return sel, nil
}

// ParseVIDPID parses "VID:PID", two hex numbers of 1 to 4 digits, e.g.
// "051d:0002".
func ParseVIDPID(s string) (Selector, error) {
	v, p, ok := strings.Cut(s, ":")
	vid, err1 := strconv.ParseUint(v, 16, 16)
	pid, err2 := strconv.ParseUint(p, 16, 16)
	if !ok || err1 != nil || err2 != nil || len(v) > 4 || len(p) > 4 {
		return Selector{}, fmt.Errorf("invalid device %q: want VID:PID, two hex numbers of up to 4 digits separated by a colon, e.g. 051d:0002", s)
	}
	return Selector{VID: uint16(vid), PID: uint16(pid)}, nil
}

// Protocol is the guess of how a device speaks.
type Protocol string

// Protocols.
const (
	ProtocolUnknown Protocol = ""
	ProtocolHID     Protocol = "hid-pdc"
	ProtocolKrauler Protocol = "megatec-krauler"
	ProtocolCypress Protocol = "megatec-cypress"
)

// megatecIDs are Megatec/Q1 units by VID:PID (NUT nutdrv_qx / blazer_usb).
// 0665:5161 is also used by a Legrand Keor with a real PDC descriptor, so
// the descriptor is always checked first.
var megatecIDs = map[[2]uint16]Protocol{
	{0x0001, 0x0000}: ProtocolKrauler, // Krauler, CLASSIC PRO UPS1200LX/UPS1500PS, many OEMs
	{0x0665, 0x5161}: ProtocolCypress, // Cypress USB-serial bridge
	{0x0f03, 0x0001}: ProtocolCypress, // Unitek Alpha 1200Sx
	{0x06da, 0x0003}: ProtocolCypress, // Phoenixtec/Mustek Megatec-over-HID
}

// hidVendors are vendors whose UPSes are HID Power Devices (NUT
// usbhid-ups subdrivers).
var hidVendors = map[uint16]string{
	0x051d: "APC", 0x0764: "CyberPower", 0x0463: "MGE/Eaton", 0x047c: "Dell", 0x0592: "Powerware",
	0x09ae: "Tripp Lite", 0x10af: "Liebert", 0x050d: "Belkin", 0x06da: "Phoenixtec", 0x0d9f: "PowerCOM",
	0x2b2d: "AEG", 0x04b3: "IBM", 0x09d6: "KSTAR", 0x05dd: "Delta", 0x075d: "iDowell", 0x2e51: "Ever",
	0x2e66: "Salicru", 0x1cb0: "Legrand", 0x4234: "PowerVar", 0x04d8: "OpenUPS", 0x3746: "EcoFlow",
}

// GuessProtocol guesses the protocol from the VID:PID alone. [ReadVars]
// confirms it from the report descriptor.
func GuessProtocol(vid, pid uint16) Protocol {
	if p, ok := megatecIDs[[2]uint16{vid, pid}]; ok {
		return p
	}
	if _, ok := hidVendors[vid]; ok {
		return ProtocolHID
	}
	return ProtocolUnknown
}

// Options configures [Read].
type Options struct {
	HID     HIDOptions
	Megatec MegatecOptions
}

// Find returns the one device the backend lists that matches sel:
// [ErrNoDevice] when none does, [ErrAmbiguous] when several do (two UPSes
// and a selector without VID:PID, or two units of one model without a
// serial), since the wrong UPS's readings or shutdown command could power
// a machine off when it should not, or leave it running when it must go.
func Find(ctx context.Context, b Backend, sel Selector) (DeviceInfo, error) {
	devs, err := b.List(ctx)
	if err != nil {
		return DeviceInfo{}, err
	}
	var found []DeviceInfo
	for _, d := range devs {
		if sel.Matches(d) {
			found = append(found, d)
		}
	}
	if len(found) > 1 {
		ids := make([]string, len(found))
		for i, d := range found {
			ids[i] = d.ID()
			if d.Serial != "" {
				ids[i] += fmt.Sprintf(" (serial %q)", strings.TrimSpace(d.Serial))
			}
		}
		return DeviceInfo{}, fmt.Errorf("%w %s: %s", ErrAmbiguous, sel, strings.Join(ids, ", "))
	}
	if len(found) == 1 {
		return found[0], nil
	}
	want := "a UPS-like device"
	if sel.VID != 0 || sel.PID != 0 {
		want = fmt.Sprintf("%04x:%04x", sel.VID, sel.PID)
	}
	if sel.Serial != "" {
		want += fmt.Sprintf(" with serial %q", sel.Serial)
	}
	return DeviceInfo{}, fmt.Errorf("%w: looked for %s among %d USB device(s)", ErrNoDevice, want, len(devs))
}

// Read opens the device sel picks on backend b, reads it once with the
// protocol its report descriptor (or, for non-PDC devices, its VID:PID)
// calls for, and returns NUT-named variables.
func Read(ctx context.Context, b Backend, sel Selector, opt Options) (map[string]string, error) {
	info, err := Find(ctx, b, sel)
	if err != nil {
		return nil, err
	}
	t, err := b.Open(ctx, info)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", info.ID(), err)
	}
	defer t.Close()
	vars, err := ReadTransport(ctx, t, opt)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", info.ID(), err)
	}
	return vars, nil
}

// ReadTransport reads an opened device once. A report descriptor with
// Power Device usages selects HID PDC; otherwise a known Megatec VID:PID
// selects the Megatec/Q1 style.
func ReadTransport(ctx context.Context, t Transport, opt Options) (map[string]string, error) {
	d, style, err := detect(ctx, t)
	if err != nil {
		return nil, err
	}
	if d != nil {
		return readParsedHID(ctx, t, d, opt.HID)
	}
	return ReadMegatec(ctx, t, style, opt.Megatec)
}

// detect chooses an opened device's protocol: a report descriptor with
// Power Device usages means HID PDC, returned parsed and fixed for the
// device; otherwise a known Megatec VID:PID means that Megatec/Q1 style.
// Neither is [ErrUnsupported].
func detect(ctx context.Context, t Transport) (*Descriptor, MegatecStyle, error) {
	info := t.Info()
	raw, derr := ReadReportDescriptor(ctx, t)
	if derr != nil && isFatal(derr) {
		return nil, 0, derr
	}
	if derr == nil {
		d, err := ParseDescriptor(raw)
		if err == nil && d.IsPowerDevice() {
			d.Fix(info.VID, info.PID)
			return d, 0, nil
		}
	}
	switch megatecIDs[[2]uint16{info.VID, info.PID}] {
	case ProtocolKrauler:
		return nil, Krauler, nil
	case ProtocolCypress:
		return nil, Cypress, nil
	}
	if derr != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrUnsupported, derr)
	}
	return nil, 0, fmt.Errorf("%w: the report descriptor has no Power Device usages and %s is no known Megatec unit", ErrUnsupported, info.ID())
}

// ReadVars opens the device, reads it once (HID PDC or Megatec/Q1, chosen
// by descriptor/VID:PID) and returns NUT-named variables: "ups.status"
// (space-separated tokens), "battery.charge", "battery.runtime" (when
// known), ... It uses the libusb backend; errors wrap [ErrNoDevice],
// [ErrDeviceBusy], [fs.ErrPermission] or [ErrNoBackend] where they apply.
func ReadVars(ctx context.Context, sel Selector) (map[string]string, error) {
	b, err := OpenBackend()
	if err != nil {
		return nil, err
	}
	vars, err := Read(ctx, b, sel, Options{})
	if cerr := b.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return vars, nil
}
