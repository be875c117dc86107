package usbtool

import (
	"fmt"
	"strings"
)

// Limits for report descriptors. NUT uses 6144 bytes, path depth 10 and a
// usage stack of 50; we accept a little more but never grow without bound.
const (
	MaxDescriptorSize = 6144
	maxPathDepth      = 16
	maxUsageStack     = 64
	maxFields         = 4096
)

// ItemType is the type of a short item (HID 1.11 §6.2.2.2).
type ItemType uint8

// Item types.
const (
	ItemMain     ItemType = 0
	ItemGlobal   ItemType = 1
	ItemLocal    ItemType = 2
	ItemReserved ItemType = 3 // long items (prefix 0xFE) land here
)

// ReportType is a HID report type, numbered as in GET_REPORT's wValue high
// byte.
type ReportType uint8

// Report types.
const (
	Input   ReportType = 1
	Output  ReportType = 2
	Feature ReportType = 3
)

func (t ReportType) String() string {
	switch t {
	case Input:
		return "input"
	case Output:
		return "output"
	case Feature:
		return "feature"
	}
	return fmt.Sprintf("type%d", uint8(t))
}

// An Item is one item of a report descriptor, as it appears in the bytes.
type Item struct {
	Pos   int      // byte offset of the prefix in the descriptor
	Raw   []byte   // prefix and data bytes
	Type  ItemType // main, global, local
	Tag   uint8    // tag within the type
	Data  uint32   // data bytes, little-endian, zero-extended
	Size  int      // number of data bytes (0, 1, 2 or 4; long items: their length)
	Depth int      // collection nesting level before this item
}

// Signed returns the item's data sign-extended from its encoded size.
func (it Item) Signed() int64 {
	switch it.Size {
	case 1:
		return int64(int8(it.Data))
	case 2:
		return int64(int16(it.Data))
	case 4:
		return int64(int32(it.Data))
	}
	return int64(it.Data)
}

// Name returns the item's name from the HID specification, e.g.
// "Usage Page" or "Logical Maximum".
func (it Item) Name() string {
	names := map[ItemType][]string{
		ItemMain:   {8: "Input", 9: "Output", 10: "Collection", 11: "Feature", 12: "End Collection"},
		ItemGlobal: {"Usage Page", "Logical Minimum", "Logical Maximum", "Physical Minimum", "Physical Maximum", "Unit Exponent", "Unit", "Report Size", "Report ID", "Report Count", "Push", "Pop"},
		ItemLocal:  {"Usage", "Usage Minimum", "Usage Maximum", "Designator Index", "Designator Minimum", "Designator Maximum", 7: "String Index", 8: "String Minimum", 9: "String Maximum", 10: "Delimiter"},
	}
	if it.Type == ItemReserved && it.Tag == 0xf {
		return "Long Item"
	}
	if l := names[it.Type]; int(it.Tag) < len(l) && l[it.Tag] != "" {
		return l[it.Tag]
	}
	return fmt.Sprintf("Reserved (type %d tag %d)", it.Type, it.Tag)
}

// A Field is one recorded element of an Input, Output or Feature item: a
// value in a report, with the global state that was current when it was
// declared.
type Field struct {
	ReportID      uint8
	Type          ReportType
	Path          Path
	Offset        int // bit offset, counted after the report ID byte
	Size          int // bits
	LogMin        int64
	LogMax        int64
	AssumedLogMax bool // LogMax was encoded negative and reinterpreted as unsigned
	PhysMin       int64
	PhysMax       int64
	HavePhysMin   bool
	HavePhysMax   bool
	Unit          uint32
	UnitExp       int8
	Flags         uint32 // main item data: constant, variable, relative, ...
	Item          int    // index in Descriptor.Items of the main item that declared it
}

// Usage returns the field's own usage (the last node of its path).
func (f *Field) Usage() uint32 {
	if len(f.Path) == 0 {
		return 0
	}
	return f.Path[len(f.Path)-1]
}

// A Descriptor is a parsed HID report descriptor.
type Descriptor struct {
	Raw    []byte
	Items  []Item
	Fields []Field
	// lengths holds the number of bits per (report ID, type).
	lengths map[reportKey]int
	// byPath indexes Fields by standard path name, built on first use.
	byPath map[string][]int
}

type reportKey struct {
	id  uint8
	typ ReportType
}

// ReportLen returns the length in bytes, including the report ID byte when
// id is not 0, of report id of type typ as the descriptor declares it.
// Devices may answer with fewer bytes; callers should not insist on it.
func (d *Descriptor) ReportLen(id uint8, typ ReportType) int {
	bits, ok := d.lengths[reportKey{id, typ}]
	if !ok {
		return 0
	}
	n := (bits + 7) / 8
	if id != 0 {
		n++
	}
	return n
}

// ReportIDs returns the distinct report IDs that carry fields of the given
// types, in ascending order.
func (d *Descriptor) ReportIDs(types ...ReportType) []uint8 {
	var seen [256]bool
	for _, f := range d.Fields {
		for _, t := range types {
			if f.Type == t {
				seen[f.ReportID] = true
			}
		}
	}
	var ids []uint8
	for i, s := range seen {
		if s {
			ids = append(ids, uint8(i))
		}
	}
	return ids
}

