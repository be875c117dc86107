package e2e_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/e2e"
)

// The two hosts: the master's side of the veth pair and the slave's, on a
// /30 of 198.18.0.0/15 (benchmarking space) that exists only inside the
// namespaces. Neither namespace has a default route.
const (
	masterIP = "198.18.0.1"
	slaveIP  = "198.18.0.2"
	// sshPort is the master's sshd inside its namespace.
	sshPort = "2222"
)

var nsSeq atomic.Int32

// netPair is two network namespaces joined by a veth pair.
type netPair struct {
	master, slave   string // namespace names
	vethM, vethS    string // interface names
	masterAddr      string // masterIP:sshPort
	nftTableCreated bool
}

// ip runs "ip args" and fails the test on error.
func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// newNetPair creates the namespaces (removed in cleanup), or skips the
// test with the reason they cannot be made.
func newNetPair(t *testing.T) *netPair {
	t.Helper()
	prerequisites(t)
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s needed for network namespaces (Debian: iproute2, nftables): %v", tool, err)
		}
	}
	id := fmt.Sprintf("%d%d", os.Getpid()%100000, nsSeq.Add(1))
	n := &netPair{
		master: "nse2e-m" + id, slave: "nse2e-s" + id,
		vethM: "e2em" + id, vethS: "e2es" + id,
		masterAddr: masterIP + ":" + sshPort,
	}
	if out, err := exec.Command("ip", "netns", "add", n.master).CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot create a network namespace here: %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", n.master).Run() })
	ip(t, "netns", "add", n.slave)
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", n.slave).Run() })
	// Both ends are created inside the namespaces: nothing touches the
	// root namespace.
	ip(t, "-n", n.master, "link", "add", n.vethM, "type", "veth", "peer", "name", n.vethS, "netns", n.slave)
	ip(t, "-n", n.master, "addr", "add", masterIP+"/30", "dev", n.vethM)
	ip(t, "-n", n.slave, "addr", "add", slaveIP+"/30", "dev", n.vethS)
	for _, ns := range [][2]string{{n.master, n.vethM}, {n.slave, n.vethS}} {
		ip(t, "-n", ns[0], "link", "set", "lo", "up")
		ip(t, "-n", ns[0], "link", "set", ns[1], "up")
		out, err := exec.Command("ip", "-n", ns[0], "route", "show", "default").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Fatalf("namespace %s has a default route or cannot tell (%v): %s", ns[0], err, out)
		}
	}
	return n
}

// wrap is the command prefix that runs a program in namespace ns.
func wrap(ns string) []string { return []string{"ip", "netns", "exec", ns} }

// nft runs one nft command inside the master's namespace.
func (n *netPair) nft(t *testing.T, rule string) {
	t.Helper()
	if !n.nftTableCreated {
		for _, r := range []string{"add table inet t", "add chain inet t input { type filter hook input priority 0 ; }"} {
			if out, err := exec.Command("ip", "netns", "exec", n.master, "nft", r).CombinedOutput(); err != nil {
				t.Skipf("skipping: nftables unusable in a namespace here: nft %s: %v: %s", r, err, out)
			}
		}
		n.nftTableCreated = true
	}
	if out, err := exec.Command("ip", "netns", "exec", n.master, "nft", rule).CombinedOutput(); err != nil {
		t.Fatalf("nft %s: %v: %s", rule, err, out)
	}
}

// bannerFromSlave reports whether the master's sshd answers, asked from
// inside the slave's namespace.
func (n *netPair) bannerFromSlave() bool {
	script := fmt.Sprintf("exec 3<>/dev/tcp/%s/%s && head -c 8 <&3", masterIP, sshPort)
	out, err := exec.Command("ip", "netns", "exec", n.slave, "timeout", "3", "bash", "-c", script).Output()
	return err == nil && strings.HasPrefix(string(out), "SSH-2.0-")
}

