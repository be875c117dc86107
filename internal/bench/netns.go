package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"

	"github.com/nutslave/nutslave/internal/lab"
)

// The return benchmark's LAN: a bridge in the master's network namespace,
// and one veth pair per slave from the bridge into the slave's namespace,
// all on a /24 of 198.18.0.0/15 (benchmarking space) that exists only
// inside the namespaces. No namespace has a default route, and nothing is
// ever sent from the root namespace to these addresses.
const (
	// LANMasterIP is the master's address on its bridge.
	LANMasterIP = "198.18.0.1"
	// LANSSHPort is the master's sshd in its namespace.
	LANSSHPort = "2222"
	lanPrefix  = "/24"
	// maxLANSlaves bounds the slaves on the /24 (198.18.0.10 up).
	maxLANSlaves = 200
)

// LAN is a master namespace with a bridge and one namespace per slave.
type LAN struct {
	Master string // the master's namespace
	Bridge string // the bridge in it
	Slaves []LANSlave
	// made are the namespaces created, deleted by Remove.
	made []string
}

// LANSlave is one slave's namespace and its end of the link.
type LANSlave struct {
	NS, Iface, IP, MAC string
}

// CheckNetns says why network namespaces cannot be made here, or nil.
func CheckNetns() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("ip (iproute2) needed for network namespaces: %w", err)
	}
	return nil
}

// lanNamespaces matches the names of the namespaces NewLAN makes: "nsb",
// the pid of the process that made them, the tag, "m" for the master or
// "s" and a number for a slave.
var lanNamespaces = regexp.MustCompile(`^nsb(\d+)-[a-z0-9]+-(m|s\d+)$`)

// lanTag is what a LAN's tag may be.
var lanTag = regexp.MustCompile(`^[a-z0-9]{1,8}$`)

// lanName is the name of namespace role (m, s0, s1…) of the LAN tag made
// by this process.
func lanName(tag, role string) string {
	return fmt.Sprintf("nsb%d-%s-%s", os.Getpid(), tag, role)
}

// RemoveStaleLANs deletes the namespaces of earlier LANs whose process is
// gone (a benchmark killed before it could remove them) and returns their
// names. Only names NewLAN gives are considered.
func RemoveStaleLANs() []string { return lab.RemoveStaleNamespaces(lanNamespaces) }

// NewLAN makes the namespaces for n slaves, named after this process's pid
// and tag (short, lower-case letters and digits, unique in this process).
// On error, whatever was made is removed.
func NewLAN(tag string, n int) (l *LAN, err error) {
	if n < 1 || n > maxLANSlaves {
		return nil, fmt.Errorf("LAN: %d slaves, want 1 to %d", n, maxLANSlaves)
	}
	if !lanTag.MatchString(tag) {
		return nil, fmt.Errorf("LAN: tag %q, want 1 to 8 lower-case letters and digits", tag)
	}
	l = &LAN{Master: lanName(tag, "m"), Bridge: "br0"}
	defer func() {
		if err != nil {
			l.Remove()
		}
	}()
	if err := lab.IP("netns", "add", l.Master); err != nil {
		return nil, err
	}
	l.made = append(l.made, l.Master)
	m := func(args ...string) error { return lab.IP(append([]string{"-n", l.Master}, args...)...) }
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", l.Bridge, "type", "bridge"},
		{"addr", "add", LANMasterIP + lanPrefix, "dev", l.Bridge},
		{"link", "set", l.Bridge, "up"},
	} {
		if err := m(args...); err != nil {
			return nil, err
		}
	}
	for i := range n {
		s := LANSlave{NS: lanName(tag, fmt.Sprintf("s%d", i)), Iface: "eth0", IP: fmt.Sprintf("198.18.0.%d", 10+i)}
		if err := lab.IP("netns", "add", s.NS); err != nil {
			return nil, err
		}
		l.made = append(l.made, s.NS)
		port := fmt.Sprintf("p%d", i)
		// Both ends are created inside the namespaces: nothing touches
		// the root namespace.
		for _, args := range [][]string{
			{"-n", l.Master, "link", "add", port, "type", "veth", "peer", "name", s.Iface, "netns", s.NS},
			{"-n", l.Master, "link", "set", port, "master", l.Bridge},
			{"-n", l.Master, "link", "set", port, "up"},
			{"-n", s.NS, "link", "set", "lo", "up"},
			{"-n", s.NS, "addr", "add", s.IP + lanPrefix, "dev", s.Iface},
			{"-n", s.NS, "link", "set", s.Iface, "up"},
		} {
			if err := lab.IP(args...); err != nil {
				return nil, err
			}
		}
		if s.MAC, err = lab.LinkMAC(s.NS, s.Iface); err != nil {
			return nil, err
		}
		l.Slaves = append(l.Slaves, s)
	}
	if err := lab.CheckNoDefaultRoute(l.made); err != nil {
		return nil, err
	}
	return l, nil
}

// Remove deletes every namespace made (their links go with them). The
// processes in them must be stopped first.
func (l *LAN) Remove() error {
	err := lab.DeleteNamespaces(l.made)
	l.made = nil
	return err
}
