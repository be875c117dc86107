package gadget

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/nutslave/nutslave/usbtool"
)

// vendorDescriptor is the report descriptor of a Megatec-over-USB unit: one
// vendor-page collection with 8-byte input and output reports (the cypress
// chunks). It is no HID Power Device, so usbhid-ups leaves it alone.
var vendorDescriptor = []byte{
	0x06, 0x00, 0xff, // Usage Page (Vendor 0xFF00)
	0x09, 0x01, // Usage (1)
	0xa1, 0x01, // Collection (Application)
	0x15, 0x00, 0x26, 0xff, 0x00, // Logical 0..255
	0x75, 0x08, 0x95, 0x08, // 8 x 8 bits
	0x09, 0x01, 0x81, 0x02, // Input (Data, Variable)
	0x09, 0x01, 0x91, 0x02, // Output (Data, Variable)
	0xc0, // End Collection
}

// KraulerFirstString is the index of the first string of the function's
// own strings blob on a configfs gadget that has manufacturer, product and
// serial number strings (1, 2, 3): the composite layer numbers the
// function's strings from there.
const KraulerFirstString = 4

// kraulerIndexes maps the krauler string index to the Megatec command it
// stands for (NUT nutdrv_qx krauler_command).
var kraulerIndexes = map[uint8]string{
	0x03: "Q1", 0x04: "T", 0x05: "TL", 0x07: "Q", 0x0b: "C", 0x0c: "I", 0x0d: "F",
}

// Megatec is an emulated Megatec/Q1 unit, in the krauler or the cypress
// USB style, modelled on the CLASSIC PRO UPS1200LX (100 V, 60 Hz, a 24 V
// battery). It is safe for concurrent use.
type Megatec struct {
	style usbtool.MegatecStyle
	rec   *Recorder
	// serialPath is the configfs serialnumber attribute (string index 3)
	// a krauler unit's Q1 reply is written to; "" for cypress.
	serialPath string

	mu       sync.Mutex
	st       State
	shutdown bool   // an S command arrived and no C since
	pending  []byte // cypress: command bytes until CR
}

var _ Device = (*Megatec)(nil)

// NewMegatec returns a unit of the given style in state [Initial]. For
// krauler, serialPath is the gadget's configfs serial number attribute:
// string index 3, which krauler units answer Q1 with, belongs to the
// gadget and not to the function, so the Q1 reply is kept there (see
// [Megatec.Strings]).
func NewMegatec(style usbtool.MegatecStyle, serialPath string, rec *Recorder) (*Megatec, error) {
	if style != usbtool.Krauler && style != usbtool.Cypress {
		return nil, fmt.Errorf("gadget: unknown Megatec style %v", style)
	}
	return &Megatec{style: style, rec: rec, serialPath: serialPath, st: Initial}, nil
}

// Interface is a HID-class interface with a vendor report descriptor.
func (m *Megatec) Interface() Interface {
	return Interface{Class: 3, ReportDescriptorLen: len(vendorDescriptor), MaxPacket: 8}
}

// Strings returns, for krauler, the replies at string indexes
// [KraulerFirstString] (4) to 0x0d: T, TL, Q and C answer "ACK", I and F
// their replies, the indexes between "UPS No Ack" as real units do.
// Cypress units have none.
func (m *Megatec) Strings() []string {
	if m.style != usbtool.Krauler {
		return nil
	}
	var s []string
	for i := uint8(KraulerFirstString); i <= 0x0d; i++ {
		switch kraulerIndexes[i] {
		case "I":
			s = append(s, m.reply("I"))
		case "F":
			s = append(s, m.reply("F"))
		case "":
			s = append(s, "UPS No Ack")
		default:
			s = append(s, "ACK")
		}
	}
	return s
}

// Battery voltages of a full and an empty 24 V battery, NUT's guesses
// from the nominal voltage (130/120 and 104/120 of it).
const (
	batteryNominal = 24.0
	batteryHigh    = 130 * batteryNominal / 120
	batteryLow     = 104 * batteryNominal / 120
)

// reply returns the unit's answer to a query, CR-terminated, or "" for
// commands that get none.
func (m *Megatec) reply(cmd string) string {
	switch cmd {
	case "Q1":
		return m.q1()
	case "F":
		return fmt.Sprintf("#%05.1f %03d %05.2f %04.1f\r", 100.0, 12, batteryNominal, 60.0)
	case "I":
		return fmt.Sprintf("#%-15s %-10s %-10s\r", "CLASSIC PRO", "UPS1200LX", "1.00")
	}
	return ""
}

// q1 builds the Q1 reply from the state: input 100 V on line and 0 on
// battery, the battery voltage linear in the charge between empty and
// full, and the status bits (utility fail, battery low, standby type,
// shutdown active, beeper on).
func (m *Megatec) q1() string {
	in := 100.0
	if !m.st.Online {
		in = 0
	}
	bv := batteryLow + m.st.Charge/100*(batteryHigh-batteryLow)
	bit := func(b bool) byte {
		if b {
			return '1'
		}
		return '0'
	}
	bits := []byte{bit(!m.st.Online), bit(m.st.LowBattery), '0', '0', '1', '0', bit(m.shutdown), '1'}
	return fmt.Sprintf("(%05.1f %05.1f %05.1f %03d %04.1f %04.1f %04.1f %s\r", in, in, 100.0, 12, 60.0, bv, 25.0, bits)
}

