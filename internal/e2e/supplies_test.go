package e2e_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/lab"
)

// Two power supplies through the real programs: two UPSes (two dummy-ups
// and upsd), each with its own master (upsflags watch, its flags served by
// its own sshd), and one slave whose upsmon MONITORs both and runs
// upsslave with MASTERS. The slave's key is authorized on both masters.

// supplyMaster is one UPS with its master.
type supplyMaster struct {
	nut  *lab.NUT
	sshd *lab.SSHD
	log  string // upsflags's LOGFILE
}

// supplyRig is the two masters and the slave.
type supplyRig struct {
	a, b     supplyMaster
	dir      string
	slaveLog string
	shutdown string // the slave's recorded shutdowns
}

func startSupplies(t *testing.T, minSupplies int) *supplyRig {
	t.Helper()
	prerequisites(t)
	bin := binaries(t)
	if bin.Upsflags == "" {
		t.Skipf("skipping: upsflags could not be built: %s", bin.UpsflagsMissing)
	}
	r := &supplyRig{dir: rootOwnedDir(t)}
	var first *lab.SSHD
	for i, m := range []*supplyMaster{&r.a, &r.b} {
		name := string(rune('a' + i))
		n, err := lab.StartNUT(filepath.Join(r.dir, "nut-"+name), lab.NUTOptions{UPS: "ups" + name})
		if err != nil {
			t.Fatalf("NUT %s: %v", name, err)
		}
		t.Cleanup(func() { n.Stop() })
		opts := lab.SSHDOptions{}
		if first != nil {
			pub, err := os.ReadFile(first.ClientKey + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			opts.AlsoAuthorize = [][]byte{pub}
		}
		s, err := lab.StartSSHD(filepath.Join(r.dir, "sshd-"+name), opts)
		if err != nil {
			t.Fatalf("sshd %s: %v", name, err)
		}
		t.Cleanup(func() { s.Stop() })
		if first == nil {
			first = s
		}
		*m = supplyMaster{nut: n, sshd: s, log: filepath.Join(r.dir, "upsflags-"+name+".log")}
		startMasterProc(t, bin.Upsflags, filepath.Join(r.dir, "master-"+name), m)
	}

	// The slave: one key, both masters' host keys, MASTERS by UPS name.
	sdir := filepath.Join(r.dir, "slave")
	os.MkdirAll(filepath.Join(sdir, "state"), 0o755)
	known := filepath.Join(sdir, "known_hosts")
	var kh []byte
	for _, m := range []supplyMaster{r.a, r.b} {
		b, _ := os.ReadFile(m.sshd.KnownHostsFile)
		kh = append(kh, b...)
	}
	writeTestFile(t, known, string(kh), 0o644)
	r.slaveLog = filepath.Join(sdir, "upsslave.log")
	r.shutdown = filepath.Join(sdir, "shutdown.log")
	upsName := func(m supplyMaster) string { return m.nut.UPS + "@" + m.nut.Addr }
	conf := filepath.Join(sdir, "upsslave.conf")
	writeTestFile(t, conf, strings.Join([]string{
		fmt.Sprintf("MASTERS=\"%s=nutslave@%s %s=nutslave@%s\"", upsName(r.a), r.a.sshd.Addr, upsName(r.b), r.b.sshd.Addr),
		"IDENTITY=" + first.ClientKey,
		"KNOWN_HOSTS=" + known,
		"NAME=web1",
		"POLL=250ms", "SDFWAIT=10s", "DEADTIME=3s", "CONNECT_TIMEOUT=1s",
		"STATEDIR=" + filepath.Join(sdir, "state"),
		"LOGFILE=" + r.slaveLog,
		"UPSMON_CONF=" + filepath.Join(sdir, "upsmon", "upsmon.conf"),
		fmt.Sprintf("SHUTDOWNCMD=\"/bin/sh -c 'echo web1 >> %s'\"", r.shutdown),
	}, "\n")+"\n", 0o640)
	u, err := r.a.nut.StartUpsmon(filepath.Join(sdir, "upsmon"), lab.UpsmonOptions{
		Secondary:   true,
		NotifyCmd:   bin.Upsslave,
		Env:         []string{"UPSSLAVE_CONF=" + conf},
		ShutdownCmd: "echo upsmon >> " + filepath.Join(sdir, "upsmon-shutdown.log"),
		AlsoMonitor: []*lab.NUT{r.b.nut},
		MinSupplies: minSupplies,
	})
	if err != nil {
		t.Fatalf("the slave's upsmon: %v", err)
	}
	t.Cleanup(func() { u.Stop() })
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range []string{r.slaveLog, r.a.log, r.b.log, filepath.Join(sdir, "upsmon", "upsmon.log")} {
				dumpTail(t, p, 30)
			}
		}
	})
	return r
}

