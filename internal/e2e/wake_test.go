package e2e_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/e2e"
	"github.com/nutslave/nutslave/internal/lab"
)

// wolListenEnv makes the test binary a Wake-on-LAN listener: it records
// every UDP packet to port 9, as hex lines, in the file the variable
// names, until SIGTERM or a minute has passed.
const wolListenEnv = "NUTSLAVE_E2E_WOL_LISTEN"

func wolListen(path string) int {
	pc, err := net.ListenPacket("udp4", ":9")
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		return 1
	}
	defer pc.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return 1
	}
	defer f.Close()
	fmt.Fprintln(f, "ready")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); pc.Close() }()
	pc.SetReadDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 1500)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return 0
		}
		fmt.Fprintln(f, hex.EncodeToString(buf[:n]))
	}
}

// TestWakeOnLAN: master and slave in their own network namespaces. The
// slave's heartbeat reports the MAC of its end of the link; "upsflags
// wake" sends the magic packet there. Then the whole return: an outage
// the master shuts down for, its "reboot" (reset), and its runs on line
// power: no packet while the charge is below RESTORE_MINCHARGE, one once
// it is above, none once the slave's heartbeat is seen again.
func TestWakeOnLAN(t *testing.T) {
	n := newNetPair(t)
	c := startNetCluster(t, n, e2e.Options{Slaves: []string{"slave1"}})
	m, ok := c.Master.(*e2e.UpsflagsMaster)
	if !ok {
		t.Skip("skipping: needs the real upsflags master")
	}
	bin := binaries(t)
	s := c.Slaves[0]
	mac := linkMAC(t, n.slave, n.vethS)

	seenFile := filepath.Join(c.SSH.AckDir, "seen.slave1")
	heartbeat := func() {
		t.Helper()
		before, _ := os.ReadFile(seenFile)
		time.Sleep(1100 * time.Millisecond) // a new time= (whole seconds) from the last one
		argv := append(lab.NetnsExec(n.slave), bin.Upsslave, "--config", s.ConfFile, "heartbeat")
		// Its check may find problems; the heartbeat is written all the same.
		out, _ := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if now, _ := os.ReadFile(seenFile); string(now) == string(before) {
			t.Fatalf("upsslave heartbeat wrote no new seen.slave1:\n%s", out)
		}
	}
	heartbeat()
	seen, _ := os.ReadFile(seenFile)
	if !strings.Contains(string(seen), "mac="+mac) || !strings.Contains(string(seen), "addr="+slaveIP) {
		t.Fatalf("the heartbeat does not report the slave's link (mac %s, addr %s):\n%s", mac, slaveIP, seen)
	}

	packets := filepath.Join(t.TempDir(), "wol.packets")
	listener := exec.Command("ip", "netns", "exec", n.slave, os.Args[0])
	listener.Env = append(os.Environ(), wolListenEnv+"="+packets)
	if err := listener.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Process.Signal(syscall.SIGTERM); listener.Wait() })
	waitFor(t, 10*time.Second, "the listener in the slave's namespace", func() bool { return fileHas(packets, "ready") })
	want := hex.EncodeToString(magicPacketFor(t, mac))
	count := func() int {
		b, _ := os.ReadFile(packets)
		return strings.Count(string(b), want)
	}

	upsflags := func(args ...string) string {
		t.Helper()
		argv := append(lab.NetnsExec(n.master), append([]string{bin.Upsflags, "--config", m.ConfFile()}, args...)...)
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil && args[0] != "check" {
			t.Fatalf("upsflags %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := upsflags("wake", "slave1")
	if !strings.Contains(out, "magic packet for "+mac+" sent on "+n.vethM) {
		t.Errorf("upsflags wake said:\n%s", out)
	}
	waitFor(t, 5*time.Second, "the magic packet at the slave", func() bool { return count() == 1 })

	// The outage: the master shuts down after the slave's acknowledgement
	// and records who acknowledged.
	set(t, c, "ups.status", "OB DISCHRG", "battery.charge", "45")
	waitFor(t, 30*time.Second, "the master's shutdown", func() bool { return len(c.MasterShutdowns()) > 0 })
	// The master "reboots": its watch and its upsmon stop, the boot-time
	// reset runs, and from now on upsflags runs in the master's namespace,
	// where upsd on the root namespace's loopback is out of reach: it
	// reads the UPS from a file instead.
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Primary.Stop(); err != nil {
		t.Fatal(err)
	}
	upsFile := filepath.Join(t.TempDir(), "ups.txt")
	ups := func(charge int) {
		writeTestFile(t, upsFile, fmt.Sprintf("ups.status: OL CHRG\nbattery.charge: %d\n", charge), 0o644)
	}
	b, _ := os.ReadFile(m.ConfFile())
	conf := regexp.MustCompile(`(?m)^SOURCE=.*$`).ReplaceAllString(string(b), "SOURCE=file:"+upsFile)
	writeTestFile(t, m.ConfFile(), conf, 0o640)
	upsflags("reset")

	ups(20)
	upsflags("run")
	if got := count(); got != 1 {
		t.Fatalf("%d magic packets after a run at 20%% charge, want none new (RESTORE_MINCHARGE 30)", got-1)
	}
	ups(50)
	upsflags("run")
	waitFor(t, 5*time.Second, "the automatic wake-up", func() bool { return count() == 2 })
	st := upsflags("status")
	if !regexp.MustCompile(`outage:   slave1 acknowledged \S+, woken \S+ \(1 tries\), not back yet`).MatchString(st) {
		t.Errorf("status after the wake-up:\n%s", st)
	}

	heartbeat() // the slave is back
	upsflags("run")
	st = upsflags("status")
	if !regexp.MustCompile(`outage:   slave1 acknowledged \S+, woken \S+ \(1 tries\), back \S+`).MatchString(st) {
		t.Errorf("status once the slave is back:\n%s", st)
	}
	time.Sleep(time.Second)
	if got := count(); got != 2 {
		t.Errorf("%d magic packets in all, want 2: none after the slave was seen", got)
	}
}

// linkMAC is the hardware address of iface in namespace ns.
func linkMAC(t *testing.T, ns, iface string) string {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-o", "link", "show", iface).Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`link/ether ([0-9a-f:]{17})`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no MAC for %s in %s: %s", iface, ns, out)
	}
	return m[1]
}

// magicPacketFor builds the packet independently of upsflags.
func magicPacketFor(t *testing.T, mac string) []byte {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	p := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for range 16 {
		p = append(p, hw...)
	}
	return p
}
