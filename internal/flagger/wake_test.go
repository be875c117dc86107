package flagger

import (
	"bytes"
	"net"
	"testing"
)

func TestMagicPacket(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:5e:10:00:01")
	p := magicPacket(mac)
	if len(p) != 102 {
		t.Fatalf("len = %d, want 6 + 16×6 = 102", len(p))
	}
	if !bytes.Equal(p[:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) {
		t.Errorf("header = % x, want six ff", p[:6])
	}
	for i := range 16 {
		if !bytes.Equal(p[6+6*i:12+6*i], mac) {
			t.Fatalf("copy %d = % x, want the MAC", i, p[6+6*i:12+6*i])
		}
	}
}

// TestLinkTowardsNeverRoutes: an address on no network of this host's
// interfaces (nor loopback's) has no link: nothing would be sent.
func TestLinkTowardsNeverRoutes(t *testing.T) {
	for _, a := range []string{"198.18.99.2", "127.0.0.1", "::1"} {
		if ifc, b, err := linkTowards(net.ParseIP(a)); err == nil {
			t.Errorf("linkTowards(%s) = %s, %v; want no link", a, ifc, b)
		}
	}
}