// ControlIn answers GET_DESCRIPTOR(Report); string descriptors never reach
// a FunctionFS function (the composite layer answers them).
func (m *Megatec) ControlIn(s Setup) ([]byte, error) {
	if s.getReportDescriptor() {
		return truncate(vendorDescriptor, s.Length), nil
	}
	return nil, ErrStall
}

// ControlOut takes SET_IDLE, and for cypress units the SET_REPORT(Output)
// chunks of a command: once its CR arrives the command is recorded and
// its reply returned in 8-byte chunks for the interrupt IN endpoint.
func (m *Megatec) ControlOut(s Setup, data []byte) ([][]byte, error) {
	switch {
	case s.is(typeClassIfaceOut, reqSetIdle):
		return nil, nil
	case s.is(typeClassIfaceOut, reqSetReport) && m.style == usbtool.Cypress:
	default:
		return nil, ErrStall
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending = append(m.pending, bytes.TrimRight(data, "\x00")...)
	i := bytes.IndexByte(m.pending, '\r')
	if i < 0 {
		if len(m.pending) > 64 {
			m.pending = m.pending[:0]
		}
		return nil, nil
	}
	cmd := string(m.pending[:i])
	m.pending = m.pending[:0]
	m.rec.Record("megatec %s (cypress SET_REPORT)", cmd)
	m.command(cmd)
	return chunks(m.reply(cmd), 8), nil
}

// command updates the unit for an instant command: S... starts the
// shutdown (the status bit), C cancels it.
func (m *Megatec) command(cmd string) {
	switch {
	case strings.HasPrefix(cmd, "S"):
		m.shutdown = true
	case cmd == "C":
		m.shutdown = false
	}
}

// chunks splits s into n-byte pieces, the last one zero-padded.
func chunks(s string, n int) [][]byte {
	var out [][]byte
	for i := 0; i < len(s); i += n {
		c := make([]byte, n)
		copy(c, s[i:])
		out = append(out, c)
	}
	return out
}

// Apply makes st the unit's state. A krauler unit's Q1 reply, string
// index 3, is rewritten in place through configfs.
func (m *Megatec) Apply(st State) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st = st
	if m.style == usbtool.Krauler && m.serialPath != "" {
		if err := os.WriteFile(m.serialPath, []byte(m.q1()), 0o644); err != nil {
			return nil, fmt.Errorf("gadget: krauler Q1 reply: %w", err)
		}
	}
	return nil, nil
}

// Q1 returns the unit's current Q1 reply.
func (m *Megatec) Q1() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.q1()
}

// Observe records the krauler command a control request seen on the bus
// stands for: the host's GET_DESCRIPTOR(String) requests never reach the
// function, so [WatchUsbmon] feeds them here from the kernel's usbmon.
// Index 3 is also the serial number, which the kernel and libusb read
// while enumerating, so those reads are recorded as Q1 too.
func (m *Megatec) Observe(s Setup) {
	if s.RequestType != 0x80 || s.Request != reqGetDescriptor || s.Value>>8 != 3 {
		return
	}
	idx := uint8(s.Value)
	if cmd, ok := kraulerIndexes[idx]; ok {
		m.rec.Record("megatec %s (krauler string 0x%02x)", cmd, idx)
		m.mu.Lock()
		m.command(cmd)
		m.mu.Unlock()
	}
}

// WatchUsbmon reads the kernel's usbmon text interface
// (/sys/kernel/debug/usb/usbmon/<bus>u) and calls fn with every control
// request submitted to a device other than a root hub (address 1), until
// r ends.
func WatchUsbmon(r io.Reader, fn func(Setup)) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if s, ok := ParseUsbmonLine(sc.Text()); ok {
			fn(s)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("usbmon: %w", err)
	}
	return nil
}

// ParseUsbmonLine parses one line of usbmon's text format (1u), such as
//
//	ffff8880 3575914555 S Ci:1:002:0 s 80 06 0303 0409 00ff 255 <
//
// and returns the setup packet of a control submission to a device that
// is not a root hub.
func ParseUsbmonLine(line string) (Setup, bool) {
	f := strings.Fields(line)
	if len(f) < 10 || f[2] != "S" || !strings.HasPrefix(f[3], "C") || f[4] != "s" {
		return Setup{}, false
	}
	addr := strings.Split(f[3], ":")
	if len(addr) != 4 || addr[2] == "001" {
		return Setup{}, false
	}
	var v [5]uint64
	for i := range v {
		x, err := strconv.ParseUint(f[5+i], 16, 16)
		if err != nil {
			return Setup{}, false
		}
		v[i] = x
	}
	if v[0] > 0xff || v[1] > 0xff {
		return Setup{}, false
	}
	return Setup{RequestType: uint8(v[0]), Request: uint8(v[1]), Value: uint16(v[2]), Index: uint16(v[3]), Length: uint16(v[4])}, true
}
