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
	"github.com/nutslave/nutslave/internal/lab"
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
	if err := lab.IP(args...); err != nil {
		t.Fatal(err)
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
	}
	if err := lab.CheckNoDefaultRoute([]string{n.master, n.slave}); err != nil {
		t.Fatal(err)
	}
	return n
}

// nft runs one nft command inside the master's namespace.
func (n *netPair) nft(t *testing.T, rule string) {
	t.Helper()
	run := func(rule string) ([]byte, error) {
		argv := append(lab.NetnsExec(n.master), "nft", rule)
		return exec.Command(argv[0], argv[1:]...).CombinedOutput()
	}
	if !n.nftTableCreated {
		for _, r := range []string{"add table inet t", "add chain inet t input { type filter hook input priority 0 ; }"} {
			if out, err := run(r); err != nil {
				t.Skipf("skipping: nftables unusable in a namespace here: nft %s: %v: %s", r, err, out)
			}
		}
		n.nftTableCreated = true
	}
	if out, err := run(rule); err != nil {
		t.Fatalf("nft %s: %v: %s", rule, err, out)
	}
}

// startNetCluster starts a cluster whose slaves' upsslave runs in the
// slave's namespace and reaches the master's sshd in the master's
// namespace over the veth pair.
func startNetCluster(t *testing.T, n *netPair, opts e2e.Options) *e2e.Cluster {
	t.Helper()
	dir := rootOwnedDir(t)
	kh := filepath.Join(dir, "known_hosts.netns")
	opts.Dir = filepath.Join(dir, "cluster")
	opts.SlaveWrap = lab.NetnsExec(n.slave)
	opts.SlaveMaster = n.masterAddr
	opts.SlaveKnownHosts = kh
	c := startCluster(t, opts)
	if err := c.WriteKnownHosts(kh, n.masterAddr); err != nil {
		t.Fatal(err)
	}
	startSSHD(t, c, "sshd-netns.log", "the master's sshd in its namespace",
		func() bool { return lab.BannerIn(n.slave, n.masterAddr) },
		lab.NetnsExec(n.master), "-o", "ListenAddress="+n.masterAddr, "-o", "PidFile=none")
	return c
}

// TestNetnsLinkCut: the link between master and slave goes down. A cut
// shorter than DEADTIME changes nothing; a longer one ends in the
// fail-safe, not earlier than DEADTIME after the cut. DEADTIME leaves room
// for upsslave's reconnection back-off (up to 5 s).
func TestNetnsLinkCut(t *testing.T) {
	const deadTime = 8 * time.Second
	n := newNetPair(t)
	c := startNetCluster(t, n, e2e.Options{SlaveDeadTime: deadTime})
	waitingOnBattery(t, c, "sshd-netns.log")

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
	failSafe(t, c, cut, deadTime, 8*time.Second)
}

// TestNetnsSilentDrop: the master's side drops every packet from the
// slave without answering (a partition): nobody shuts down before
// DEADTIME, everybody by the fail-safe after it.
func TestNetnsSilentDrop(t *testing.T) {
	const deadTime = 4 * time.Second
	n := newNetPair(t)
	c := startNetCluster(t, n, e2e.Options{SlaveDeadTime: deadTime})
	waitingOnBattery(t, c, "sshd-netns.log")
	n.nft(t, "add rule inet t input ip saddr "+slaveIP+" drop")
	dropped := time.Now()
	c.Note("nftables drops everything from the slave")
	failSafe(t, c, dropped, deadTime, 10*time.Second)
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
	waitFor(t, 5*time.Second, "every slave's shutdown", everyShutdown(c))
	check(t, c, e2e.Want{Shutdown: names(c), Master: true})
}
