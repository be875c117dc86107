package lab_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/nut"
)

// checkGone fails unless every pid has ended.
func checkGone(t *testing.T, what string, pids []int) {
	t.Helper()
	if len(pids) == 0 {
		t.Fatalf("%s: no pids recorded", what)
	}
	for _, pid := range pids {
		deadline := time.Now().Add(3 * time.Second)
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				t.Errorf("%s: pid %d still running after Stop", what, pid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestNUTStartSetStop(t *testing.T) {
	if err := lab.CheckNUT(); err != nil {
		t.Skipf("skipping: real NUT needed: %v", err)
	}
	n, err := lab.StartNUT(filepath.Join(t.TempDir(), "nut"), lab.NUTOptions{UPS: "labups"})
	if err != nil {
		t.Fatalf("StartNUT: %v", err)
	}
	defer n.Stop()
	ctx := context.Background()
	vars, err := nut.ReadVars(ctx, n.Addr, "labups")
	if err != nil {
		t.Fatalf("ReadVars: %v", err)
	}
	if vars["ups.status"] != "OL" || vars["battery.charge"] != "100" {
		t.Errorf("initial vars = %v, want ups.status OL and battery.charge 100", vars)
	}
	for _, st := range []string{"OB DISCHRG", "OB LB", "OL CHRG"} {
		start := time.Now()
		if err := n.Set(map[string]string{"ups.status": st, "battery.charge": "42"}); err != nil {
			t.Fatalf("Set(%q): %v", st, err)
		}
		t.Logf("Set(%q) served after %v", st, time.Since(start).Round(time.Millisecond))
		if got, err := nut.ReadVars(ctx, n.Addr, "labups"); err != nil || got["ups.status"] != st {
			t.Errorf("after Set: ups.status = %q, %v; want %q", got["ups.status"], err, st)
		}
	}
	pids := n.Pids()
	if err := n.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	checkGone(t, "NUT", pids)
	if _, err := nut.ReadVars(ctx, n.Addr, "labups"); !nut.NoReading(err) {
		t.Errorf("ReadVars after Stop: %v, want a NoReading error", err)
	}
}

func TestNUTStopDriver(t *testing.T) {
	if err := lab.CheckNUT(); err != nil {
		t.Skipf("skipping: real NUT needed: %v", err)
	}
	n, err := lab.StartNUT(filepath.Join(t.TempDir(), "nut"), lab.NUTOptions{})
	if err != nil {
		t.Fatalf("StartNUT: %v", err)
	}
	defer n.Stop()
	if err := n.StopDriver(); err != nil {
		t.Fatal(err)
	}
	_, err = nut.ReadVars(context.Background(), n.Addr, n.UPS)
	if !errors.Is(err, nut.ErrDriverNotConnected) {
		t.Fatalf("ReadVars with the driver stopped: %v, want DRIVER-NOT-CONNECTED", err)
	}
	if err := n.StartDriver(); err != nil {
		t.Fatal(err)
	}
	if err := n.Set(map[string]string{"ups.status": "OB"}); err != nil {
		t.Errorf("Set after StartDriver: %v", err)
	}
}

func TestNUTStartFailureLeavesNothing(t *testing.T) {
	if err := lab.CheckNUT(); err != nil {
		t.Skipf("skipping: real NUT needed: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "nut")
	_, err = lab.StartNUT(dir, lab.NUTOptions{Port: ln.Addr().(*net.TCPAddr).Port, StartTimeout: 5 * time.Second})
	if err == nil {
		t.Fatal("StartNUT on a taken port succeeded")
	}
	t.Logf("StartNUT on a taken port: %v", err)
	// No process may be left with this lab's NUT_CONFPATH.
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte("NUT_CONFPATH="+dir)) {
			t.Errorf("%s: a process of the failed lab is still running", p)
		}
	}
}
