package lab_test

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/lab/labtest"
)

// recorder writes a NOTIFYCMD script that appends "$NOTIFYTYPE" lines to a
// log, and returns the command and the log path.
func recorder(t *testing.T) (cmd, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "notify.log")
	cmd = filepath.Join(dir, "notify.sh")
	script := "#!/bin/sh\necho \"$NOTIFYTYPE $UPSNAME\" >> " + log + "\n"
	if err := os.WriteFile(cmd, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return cmd, log
}

// waitFor polls the log until it has a line starting with ev.
func waitFor(t *testing.T, log, ev string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(log)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, ev+" ") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s notification in %v; log:\n%s", ev, timeout, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestUpsmonPrimaryAndSecondary(t *testing.T) {
	n := labtest.NUT(t, lab.NUTOptions{})
	pcmd, plog := recorder(t)
	scmd, slog := recorder(t)
	primary := labtest.Upsmon(t, n, lab.UpsmonOptions{NotifyCmd: pcmd, HostSync: 5 * time.Second})
	secondary := labtest.Upsmon(t, n, lab.UpsmonOptions{NotifyCmd: scmd, Secondary: true})

	// upsmon polls every 5 s until it has seen a first status.
	if err := n.Set(map[string]string{"ups.status": "OB DISCHRG", "battery.charge": "50"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, plog, "ONBATT", 15*time.Second)
	waitFor(t, slog, "ONBATT", 15*time.Second)

	if err := n.Set(map[string]string{"ups.status": "OB LB", "battery.charge": "5"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*lab.Upsmon{secondary, primary} {
		select {
		case <-u.Done():
		case <-time.After(30 * time.Second):
			t.Fatalf("upsmon in %s did not exit after OB LB", u.Dir)
		}
		if got := u.ShutdownCalled(); got != 1 {
			t.Errorf("upsmon in %s ran SHUTDOWNCMD %d times, want 1", u.Dir, got)
		}
	}
	waitFor(t, slog, "FSD", time.Second)
	waitFor(t, plog, "SHUTDOWN", time.Second)
	checkGone(t, "upsmon", []int{primary.Pid(), secondary.Pid()})
}

func TestUpsmonStop(t *testing.T) {
	n := labtest.NUT(t, lab.NUTOptions{})
	u, err := n.StartUpsmon(filepath.Join(t.TempDir(), "mon"), lab.UpsmonOptions{})
	if err != nil {
		t.Fatalf("StartUpsmon: %v", err)
	}
	if err := u.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	checkGone(t, "upsmon", []int{u.Pid()})
	if _, err := os.Stat("/run/nut/upsmon.pid"); err == nil {
		t.Errorf("/run/nut/upsmon.pid exists on the host: the private mount leaked")
	}
}

func TestUpsmonRunAsUserAndEnv(t *testing.T) {
	if _, err := user.Lookup("nut"); err != nil {
		t.Skipf("skipping: no nut account: %v", err)
	}
	n := labtest.NUT(t, lab.NUTOptions{})
	// The notification runs as nut: its script and log must be reachable.
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(dir, "notify.log")
	if err := os.WriteFile(log, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(log, 0o666)
	cmd := filepath.Join(dir, "notify.sh")
	script := "#!/bin/sh\necho \"$NOTIFYTYPE $(id -un) $LAB_MARK\" >> " + log + "\n"
	if err := os.WriteFile(cmd, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	labtest.Upsmon(t, n, lab.UpsmonOptions{NotifyCmd: cmd, RunAsUser: "nut", Env: []string{"LAB_MARK=marked"}})
	if err := n.Set(map[string]string{"ups.status": "OB"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, log, "ONBATT", 15*time.Second)
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), "ONBATT nut marked") {
		t.Errorf("notification log = %q, want a line \"ONBATT nut marked\"", b)
	}
}
