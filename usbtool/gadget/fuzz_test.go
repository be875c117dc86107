package gadget_test

import (
	"testing"

	"github.com/nutslave/nutslave/usbtool/gadget"
)

// FuzzParseUsbmonLine: any line parses or is refused, without panicking;
// a parsed one names a control request to a device.
func FuzzParseUsbmonLine(f *testing.F) {
	f.Add("ffff8880 3575914555 S Ci:1:002:0 s 80 06 0303 0409 00ff 255 <")
	f.Add("ffff8880 3575914600 C Ci:1:002:0 0 8 = 08035500 50005300")
	f.Add("ffff8880 1 S Co:1:002:0 s 21 09 0200 0000 0008 8 = 51310d00 00000000")
	f.Fuzz(func(t *testing.T, line string) {
		s, ok := gadget.ParseUsbmonLine(line)
		if !ok && s != (gadget.Setup{}) {
			t.Errorf("refused line %q returned %+v", line, s)
		}
	})
}

// FuzzParseEvents: any ep0 read splits into whole events or is refused.
func FuzzParseEvents(f *testing.F) {
	f.Add([]byte{0xa1, 0x01, 0x0c, 0x03, 0, 0, 0x40, 0, 4, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := gadget.ParseEvents(b)
		if err == nil && len(evs)*gadget.EventSize != len(b) {
			t.Errorf("%d bytes gave %d events", len(b), len(evs))
		}
	})
}

// FuzzHIDControlIn: the emulated APC answers or stalls any request
// without panicking, never with more than wLength bytes.
func FuzzHIDControlIn(f *testing.F) {
	f.Add(uint8(0xa1), uint8(0x01), uint16(0x030c), uint16(64))
	f.Add(uint8(0x81), uint8(0x06), uint16(0x2200), uint16(4096))
	f.Fuzz(func(t *testing.T, rt, req uint8, value, length uint16) {
		h := loadHID(t, "apc-back-ups-500", nil)
		b, err := h.ControlIn(gadget.Setup{RequestType: rt, Request: req, Value: value, Length: length})
		if err == nil && len(b) > int(length) {
			t.Errorf("%d bytes for wLength %d", len(b), length)
		}
	})
}