// IsPowerDevice reports whether the descriptor declares a HID Power Device:
// an application collection or field path rooted in a usage of page 0x84 or
// 0x85.
func (d *Descriptor) IsPowerDevice() bool {
	for _, f := range d.Fields {
		if len(f.Path) > 0 {
			if p := f.Path[0] >> 16; p == PagePowerDevice || p == PageBatterySystem {
				return true
			}
		}
	}
	return false
}

// Find returns the first field whose path name (standard names) is path and
// whose type is typ, or nil.
func (d *Descriptor) Find(path string, typ ReportType) *Field {
	if d.byPath == nil {
		d.byPath = make(map[string][]int, len(d.Fields))
		for i := range d.Fields {
			n := d.Fields[i].Path.String()
			d.byPath[n] = append(d.byPath[n], i)
		}
	}
	for _, i := range d.byPath[path] {
		if d.Fields[i].Type == typ {
			return &d.Fields[i]
		}
	}
	return nil
}

// ParseDescriptor parses a HID report descriptor with the semantics of NUT's
// hidparser.c: usages combine with the current usage page, collections push
// their usage (plus an index node for vendor-defined collection types) onto
// the path, each element of a main item takes the next pending usage and
// elements left without one are padding, bit offsets are tracked per
// (report ID, type), logical and physical limits are sign-extended from
// their encoded size with LogMax reinterpreted as unsigned when it would be
// below LogMin, and the unit exponent is a signed nibble.
//
// Errors wrap [ErrMalformed].
func ParseDescriptor(b []byte) (*Descriptor, error) {
	if len(b) > MaxDescriptorSize {
		return nil, fmt.Errorf("%w: report descriptor is %d bytes, more than %d", ErrMalformed, len(b), MaxDescriptorSize)
	}
	d := &Descriptor{Raw: b, lengths: map[reportKey]int{}}
	var (
		page        uint16
		usages      []uint32
		path        Path
		global      Field // the global state carried into fields
		reportCount int
		depth       int
	)
	offsets := map[reportKey]int{}
	for pos := 0; pos < len(b); {
		prefix := b[pos]
		it := Item{Pos: pos, Type: ItemType(prefix >> 2 & 3), Tag: prefix >> 4, Depth: depth}
		if prefix == 0xfe { // long item: size, tag, data
			if pos+3 > len(b) {
				return nil, fmt.Errorf("%w: truncated long item at byte %d", ErrMalformed, pos)
			}
			it.Size = int(b[pos+1])
			end := pos + 3 + it.Size
			if end > len(b) {
				return nil, fmt.Errorf("%w: truncated long item at byte %d", ErrMalformed, pos)
			}
			it.Raw = b[pos:end]
			d.Items = append(d.Items, it)
			pos = end
			continue
		}
		it.Size = [4]int{0, 1, 2, 4}[prefix&3]
		if pos+1+it.Size > len(b) {
			return nil, fmt.Errorf("%w: item 0x%02x at byte %d needs %d data bytes, descriptor ends", ErrMalformed, prefix, pos, it.Size)
		}
		for i := 0; i < it.Size; i++ {
			it.Data |= uint32(b[pos+1+i]) << (8 * i)
		}
		it.Raw = b[pos : pos+1+it.Size]
		pos += 1 + it.Size

		switch it.Type {
		case ItemGlobal:
			switch it.Tag {
			case 0:
				page = uint16(it.Data)
			case 1:
				global.LogMin = it.Signed()
			case 2:
				global.LogMax = it.Signed()
				global.AssumedLogMax = false
				if global.LogMax < global.LogMin {
					global.LogMax = int64(it.Data)
					global.AssumedLogMax = true
				}
			case 3:
				global.PhysMin, global.HavePhysMin = it.Signed(), true
			case 4:
				global.PhysMax, global.HavePhysMax = it.Signed(), true
			case 5:
				e := int8(uint8(it.Data))
				if e > 7 {
					e = int8(uint8(e) | 0xf0)
				}
				global.UnitExp = e
			case 6:
				global.Unit = it.Data
			case 7:
				global.Size = int(uint8(it.Data))
			case 8:
				global.ReportID = uint8(it.Data)
			case 9:
				reportCount = int(uint8(it.Data))
			}
		case ItemLocal:
			if it.Tag == 0 { // Usage
				if len(usages) >= maxUsageStack {
					return nil, fmt.Errorf("%w: more than %d pending usages at byte %d", ErrMalformed, maxUsageStack, it.Pos)
				}
				u := it.Data
				if it.Size <= 2 {
					u = uint32(page)<<16 | it.Data&0xffff
				}
				usages = append(usages, u)
			}
		case ItemMain:
			switch it.Tag {
			case 10: // Collection
				if len(path)+2 > maxPathDepth {
					return nil, fmt.Errorf("%w: collections nested deeper than %d at byte %d", ErrMalformed, maxPathDepth, it.Pos)
				}
				var u uint32
				if len(usages) > 0 {
					u = usages[0]
				}
				path = append(path, u)
				if it.Data >= 0x80 {
					path = append(path, 0x00ff0000|it.Data&0x7f)
				}
				usages = usages[:0]
				depth++
			case 12: // End Collection
				if depth == 0 || len(path) == 0 {
					return nil, fmt.Errorf("%w: End Collection without Collection at byte %d", ErrMalformed, it.Pos)
				}
				if indexNode(path[len(path)-1]) && len(path) > 1 {
					path = path[:len(path)-1]
				}
				path = path[:len(path)-1]
				usages = usages[:0]
				depth--
				it.Depth = depth
			case 8, 9, 11: // Input, Output, Feature
				typ := map[uint8]ReportType{8: Input, 9: Output, 11: Feature}[it.Tag]
				k := reportKey{global.ReportID, typ}
				for i := 0; i < reportCount; i++ {
					var u uint32
					if i < len(usages) {
						u = usages[i]
					}
					if u != 0 {
						if len(d.Fields) >= maxFields {
							return nil, fmt.Errorf("%w: more than %d fields", ErrMalformed, maxFields)
						}
						f := global
						f.Type = typ
						f.Flags = it.Data
						f.Item = len(d.Items)
						f.Offset = offsets[k]
						f.Path = append(append(make(Path, 0, len(path)+1), path...), u)
						d.Fields = append(d.Fields, f)
					}
					offsets[k] += global.Size
				}
				if offsets[k] > d.lengths[k] {
					d.lengths[k] = offsets[k]
				}
				if _, ok := d.lengths[k]; !ok {
					d.lengths[k] = 0
				}
				usages = usages[:0]
			}
		}
		d.Items = append(d.Items, it)
	}
	if depth != 0 {
		return nil, fmt.Errorf("%w: %d collection(s) not closed", ErrMalformed, depth)
	}
	return d, nil
}

