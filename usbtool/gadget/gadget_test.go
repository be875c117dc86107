package gadget_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nutslave/nutslave/usbtool"
	"github.com/nutslave/nutslave/usbtool/gadget"
)

var corpus = filepath.Join("..", "..", "testdata", "hid")

// transport lets usbtool's readers talk to an emulated device directly,
// the way the kernel relays their requests to the FunctionFS function.
type transport struct {
	dev     gadget.Device
	info    usbtool.DeviceInfo
	strings map[uint8]string
}

var _ usbtool.Transport = (*transport)(nil)

func (t *transport) Control(_ context.Context, rt, req uint8, value, index uint16, data []byte) (int, error) {
	s := gadget.Setup{RequestType: rt, Request: req, Value: value, Index: index, Length: uint16(len(data))}
	if rt == 0x80 && req == 0x06 && value>>8 == 3 {
		// String descriptors: the composite layer's job, not the function's.
		str, ok := t.strings[uint8(value)]
		if !ok {
			return 0, usbtool.ErrStall
		}
		return copy(data, stringDescriptor(str)), nil
	}
	if s.In() {
		b, err := t.dev.ControlIn(s)
		if errors.Is(err, gadget.ErrStall) {
			return 0, usbtool.ErrStall
		}
		return copy(data, b), err
	}
	_, err := t.dev.ControlOut(s, data)
	if errors.Is(err, gadget.ErrStall) {
		return 0, usbtool.ErrStall
	}
	return len(data), err
}

func (t *transport) ReadInterrupt(context.Context, []byte) (int, error) {
	return 0, usbtool.ErrTimeout
}

func (t *transport) String(_ context.Context, i uint8) (string, error) {
	if s, ok := t.strings[i]; ok {
		return s, nil
	}
	return "", usbtool.ErrStall
}

func (t *transport) Info() usbtool.DeviceInfo { return t.info }
func (t *transport) Close() error             { return nil }

func stringDescriptor(s string) []byte {
	b := []byte{byte(2 + 2*len(s)), 3}
	for _, c := range []byte(s) {
		b = append(b, c, 0)
	}
	return b
}