// startNetCluster starts a cluster whose slaves' upsslave runs in the
// slave's namespace and reaches the master's sshd in the master's
// namespace over the veth pair.
func startNetCluster(t *testing.T, n *netPair, opts e2e.Options) *e2e.Cluster {
	t.Helper()
	dir := rootOwnedDir(t)
	kh := filepath.Join(dir, "known_hosts.netns")
	opts.Dir = filepath.Join(dir, "cluster")
	opts.SlaveWrap = wrap(n.slave)
	opts.SlaveMaster = n.masterAddr
	opts.SlaveKnownHosts = kh
	c := startCluster(t, opts)
	if err := c.WriteKnownHosts(kh, n.masterAddr); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartSSHDProc("sshd-netns.log", wrap(n.master),
		"-o", "ListenAddress="+n.masterAddr, "-o", "PidFile=none"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the master's sshd in its namespace", n.bannerFromSlave)
	return c
}

// watchingNS waits until every slave has logged in to the namespaced sshd.
func watchingNS(t *testing.T, c *e2e.Cluster) {
	t.Helper()
	waitFor(t, 10*time.Second, "a connection from every slave", func() bool {
		b, _ := os.ReadFile(filepath.Join(c.SSHD.Dir, "sshd-netns.log"))
		return strings.Count(string(b), "Accepted publickey") >= len(c.Slaves)
	})
}

// TestNetnsLinkCut: the link between master and slave goes down. A cut
// shorter than DEADTIME changes nothing; a longer one ends in the
// fail-safe, not earlier than DEADTIME after the cut. DEADTIME leaves room
// for upsslave's reconnection back-off (up to 5 s).
func TestNetnsLinkCut(t *testing.T) {
	const deadTime = 8 * time.Second
	n := newNetPair(t)
	c := startNetCluster(t, n, e2e.Options{SlaveDeadTime: deadTime})
	onBattery(t, c, "90")
	watchingNS(t, c)

	ip(t, "-n", n.master, "link", "set", n.vethM, "down")
	short := time.Now()
	c.Note("link down (1.5 s)")
	calm(t, c, 1500*time.Millisecond)
	ip(t, "-n", n.master, "link", "set", n.vethM, "up")
	c.Note("link up")
	waitFor(t, deadTime, "every slave to reach the master again", everySlave(c, func(s *e2e.Slave) bool {
		return logged(s, "master answers again")
	}))
	calm(t, c, time.Until(short.Add(deadTime+time.Second)))

	ip(t, "-n", n.master, "link", "set", n.vethM, "down")
	cut := time.Now()
	c.Note("link down")
	calm(t, c, deadTime-500*time.Millisecond)
	waitFor(t, deadTime+8*time.Second, "every slave's fail-safe shutdown", everySlave(c, func(s *e2e.Slave) bool {
		return len(s.Shutdowns()) > 0
	}))
	check(t, c, e2e.Want{Shutdown: names(c), NotBefore: cut.Add(deadTime)})
}

// TestNetnsSilentDrop: the master's side drops every packet from the
// slave without answering (a partition): nobody shuts down before
// DEADTIME, everybody by the fail-safe after it.
func TestNetnsSilentDrop(t *testing.T) {
	const deadTime = 4 * time.Second
	n := newNetPair(t)
	c := startNetCluster(t, n, e2e.Options{SlaveDeadTime: deadTime})
	onBattery(t, c, "90")
	watchingNS(t, c)
	n.nft(t, "add rule inet t input ip saddr "+slaveIP+" drop")
	dropped := time.Now()
	c.Note("nftables drops everything from the slave")
	calm(t, c, deadTime-500*time.Millisecond)
	waitFor(t, deadTime+10*time.Second, "every slave's fail-safe shutdown", everySlave(c, func(s *e2e.Slave) bool {
		return len(s.Shutdowns()) > 0
	}))
	check(t, c, e2e.Want{Shutdown: names(c), NotBefore: dropped.Add(deadTime)})
}

// TestNetnsRandomLoss: 30 % of the packets to the master are lost during
// a whole outage: no slave mistakes the loss for the master's verdict or
// for DEADTIME of silence; each acknowledges and shuts down once after
// sdf, and the master shuts down last.
func TestNetnsRandomLoss(t *testing.T) {
	n := newNetPair(t)
	c := startNetCluster(t, n, e2e.Options{SlaveDeadTime: 15 * time.Second, ConnectTimeout: 3 * time.Second, HostSync: 30 * time.Second})
	n.nft(t, "add rule inet t input numgen random mod 100 < 30 drop")
	c.Note("nftables drops 30 % of the packets at the master")
	onBattery(t, c, "90")
	calm(t, c, 8*time.Second)
	set(t, c, "battery.charge", "40")
	waitFor(t, 40*time.Second, "the master's shutdown", func() bool { return len(c.MasterShutdowns()) > 0 })
	waitFor(t, 5*time.Second, "every slave's shutdown", everySlave(c, func(s *e2e.Slave) bool {
		return len(s.Shutdowns()) > 0
	}))
	check(t, c, e2e.Want{Shutdown: names(c), Master: true})
}