// Dump returns the item tree: one line per item with its byte offset, raw
// bytes, name and value, and below each main item the fields it declares
// with their paths (vendor names for vid), report IDs, bit offsets and sizes.
func (d *Descriptor) Dump(vid uint16) string {
	var b strings.Builder
	var page uint16
	fi := 0
	for i, it := range d.Items {
		hex := make([]string, len(it.Raw))
		for j, c := range it.Raw {
			hex[j] = fmt.Sprintf("%02x", c)
		}
		indent := strings.Repeat("  ", it.Depth)
		fmt.Fprintf(&b, "%04x  %-15s %s%s", it.Pos, strings.Join(hex, " "), indent, it.Name())
		switch {
		case it.Type == ItemGlobal && it.Tag == 0:
			page = uint16(it.Data)
			fmt.Fprintf(&b, " 0x%02x", it.Data)
		case it.Type == ItemGlobal && it.Tag == 6:
			fmt.Fprintf(&b, " 0x%08x", it.Data)
		case it.Type == ItemLocal && it.Tag == 0:
			u := it.Data
			if it.Size <= 2 {
				u = uint32(page)<<16 | it.Data&0xffff
			}
			fmt.Fprintf(&b, " %s", UsageName(u, vid))
		case it.Type == ItemGlobal, it.Type == ItemLocal:
			fmt.Fprintf(&b, " %d", it.Signed())
		case it.Type == ItemMain && it.Tag == 10:
			fmt.Fprintf(&b, " (%s)", collectionType(it.Data))
		case it.Type == ItemMain && it.Tag != 12:
			fmt.Fprintf(&b, " (%s)", mainFlags(it.Data))
		}
		b.WriteByte('\n')
		for ; fi < len(d.Fields) && d.Fields[fi].Item == i; fi++ {
			f := &d.Fields[fi]
			fmt.Fprintf(&b, "%22s%s  %s id=0x%02x off=%d size=%d log=%d..%d", "", indent, f.Path.Name(vid), f.ReportID, f.Offset, f.Size, f.LogMin, f.LogMax)
			if f.HavePhysMin && f.HavePhysMax && (f.PhysMin != 0 || f.PhysMax != 0) {
				fmt.Fprintf(&b, " phys=%d..%d", f.PhysMin, f.PhysMax)
			}
			if f.Unit != 0 || f.UnitExp != 0 {
				fmt.Fprintf(&b, " unit=0x%08x exp=%d", f.Unit, f.UnitExp)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func collectionType(t uint32) string {
	switch t {
	case 0:
		return "Physical"
	case 1:
		return "Application"
	case 2:
		return "Logical"
	case 3:
		return "Report"
	case 4:
		return "Named Array"
	case 5:
		return "Usage Switch"
	case 6:
		return "Usage Modifier"
	}
	if t >= 0x80 {
		return fmt.Sprintf("Vendor 0x%02x", t)
	}
	return fmt.Sprintf("Reserved 0x%02x", t)
}

func mainFlags(v uint32) string {
	pick := func(bit uint32, off, on string) string {
		if v&bit != 0 {
			return on
		}
		return off
	}
	return strings.Join([]string{pick(1, "Data", "Constant"), pick(2, "Array", "Variable"), pick(4, "Absolute", "Relative")}, ",")
}
