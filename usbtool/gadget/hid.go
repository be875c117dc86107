package gadget

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/nutslave/nutslave/usbtool"
	"github.com/nutslave/nutslave/usbtool/usbtest"
)

// Standard and HID class requests a HID device answers.
const (
	reqGetDescriptor = 0x06
	reqGetReport     = 0x01
	reqSetReport     = 0x09
	reqSetIdle       = 0x0a

	typeStdInterfaceIn = 0x81
	typeClassIfaceIn   = 0xa1
	typeClassIfaceOut  = 0x21

	descReport = 0x22
)

// is reports whether s is request req with request type typ.
func (s Setup) is(typ, req uint8) bool { return s.RequestType == typ && s.Request == req }

// getReportDescriptor reports whether s is GET_DESCRIPTOR(Report), which
// every emulated device answers with its report descriptor.
func (s Setup) getReportDescriptor() bool {
	return s.is(typeStdInterfaceIn, reqGetDescriptor) && s.Value>>8 == descReport
}

// Battery-system usages the state is written to (page 0x85).
const (
	usageBelowRemainingCapacityLimit uint32 = 0x00850042
	usageCharging                    uint32 = 0x00850044
	usageDischarging                 uint32 = 0x00850045
	usageFullyCharged                uint32 = 0x00850046
	usageRemainingCapacity           uint32 = 0x00850066
	usageRunTimeToEmpty              uint32 = 0x00850068
	usageACPresent                   uint32 = 0x008500d0
	usageCapacityMode                uint32 = 0x0085002c
	usageFullChargeCapacity          uint32 = 0x00850067
)

// HID is an emulated HID Power Device: a report descriptor and the
// reports it serves, which [HID.Apply] rewrites from a [State]. It is
// safe for concurrent use.
type HID struct {
	desc *usbtool.Descriptor
	rec  *Recorder

	mu      sync.Mutex
	reports map[usbtool.ReportRef][]byte
	strs    []string
	// runtime0 and charge0 are the recorded runtime and charge; the
	// runtime is scaled with the charge from them.
	runtime0, charge0 float64
}

var _ Device = (*HID)(nil)

// NewHID returns a device serving descriptor raw and reports (by ID and
// type, each starting with its ID when the ID is not 0). A GET_REPORT for
// a type that has no report of that ID is answered from the other type's
// report of the same ID when the descriptor declares no field of the
// asked type there, as UPS firmwares mirror Input reports as Feature
// ones (NUT always asks for Feature). Commands are recorded to rec (may
// be nil).
func NewHID(raw []byte, reports map[usbtool.ReportRef][]byte, rec *Recorder) (*HID, error) {
	d, err := usbtool.ParseDescriptor(raw)
	if err != nil {
		return nil, fmt.Errorf("gadget: report descriptor: %w", err)
	}
	h := &HID{desc: d, rec: rec, reports: map[usbtool.ReportRef][]byte{}}
	for r, b := range reports {
		h.reports[r] = append([]byte(nil), b...)
	}
	h.runtime0, _ = h.value(usageRunTimeToEmpty)
	h.charge0, _ = h.value(usageRemainingCapacity)
	return h, nil
}

// SetStrings sets the function's own string descriptors (see
// [Device.Strings]); a report field such as iDeviceChemistry can point
// at them.
func (h *HID) SetStrings(s []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.strs = append([]string(nil), s...)
}

// Interface is a HID-class interface with the descriptor's length.
func (h *HID) Interface() Interface {
	return Interface{Class: 3, ReportDescriptorLen: len(h.desc.Raw), MaxPacket: 64}
}

// Strings returns the strings set with [HID.SetStrings].
func (h *HID) Strings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.strs...)
}

// report returns the bytes served for r, mirroring the other type when
// r has none (see [NewHID]), and the reference they are stored under.
func (h *HID) report(r usbtool.ReportRef) ([]byte, usbtool.ReportRef, bool) {
	if b, ok := h.reports[r]; ok {
		return b, r, true
	}
	other := usbtool.ReportRef{ID: r.ID, Type: usbtool.Feature}
	if r.Type == usbtool.Feature {
		other.Type = usbtool.Input
	}
	if b, ok := h.reports[other]; ok && !h.declares(r) {
		return b, other, true
	}
	return nil, r, false
}

// declares reports whether the descriptor has fields of r's ID and type.
func (h *HID) declares(r usbtool.ReportRef) bool {
	for _, f := range h.desc.Fields {
		if f.ReportID == r.ID && f.Type == r.Type {
			return true
		}
	}
	return false
}

// ControlIn answers GET_DESCRIPTOR(Report) and GET_REPORT.
func (h *HID) ControlIn(s Setup) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case s.getReportDescriptor():
		return truncate(h.desc.Raw, s.Length), nil
	case s.is(typeClassIfaceIn, reqGetReport):
		r := usbtool.ReportRef{ID: uint8(s.Value), Type: usbtool.ReportType(s.Value >> 8)}
		if b, _, ok := h.report(r); ok {
			return truncate(b, s.Length), nil
		}
	}
	return nil, ErrStall
}

