package flagger

import (
	"net"
	"testing"
)

// TestLinkTowardsNeverRoutes: an address on no network of this host's
// interfaces (nor loopback's) has no link: nothing would be sent.
func TestLinkTowardsNeverRoutes(t *testing.T) {
	for _, a := range []string{"198.18.99.2", "127.0.0.1", "::1"} {
		if ifc, b, err := linkTowards(net.ParseIP(a)); err == nil {
			t.Errorf("linkTowards(%s) = %s, %v; want no link", a, ifc, b)
		}
	}
}
