package usbtool

import (
	"fmt"
	"strconv"
	"strings"
)

// A Path is the chain of usages from the application collection down to a
// field, as 32-bit nodes (page<<16 | usage). Nodes of the form
// 0x00ffnnnn are the indexes NUT appends for vendor-defined collection types
// and print as "[n]".
type Path []uint32

// indexNode reports whether n is a collection index node (printed "[n]").
func indexNode(n uint32) bool { return n&0xffff0000 == 0x00ff0000 }

// eatonUsages names the MGE/Eaton vendor page 0xffff usages that appear in
// Eaton report descriptors (NUT mge-hid names them so).
var eatonUsages = map[uint32]string{
	0xffff0005: "USB",
	0xffff0014: "Inverter",
	0xffff001c: "HistorySystem",
	0xffff001e: "Event",
	0xffff001f: "EventID",
	0xffff0022: "OverallAlarm",
	0xffff0041: "ConverterType",
	0xffff004a: "ShortCircuit",
	0xffff004d: "RemainingCapacityLimitSetting",
	0xffff0074: "VoltageTooHigh",
	0xffff0075: "VoltageTooLow",
	0xffff0094: "Mode",
	0xffff0095: "Country",
	0xffff0098: "Code",
	0xffff00e5: "System",
	0xffff00e9: "Status",
	0xffff00f0: "iModel",
	0xffff00f1: "iVersion",
}

// eatonVendors are the vendor IDs whose descriptors use the MGE/Eaton
// vendor page (MGE/Eaton, Dell, Powerware, HP, AEG, Phoenixtec OEMs, IBM,
// KSTAR).
var eatonVendors = map[uint16]bool{0x0463: true, 0x06da: true, 0x047c: true, 0x0592: true, 0x03f0: true, 0x2b2d: true, 0x04b3: true, 0x09d6: true}

// UsageName returns the name of a usage node: the PDC name for pages 0x84
// and 0x85, a vendor name for the vendor's own page when vid is known, or
// the node as 8 hex digits (NUT's notation, e.g. "ff860060").
func UsageName(node uint32, vid uint16) string {
	if indexNode(node) {
		return "[" + strconv.Itoa(int(node&0xffff)) + "]"
	}
	page, id := uint16(node>>16), uint16(node)
	switch page {
	case PagePowerDevice:
		if n, ok := powerDeviceUsages[id]; ok {
			return n
		}
	case PageBatterySystem:
		if n, ok := batterySystemUsages[id]; ok {
			return n
		}
	case 0xffff:
		if n, ok := eatonUsages[node]; ok && eatonVendors[vid] {
			return n
		}
	}
	return fmt.Sprintf("%08x", node)
}

// Name returns the dotted path name with vendor-specific usage names for vid
// (0 for none), e.g. "UPS.PowerSummary.PresentStatus.ACPresent".
func (p Path) Name(vid uint16) string {
	var b strings.Builder
	for i, n := range p {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(UsageName(n, vid))
	}
	return b.String()
}

// String returns the dotted path name using the standard PDC names only.
func (p Path) String() string { return p.Name(0) }
