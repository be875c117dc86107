package gadget

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// FunctionFS magic numbers and flags (include/uapi/linux/usb/functionfs.h).
const (
	ffsStringsMagic       = 2
	ffsDescriptorsMagicV2 = 3

	ffsHasFSDesc = 1
	ffsHasHSDesc = 2
)

// EventType is the type of a FunctionFS ep0 event.
type EventType uint8

// FunctionFS event types, in the kernel's numbering.
const (
	EventBind EventType = iota
	EventUnbind
	EventEnable
	EventDisable
	EventSetup
	EventSuspend
	EventResume
)

func (t EventType) String() string {
	names := []string{"BIND", "UNBIND", "ENABLE", "DISABLE", "SETUP", "SUSPEND", "RESUME"}
	if int(t) < len(names) {
		return names[t]
	}
	return fmt.Sprintf("EVENT%d", uint8(t))
}

// EventSize is the size of one struct usb_functionfs_event read from ep0.
const EventSize = 12

// Setup is a USB control request (struct usb_ctrlrequest).
type Setup struct {
	RequestType uint8
	Request     uint8
	Value       uint16
	Index       uint16
	Length      uint16
}

// In reports whether the request reads from the device.
func (s Setup) In() bool { return s.RequestType&0x80 != 0 }

func (s Setup) String() string {
	return fmt.Sprintf("%02x %02x %04x %04x %04x", s.RequestType, s.Request, s.Value, s.Index, s.Length)
}

// Event is one FunctionFS ep0 event.
type Event struct {
	Type  EventType
	Setup Setup // valid for EventSetup
}

// errShortEvent is returned by ParseEvents for a partial event.
var errShortEvent = errors.New("functionfs: partial event")

// ParseEvents splits what one read of ep0 returned into events.
func ParseEvents(b []byte) ([]Event, error) {
	if len(b)%EventSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes", errShortEvent, len(b))
	}
	var evs []Event
	for ; len(b) > 0; b = b[EventSize:] {
		evs = append(evs, Event{
			Type: EventType(b[8]),
			Setup: Setup{
				RequestType: b[0],
				Request:     b[1],
				Value:       binary.LittleEndian.Uint16(b[2:]),
				Index:       binary.LittleEndian.Uint16(b[4:]),
				Length:      binary.LittleEndian.Uint16(b[6:]),
			},
		})
	}
	return evs, nil
}

// Interface describes the single interface a gadget function presents: a
// HID-class interface with its report descriptor's length in the HID class
// descriptor and one interrupt IN endpoint.
type Interface struct {
	Class, SubClass, Protocol uint8
	// ReportDescriptorLen goes into the HID class descriptor; 0 leaves the
	// HID descriptor out (for a non-HID class).
	ReportDescriptorLen int
	// MaxPacket is the interrupt IN endpoint's wMaxPacketSize.
	MaxPacket uint16
	// IInterface is the interface's string, numbered within the
	// function's strings blob (1 is its first string; 0 none).
	// FunctionFS keeps only as many strings as the descriptors refer to
	// (f_fs.c, __ffs_data_got_strings: "Do we have at least as many
	// strings as descriptors need?" and none at all when none is
	// needed), so [Server] points it at the last string to keep them all.
	IInterface uint8
}

// interfaceDescs returns the interface, HID and endpoint descriptors for
// one speed; interval is bInterval in that speed's units.
func (i Interface) descs(interval uint8) (b []byte, count uint32) {
	b = append(b, 9, 4, 0, 0, 1, i.Class, i.SubClass, i.Protocol, i.IInterface)
	count++
	if i.ReportDescriptorLen > 0 {
		n := i.ReportDescriptorLen
		b = append(b, 9, 0x21, 0x10, 0x01, 0, 1, 0x22, byte(n), byte(n>>8))
		count++
	}
	b = append(b, 7, 5, 0x81, 3, byte(i.MaxPacket), byte(i.MaxPacket>>8), interval)
	count++
	return b, count
}

// DescriptorsBlob returns what is written first to ep0: the v2 descriptors
// blob with full- and high-speed descriptors of the interface.
func DescriptorsBlob(i Interface) []byte {
	fs, fsCount := i.descs(10) // 10 ms
	hs, hsCount := i.descs(7)  // 2^(7-1) microframes = 8 ms
	b := make([]byte, 20, 20+len(fs)+len(hs))
	binary.LittleEndian.PutUint32(b[0:], ffsDescriptorsMagicV2)
	binary.LittleEndian.PutUint32(b[8:], ffsHasFSDesc|ffsHasHSDesc)
	binary.LittleEndian.PutUint32(b[12:], fsCount)
	binary.LittleEndian.PutUint32(b[16:], hsCount)
	b = append(append(b, fs...), hs...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	return b
}

// StringsBlob returns the strings blob written to ep0 after the
// descriptors: strs in language 0x0409 (none is allowed). The composite
// layer numbers them after the gadget's own strings (on a configfs gadget
// with manufacturer, product and serial number: 4, 5, ...) and answers
// GET_DESCRIPTOR(String) for them itself.
func StringsBlob(strs []string) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[0:], ffsStringsMagic)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(strs)))
	if len(strs) > 0 {
		binary.LittleEndian.PutUint32(b[12:], 1)
		b = append(b, 0x09, 0x04)
		for _, s := range strs {
			b = append(append(b, s...), 0)
		}
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	return b
}
