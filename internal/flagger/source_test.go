package flagger

import (
	"context"
	"strings"
	"testing"

	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/lab/labtest"
	"github.com/nutslave/nutslave/internal/master"
	"github.com/nutslave/nutslave/usbtool"
)

// TestAutoSource: SOURCE=auto reads the only UPS upsd serves; without
// upsd it falls back to USB, and says so when that fails too.
func TestAutoSource(t *testing.T) {
	n := labtest.NUT(t, lab.NUTOptions{UPS: "myups"})
	s := &autoSource{addr: n.Addr}
	r := s.Read(context.Background())
	if !r.OK() || r.Power() != master.PowerOnLine || s.String() != "auto → "+n.URL() {
		t.Fatalf("auto via upsd: %v via %s", r, s)
	}
	s = &autoSource{addr: n.Addr, ups: "other"}
	if r := s.Read(context.Background()); r.OK() || !permanent(r.Err) {
		t.Errorf("auto with UPS=other: %v, want a permanent error", r)
	}
	s = &autoSource{addr: "127.0.0.1:1", usb: &fileSource{path: "/nonexistent/usb"}}
	if r := s.Read(context.Background()); r.OK() || !strings.Contains(r.Err.Error(), "no upsd on 127.0.0.1:1") {
		t.Errorf("auto without upsd: %v", r)
	}
	if s.String() != "auto" {
		t.Errorf("after failed reads: %s, want plain auto (no way has worked yet)", s)
	}
}

// TestAutoSourceArmsTheWayThatWorked: upsd refuses one connection, and the
// USB fallback cannot read the device either (NUT's driver holds it, or
// here: no such device): the master must go on arming through NUT
// (POWERDOWNFLAG), not over USB, where the halt hook would fail the same
// way and the UPS would never be told.
func TestAutoSourceArmsTheWayThatWorked(t *testing.T) {
	f, _, _ := killpowerRig(t)
	a := &autoSource{addr: "127.0.0.1:1", usb: &usbSource{sel: usbtool.Selector{VID: 0x0665, PID: 0x5161, Serial: "not attached"}}, used: "nut://ups@127.0.0.1:3493"}
	f.src = a
	if r := a.Read(context.Background()); r.OK() {
		t.Fatalf("read %v, want the busy device's error", r)
	}
	if how, _ := f.armPath(); how != armNUT {
		t.Errorf("after a refused upsd and a busy USB device: arm path %d, want armNUT (%d)", how, armNUT)
	}
	a.used = ""
	if how, _ := f.armPath(); how != armNUT {
		t.Errorf("before any successful read: arm path %d, want armNUT (%d)", how, armNUT)
	}
}
