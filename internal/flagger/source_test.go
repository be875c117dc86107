package flagger

import (
	"context"
	"strings"
	"testing"

	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/lab/labtest"
	"github.com/nutslave/nutslave/internal/master"
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
}