// startMasterProc runs "upsflags watch" for m, reading m's upsd, writing
// the flags its sshd serves; it is stopped when the test ends.
func startMasterProc(t *testing.T, bin, dir string, m *supplyMaster) {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, "state"), 0o750)
	conf := filepath.Join(dir, "upsflags.conf")
	writeTestFile(t, conf, strings.Join([]string{
		"SOURCE=nut://" + m.nut.UPS + "@" + m.nut.Addr,
		"FLAGDIR=" + m.sshd.FlagDir,
		"ACKDIR=" + m.sshd.AckDir,
		"SLAVES=web1",
		"STDWCHARGE=50", "DEBOUNCE=1", "HOSTSYNC=20s", "DEADTIME=10s", "POLL=250ms",
		"STATEDIR=" + filepath.Join(dir, "state"),
		"LOGFILE=" + m.log,
		"TRIGGER=" + filepath.Join(dir, "trigger"),
		"UPSMON_CONF=" + filepath.Join(dir, "no-upsmon.conf"), // never the machine's /etc/killpower
		fmt.Sprintf("SHUTDOWNCMD=\"/bin/sh -c 'echo master >> %s'\"", filepath.Join(dir, "shutdown.log")),
	}, "\n")+"\n", 0o640)
	cmd := exec.Command(bin, "--config", conf, "watch")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := lab.Spawn(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
}

func (m supplyMaster) set(t *testing.T, kv ...string) {
	t.Helper()
	vars := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		vars[kv[i]] = kv[i+1]
	}
	if err := m.nut.Set(vars); err != nil {
		t.Fatal(err)
	}
}

func (m supplyMaster) acked() bool {
	_, err := os.Stat(filepath.Join(m.sshd.AckDir, "sdfok.web1"))
	return err == nil
}

func (r *supplyRig) shutdowns() int {
	b, _ := os.ReadFile(r.shutdown)
	return strings.Count(string(b), "web1")
}

func (r *supplyRig) logHas(s string) bool { return fileHas(r.slaveLog, s) }

// TestTwoSuppliesMinSupplies1: A's master says sdf: the slave acknowledges
// to A and keeps running on B; then B's master says sdf: it acknowledges
// to B and shuts down, once.
func TestTwoSuppliesMinSupplies1(t *testing.T) {
	r := startSupplies(t, 1)
	r.a.set(t, "ups.status", "OB DISCHRG", "battery.charge", "40")
	waitFor(t, 20*time.Second, "the acknowledgement to A", r.a.acked)
	waitFor(t, 5*time.Second, "A condemned in the log", func() bool {
		return r.logHas("supply condemned; this host stays up on its other supplies")
	})
	time.Sleep(2 * time.Second) // long enough for a wrong shutdown to show
	if n := r.shutdowns(); n != 0 {
		t.Fatalf("the slave shut down %d times on A's sdf, although B powers it (MINSUPPLIES 1)", n)
	}
	if r.b.acked() {
		t.Fatalf("the slave acknowledged to B, whose UPS is on line power")
	}
	r.b.set(t, "ups.status", "OB DISCHRG", "battery.charge", "40")
	waitFor(t, 20*time.Second, "the acknowledgement to B", r.b.acked)
	waitFor(t, 10*time.Second, "the slave's shutdown", func() bool { return r.shutdowns() > 0 })
	time.Sleep(time.Second)
	if n := r.shutdowns(); n != 1 {
		t.Errorf("the slave shut down %d times, want 1", n)
	}
}

// TestTwoSuppliesMinSupplies2: the host needs both supplies: A's sdf
// alone shuts it down.
func TestTwoSuppliesMinSupplies2(t *testing.T) {
	r := startSupplies(t, 2)
	r.a.set(t, "ups.status", "OB DISCHRG", "battery.charge", "40")
	waitFor(t, 20*time.Second, "the acknowledgement to A", r.a.acked)
	waitFor(t, 10*time.Second, "the slave's shutdown", func() bool { return r.shutdowns() > 0 })
	if n := r.shutdowns(); n != 1 {
		t.Errorf("the slave shut down %d times, want 1", n)
	}
}

// TestTwoSuppliesFailSafeOneMaster: A on battery and its master's sshd
// gone: after DEADTIME the fail-safe condemns A alone, and the host stays
// up on B.
func TestTwoSuppliesFailSafeOneMaster(t *testing.T) {
	r := startSupplies(t, 1)
	if err := r.a.sshd.Stop(); err != nil {
		t.Fatal(err)
	}
	r.a.set(t, "ups.status", "OB DISCHRG", "battery.charge", "90")
	waitFor(t, 25*time.Second, "A condemned by the fail-safe", func() bool {
		return r.logHas("supply condemned; this host stays up on its other supplies") && r.logHas("fail-safe")
	})
	time.Sleep(2 * time.Second)
	if n := r.shutdowns(); n != 0 {
		t.Fatalf("the slave shut down %d times on A's fail-safe, although B powers it", n)
	}
}
