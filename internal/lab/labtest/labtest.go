// Package labtest is the test-side layer over package lab: it skips a test
// with the reason when the lab cannot run here, puts each instance under
// t.TempDir(), stops it in t.Cleanup and shows the daemons' logs when the
// test failed.
package labtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/lab"
)

// NUT starts dummy-ups and upsd for the test, or skips it.
func NUT(t testing.TB, opts lab.NUTOptions) *lab.NUT {
	t.Helper()
	return start(t, "NUT", "real NUT needed", lab.CheckNUT,
		func(dir string) (*lab.NUT, error) { return lab.StartNUT(dir, opts) },
		func(n *lab.NUT) string { return n.Dir }, "upsd.log", "dummy-ups.log")
}

// Upsmon starts upsmon against n for the test, or skips it.
func Upsmon(t testing.TB, n *lab.NUT, opts lab.UpsmonOptions) *lab.Upsmon {
	t.Helper()
	return start(t, "Upsmon", "upsmon needs", lab.CheckUpsmon,
		func(dir string) (*lab.Upsmon, error) { return n.StartUpsmon(dir, opts) },
		func(u *lab.Upsmon) string { return u.Dir }, "upsmon.log")
}

// SSHD starts sshd for the test, or skips it.
func SSHD(t testing.TB, opts lab.SSHDOptions) *lab.SSHD {
	t.Helper()
	return start(t, "SSHD", "real OpenSSH sshd needed", lab.CheckSSHD,
		func(dir string) (*lab.SSHD, error) { return lab.StartSSHD(dir, opts) },
		func(s *lab.SSHD) string { return s.Dir }, "sshd.log")
}

// start starts what a test needs of the lab, or skips the test ("skipping:
// need: why") when check fails: with startFn in the directory strings.
// ToLower(name) under t.TempDir(), stopped in t.Cleanup, which then shows
// the logs under its dir when the test failed.
func start[I interface{ Stop() error }](t testing.TB, name, need string, check func() error,
	startFn func(dir string) (I, error), dir func(I) string, logs ...string) I {
	t.Helper()
	if err := check(); err != nil {
		t.Skipf("skipping: %s: %v", need, err)
	}
	inst, err := startFn(filepath.Join(t.TempDir(), strings.ToLower(name)))
	if err != nil {
		t.Fatalf("Start%s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := inst.Stop(); err != nil {
			t.Errorf("%s.Stop: %v", name, err)
		}
		dumpLogs(t, dir(inst), logs...)
	})
	return inst
}

// dumpLogs logs the named files of dir when t failed.
func dumpLogs(t testing.TB, dir string, names ...string) {
	if !t.Failed() {
		return
	}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		t.Logf("--- %s/%s (last %d lines) ---\n%s", filepath.Base(dir), name, len(lines), strings.Join(lines, "\n"))
	}
}

// Main runs a package's tests, for its TestMain, with this process as the
// reaper of orphaned descendants, and fails the package when any process
// the tests started is still alive after them (killing it).
func Main(m *testing.M) int {
	if err := lab.AdoptOrphans(); err != nil {
		fmt.Fprintln(os.Stderr, "labtest:", err)
	}
	code := m.Run()
	if left := lab.Leftovers(5 * time.Second); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d process(es) the tests started were still alive after them (now killed):\n", len(left))
		for _, l := range left {
			fmt.Fprintln(os.Stderr, "  "+l)
		}
		code = 1
	}
	return code
}

// M wraps m so that running it is [Main]: for testscript.Main, which runs
// the tests itself.
func M(m *testing.M) interface{ Run() int } { return mainM{m} }

type mainM struct{ m *testing.M }

func (w mainM) Run() int { return Main(w.m) }
