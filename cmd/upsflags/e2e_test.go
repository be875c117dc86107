package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/sshtest"
)

// buildSlave builds ./cmd/upsslave into a directory of the test's own, the
// way age's tests build their extra commands (the go build cache makes
// repeated builds cheap, and -count=N runs each get a binary).
func buildSlave(t *testing.T) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), "upsslave")
	cmd := exec.Command(goBin, "build", "-o", out, "github.com/nutslave/nutslave/cmd/upsslave")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build upsslave: %v\n%s", err, b)
	}
	return out, nil
}

// TestSlaveAndMaster runs upsslave (built from ./cmd/upsslave) against
// upsflags through one flag directory served by an in-process SSH/SFTP
// master: the slave waits after ONBATT, upsflags declares the UPS
// critical, the slave acknowledges and shuts down, then the master shuts
// down last. Each shutdown happens exactly once.
func TestSlaveAndMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds upsslave (-short)")
	}
	slaveBin, err := buildSlave(t)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv, err := sshtest.Start(filepath.Join(dir, "ssh"), sshtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)

	mconf := testConf(t, dir, "SLAVES=s1", "HOSTSYNC=30s", "DEBOUNCE=1")
	writeUPS(t, dir, "ups.status: OL\nbattery.charge: 100\n")
	mustRun(t, mconf, "run")
	writeUPS(t, dir, "ups.status: OB DISCHRG\nbattery.charge: 90\n")
	mustRun(t, mconf, "run")

	sdir := filepath.Join(dir, "slave")
	if err := os.MkdirAll(filepath.Join(sdir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	sconf := filepath.Join(sdir, "upsslave.conf")
	err = os.WriteFile(sconf, []byte(strings.Join([]string{
		"MASTER=" + srv.User + "@" + srv.Addr,
		"IDENTITY=" + srv.ClientKey,
		"KNOWN_HOSTS=" + srv.KnownHosts,
		"FLAGDIR=" + dir + "/flags",
		"ACKDIR=" + dir + "/acks",
		fmt.Sprintf("FLAGOWNER=%d", os.Getuid()),
		"NAME=s1",
		"POLL=50ms",
		"SDFWAIT=20s",
		"DEADTIME=20s",
		"CONNECT_TIMEOUT=2s",
		"STATEDIR=" + sdir + "/state",
		"LOGFILE=" + sdir + "/upsslave.log",
		`SHUTDOWNCMD="/bin/sh -c 'echo slave >> ` + dir + `/shutdown.log'"`,
	}, "\n")+"\n"), 0o640)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	slave := exec.CommandContext(ctx, slaveBin, "UPS ups@master on battery")
	slave.Env = append(os.Environ(), "NOTIFYTYPE=ONBATT", "UPSNAME=ups@master", "UPSSLAVE_CONF="+sconf)
	var slaveOut strings.Builder
	slave.Stdout, slave.Stderr = &slaveOut, &slaveOut
	if err := slave.Start(); err != nil {
		t.Fatal(err)
	}
	slaveDone := make(chan error, 1)
	go func() { slaveDone <- slave.Wait() }()
	// Let the slave take its first look (onl absent) before the verdict.
	time.Sleep(500 * time.Millisecond)

	writeUPS(t, dir, "ups.status: OB DISCHRG\nbattery.charge: 20\n")
	start := time.Now()
	mustRun(t, mconf, "run") // returns after the master's shutdown
	took := time.Since(start)

	select {
	case err := <-slaveDone:
		if err != nil {
			t.Errorf("upsslave: %v\n%s", err, slaveOut.String())
		}
	case <-ctx.Done():
		t.Fatalf("upsslave did not finish:\n%s", slaveOut.String())
	}
	slog, _ := os.ReadFile(filepath.Join(sdir, "upsslave.log"))
	mlog, _ := os.ReadFile(filepath.Join(dir, "upsflags.log"))
	sd, _ := os.ReadFile(filepath.Join(dir, "shutdown.log"))
	if strings.Count(string(sd), "slave\n") != 1 || strings.Count(string(sd), "master\n") != 1 {
		t.Errorf("shutdown.log = %q, want one slave and one master shutdown", sd)
	}
	if !exists(filepath.Join(dir, "acks/sdfok.s1")) {
		t.Error("no sdfok.s1 in ACKDIR")
	}
	if !strings.Contains(string(mlog), "slave acknowledged slave=s1") || !strings.Contains(string(mlog), "every slave acknowledged") {
		t.Errorf("master log lacks the acknowledgement:\n%s", mlog)
	}
	if strings.Contains(string(mlog), "HOSTSYNC passed") {
		t.Errorf("the master waited for HOSTSYNC instead of the acknowledgement:\n%s", mlog)
	}
	if t.Failed() {
		t.Logf("slave log:\n%s\nmaster log:\n%s", slog, mlog)
	}
	t.Logf("critical reading to master shutdown, slave acknowledged in between: %v", took.Round(time.Millisecond))
}
