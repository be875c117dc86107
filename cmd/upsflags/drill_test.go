package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/command"
)

// TestReadinessAndDrillEndToEnd runs "upsslave heartbeat" (the slaves'
// readiness timer) and "upsflags drill" with real upsslave binaries
// reaching the flag directories over SSH/SFTP. The subtests run in
// parallel, each with its own master.
func TestReadinessAndDrillEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds upsslave and runs several SSH sessions (-short)")
	}
	bin := buildUpsslave(t, t.TempDir())
	t.Run("readiness from heartbeats", func(t *testing.T) { t.Parallel(); testReadiness(t, bin) })
	t.Run("drill with a slave unreachable", func(t *testing.T) { t.Parallel(); testDrillMissing(t, bin) })
	t.Run("drills back to back", func(t *testing.T) { t.Parallel(); testDrillsBackToBack(t, bin) })
	t.Run("real outage during a drill", func(t *testing.T) { t.Parallel(); testOutageDuringDrill(t, bin) })
}

// testReadiness: a healthy slave shows its last-seen age and no problem;
// a slave with a key the master does not authorize, or an identity it
// cannot read, is never seen and fails check by name; a slave that was
// seen and then lost its key turns stale; a slave whose self-check fails
// shows its problem.
func testReadiness(t *testing.T, bin string) {
	// STALE is long enough that no wait of a loaded machine makes a fresh
	// heartbeat stale; "broken" turns stale by the age of its report
	// (backdated below), not by sleeping.
	c := newCluster(t, bin, `SLAVES="good broken nokey sick"`, "STALE=1m")
	defer c.dump()
	good, broken := c.slave("good"), c.slave("broken")
	nokey := c.slave("nokey", "IDENTITY="+c.dir+"/no/such/key")
	sick := c.slave("sick", "SHUTDOWNCMD=/nonexistent/shutdown")
	c.ups("OL", 100)
	c.mustUpsflags("run")

	for _, s := range []*slaveHost{good, broken} {
		if out, err := c.heartbeat(s); err != nil {
			t.Fatalf("heartbeat of %s: %v\n%s", s.name, err, out)
		}
	}
	for _, s := range []*slaveHost{nokey, sick} {
		if out, err := c.heartbeat(s); err == nil {
			t.Errorf("heartbeat of %s succeeded:\n%s", s.name, out)
		}
	}

	status := c.mustUpsflags("status")
	t.Logf("upsflags status:\n%s", status)
	if row := rowOf(status, "good"); !regexp.MustCompile(`\ds ago\s*$`).MatchString(row) {
		t.Errorf("status row of good = %q, want its last-seen age and nothing else", row)
	}
	if row := rowOf(status, "nokey"); !strings.Contains(row, "never STALE") {
		t.Errorf("status row of nokey = %q, want never STALE", row)
	}
	if row := rowOf(status, "sick"); !strings.Contains(row, "PROBLEM") {
		t.Errorf("status row of sick = %q, want PROBLEM", row)
	}
	if !regexp.MustCompile(`problem: sick seen \d+s ago, reported: error: SHUTDOWNCMD "/nonexistent/shutdown"`).MatchString(status) {
		t.Errorf("status does not show sick's problem text:\n%s", status)
	}
	if strings.Contains(status, "problem: good") || strings.Contains(status, "stale:   good") {
		t.Errorf("status reports a problem for good:\n%s", status)
	}

	code, out, errs := c.upsflags("check")
	if code != command.ExitFailure {
		t.Errorf("check = %d, want %d\n%s", code, command.ExitFailure, out)
	}
	if !strings.Contains(out, "error: slave nokey: never seen") || !strings.Contains(errs, "not seen for STALE: nokey") {
		t.Errorf("check does not name nokey:\nstdout:\n%s\nstderr:\n%s", out, errs)
	}
	if !strings.Contains(out, `warning: slave sick: seen`) || !strings.Contains(out, "ok: slave good: seen") {
		t.Errorf("check: want good ok and sick warned:\n%s", out)
	}

	// broken's key is replaced by one the master does not authorize: its
	// next heartbeats fail and, STALE later, the master says so. Its last
	// report is made two minutes old, as if STALE had passed.
	c.reconfigure(broken, "IDENTITY="+foreignKey(t, broken.dir))
	backdate(t, filepath.Join(c.dir, "acks", "seen.broken"), 2*time.Minute)
	if out, err := c.heartbeat(broken); err == nil {
		t.Fatalf("heartbeat with a foreign key succeeded:\n%s", out)
	}
	if out, err := c.heartbeat(good); err != nil {
		t.Fatalf("heartbeat of good: %v\n%s", err, out)
	}
	status = c.mustUpsflags("status")
	if row := rowOf(status, "broken"); !strings.Contains(row, "STALE") {
		t.Errorf("status row of broken = %q, want STALE", row)
	}
	if !regexp.MustCompile(`stale: +broken last seen 2m ago`).MatchString(status) {
		t.Errorf("status does not list broken as stale:\n%s", status)
	}
	if row := rowOf(status, "good"); strings.Contains(row, "STALE") || strings.Contains(row, "PROBLEM") {
		t.Errorf("status row of good = %q after a fresh heartbeat", row)
	}
	code, out, errs = c.upsflags("check")
	if code != command.ExitFailure || !strings.Contains(errs, "not seen for STALE: broken nokey") ||
		!regexp.MustCompile(`error: slave broken: last seen 2m ago \(STALE 1m0s\)`).MatchString(out) {
		t.Errorf("check = %d, want a failure naming broken and nokey:\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// testDrillMissing: web1 and web2 answer from their heartbeat timers, db1
// cannot reach the master. The drill names who answered and how fast,
// who did not and why, powers nothing off, cleans up and exits 1.
func testDrillMissing(t *testing.T, bin string) {
	c := newCluster(t, bin, `SLAVES="web1 web2 db1"`, "POLL=50ms")
	defer c.dump()
	web1, web2 := c.slave("web1"), c.slave("web2")
	db1 := c.slave("db1")
	c.reconfigure(db1, "IDENTITY="+foreignKey(t, db1.dir))
	c.ups("OL", 100)
	c.mustUpsflags("run")

	drill := c.background("drill", "--timeout", "3s")
	c.waitUntil(10*time.Second, "drill written", func() bool { return c.exists("flags/drill") })
	for _, s := range []*slaveHost{web1, web2} {
		if out, err := c.heartbeat(s); err != nil {
			t.Fatalf("heartbeat of %s: %v\n%s", s.name, err, out)
		}
	}
	if _, err := c.heartbeat(db1); err == nil {
		t.Fatal("db1's heartbeat reached the master with a foreign key")
	}
	code, out, errs := drill.wait(10 * time.Second)
	t.Logf("upsflags drill --timeout 3s (exit %d):\n%s", code, out)
	if code != command.ExitFailure {
		t.Errorf("drill = %d, want %d; stderr:\n%s", code, command.ExitFailure, errs)
	}
	for _, n := range []string{"web1", "web2"} {
		if row := rowOf(out, n); !regexp.MustCompile(`^  ` + n + ` +yes +[0-9.]+m?s`).MatchString(row) {
			t.Errorf("drill row of %s = %q, want yes and how fast", n, row)
		}
	}
	if row := rowOf(out, "db1"); !strings.Contains(row, "NO") || !strings.Contains(row, "never seen") {
		t.Errorf("drill row of db1 = %q, want NO and why (never seen)", row)
	}
	if !strings.Contains(out, "2 of 3 answered; no answer from db1") || !strings.Contains(errs, "no answer from db1") {
		t.Errorf("drill summary does not name db1:\nstdout:\n%s\nstderr:\n%s", out, errs)
	}
	assertDrillClean(t, c)
	if names, _ := c.shutdowns(); len(names) != 0 {
		t.Errorf("a drill ran shutdown commands: %q", names)
	}
	for _, s := range []*slaveHost{web1, web2} {
		if !strings.Contains(s.log(), "drill: would shut down now") {
			t.Errorf("%s's log does not show the drill:\n%s", s.name, s.log())
		}
	}
}

// assertDrillClean checks that no drill flag, answer or acknowledgement
// is left.
func assertDrillClean(t *testing.T, c *cluster) {
	t.Helper()
	if c.exists("flags/drill") {
		t.Error("drill flag left after the drill")
	}
	for _, pat := range []string{"acks/drillok.*", "acks/sdfok*", "flags/sdf*", "flags/battsdf*"} {
		if m, _ := filepath.Glob(c.path(pat)); len(m) > 0 {
			t.Errorf("left after the drill: %q", m)
		}
	}
}

// testDrillsBackToBack: a second drill right after a complete one is
// answered too (each drill has its own id; a slave answers each id once).
func testDrillsBackToBack(t *testing.T, bin string) {
	c := newCluster(t, bin, `SLAVES="web1"`, "POLL=50ms")
	defer c.dump()
	web1 := c.slave("web1")
	c.ups("OL", 100)
	c.mustUpsflags("run")
	var ids []string
	for i := range 2 {
		drill := c.background("drill", "--timeout", "5s")
		c.waitUntil(10*time.Second, "drill written", func() bool { return c.exists("flags/drill") })
		b, _ := os.ReadFile(c.path("flags/drill"))
		ids = append(ids, regexp.MustCompile(`id=(\S+)`).FindString(string(b)))
		if out, err := c.heartbeat(web1); err != nil {
			t.Fatalf("heartbeat: %v\n%s", err, out)
		}
		code, out, errs := drill.wait(10 * time.Second)
		if code != 0 {
			t.Fatalf("drill %d = %d:\n%s\n%s", i+1, code, out, errs)
		}
	}
	if ids[0] == ids[1] {
		t.Errorf("two drills share the id %s", ids[0])
	}
	assertDrillClean(t, c)
}

// testOutageDuringDrill: the UPS goes on battery below STDWCHARGE while a
// drill runs. The real sequence wins at once: the drill flag goes, battsdf
// and sdf come, the slaves acknowledge with sdfok (a drillok never counts)
// and shut down, the master last.
func testOutageDuringDrill(t *testing.T, bin string) {
	c := newCluster(t, bin, `SLAVES="web1 db1"`, "STDWCHARGE=50", "DEBOUNCE=1",
		"POLL=50ms", "HOSTSYNC=30s", "DEADTIME=10s")
	defer c.dump()
	web1, db1 := c.slave("web1"), c.slave("db1")
	c.ups("OL", 100)
	c.mustUpsflags("run")

	drill := c.background("drill", "--timeout", "30s")
	c.waitUntil(10*time.Second, "drill written", func() bool { return c.exists("flags/drill") })
	if out, err := c.heartbeat(web1); err != nil {
		t.Fatalf("heartbeat of web1: %v\n%s", err, out)
	}
	if !c.exists("acks/drillok.web1") {
		t.Fatal("web1 did not answer the drill")
	}

	c.ups("OB DISCHRG", 30)
	c.waitUntil(10*time.Second, "sdf written", func() bool { return c.exists("flags/sdf") })
	if c.exists("flags/drill") {
		t.Error("drill flag still present once sdf was written")
	}
	if !c.exists("flags/battsdf") {
		t.Error("no battsdf beside sdf")
	}
	// The slaves' upsmon says ONBATT a moment later. Until they
	// acknowledge, drillok.web1 must not end the master's wait.
	time.Sleep(time.Second)
	if c.shutDown("master") {
		t.Fatal("the master shut down before any slave acknowledged sdf (a drill answer taken for sdfok?)")
	}
	pw, pd := c.event(web1, "ONBATT"), c.event(db1, "ONBATT")
	c.waitUntil(30*time.Second, "the master shut down", func() bool { return c.shutDown("master") })
	for _, p := range []*proc{pw, pd} {
		if err := p.wait(t, 10*time.Second); err != nil {
			t.Errorf("upsslave: %v\n%s", err, p.out)
		}
	}
	code, out, errs := drill.wait(10 * time.Second)
	t.Logf("upsflags drill during an outage (exit %d):\n%s%s", code, out, errs)
	if code != command.ExitFailure || !strings.Contains(out+errs, "drill abandoned: the UPS is critical") {
		t.Errorf("drill = %d, want %d and the outage named", code, command.ExitFailure)
	}
	time.Sleep(200 * time.Millisecond)
	names, at := c.shutdowns()
	// The master's promise is to shut down after every acknowledgement
	// (checked below), not after the slaves' own commands started: see
	// testStagesInOrder.
	if len(names) != 3 || len(at["master"]) != 1 || len(at["web1"]) != 1 || len(at["db1"]) != 1 {
		t.Errorf("shutdowns %q, want web1, db1 and the master once each", names)
	}
	for _, n := range []string{"web1", "db1"} {
		if ack := c.mtime("acks/sdfok." + n); len(at["master"]) > 0 && at["master"][0].Before(ack) {
			t.Errorf("the master shut down at %v, before %s acknowledged (%v)", at["master"][0], n, ack)
		}
	}
	log := c.masterLog()
	for _, want := range []string{"real outage during a drill: removed the drill flag", "every slave acknowledged"} {
		if !strings.Contains(log, want) {
			t.Errorf("master log lacks %q:\n%s", want, log)
		}
	}
	if m, _ := filepath.Glob(c.path("acks/drillok.*")); len(m) > 0 || c.exists("flags/drill") {
		t.Errorf("drill leftovers after the outage: %q drill=%v", m, c.exists("flags/drill"))
	}
	if !c.exists("flags/sdf") {
		t.Error("sdf must stay latched after the drill gave way")
	}
}

// backdate makes a heartbeat report age older: its time= field and the
// file's time.
func backdate(t *testing.T, path string, age time.Duration) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-age)
	body := regexp.MustCompile(`(?m)^time=.*$`).ReplaceAllString(string(b), "time="+old.UTC().Format(time.RFC3339))
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}