// ControlOut takes SET_IDLE and SET_REPORT; a SET_REPORT is recorded and
// stored, so the written value reads back as on a real device.
func (h *HID) ControlOut(s Setup, data []byte) ([][]byte, error) {
	switch {
	case s.is(typeClassIfaceOut, reqSetIdle):
		return nil, nil
	case s.is(typeClassIfaceOut, reqSetReport):
		r := usbtool.ReportRef{ID: uint8(s.Value), Type: usbtool.ReportType(s.Value >> 8)}
		h.rec.Record("SET_REPORT %s 0x%02x % x%s", r.Type, r.ID, data, h.describe(r, data))
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, at, ok := h.report(r); ok {
			h.reports[at] = append([]byte(nil), data...)
		} else {
			h.reports[r] = append([]byte(nil), data...)
		}
		return nil, nil
	}
	return nil, ErrStall
}

// describe names the fields a SET_REPORT wrote, with their values, for
// the record: " (UPS.PowerSummary.DelayBeforeShutdown=20)".
func (h *HID) describe(r usbtool.ReportRef, data []byte) string {
	var parts []string
	for i := range h.desc.Fields {
		f := &h.desc.Fields[i]
		if f.ReportID != r.ID || f.Type != r.Type {
			continue
		}
		if v, ok := f.Value(data); ok {
			parts = append(parts, fmt.Sprintf("%s=%s", f.Path.Name(0), strconv.FormatFloat(v, 'f', -1, 64)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, " ") + ")"
}

// value returns the first decodable value of a field with usage u.
func (h *HID) value(u uint32) (float64, bool) {
	for i := range h.desc.Fields {
		f := &h.desc.Fields[i]
		if f.Usage() != u {
			continue
		}
		if b, _, ok := h.report(usbtool.ReportRef{ID: f.ReportID, Type: f.Type}); ok {
			if v, ok := f.Value(b); ok {
				return v, true
			}
		}
	}
	return 0, false
}

// set writes v into every field with usage u whose report is served,
// and returns the IDs of the Input reports it changed.
func (h *HID) set(u uint32, v float64) []uint8 {
	var ids []uint8
	for i := range h.desc.Fields {
		f := &h.desc.Fields[i]
		if f.Usage() != u {
			continue
		}
		b, at, ok := h.report(usbtool.ReportRef{ID: f.ReportID, Type: f.Type})
		if !ok {
			continue
		}
		before := append([]byte(nil), b...)
		if f.Encode(b, v) && !bytes.Equal(before, b) {
			h.reports[at] = b
			if f.Type == usbtool.Input {
				ids = append(ids, f.ReportID)
			}
		}
	}
	return ids
}

// Apply writes st into the status bits, the charge (scaled by
// FullChargeCapacity when CapacityMode is not percent) and the runtime
// (scaled from the recorded one), and returns the changed Input reports.
// Fields the descriptor lacks, or whose reports were never recorded, are
// left alone. The device serves its recorded reports until the first
// Apply.
func (h *HID) Apply(st State) ([][]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	charge := st.Charge
	if mode, ok := h.value(usageCapacityMode); ok && mode != 2 {
		if full, ok := h.value(usageFullChargeCapacity); ok {
			charge = st.Charge * full / 100
		}
	}
	changed := map[uint8]bool{}
	for _, u := range []struct {
		usage uint32
		v     float64
	}{
		{usageACPresent, b2f(st.Online)},
		{usageDischarging, b2f(!st.Online)},
		{usageCharging, b2f(st.Online && st.Charge < 100)},
		{usageFullyCharged, b2f(st.Online && st.Charge >= 100)},
		{usageBelowRemainingCapacityLimit, b2f(st.LowBattery)},
		{usageRemainingCapacity, charge},
	} {
		for _, id := range h.set(u.usage, u.v) {
			changed[id] = true
		}
	}
	if h.charge0 > 0 && h.runtime0 > 0 {
		for _, id := range h.set(usageRunTimeToEmpty, h.runtime0*st.Charge/h.charge0) {
			changed[id] = true
		}
	}
	ids := make([]int, 0, len(changed))
	for id := range changed {
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	var out [][]byte
	for _, id := range ids {
		if b, _, ok := h.report(usbtool.ReportRef{ID: uint8(id), Type: usbtool.Input}); ok {
			out = append(out, append([]byte(nil), b...))
		}
	}
	return out, nil
}

// truncate returns b cut to n bytes, as a USB IN transfer of wLength n.
func truncate(b []byte, n uint16) []byte {
	if len(b) > int(n) {
		return b[:n]
	}
	return b
}

// Corpus is one captured device of testdata/hid: its report descriptor
// and recorded reports.
type Corpus struct {
	Name       string
	Descriptor []byte
	Reports    map[usbtool.ReportRef][]byte
}

// LoadCorpus reads <dir>/<name>.rdesc.hex and, when present,
// <dir>/<name>.reports.txt, with the corpus parsers of [usbtest]
// ([usbtest.ParseHex], [usbtest.ParseReports]: the last line for each
// report wins).
func LoadCorpus(dir, name string) (*Corpus, error) {
	fn := filepath.Join(dir, name+".rdesc.hex")
	b, err := os.ReadFile(fn)
	if err != nil {
		return nil, fmt.Errorf("load corpus device: %w", err)
	}
	c := &Corpus{Name: name, Reports: map[usbtool.ReportRef][]byte{}}
	if c.Descriptor, err = usbtest.ParseHex(string(b)); err != nil {
		return nil, fmt.Errorf("load corpus device %s: %w", fn, err)
	}
	f, err := os.Open(filepath.Join(dir, name+".reports.txt"))
	if os.IsNotExist(err) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load corpus device: %w", err)
	}
	defer f.Close()
	if c.Reports, err = usbtest.ParseReports(f); err != nil {
		return nil, fmt.Errorf("%s.reports.txt: %w", name, err)
	}
	return c, nil
}
