// Package usbtest provides fakes of usbtool's Transport and Backend that
// emulate USB UPSes: a HID Power Device serving a report descriptor and
// recorded reports, and Megatec/Q1 units in the krauler (string
// descriptor) and cypress (SET_REPORT + interrupt IN) styles.
package usbtest

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/nutslave/nutslave/usbtool"
)

// Device is an emulated USB device. The zero value answers nothing (every
// request stalls).
type Device struct {
	Info usbtool.DeviceInfo

	// ReportDescriptor is served for GET_DESCRIPTOR(0x22); nil stalls.
	ReportDescriptor []byte
	// Reports are served for GET_REPORT by (ID, type); missing ones stall.
	// A reply is truncated to the request's buffer, like USB does.
	Reports map[usbtool.ReportRef][]byte
	// Strings are served as string descriptors (UTF-16LE) for any
	// language; krauler units answer commands this way (Q1 is index 3).
	Strings map[uint8]string
	// Commands are the replies of a cypress-style Megatec unit by command
	// ("Q1", "F", "I"), sent on the interrupt endpoint after the command
	// arrived through SET_REPORT.
	Commands map[string]string

	// OpenErr, when set, is returned by Backend.Open for this device.
	OpenErr error
	// Err, when set, is returned by every transfer (e.g. ErrNoDevice for
	// an unplugged device).
	Err error

	mu        sync.Mutex
	transfers int
	opened    int
	pending   []byte // cypress: command bytes received so far
	interrupt []byte // cypress: reply bytes not yet read
}

// Transfers returns the number of control and interrupt transfers served.
func (d *Device) Transfers() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.transfers
}

// Open returns the number of open transports on the device.
func (d *Device) Open() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.opened
}

// Transport returns a transport on the device, as Backend.Open does.
func (d *Device) Transport() usbtool.Transport {
	d.mu.Lock()
	d.opened++
	d.mu.Unlock()
	return &transport{d: d}
}

type transport struct {
	d      *Device
	closed bool
}

var _ usbtool.Transport = (*transport)(nil)
var _ usbtool.Backend = (*Backend)(nil)

func (t *transport) Info() usbtool.DeviceInfo { return t.d.Info }

func (t *transport) Close() error {
	if t.closed {
		return fmt.Errorf("usbtest: transport closed twice")
	}
	t.closed = true
	t.d.mu.Lock()
	t.d.opened--
	t.d.mu.Unlock()
	return nil
}

func (t *transport) Control(ctx context.Context, rType, req uint8, value, index uint16, data []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d := t.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.closed {
		return 0, fmt.Errorf("usbtest: transfer on a closed transport")
	}
	d.transfers++
	if d.Err != nil {
		return 0, d.Err
	}
	switch {
	case rType == 0x81 && req == 0x06 && value>>8 == 0x22: // GET_DESCRIPTOR(Report)
		if d.ReportDescriptor == nil {
			return 0, usbtool.ErrStall
		}
		return copy(data, d.ReportDescriptor), nil
	case rType == 0x80 && req == 0x06 && value>>8 == 0x03: // GET_DESCRIPTOR(String)
		s, ok := d.Strings[uint8(value)]
		if !ok {
			return 0, usbtool.ErrStall
		}
		return copy(data, stringDescriptor(s)), nil
	case rType == 0xa1 && req == 0x01: // GET_REPORT
		r, ok := d.Reports[usbtool.ReportRef{ID: uint8(value), Type: usbtool.ReportType(value >> 8)}]
		if !ok {
			return 0, usbtool.ErrStall
		}
		return copy(data, r), nil
	case rType == 0x21 && req == 0x09 && d.Commands != nil: // SET_REPORT: cypress command chunk
		d.pending = append(d.pending, data...)
		if i := strings.IndexByte(string(d.pending), '\r'); i >= 0 {
			reply, ok := d.Commands[string(d.pending[:i])]
			d.pending = nil
			if ok {
				d.interrupt = append(d.interrupt, reply...)
			}
		}
		return len(data), nil
	}
	return 0, usbtool.ErrStall
}

