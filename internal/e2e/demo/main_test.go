package main

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/nutslave/nutslave/internal/lab"
)

func TestStaleNamespaces(t *testing.T) {
	list := strings.Join([]string{
		"nutslave-demo-111-m (id: 3)",
		"nutslave-demo-111-s1 (id: 4)",
		"nutslave-demo-222-s2",
		"nse2e-m12",               // the tests' own
		"nutslave-demo-x-m",       // not a pid
		"nutslave-demo-111-other", // not the demo's scheme
		"my-nutslave-demo-111-m",  // someone else's
		"",
	}, "\n")
	alive := func(pid int) bool { return pid == 222 }
	got := lab.StaleNamespaces(list, demoNamespaces, alive)
	want := []string{"nutslave-demo-111-m", "nutslave-demo-111-s1"}
	if !slices.Equal(got, want) {
		t.Errorf("lab.StaleNamespaces = %q, want %q (222 is alive)", got, want)
	}
}

func TestPlanNet(t *testing.T) {
	n := planNet(4194304, []string{"slave1", "slave2", "slave3"}) // the largest pid_max
	if n.master != "nutslave-demo-4194304-m" {
		t.Errorf("master namespace %q", n.master)
	}
	seen := map[string]bool{}
	for i, l := range n.links {
		for _, ifc := range []string{l.vethM, l.vethS} {
			if len(ifc) > 15 {
				t.Errorf("interface name %q is longer than Linux's 15 characters", ifc)
			}
			if seen[ifc] {
				t.Errorf("interface name %q twice", ifc)
			}
			seen[ifc] = true
		}
		m, s := net.ParseIP(l.masterIP), net.ParseIP(l.slaveIP)
		_, subnet, _ := net.ParseCIDR(l.masterIP + "/30")
		_, bench, _ := net.ParseCIDR("198.18.0.0/15")
		if !subnet.Contains(s) || !bench.Contains(m) || m.Equal(s) {
			t.Errorf("link %d: master %s and slave %s are not two hosts of one /30 of 198.18.0.0/15", i, m, s)
		}
		if subnet.IP.Equal(m) || subnet.IP.Equal(s) {
			t.Errorf("link %d: an address is the network address %s", i, subnet.IP)
		}
		for j, o := range n.links[:i] {
			if subnet.Contains(net.ParseIP(o.slaveIP)) {
				t.Errorf("links %d and %d share a network: a magic packet would reach both", j, i)
			}
		}
	}
	if !strings.HasPrefix(n.links[1].ns, nsPrefix) || n.links[1].ns != "nutslave-demo-4194304-s2" {
		t.Errorf("slave namespace %q", n.links[1].ns)
	}
}

func TestHeartbeatCmd(t *testing.T) {
	got := strings.Join(heartbeatCmd("ns1", "nut", "/b/upsslave", "/c.conf"), " ")
	want := "ip netns exec ns1 setpriv --reuid=nut --regid=nut --init-groups /b/upsslave --config /c.conf heartbeat"
	if got != want {
		t.Errorf("as nut: %q\nwant %q", got, want)
	}
	got = strings.Join(heartbeatCmd("ns1", "root", "/b/upsslave", "/c.conf"), " ")
	if got != "ip netns exec ns1 /b/upsslave --config /c.conf heartbeat" {
		t.Errorf("as root: %q", got)
	}
}

func TestCheckReturn(t *testing.T) {
	const ack, woken, back = `"ack_time":"2026-12-06T00:40:25Z"`, `"woken_time":"2026-12-06T00:40:35Z","wake_tries":1`, `"back_time":"2026-12-06T00:40:39Z"`
	slave := func(name string, fields ...string) string {
		if len(fields) == 0 {
			return `{"name":"` + name + `"}`
		}
		return `{"name":"` + name + `","last_outage":{` + strings.Join(fields, ",") + `}}`
	}
	doc := func(slaves ...string) []byte {
		return []byte(`{"schema":"nutslave.status/1","roster":{"slaves":[` + strings.Join(slaves, ",") + `]}}`)
	}
	tests := []struct {
		name string
		doc  []byte
		want string // a part of the error; "" none
	}{
		{"every slave back", doc(slave("slave1", ack, woken, back), slave("slave2", ack, woken, back)), ""},
		{"not woken", doc(slave("slave1", ack, woken, back), slave("slave2", ack)), "slave2: not woken"},
		{"not back", doc(slave("slave1", ack, woken), slave("slave2", ack, woken, back)), "slave1: woken 1 time(s), not back"},
		{"no record", doc(slave("slave1", ack, woken, back), slave("slave2")), "slave2: the master has no record"},
		{"missing from the roster", doc(slave("slave1", ack, woken, back)), "not in the master's roster: slave2"},
		{"back before it acknowledged", doc(slave("slave1", ack, woken, `"back_time":"2026-12-06T00:40:00Z"`), slave("slave2", ack, woken, back)), "before it acknowledged"},
		{"not JSON", []byte("source: nut://"), "upsflags status --json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkReturn(tt.doc, []string{"slave1", "slave2"})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}
