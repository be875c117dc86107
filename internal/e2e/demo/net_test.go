package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/master"
)

// newTestNet makes the demo's namespaces for one slave, or skips.
func newTestNet(t *testing.T) *demoNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("skipping: %v", err)
	}
	n := planNet(os.Getpid(), []string{"slave1"})
	t.Cleanup(func() {
		if err := n.tearDown(); err != nil {
			t.Error(err)
		}
	})
	if err := n.setUp(); err != nil {
		t.Skipf("skipping: cannot make the namespaces here: %v", err)
	}
	return n
}

// sendMagic broadcasts a magic packet for mac from the master's side of
// link l, as upsflags does (never from the root namespace).
func sendMagic(t *testing.T, n *demoNet, l *slaveLink, mac string) {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	var pc net.PacketConn
	err = lab.InNamespace(n.master, func() (err error) {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			c.Control(func(fd uintptr) {
				if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1); serr == nil {
					serr = syscall.BindToDevice(int(fd), l.vethM)
				}
			})
			return serr
		}}
		pc, err = lc.ListenPacket(context.Background(), "udp4", ":0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	bcast := net.ParseIP(l.slaveIP).To4()
	bcast[3] |= 3 // the /30's broadcast address
	if _, err := pc.WriteTo(master.MagicPacket(hw), &net.UDPAddr{IP: bcast, Port: 9}); err != nil {
		t.Fatal(err)
	}
}

// TestWakeListener: a magic packet for another MAC is recorded and
// ignored; the first one for the slave's own MAC boots it once, after the
// boot time; a second one does not boot it again.
func TestWakeListener(t *testing.T) {
	n := newTestNet(t)
	l := n.links[0]
	boots := make(chan time.Time, 2)
	w, err := startWakeListener(l, 100*time.Millisecond, func(context.Context) error {
		boots <- time.Now()
		return nil
	}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	sendMagic(t, n, l, "02:00:00:00:00:01")
	waitPackets(t, w, 1)
	if w.woken() {
		t.Fatalf("woken by a magic packet for another MAC")
	}
	sent := time.Now()
	sendMagic(t, n, l, l.mac)
	select {
	case at := <-boots:
		if at.Sub(sent) < 100*time.Millisecond {
			t.Errorf("booted %v after the packet, before the boot time", at.Sub(sent))
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no boot after the magic packet; packets: %v", packetsOf(w))
	}
	sendMagic(t, n, l, l.mac)
	waitPackets(t, w, 3)
	// A second boot would come one boot time after its packet.
	select {
	case <-boots:
		t.Errorf("a second magic packet booted the slave again")
	case <-time.After(200 * time.Millisecond):
	}
	p, back, _ := w.state()
	if len(p) != 3 || back.IsZero() || p[0].mac != "02:00:00:00:00:01" || p[1].mac != l.mac {
		t.Errorf("packets %v, back at %v", p, back)
	}
}

func packetsOf(w *wakeListener) []packet { p, _, _ := w.state(); return p }

// waitPackets waits until the listener has recorded n packets.
func waitPackets(t *testing.T, w *wakeListener, n int) {
	t.Helper()
	if err := lab.WaitFor(context.Background(), 5*time.Second, fmt.Sprintf("magic packet %d at the listener", n),
		func() bool { return len(packetsOf(w)) >= n }); err != nil {
		t.Fatalf("%v; packets: %v", err, packetsOf(w))
	}
}

// TestRelay: a connection made inside the master's namespace reaches a
// server on the root namespace's loopback, and closing the relay ends it.
func TestRelay(t *testing.T) {
	n := newTestNet(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Write([]byte("echo " + line))
			}()
		}
	}()
	r, err := startRelay(n.master, ln.Addr().String(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var c net.Conn
	if err := lab.InNamespace(n.master, func() (err error) {
		c, err = net.DialTimeout("tcp4", ln.Addr().String(), time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("GET VAR ups battery.charge\n"))
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != "echo GET VAR ups battery.charge\n" {
		t.Fatalf("through the relay: %q, %v", got, err)
	}
	r.close()
	if err := lab.InNamespace(n.master, func() error {
		c2, err := net.DialTimeout("tcp4", ln.Addr().String(), time.Second)
		if err == nil {
			c2.Close()
		}
		return err
	}); err == nil {
		t.Errorf("the relay still accepts after close")
	}
}
