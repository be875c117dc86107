package usbtool

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
)

// MegatecStyle is how a Megatec/Q1 unit carries commands over USB.
type MegatecStyle int

// Megatec USB styles (NUT nutdrv_qx subdrivers).
const (
	// Krauler units answer each command as a string descriptor: Q1 is
	// index 3, F is 0x0d, I is 0x0c (VID:PID 0001:0000, e.g. the CLASSIC
	// PRO UPS1200LX).
	Krauler MegatecStyle = iota + 1
	// Cypress units take the command in HID SET_REPORT(Output) 8-byte
	// chunks and answer on the interrupt IN endpoint (0665:5161 and
	// friends).
	Cypress
)

func (s MegatecStyle) String() string {
	switch s {
	case Krauler:
		return "megatec-krauler"
	case Cypress:
		return "megatec-cypress"
	}
	return "unknown"
}

// krauler string descriptor indexes and reply prefixes (NUT krauler_command).
var kraulerCommands = map[string]struct {
	index  uint8
	prefix byte
}{
	"Q1": {0x03, '('},
	"F":  {0x0d, '#'},
	"I":  {0x0c, '#'},
}

// MegatecCommand sends cmd ("Q1", "F" or "I") in the given style and
// returns the reply, CR-terminated as the serial protocol would have it.
func MegatecCommand(ctx context.Context, t Transport, style MegatecStyle, cmd string, langID uint16) (string, error) {
	switch style {
	case Krauler:
		return kraulerCommand(ctx, t, cmd, langID)
	case Cypress:
		return cypressCommand(ctx, t, cmd)
	}
	return "", fmt.Errorf("megatec %s: unknown USB style %d", cmd, style)
}

// kraulerCommand reads the string descriptor that answers cmd. The raw
// descriptor (UTF-16LE) is decoded here so that a language workaround can
// be passed (NUT's langid_fix); "UPS No Ack" replies are retried.
func kraulerCommand(ctx context.Context, t Transport, cmd string, langID uint16) (string, error) {
	c, ok := kraulerCommands[cmd]
	if !ok {
		return "", fmt.Errorf("krauler: command %q is not supported", cmd)
	}
	if langID == 0 {
		langID = 0x0409
	}
	for try := 0; try < 10; try++ {
		buf := make([]byte, 255)
		n, err := t.Control(ctx, typeStdDeviceIn, reqGetDescriptor, descString<<8|uint16(c.index), langID, buf)
		if err != nil {
			return "", fmt.Errorf("krauler %s: %w", cmd, err)
		}
		s, err := decodeStringDescriptor(buf[:n])
		if err != nil {
			return "", fmt.Errorf("krauler %s: %w", cmd, err)
		}
		if strings.HasPrefix(strings.ToUpper(s), "UPS NO ACK") {
			continue
		}
		if s == "" {
			return "", fmt.Errorf("krauler %s: %w: empty reply", cmd, ErrMalformed)
		}
		if !strings.Contains(s, "\r") {
			s += "\r"
		}
		return string(c.prefix) + s[1:], nil
	}
	return "", fmt.Errorf("krauler %s: %w: UPS answered \"UPS No Ack\" 10 times", cmd, ErrTimeout)
}

// decodeStringDescriptor decodes a raw USB string descriptor (bLength,
// bDescriptorType 3, UTF-16LE) to ASCII, non-ASCII becoming '?'.
func decodeStringDescriptor(b []byte) (string, error) {
	if len(b) < 2 || b[1] != descString {
		return "", fmt.Errorf("%w: not a string descriptor", ErrMalformed)
	}
	n := min(int(b[0]), len(b))
	u := make([]uint16, 0, n/2)
	for i := 2; i+1 < n; i += 2 {
		u = append(u, uint16(b[i])|uint16(b[i+1])<<8)
	}
	r := []rune(string(utf16.Decode(u)))
	for i, c := range r {
		if c > 0x7e || (c < 0x20 && c != '\r') {
			r[i] = '?'
		}
	}
	return string(r), nil
}

// cypressCommand writes cmd+CR in 8-byte SET_REPORT chunks and reads
// 8-byte interrupt transfers until a CR arrives (at most 256 bytes).
func cypressCommand(ctx context.Context, t Transport, cmd string) (string, error) {
	if err := cypressSend(ctx, t, cmd); err != nil {
		return "", err
	}
	return cypressRead(ctx, t, cmd)
}

// cypressSend writes cmd+CR in zero-padded 8-byte SET_REPORT(Output)
// chunks.
func cypressSend(ctx context.Context, t Transport, cmd string) error {
	msg := []byte(cmd + "\r")
	for i := 0; i < len(msg); i += 8 {
		chunk := make([]byte, 8)
		copy(chunk, msg[i:])
		if _, err := t.Control(ctx, typeClassIfaceOut, reqSetReport, 0x0200, 0, chunk); err != nil {
			return fmt.Errorf("cypress %s: send: %w", cmd, err)
		}
	}
	return nil
}

// cypressRead reads the reply to cmd: 8-byte interrupt transfers until a
// CR arrives (at most 256 bytes). No reply at all is [ErrTimeout].
func cypressRead(ctx context.Context, t Transport, cmd string) (string, error) {
	var reply []byte
	for len(reply) < 256 {
		buf := make([]byte, 8)
		n, err := t.ReadInterrupt(ctx, buf)
		if err != nil {
			return "", fmt.Errorf("cypress %s: read: %w", cmd, err)
		}
		if n == 0 {
			return "", fmt.Errorf("cypress %s: read: %w", cmd, ErrTimeout)
		}
		reply = append(reply, buf[:n]...)
		if i := strings.IndexByte(string(reply), '\r'); i >= 0 {
			return string(reply[:i+1]), nil
		}
	}
	return "", fmt.Errorf("cypress %s: %w: no CR in 256 bytes", cmd, ErrMalformed)
}

// ReadMegatec reads a Megatec/Q1 unit once: Q1 (required), then F and I
// (optional: units that do not answer them still give a status).
func ReadMegatec(ctx context.Context, t Transport, style MegatecStyle, opt MegatecOptions) (map[string]string, error) {
	r, err := MegatecCommand(ctx, t, style, "Q1", 0)
	if err != nil {
		return nil, err
	}
	q, err := ParseQ1(r)
	if err != nil {
		return nil, err
	}
	var f *F
	if r, err := MegatecCommand(ctx, t, style, "F", 0); err == nil {
		if v, err := ParseF(r); err == nil {
			f = &v
		}
	} else if isFatal(err) {
		return nil, err
	}
	var id *I
	if r, err := MegatecCommand(ctx, t, style, "I", 0); err == nil {
		if v, err := ParseI(r); err == nil {
			id = &v
		}
	} else if isFatal(err) {
		return nil, err
	}
	out := MegatecVars(q, f, id, opt)
	info := t.Info()
	if style == Krauler {
		// String 3, the serial number's usual index, is the Q1 reply on
		// these units: it names no unit.
		info.Serial = ""
	}
	if id == nil {
		addDeviceVars(out, info)
	} else {
		addDeviceVars(out, DeviceInfo{VID: info.VID, PID: info.PID, Serial: info.Serial})
	}
	return out, nil
}

// isFatal reports whether err means the device is gone or unusable, as
// opposed to one command not being answered.
func isFatal(err error) bool {
	return errors.Is(err, ErrNoDevice) || errors.Is(err, ErrDeviceBusy) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
