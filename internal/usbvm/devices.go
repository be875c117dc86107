package usbvm

import (
	"fmt"
	"strings"
)

// Kind is how a lab device is emulated.
type Kind string

// Device kinds.
const (
	KindHID     Kind = "hid"     // a captured HID Power Device of testdata/hid
	KindKrauler Kind = "krauler" // Megatec/Q1 over string descriptors (0001:0000)
	KindCypress Kind = "cypress" // Megatec/Q1 over SET_REPORT + interrupt IN
)

// Device is one emulated UPS of the lab and how NUT reads it: one VM boot
// each.
type Device struct {
	Name     string // for KindHID, the testdata/hid base name
	Kind     Kind
	VID, PID uint16
	BCD      uint16 // bcdDevice
	// Manufacturer, Product and Serial are the gadget's configfs strings
	// (indexes 1, 2 and 3). For krauler, index 3 is the Q1 reply and the
	// emulator owns it.
	Manufacturer, Product, Serial string
	Driver                        string   // NUT driver
	DriverOptions                 []string // extra ups.conf lines, "key = value"
}

// Devices are the lab's devices: every captured HID device with recorded
// values, and the Megatec units. The USB strings are the units' own where
// the captures name them (provenance notes), or plausible ones.
var Devices = []Device{
	{Name: "apc-back-ups-500", Kind: KindHID, VID: 0x051d, PID: 0x0002, BCD: 0x0100, Manufacturer: "American Power Conversion", Product: "Back-UPS 500 FW: 6.5.I USB FW: c1", Serial: "BB0000000500", Driver: "usbhid-ups"},
	{Name: "apc-back-ups-bk650m2-ch", Kind: KindHID, VID: 0x051d, PID: 0x0002, BCD: 0x0100, Manufacturer: "American Power Conversion", Product: "Back-UPS BK650M2-CH FW:294803G -292804G ", Serial: "9B0000000650", Driver: "usbhid-ups"},
	{Name: "cyberpower-cp1500pfclcd", Kind: KindHID, VID: 0x0764, PID: 0x0501, BCD: 0x0001, Manufacturer: "CPS", Product: "CP1500PFCLCD", Serial: "CTHGN0000001", Driver: "usbhid-ups"},
	{Name: "eaton-3s-700", Kind: KindHID, VID: 0x0463, PID: 0xffff, BCD: 0x0100, Manufacturer: "EATON", Product: "Eaton 3S", Serial: "000000000700", Driver: "usbhid-ups"},
	{Name: "liebert-gxt4", Kind: KindHID, VID: 0x10af, PID: 0x0000, BCD: 0x0100, Manufacturer: "Emerson Network Power", Product: "Liebert GXT4", Serial: "0000000000G4", Driver: "usbhid-ups"},
	{Name: "powercom-0d9f-0004", Kind: KindHID, VID: 0x0d9f, PID: 0x0004, BCD: 0x0002, Manufacturer: "POWERCOM Co.,LTD", Product: "HID UPS Battery", Serial: "004-0000001", Driver: "usbhid-ups"},
	{Name: "powerwalker-vi-1200-shl", Kind: KindHID, VID: 0x06da, PID: 0xffff, BCD: 0x0100, Manufacturer: "POWERWALKER", Product: "Offline UPS", Serial: "VI1200SHL001", Driver: "usbhid-ups"},
	{Name: "tripplite-09ae-3016", Kind: KindHID, VID: 0x09ae, PID: 0x3016, BCD: 0x0100, Manufacturer: "Tripp Lite", Product: "TRIPP LITE UPS", Serial: "2000000000001", Driver: "usbhid-ups"},
	{Name: "megatec-krauler", Kind: KindKrauler, VID: 0x0001, PID: 0x0000, BCD: 0x0100, Manufacturer: "CLASSIC PRO", Product: "UPS1200LX", Driver: "nutdrv_qx"},
	{Name: "megatec-cypress", Kind: KindCypress, VID: 0x0665, PID: 0x5161, BCD: 0x0100, Manufacturer: "Cypress Semiconductor", Product: "USB to Serial", Driver: "nutdrv_qx",
		// NUT finds Megatec itself, after probing other Q protocols for
		// about 20 s a start; naming it is what NUT's docs suggest.
		DriverOptions: []string{"\tprotocol = megatec"}},
}

// Lookup returns the device named name.
func Lookup(name string) (Device, error) {
	for _, d := range Devices {
		if d.Name == name {
			return d, nil
		}
	}
	return Device{}, fmt.Errorf("no lab device %q", name)
}

// ID returns "vvvv:pppp".
func (d Device) ID() string { return fmt.Sprintf("%04x:%04x", d.VID, d.PID) }

// Env returns the device's description for the VM's init, as shell
// variable assignments (single-quoted values).
func (d Device) Env() string {
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	var b strings.Builder
	for _, kv := range [][2]string{
		{"NAME", d.Name}, {"KIND", string(d.Kind)},
		{"VID", fmt.Sprintf("%04x", d.VID)}, {"PID", fmt.Sprintf("%04x", d.PID)}, {"BCD", fmt.Sprintf("%04x", d.BCD)},
		{"MFR", d.Manufacturer}, {"PRODUCT", d.Product}, {"SERIAL", d.Serial},
		{"DRIVER", d.Driver}, {"DRIVER_OPTIONS", strings.Join(d.DriverOptions, "\n")},
	} {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], q(kv[1]))
	}
	return b.String()
}