func loadHID(t *testing.T, name string, rec *gadget.Recorder) *gadget.HID {
	t.Helper()
	c, err := gadget.LoadCorpus(corpus, name)
	if err != nil {
		t.Fatal(err)
	}
	h, err := gadget.NewHID(c.Descriptor, c.Reports, rec)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDescriptorsBlob(t *testing.T) {
	b := gadget.DescriptorsBlob(gadget.Interface{Class: 3, ReportDescriptorLen: 374, MaxPacket: 64})
	if got := binary.LittleEndian.Uint32(b[0:]); got != 3 {
		t.Errorf("magic = %d, want 3 (v2)", got)
	}
	if got := binary.LittleEndian.Uint32(b[4:]); int(got) != len(b) {
		t.Errorf("length field = %d, want %d", got, len(b))
	}
	if fs, hs := binary.LittleEndian.Uint32(b[12:]), binary.LittleEndian.Uint32(b[16:]); fs != 3 || hs != 3 {
		t.Errorf("descriptor counts = %d, %d, want 3, 3", fs, hs)
	}
	hid := []byte{9, 0x21, 0x10, 0x01, 0, 1, 0x22, 374 & 0xff, 374 >> 8}
	if bytes.Count(b, hid) != 2 {
		t.Errorf("blob % x lacks the HID descriptor % x at both speeds", b, hid)
	}
	if !bytes.Contains(b, []byte{7, 5, 0x81, 3, 64, 0}) {
		t.Errorf("blob % x lacks the interrupt IN endpoint", b)
	}
}

func TestStringsBlob(t *testing.T) {
	got := gadget.StringsBlob([]string{"ACK", "F"})
	want := []byte{2, 0, 0, 0, 24, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0x09, 0x04, 'A', 'C', 'K', 0, 'F', 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("StringsBlob (-want +got):\n%s", diff)
	}
	if got := gadget.StringsBlob(nil); len(got) != 16 || got[4] != 16 {
		t.Errorf("StringsBlob(nil) = % x, want a 16-byte header", got)
	}
}

func TestParseEvents(t *testing.T) {
	raw := []byte{0xa1, 0x01, 0x0c, 0x03, 0, 0, 0x40, 0, byte(gadget.EventSetup), 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, byte(gadget.EventEnable), 0, 0, 0}
	got, err := gadget.ParseEvents(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := []gadget.Event{
		{Type: gadget.EventSetup, Setup: gadget.Setup{RequestType: 0xa1, Request: 1, Value: 0x030c, Length: 64}},
		{Type: gadget.EventEnable},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseEvents (-want +got):\n%s", diff)
	}
	if _, err := gadget.ParseEvents(raw[:5]); err == nil {
		t.Error("ParseEvents of a partial event succeeded")
	}
}

func TestHIDControl(t *testing.T) {
	h := loadHID(t, "apc-back-ups-500", nil)
	desc, err := h.ControlIn(gadget.Setup{RequestType: 0x81, Request: 6, Value: 0x2200, Length: 4096})
	if err != nil || len(desc) != 374 {
		t.Fatalf("GET_DESCRIPTOR(Report) = %d bytes, %v, want 374", len(desc), err)
	}
	tests := []struct {
		name  string
		setup gadget.Setup
		want  []byte
		err   error
	}{
		{"feature", gadget.Setup{RequestType: 0xa1, Request: 1, Value: 0x030c, Length: 64}, []byte{0x0c, 0x64, 0, 0, 0x14, 0x0a}, nil},
		{"input", gadget.Setup{RequestType: 0xa1, Request: 1, Value: 0x0113, Length: 64}, []byte{0x13, 1}, nil},
		{"truncated to wLength", gadget.Setup{RequestType: 0xa1, Request: 1, Value: 0x030c, Length: 2}, []byte{0x0c, 0x64}, nil},
		{"unknown report", gadget.Setup{RequestType: 0xa1, Request: 1, Value: 0x0399, Length: 64}, nil, gadget.ErrStall},
		{"unknown request", gadget.Setup{RequestType: 0xc0, Request: 0x42, Length: 8}, nil, gadget.ErrStall},
	}
	for _, tt := range tests {
		got, err := h.ControlIn(tt.setup)
		if !errors.Is(err, tt.err) || !bytes.Equal(got, tt.want) {
			t.Errorf("%s: ControlIn(%s) = % x, %v, want % x, %v", tt.name, tt.setup, got, err, tt.want, tt.err)
		}
	}
}

func TestHIDSetReportRecorded(t *testing.T) {
	var log bytes.Buffer
	h := loadHID(t, "apc-back-ups-500", gadget.NewRecorder(&log))
	set := gadget.Setup{RequestType: 0x21, Request: 9, Value: 0x0311, Length: 4}
	if _, err := h.ControlOut(set, []byte{0x11, 0x14, 0, 0}); err != nil {
		t.Fatal(err)
	}
	got, err := h.ControlIn(gadget.Setup{RequestType: 0xa1, Request: 1, Value: 0x0311, Length: 64})
	if err != nil || !bytes.Equal(got, []byte{0x11, 0x14, 0, 0}) {
		t.Errorf("report 0x11 after SET_REPORT = % x, %v, want 11 14 00 00", got, err)
	}
	if want := "SET_REPORT feature 0x11 11 14 00 00 (UPS.PowerSummary.RemainingCapacityLimit=20)"; !strings.Contains(log.String(), want) {
		t.Errorf("record = %q, want a line with %q", log.String(), want)
	}
	if _, err := h.ControlOut(gadget.Setup{RequestType: 0x21, Request: 0x0a}, nil); err != nil {
		t.Errorf("SET_IDLE: %v", err)
	}
}

// TestHIDStateReadByUsbtool drives every captured device through an
// outage and reads it back with usbtool, as the VM lab does over USB.
func TestHIDStateReadByUsbtool(t *testing.T) {
	devices := []struct {
		name     string
		vid, pid uint16
	}{
		{"apc-back-ups-500", 0x051d, 0x0002},
		{"cyberpower-cp1500pfclcd", 0x0764, 0x0501},
		{"eaton-3s-700", 0x0463, 0xffff},
		{"powerwalker-vi-1200-shl", 0x06da, 0xffff},
	}
	steps := []struct {
		state  gadget.State
		status string
		charge string
	}{
		{gadget.State{Online: false, Charge: 60}, "OB", "60"},
		{gadget.State{Online: false, Charge: 10, LowBattery: true}, "OB", "10"},
		{gadget.State{Online: true, Charge: 30}, "OL", "30"},
	}
	for _, d := range devices {
		h := loadHID(t, d.name, nil)
		tr := &transport{dev: h, info: usbtool.DeviceInfo{VID: d.vid, PID: d.pid}}
		for _, s := range steps {
			if _, err := h.Apply(s.state); err != nil {
				t.Fatal(err)
			}
			vars, err := usbtool.ReadHID(context.Background(), tr, usbtool.HIDOptions{})
			if err != nil {
				t.Fatalf("%s: ReadHID: %v", d.name, err)
			}
			if st := vars["ups.status"]; !strings.HasPrefix(st, s.status) {
				t.Errorf("%s %+v: ups.status = %q, want it to start with %s", d.name, s.state, st, s.status)
			}
			if got := vars["battery.charge"]; got != s.charge {
				t.Errorf("%s %+v: battery.charge = %q, want %s", d.name, s.state, got, s.charge)
			}
		}
	}
}

func TestParseStep(t *testing.T) {
	st := gadget.Initial
	for _, step := range []string{"onbatt", "charge -10", "charge -10", "lowbatt on"} {
		var err error
		if st, err = gadget.ParseStep(st, step); err != nil {
			t.Fatal(err)
		}
	}
	if want := (gadget.State{Online: false, Charge: 80, LowBattery: true}); st != want {
		t.Errorf("state = %+v, want %+v", st, want)
	}
	if st, _ = gadget.ParseStep(st, "charge -95"); st.Charge != 0 {
		t.Errorf("charge fell below 0: %v", st.Charge)
	}
	for _, bad := range []string{"", "offline", "charge", "charge x", "lowbatt maybe"} {
		if _, err := gadget.ParseStep(st, bad); err == nil {
			t.Errorf("ParseStep(%q) succeeded", bad)
		}
	}
}

func TestMegatecReplies(t *testing.T) {
	m, err := gadget.NewMegatec(usbtool.Krauler, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := usbtool.ParseQ1(m.Q1())
	if err != nil {
		t.Fatalf("ParseQ1(%q): %v", m.Q1(), err)
	}
	if q.InputVoltage != 100 || q.Status[usbtool.Q1UtilityFail] || q.BatteryVoltage != 26 {
		t.Errorf("on line, full: %+v", q)
	}
	if _, err := m.Apply(gadget.State{Online: false, Charge: 50, LowBattery: true}); err != nil {
		t.Fatal(err)
	}
	q, err = usbtool.ParseQ1(m.Q1())
	if err != nil {
		t.Fatalf("ParseQ1(%q): %v", m.Q1(), err)
	}
	if q.InputVoltage != 0 || !q.Status[usbtool.Q1UtilityFail] || !q.Status[usbtool.Q1BatteryLow] || q.BatteryVoltage != 23.4 {
		t.Errorf("on battery, 50%%, LB: %+v", q)
	}
	s := m.Strings()
	// Index 4 is the first string of the function; F is 0x0d, I is 0x0c.
	if len(s) != 10 || s[0x0d-gadget.KraulerFirstString][0] != '#' || s[0x0c-gadget.KraulerFirstString][0] != '#' {
		t.Fatalf("krauler strings = %q", s)
	}
	if _, err := usbtool.ParseF(s[0x0d-gadget.KraulerFirstString]); err != nil {
		t.Error(err)
	}
	if _, err := usbtool.ParseI(s[0x0c-gadget.KraulerFirstString]); err != nil {
		t.Error(err)
	}
}

func TestKraulerReadByUsbtool(t *testing.T) {
	m, err := gadget.NewMegatec(usbtool.Krauler, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	strs := map[uint8]string{3: m.Q1()}
	for i, s := range m.Strings() {
		strs[uint8(gadget.KraulerFirstString+i)] = s
	}
	tr := &transport{dev: m, info: usbtool.DeviceInfo{VID: 1}, strings: strs}
	vars, err := usbtool.ReadMegatec(context.Background(), tr, usbtool.Krauler, usbtool.MegatecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"ups.status": "OL", "battery.charge": "100", "ups.model": "UPS1200LX", "input.voltage.nominal": "100"} {
		if vars[k] != want {
			t.Errorf("%s = %q, want %q", k, vars[k], want)
		}
	}
}

func TestCypressCommands(t *testing.T) {
	var log bytes.Buffer
	m, err := gadget.NewMegatec(usbtool.Cypress, "", gadget.NewRecorder(&log))
	if err != nil {
		t.Fatal(err)
	}
	set := gadget.Setup{RequestType: 0x21, Request: 9, Value: 0x0200, Length: 8}
	var reply []byte
	for _, chunk := range [][]byte{[]byte("S.3R0001"), {'\r', 0, 0, 0, 0, 0, 0, 0}, {'Q', '1', '\r', 0, 0, 0, 0, 0}} {
		out, err := m.ControlOut(set, chunk)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			reply = append(reply, o...)
		}
	}
	q, err := usbtool.ParseQ1(string(bytes.TrimRight(reply, "\x00")))
	if err != nil {
		t.Fatalf("Q1 reply %q: %v", reply, err)
	}
	if !q.Status[usbtool.Q1ShutdownActive] {
		t.Errorf("shutdown bit not set after S.3R0001: %q", reply)
	}
	for _, want := range []string{"megatec S.3R0001 (cypress SET_REPORT)", "megatec Q1 (cypress SET_REPORT)"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("record %q lacks %q", log.String(), want)
		}
	}
}

func TestUsbmonObserved(t *testing.T) {
	var log bytes.Buffer
	m, err := gadget.NewMegatec(usbtool.Krauler, "", gadget.NewRecorder(&log))
	if err != nil {
		t.Fatal(err)
	}
	mon := strings.Join([]string{
		"ffff8880 3575914555 S Ci:1:002:0 s 80 06 0304 0409 00ff 255 <",
		"ffff8880 3575914600 C Ci:1:002:0 0 8 = 08035500 50005300",
		"ffff8880 3575914555 S Ci:1:001:0 s 80 06 0303 0409 00ff 255 <",
		"ffff8880 3575914700 S Ci:1:002:0 s a1 01 030c 0000 0040 64 <",
		"ffff8880 3575914800 S Ci:1:002:0 s 80 06 030b 0409 00ff 255 <",
	}, "\n")
	if err := gadget.WatchUsbmon(strings.NewReader(mon), m.Observe); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "megatec T (krauler string 0x04)") || !strings.HasSuffix(lines[1], "megatec C (krauler string 0x0b)") {
		t.Errorf("record = %q, want T then C", log.String())
	}
}
