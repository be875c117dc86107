package main

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"sync"

	"github.com/nutslave/nutslave/internal/lab"
)

// The demo's network for the return of the power. Wake-on-LAN needs a
// link with MAC addresses, which loopback has not: the master's side gets
// a network namespace, each slave another, joined by one veth pair per
// slave on its own /30 of 198.18.0.0/15 (benchmarking space). Neither
// namespace has a route out, and nothing in the root namespace has an
// address there: a magic packet can only reach the one slave's link.
//
// The master's namespace holds a second sshd of the flag account (the
// slaves' heartbeats reach it over their link, so they report their MAC)
// and, after the master's "boot", upsflags itself (its wake-ups go out on
// the link towards each slave). Each slave's namespace holds its wake
// listener (a socket of this program) and its heartbeats.

// nsPrefix starts the name of every namespace the demo creates; the pid
// of the demo that made it follows, so that a later demo can remove those
// of one that was killed.
const nsPrefix = "nutslave-demo-"

// demoNamespaces matches the names of the demo's namespaces, the pid of
// the demo that made them first (lab.StaleNamespaces).
var demoNamespaces = regexp.MustCompile(`^` + regexp.QuoteMeta(nsPrefix) + `(\d+)-(m|s\d+)$`)

// lanSSHPort is the master's second sshd inside its namespace.
const lanSSHPort = 2222

// slaveLink is one slave's link to the master.
type slaveLink struct {
	name         string // the slave's NAME
	ns           string // its namespace
	vethM, vethS string // the master's end, the slave's end
	masterIP     string // the master's address on this link
	slaveIP      string
	mac          string // the slave's end's MAC address, once up
}

// demoNet is the namespaces and links of one demo.
type demoNet struct {
	master string
	links  []*slaveLink
	made   []string // namespaces created, in order
}

// planNet names the namespaces and interfaces of demo pid and gives
// slave i the /30 198.18.0.4i: the master .4i+1, the slave .4i+2.
// Interface names stay within Linux's 15 characters.
func planNet(pid int, slaves []string) *demoNet {
	n := &demoNet{master: fmt.Sprintf("%s%d-m", nsPrefix, pid)}
	for i, s := range slaves {
		n.links = append(n.links, &slaveLink{
			name:     s,
			ns:       fmt.Sprintf("%s%d-s%d", nsPrefix, pid, i+1),
			vethM:    fmt.Sprintf("nsd%dm%d", pid, i+1),
			vethS:    fmt.Sprintf("nsd%ds%d", pid, i+1),
			masterIP: fmt.Sprintf("198.18.0.%d", 4*i+1),
			slaveIP:  fmt.Sprintf("198.18.0.%d", 4*i+2),
		})
	}
	return n
}

// setUp creates the namespaces and links. On error, what was made is
// left for tearDown.
func (n *demoNet) setUp() error {
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("ip (Debian: iproute2) makes the network namespaces for the wake-ups: %w", err)
	}
	add := func(ns string) error {
		if err := lab.IP("netns", "add", ns); err != nil {
			return err
		}
		n.made = append(n.made, ns)
		return lab.IP("-n", ns, "link", "set", "lo", "up")
	}
	if err := add(n.master); err != nil {
		return err
	}
	for _, l := range n.links {
		if err := add(l.ns); err != nil {
			return err
		}
		// Both ends are created inside the namespaces: nothing touches
		// the root namespace.
		steps := [][]string{
			{"-n", n.master, "link", "add", l.vethM, "type", "veth", "peer", "name", l.vethS, "netns", l.ns},
			{"-n", n.master, "addr", "add", l.masterIP + "/30", "dev", l.vethM},
			{"-n", l.ns, "addr", "add", l.slaveIP + "/30", "dev", l.vethS},
			{"-n", n.master, "link", "set", l.vethM, "up"},
			{"-n", l.ns, "link", "set", l.vethS, "up"},
		}
		for _, s := range steps {
			if err := lab.IP(s...); err != nil {
				return err
			}
		}
		mac, err := lab.LinkMAC(l.ns, l.vethS)
		if err != nil {
			return err
		}
		l.mac = mac
	}
	return lab.CheckNoDefaultRoute(n.made)
}

// tearDown deletes the namespaces (and with them the veth pairs). Every
// process inside must have been stopped first.
func (n *demoNet) tearDown() error {
	err := lab.DeleteNamespaces(n.made)
	n.made = nil
	return err
}

// relay forwards TCP connections made to a listener inside a namespace to
// an address in the root namespace: upsd on loopback, for the master's
// upsflags once it runs in its namespace. Packets never cross namespaces;
// this program copies the bytes.
type relay struct {
	ln    net.Listener
	to    string
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// startRelay listens on addr inside ns and forwards to "to".
func startRelay(ns, addr, to string) (*relay, error) {
	r := &relay{to: to, conns: map[net.Conn]bool{}}
	err := lab.InNamespace(ns, func() (err error) {
		r.ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.wg.Add(1)
	go r.serve()
	return r, nil
}

func (r *relay) track(c net.Conn, add bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		return false // closed
	}
	if add {
		r.conns[c] = true
	} else {
		delete(r.conns, c)
	}
	return true
}

func (r *relay) serve() {
	defer r.wg.Done()
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer in.Close()
			out, err := net.Dial("tcp4", r.to)
			if err != nil {
				return
			}
			defer out.Close()
			if !r.track(in, true) || !r.track(out, true) {
				return
			}
			defer r.track(in, false)
			defer r.track(out, false)
			done := make(chan struct{}, 2)
			go func() { io.Copy(out, in); done <- struct{}{} }()
			go func() { io.Copy(in, out); done <- struct{}{} }()
			<-done
		}()
	}
}

// close stops the relay and every connection through it.
func (r *relay) close() {
	if r == nil {
		return
	}
	r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.wg.Wait()
}