func (t *transport) ReadInterrupt(ctx context.Context, buf []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d := t.d
	d.mu.Lock()
	defer d.mu.Unlock()
	d.transfers++
	if d.Err != nil {
		return 0, d.Err
	}
	if len(d.interrupt) == 0 {
		return 0, usbtool.ErrTimeout
	}
	n := copy(buf, d.interrupt)
	d.interrupt = d.interrupt[n:]
	return n, nil
}

func (t *transport) String(ctx context.Context, index uint8) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s, ok := t.d.Strings[index]
	if !ok {
		return "", usbtool.ErrStall
	}
	return s, nil
}

// stringDescriptor encodes s as a USB string descriptor.
func stringDescriptor(s string) []byte {
	u := utf16.Encode([]rune(s))
	if len(u) > 126 {
		u = u[:126]
	}
	b := []byte{byte(2 + 2*len(u)), 0x03}
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	return b
}

// Backend is a fake usbtool.Backend over a fixed set of devices.
type Backend struct {
	Devices []*Device
	// ListErr, when set, is returned by List.
	ListErr error
	closed  bool
}

// List returns the devices' Info.
func (b *Backend) List(ctx context.Context) ([]usbtool.DeviceInfo, error) {
	if b.ListErr != nil {
		return nil, b.ListErr
	}
	var out []usbtool.DeviceInfo
	for _, d := range b.Devices {
		out = append(out, d.Info)
	}
	return out, ctx.Err()
}

// Open returns a transport on the device at info's bus and address.
func (b *Backend) Open(ctx context.Context, info usbtool.DeviceInfo) (usbtool.Transport, error) {
	for _, d := range b.Devices {
		if d.Info.Bus == info.Bus && d.Info.Address == info.Address {
			if d.OpenErr != nil {
				return nil, d.OpenErr
			}
			return d.Transport(), nil
		}
	}
	return nil, usbtool.ErrNoDevice
}

// Close fails if a transport is still open, as libusb's context does.
func (b *Backend) Close() error {
	for _, d := range b.Devices {
		if d.Open() != 0 {
			return fmt.Errorf("usbtest: backend closed with %d open transport(s) on %s", d.Open(), d.Info.ID())
		}
	}
	b.closed = true
	return nil
}

// Closed reports whether Close succeeded.
func (b *Backend) Closed() bool { return b.closed }

// ParseReports reads recorded reports, one per line:
//
//	<report id> <feature|input|output> <hex bytes, first byte = report id> [# comment]
//
// Blank lines and lines starting with '#' are skipped. This is the format
// of the captured corpus' .reports.txt files. A later line for the same
// report replaces an earlier one.
func ParseReports(r io.Reader) (map[usbtool.ReportRef][]byte, error) {
	out := map[usbtool.ReportRef][]byte{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		if len(fs) < 3 {
			return nil, fmt.Errorf("line %d: want <id> <type> <hex bytes>", n)
		}
		id, err := strconv.ParseUint(fs[0], 0, 8)
		if err != nil {
			return nil, fmt.Errorf("line %d: report id %q: %v", n, fs[0], err)
		}
		typ, ok := map[string]usbtool.ReportType{"input": usbtool.Input, "output": usbtool.Output, "feature": usbtool.Feature}[fs[1]]
		if !ok {
			return nil, fmt.Errorf("line %d: report type %q: want feature, input or output", n, fs[1])
		}
		b, err := hex.DecodeString(strings.Join(fs[2:], ""))
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		out[usbtool.ReportRef{ID: uint8(id), Type: typ}] = b
	}
	return out, sc.Err()
}

// ParseHex decodes a descriptor file: hex digits, whitespace ignored.
func ParseHex(s string) ([]byte, error) {
	return hex.DecodeString(strings.Join(strings.Fields(s), ""))
}

// LoadFiles reads a captured device: its report descriptor (hex, as in
// the corpus' .rdesc.hex files) and its recorded reports (a .reports.txt
// file, see [ParseReports]).
func LoadFiles(rdesc, reports string) (desc []byte, reps map[usbtool.ReportRef][]byte, err error) {
	b, err := os.ReadFile(rdesc)
	if err != nil {
		return nil, nil, err
	}
	if desc, err = ParseHex(string(b)); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", rdesc, err)
	}
	f, err := os.Open(reports)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if reps, err = ParseReports(f); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", reports, err)
	}
	return desc, reps, nil
}
