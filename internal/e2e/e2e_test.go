package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/e2e"
	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/lab/labtest"
)

var (
	buildOnce sync.Once
	bins      e2e.Binaries
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	if path := os.Getenv(wolListenEnv); path != "" {
		os.Exit(wolListen(path)) // the helper process of TestWakeOnLAN
	}
	code := labtest.Main(m)
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
	if opts.MasterSSH == e2e.MasterDropbear {
		dropbearPrerequisites(t)
	}
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
			t.Logf("timeline (master: %s, ssh: %s):\n%s", c.Master.Kind(), c.SSH.Kind, b.String())
			logs := []string{c.Master.LogFile(), c.SSH.LogFile}
			if c.Primary != nil {
				logs = append(logs, filepath.Join(c.Primary.Dir, "upsmon.log"))
			}
			for _, s := range c.Slaves {
				logs = append(logs, s.LogFile, filepath.Join(s.Dir, "upsmon", "upsmon.log"))
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

// discharge puts the UPS on battery at 90 %, lets the charge fall to 52 %
// with nobody acknowledging or shutting down, then to 45 %, below the
// master's STDWCHARGE.
func discharge(t *testing.T, c *e2e.Cluster) {
	t.Helper()
	onBattery(t, c, "90")
	for _, ch := range []string{"75", "60", "52"} {
		set(t, c, "battery.charge", ch)
		time.Sleep(700 * time.Millisecond)
	}
	calm(t, c, time.Second)
	set(t, c, "battery.charge", "45")
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
// SHUTDOWNCMD "upsslave shutdown" as root) run without a second shutdown.
// upsslave runs as NOTIFYCMD under the nut account, as packaged.
func TestNormalOutage(t *testing.T) {
	if _, err := user.Lookup("nut"); err != nil {
		t.Skipf("skipping: no nut account (Debian's nut-client creates it): %v", err)
	}
	c := startCluster(t, e2e.Options{SlaveUser: "nut"})
	discharge(t, c)
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

// TestPowerFlapping: OB and OL alternate every 2 s for 20 s with a full
// battery: nobody acknowledges or shuts down, and every wait ends.
func TestPowerFlapping(t *testing.T) {
	c := startCluster(t, e2e.Options{})
	end := time.Now().Add(20 * time.Second)
	for i := 0; time.Now().Before(end); i++ {
		status := "OB DISCHRG"
		if i%2 == 1 {
			status = "OL CHRG"
		}
		set(t, c, "ups.status", status, "battery.charge", "95")
		calm(t, c, 2*time.Second)
	}
	set(t, c, "ups.status", "OL", "battery.charge", "95")
	waitFor(t, 10*time.Second, "ONLINE at every slave", everySlave(c, func(s *e2e.Slave) bool {
		return logged(s, "event=ONLINE")
	}))
	calm(t, c, 3*time.Second)
	check(t, c, e2e.Want{})
	if _, ok := c.FlagTime("sdf"); ok {
		t.Errorf("the master raised sdf during a flapping outage with a full battery")
	}
	for _, s := range c.Slaves {
		if n := strings.Count(s.Log(), "event=ONBATT"); n < 3 {
			t.Errorf("%s: upsslave ran for ONBATT %d times during the flapping, want several", s.Name, n)
		}
	}
}

// TestPowerReturnsBeforeThreshold: on battery the charge falls, but power
// returns before STDWCHARGE: nobody shuts down and the waits end.
func TestPowerReturnsBeforeThreshold(t *testing.T) {
	c := startCluster(t, e2e.Options{})
	onBattery(t, c, "90")
	for _, ch := range []string{"75", "62", "55"} {
		set(t, c, "battery.charge", ch)
		calm(t, c, 700*time.Millisecond)
	}
	set(t, c, "ups.status", "OL CHRG", "battery.charge", "55")
	waitFor(t, 10*time.Second, "the end of every slave's wait", everySlave(c, func(s *e2e.Slave) bool {
		return logged(s, "wait ended, no shutdown") || logged(s, "event=ONLINE", "cancelled")
	}))
	calm(t, c, 3*time.Second)
	check(t, c, e2e.Want{})
}

// stopSSHD stops the master's sshd and its connections, and returns when.
func stopSSHD(t *testing.T, c *e2e.Cluster) time.Time {
	t.Helper()
	if err := c.SSHD.Stop(); err != nil {
		t.Fatal(err)
	}
	c.Note("sshd stopped")
	return time.Now()
}

// restartSSHD starts sshd again from the same configuration and waits for
// its banner.
func restartSSHD(t *testing.T, c *e2e.Cluster, logName string) {
	t.Helper()
	startSSHD(t, c, logName, "sshd's banner", func() bool { return lab.Banner(c.SSHD.Addr) }, nil)
	c.Note("sshd started again")
}

// startSSHD starts one more sshd from the cluster's configuration, its
// output in logName, its command line behind wrap and args added, and
// waits until answers (what) says it is up.
func startSSHD(t *testing.T, c *e2e.Cluster, logName, what string, answers func() bool, wrap []string, args ...string) {
	t.Helper()
	if _, err := c.StartSSHDProc(logName, wrap, args...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, what, answers)
}

// waitingOnBattery puts the UPS on battery at 90 % and waits until every
// slave has reached the master once in this outage (a watcher polls it):
// logged in to the sshd that logs to sshdLog in the sshd's directory.
func waitingOnBattery(t *testing.T, c *e2e.Cluster, sshdLog string) {
	t.Helper()
	onBattery(t, c, "90")
	waitFor(t, 10*time.Second, "a connection from every slave", func() bool {
		b, _ := os.ReadFile(filepath.Join(c.SSHD.Dir, sshdLog))
		return strings.Count(string(b), "Accepted publickey") >= len(c.Slaves)
	})
}

// failSafe checks the fail-safe of slaves whose master became unreachable
// at since: nobody shuts down until half a second before DEADTIME
// (deadTime), every slave does within grace after it, none before it.
func failSafe(t *testing.T, c *e2e.Cluster, since time.Time, deadTime, grace time.Duration) {
	t.Helper()
	calm(t, c, deadTime-500*time.Millisecond)
	waitFor(t, deadTime+grace, "every slave's fail-safe shutdown", everyShutdown(c))
	check(t, c, e2e.Want{Shutdown: names(c), NotBefore: since.Add(deadTime)})
}

// everyShutdown reports whether every slave has shut down.
func everyShutdown(c *e2e.Cluster) func() bool {
	return everySlave(c, func(s *e2e.Slave) bool { return len(s.Shutdowns()) > 0 })
}

// TestSSHDStoppedWhileWaiting: the master's sshd stops while the slaves
// wait on battery: nobody shuts down before DEADTIME, everybody by the
// fail-safe after it, exactly once.
func TestSSHDStoppedWhileWaiting(t *testing.T) {
	const deadTime = 4 * time.Second
	c := startCluster(t, e2e.Options{SlaveDeadTime: deadTime})
	waitingOnBattery(t, c, "sshd.log")
	stopped := stopSSHD(t, c)
	failSafe(t, c, stopped, deadTime, 8*time.Second)
	for _, s := range c.Slaves {
		if !logged(s, "fail-safe") {
			t.Errorf("%s: no fail-safe line in its log", s.Name)
		}
	}
}

// TestMasterAnswersBeforeDeadtime: sshd stops and comes back before
// DEADTIME: nobody shuts down; the waits end when power returns. DEADTIME
// leaves room for upsslave's reconnection back-off (up to 5 s).
func TestMasterAnswersBeforeDeadtime(t *testing.T) {
	const deadTime = 10 * time.Second
	c := startCluster(t, e2e.Options{SlaveDeadTime: deadTime})
	waitingOnBattery(t, c, "sshd.log")
	stopped := stopSSHD(t, c)
	calm(t, c, 2*time.Second)
	restartSSHD(t, c, "sshd-restarted.log")
	waitFor(t, deadTime, "every slave to reach the master again", everySlave(c, func(s *e2e.Slave) bool {
		return logged(s, "master answers again")
	}))
	calm(t, c, time.Until(stopped.Add(deadTime+2*time.Second)))
	set(t, c, "ups.status", "OL CHRG")
	waitFor(t, 10*time.Second, "ONLINE at every slave", everySlave(c, func(s *e2e.Slave) bool {
		return logged(s, "event=ONLINE")
	}))
	calm(t, c, 2*time.Second)
	check(t, c, e2e.Want{})
}

// TestHostKeyChanged: the master comes back with another host key: the
// slaves refuse to talk to it, say so, and shut down by the fail-safe
// since they are on battery.
func TestHostKeyChanged(t *testing.T) {
	const deadTime = 4 * time.Second
	c := startCluster(t, e2e.Options{SlaveDeadTime: deadTime})
	waitingOnBattery(t, c, "sshd.log")
	stopped := stopSSHD(t, c)
	newHostKey(t, filepath.Join(c.SSHD.Dir, "ssh_host_ed25519_key"))
	restartSSHD(t, c, "sshd-newkey.log")
	c.Note("sshd has a new host key")
	waitFor(t, deadTime+8*time.Second, "every slave's fail-safe shutdown", everyShutdown(c))
	check(t, c, e2e.Want{Shutdown: names(c), NotBefore: stopped.Add(deadTime)})
	for _, s := range c.Slaves {
		if !strings.Contains(strings.ToLower(s.Log()), "host key") {
			t.Errorf("%s: its log does not mention the host key", s.Name)
		}
	}
	b, _ := os.ReadFile(filepath.Join(c.SSHD.Dir, "sshd-newkey.log"))
	if strings.Contains(string(b), "Accepted publickey") {
		t.Errorf("a slave logged in to the master with the changed host key:\n%s", b)
	}
}

// TestOnlineMidWait: the master is unreachable, so only upsmon's ONLINE
// can end the wait: it does, and nobody shuts down after DEADTIME.
func TestOnlineMidWait(t *testing.T) {
	const deadTime = 4 * time.Second
	c := startCluster(t, e2e.Options{SlaveDeadTime: deadTime})
	waitingOnBattery(t, c, "sshd.log")
	stopSSHD(t, c)
	calm(t, c, time.Second)
	set(t, c, "ups.status", "OL CHRG")
	waitFor(t, 10*time.Second, "ONLINE at every slave", everySlave(c, func(s *e2e.Slave) bool {
		return logged(s, "event=ONLINE")
	}))
	calm(t, c, deadTime+2*time.Second)
	check(t, c, e2e.Want{})
}

// TestLowBattOnLine: LB while on line power: upsmon runs upsslave for
// LOWBATT, which must not lead to a shutdown, not even after SDFWAIT. The
// UPS has been on line since upsmon started, so upsmon never sent ONLINE.
func TestLowBattOnLine(t *testing.T) {
	const sdfWait = 4 * time.Second
	c := startCluster(t, e2e.Options{SDFWait: sdfWait})
	set(t, c, "ups.status", "OL LB", "battery.charge", "30")
	waitFor(t, 15*time.Second, "LOWBATT at every slave", everySlave(c, func(s *e2e.Slave) bool {
		return logged(s, "event=LOWBATT")
	}))
	calm(t, c, sdfWait+3*time.Second)
	check(t, c, e2e.Want{})
	// upsmon sends no ONLINE when it starts on line power, so the slave
	// learns it from the master's onl.
	for _, s := range c.Slaves {
		if !logged(s, "event=LOWBATT", "on line power") && !logged(s, "master says the UPS is on line power") {
			t.Errorf("%s: LOWBATT was not recognised as harmless on line power", s.Name)
		}
	}
}

// TestTwentyEventsAtOnce: twenty notifications reach upsslave at the same
// moment, LOWBATT among them before ONBATT, as upsmon forks them: one
// watcher, one acknowledgement and one shutdown once the master says sdf.
func TestTwentyEventsAtOnce(t *testing.T) {
	c := startCluster(t, e2e.Options{Slaves: []string{"slave1"}, NoUpsmon: true})
	s := c.Slave("slave1")
	set(t, c, "ups.status", "OB DISCHRG", "battery.charge", "90")
	events := []string{"LOWBATT", "ONBATT", "COMMOK", "ONBATT", "REPLBATT", "ONBATT", "LOWBATT", "CAL", "ONBATT", "COMMBAD",
		"ONBATT", "LOWBATT", "ONBATT", "NOCOMM", "ONBATT", "COMMOK", "ONBATT", "OTHER", "ONBATT", "BOGUS"}
	errc := make(chan error, len(events))
	start := make(chan struct{})
	for _, ev := range events {
		go func() {
			<-start
			argv := c.SlaveCommand("UPS ups on battery")
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFYTYPE=" + ev, "UPSNAME=" + c.NUT.UPS + "@" + c.NUT.Addr, "UPSSLAVE_CONF=" + s.ConfFile}
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("upsslave for %s: %v: %s", ev, err, out)
			}
			errc <- err
		}()
	}
	close(start)
	c.Note("20 notifications delivered at once")
	calm(t, c, 1500*time.Millisecond)
	set(t, c, "battery.charge", "40")
	for range events {
		select {
		case err := <-errc:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("some upsslave processes did not exit within 30s")
		}
	}
	waitFor(t, 20*time.Second, "the master's shutdown", func() bool { return len(c.MasterShutdowns()) > 0 })
	check(t, c, e2e.Want{Shutdown: []string{"slave1"}, Master: true})
	b, _ := os.ReadFile(filepath.Join(c.SSHD.Dir, "sshd.log"))
	t.Logf("sshd accepted %d logins for 20 notifications", strings.Count(string(b), "Accepted publickey"))
}

// TestCronMaster: a master without systemd. upsflags runs as the packaged
// cron.d example's every-minute line starts it ("upsflags watch --for
// 58s" through /bin/sh, once "upsflags check" has passed); the primary
// upsmon's NOTIFYCMD upsflags only touches TRIGGER, which nothing
// watches. The outage still goes through: ONBATT is acted on within the
// master's POLL, the slaves acknowledge and shut down, the master last.
func TestCronMaster(t *testing.T) {
	c := startCluster(t, e2e.Options{MasterCron: "../../packaging/cron/nutslave-master"})
	waitFor(t, 10*time.Second, "the master's onl", func() bool {
		_, ok := c.FlagTime("onl")
		return ok
	})
	set(t, c, "ups.status", "OB DISCHRG", "battery.charge", "90")
	waitFor(t, 10*time.Second, "the master to remove onl", func() bool {
		_, ok := c.FlagTime("onl")
		return !ok
	})
	set(t, c, "battery.charge", "45")
	waitFor(t, 30*time.Second, "the master's shutdown", func() bool { return len(c.MasterShutdowns()) > 0 })
	check(t, c, e2e.Want{Shutdown: names(c), Master: true})
	b, _ := os.ReadFile(c.Master.LogFile())
	if !strings.Contains(string(b), "watching the UPS") {
		t.Errorf("the master's log does not show the cron-started watch:\n%s", b)
	}
}

// TestChainedUpssched: a slave that used upssched as its NOTIFYCMD keeps
// it with NOTIFYCMD_NEXT. The real upsmon runs upsslave, upsslave runs
// upssched with the same event, and upssched's own timer still fires
// while upsslave watches the master: "EXECUTE" at once, "START-TIMER" two
// seconds later; ONLINE ends the outage and nobody shuts down.
func TestChainedUpssched(t *testing.T) {
	upssched, err := exec.LookPath("upssched")
	if err != nil {
		for _, p := range []string{"/sbin/upssched", "/usr/sbin/upssched"} {
			if _, serr := os.Stat(p); serr == nil {
				upssched, err = p, nil
			}
		}
	}
	if err != nil {
		t.Skipf("skipping: no upssched (Debian's nut-client ships it): %v", err)
	}
	c := startCluster(t, e2e.Options{Slaves: []string{"slave1"}, SlaveConf: []string{"NOTIFYCMD_NEXT=" + upssched}})
	s := c.Slaves[0]
	// upsmon's NUT_CONFPATH is its own directory: upssched reads its
	// configuration there too, as both would read /etc/nut.
	conf := s.Upsmon.Dir
	fired := filepath.Join(s.Dir, "upssched.fired")
	script := filepath.Join(s.Dir, "upssched-cmd")
	writeTestFile(t, script, "#!/bin/sh\necho \"$1 $NOTIFYTYPE $UPSNAME\" >> "+fired+"\n", 0o755)
	writeTestFile(t, filepath.Join(conf, "upssched.conf"), strings.Join([]string{
		"CMDSCRIPT " + script,
		"PIPEFN " + filepath.Join(s.Dir, "upssched.pipe"),
		"LOCKFN " + filepath.Join(s.Dir, "upssched.lock"),
		"AT ONBATT * EXECUTE onbatt-now",
		"AT ONBATT * START-TIMER onbatt-2s 2",
		"AT ONLINE * CANCEL-TIMER onbatt-2s",
	}, "\n")+"\n", 0o644)
	t.Cleanup(func() { stopUpssched(t, filepath.Join(s.Dir, "upssched.pipe")) })

	onBattery(t, c, "90")
	waitFor(t, 10*time.Second, "upssched's EXECUTE", func() bool { return fileHas(fired, "onbatt-now ONBATT ") })
	waitFor(t, 10*time.Second, "upssched's 2 s timer", func() bool { return fileHas(fired, "onbatt-2s") })
	if !logged(s, "NOTIFYCMD_NEXT ran cmd="+upssched) {
		t.Errorf("upsslave did not log upssched's outcome:\n%s", s.Log())
	}
	set(t, c, "ups.status", "OL CHRG", "battery.charge", "90")
	waitFor(t, 15*time.Second, "ONLINE at the slave", func() bool { return logged(s, "event=ONLINE") })
	calm(t, c, time.Second)
	check(t, c, e2e.Want{})
}

func writeTestFile(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

func fileHas(path, s string) bool {
	b, _ := os.ReadFile(path)
	return strings.Contains(string(b), s)
}

// stopUpssched ends the timer daemon upssched leaves behind (it exits on
// its own once no timer is left): it waits for that, then kills it.
func stopUpssched(t *testing.T, pipe string) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if pids := upsschedPids(pipe); len(pids) == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, pid := range upsschedPids(pipe) {
		t.Logf("upssched timer daemon %d still running after 20 s; killing it", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// upsschedPids lists the upssched processes (their command line).
func upsschedPids(string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(b), "upssched") && !strings.Contains(string(b), "upssched-cmd") {
			pids = append(pids, pid)
		}
	}
	return pids
}
