package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/e2e"
	"github.com/nutslave/nutslave/internal/lab"
)

var (
	buildOnce sync.Once
	bins      e2e.Binaries
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// prerequisites skips t unless the real NUT, upsmon and sshd can run here.
func prerequisites(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: end-to-end outages take minutes; not with -short")
	}
	if err := lab.CheckUpsmon(); err != nil {
		t.Skipf("skipping: real NUT upsmon needed (make deps, as root): %v", err)
	}
	if err := lab.CheckSSHD(); err != nil {
		t.Skipf("skipping: real OpenSSH sshd needed (make deps, as root): %v", err)
	}
}

// binaries builds upsslave (and upsflags, if it is there) once per run.
func binaries(t *testing.T) e2e.Binaries {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "nutslave-e2e-bin-")
		if buildErr != nil {
			return
		}
		os.Chmod(buildDir, 0o755)
		bins, buildErr = e2e.Build(context.Background(), buildDir)
		if buildErr == nil && bins.Upsflags == "" {
			fmt.Fprintf(os.Stderr, "e2e: upsflags not used, the stand-in master writes the flags: %s\n", bins.UpsflagsMissing)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the programs: %v", buildErr)
	}
	return bins
}

// rootOwnedDir returns a fresh directory whose path is root-owned and not
// group- or world-writable all the way down, so that sshd accepts a chroot
// in it and the lab keeps it when sshd is stopped (the scenarios restart
// sshd from the same configuration).
func rootOwnedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/run", "nutslave-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startCluster starts a cluster for the test, or skips it; on failure it
// logs the timeline and the daemons' logs.
func startCluster(t *testing.T, opts e2e.Options) *e2e.Cluster {
	t.Helper()
	prerequisites(t)
	opts.Bin = binaries(t)
	if opts.Dir == "" {
		opts.Dir = filepath.Join(rootOwnedDir(t), "cluster")
	}
	opts.Logf = t.Logf
	c, err := e2e.Start(opts)
	if err != nil {
		t.Fatalf("starting the cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
		if t.Failed() {
			var b strings.Builder
			c.PrintTimeline(&b, 0)
			c.PrintRoster(&b)
			t.Logf("timeline (master: %s):\n%s", c.Master.Kind(), b.String())
			logs := []string{c.Master.LogFile(), filepath.Join(c.SSHD.Dir, "sshd.log")}
			if c.Primary != nil {
				logs = append(logs, filepath.Join(c.Primary.Dir, "upsmon.log"))
			}
			for _, s := range c.Slaves {
				logs = append(logs, filepath.Join(s.Dir, "upsmon", "upsmon.log"))
			}
			for _, p := range logs {
				dumpTail(t, p, 30)
			}
		}
	})
	return c
}

func dumpTail(t *testing.T, path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	t.Logf("--- %s (last %d lines) ---\n%s", path, len(lines), strings.Join(lines, "\n"))
}

// set changes the dummy UPS or fails the test.
func set(t *testing.T, c *e2e.Cluster, kv ...string) {
	t.Helper()
	vars := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		vars[kv[i]] = kv[i+1]
	}
	if err := c.Set(vars); err != nil {
		t.Fatal(err)
	}
}

// waitFor fails the test unless cond becomes true within timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := e2e.WaitFor(context.Background(), timeout, what, cond); err != nil {
		t.Fatal(err)
	}
}

// check fails the test on any premature, missed or double shutdown.
func check(t *testing.T, c *e2e.Cluster, want e2e.Want) {
	t.Helper()
	if err := c.Check(want); err != nil {
		t.Errorf("%v", err)
	}
}

// names returns the slaves' names.
func names(c *e2e.Cluster) []string {
	var out []string
	for _, s := range c.Slaves {
		out = append(out, s.Name)
	}
	return out
}

// logged reports whether slave's upsslave log has a line containing every
// one of parts.
func logged(s *e2e.Slave, parts ...string) bool {
	for _, line := range strings.Split(s.Log(), "\n") {
		all := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// everySlave reports whether cond holds for every slave.
func everySlave(c *e2e.Cluster, cond func(*e2e.Slave) bool) func() bool {
	return func() bool {
		for _, s := range c.Slaves {
			if !cond(s) {
				return false
			}
		}
		return true
	}
}

// onBattery starts the outage and waits until every slave's upsslave has
// logged ONBATT (upsmon ran it).
func onBattery(t *testing.T, c *e2e.Cluster, charge string) {
	t.Helper()
	set(t, c, "ups.status", "OB DISCHRG", "battery.charge", charge)
	waitFor(t, 15*time.Second, "ONBATT at every slave", everySlave(c, func(s *e2e.Slave) bool {
		return logged(s, "event=ONBATT")
	}))
}

// calm asserts that for d nobody shuts down or acknowledges.
func calm(t *testing.T, c *e2e.Cluster, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, s := range c.Slaves {
			if n := len(s.Shutdowns()); n > 0 {
				t.Fatalf("%s shut down during a period where nobody may", s.Name)
			}
			if _, ok := c.AckTime(s.Name); ok {
				t.Fatalf("%s acknowledged during a period where nobody may", s.Name)
			}
		}
		if n := len(c.MasterShutdowns()); n > 0 {
			t.Fatalf("the master shut down during a period where nobody may")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNormalOutage: OL, then OB with the charge falling below STDWCHARGE:
// the master raises sdf, every slave acknowledges and shuts down once, the
// master last; then OB LB makes upsmon's own path (FSD, SHUTDOWN,
// SHUTDOWNCMD "upsslave shutdown") run without a second shutdown.
func TestNormalOutage(t *testing.T) {
	c := startCluster(t, e2e.Options{})
	onBattery(t, c, "90")
	for _, ch := range []string{"75", "60", "52"} {
		set(t, c, "battery.charge", ch)
		time.Sleep(700 * time.Millisecond)
	}
	calm(t, c, time.Second)
	set(t, c, "battery.charge", "45")
	waitFor(t, 30*time.Second, "the master's shutdown", func() bool { return len(c.MasterShutdowns()) > 0 })
	check(t, c, e2e.Want{Shutdown: names(c), Master: true})

	// The UPS now runs flat: upsmon's own shutdown path must not shut any
	// slave down a second time.
	set(t, c, "ups.status", "OB LB", "battery.charge", "8")
	waitFor(t, 40*time.Second, "every upsmon to exit after its SHUTDOWNCMD", func() bool { return c.Exited(true) })
	check(t, c, e2e.Want{Shutdown: names(c), Master: true})
	for _, s := range c.Slaves {
		if !logged(s, "event=FSD") && !logged(s, "event=SHUTDOWN") {
			t.Errorf("%s: upsslave never saw upsmon's FSD or SHUTDOWN", s.Name)
		}
	}
	if n := len(c.PrimaryUpsmonShutdowns()); n != 1 {
		t.Errorf("the primary upsmon ran its own SHUTDOWNCMD %d times, want 1", n)
	}
}
