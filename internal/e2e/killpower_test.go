package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/e2e"
)

// TestKillpower: after every slave acknowledged, the master arms the UPS
// as NUT's primary upsmon would: POWERDOWNFLAG holds upsmon's magic line
// and "upsmon -K" says so. Debian's own halt hook then runs "upsdrvctl
// shutdown" (a recorder here). The boot-time reset clears the flag: after
// it "upsmon -K" is false and the hook does nothing, so an ordinary
// reboot never cuts the power.
func TestKillpower(t *testing.T) {
	if err := e2e.CheckHaltHook(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	c := startCluster(t, e2e.Options{})
	m, ok := c.Master.(*e2e.UpsflagsMaster)
	if !ok {
		t.Skip("skipping: needs the real upsflags master")
	}
	flag := filepath.Join(c.Primary.Dir, "killpower")
	upsmonK := func() bool { return e2e.UpsmonK(c.Primary.Dir) }
	if upsmonK() {
		t.Fatalf("upsmon -K is true before any outage")
	}

	set(t, c, "ups.status", "OB DISCHRG", "battery.charge", "45")
	waitFor(t, 30*time.Second, "the master's shutdown", func() bool { return len(c.MasterShutdowns()) > 0 })
	if !fileHas(flag, "upsmon-shutdown-file") {
		b, _ := os.ReadFile(flag)
		t.Fatalf("POWERDOWNFLAG %s after the master's shutdown = %q, want upsmon's magic line", flag, b)
	}
	if !upsmonK() {
		t.Errorf("upsmon -K is false after the master armed the UPS")
	}
	if !fileHas(m.LogFile(), "armed the UPS: wrote POWERDOWNFLAG") {
		t.Errorf("the master's log does not say it armed the UPS")
	}
	calls := runHaltHook(t, c.Primary.Dir)
	if calls != "upsdrvctl shutdown\n" {
		t.Errorf("the halt hook ran %q, want one upsdrvctl shutdown", calls)
	}

	// The next boot: upsflags reset removes the flag, and an ordinary
	// halt then leaves the UPS alone.
	if out, err := exec.Command(c.Opts.Bin.Upsflags, "--config", m.ConfFile(), "reset").CombinedOutput(); err != nil {
		t.Fatalf("upsflags reset: %v\n%s", err, out)
	}
	if _, err := os.Stat(flag); err == nil {
		t.Errorf("POWERDOWNFLAG still there after upsflags reset")
	}
	if upsmonK() {
		t.Errorf("upsmon -K is true after the boot-time reset")
	}
	if calls := runHaltHook(t, c.Primary.Dir); calls != "" {
		t.Errorf("after the reset the halt hook ran %q, want nothing", calls)
	}
}

// runHaltHook runs Debian's nutshutdown with a recorder for upsdrvctl
// (e2e.RunHaltHook) and returns what the recorder saw.
func runHaltHook(t *testing.T, confDir string) string {
	t.Helper()
	calls, err := e2e.RunHaltHook(confDir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return calls
}
