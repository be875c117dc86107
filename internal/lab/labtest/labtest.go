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
	if err := lab.CheckNUT(); err != nil {
		t.Skipf("skipping: real NUT needed: %v", err)
	}
	dir := t.TempDir()
	n, err := lab.StartNUT(filepath.Join(dir, "nut"), opts)
	if err != nil {
		t.Fatalf("StartNUT: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("NUT.Stop: %v", err)
		}
		dumpLogs(t, n.Dir, "upsd.log", "dummy-ups.log")
	})
	return n
}

// Upsmon starts upsmon against n for the test, or skips it.
func Upsmon(t testing.TB, n *lab.NUT, opts lab.UpsmonOptions) *lab.Upsmon {
	t.Helper()
	if err := lab.CheckUpsmon(); err != nil {
		t.Skipf("skipping: upsmon needs: %v", err)
	}
	u, err := n.StartUpsmon(filepath.Join(t.TempDir(), "upsmon"), opts)
	if err != nil {
		t.Fatalf("StartUpsmon: %v", err)
	}
	t.Cleanup(func() {
		if err := u.Stop(); err != nil {
			t.Errorf("Upsmon.Stop: %v", err)
		}
		dumpLogs(t, u.Dir, "upsmon.log")
	})
	return u
}

// SSHD starts sshd for the test, or skips it.
func SSHD(t testing.TB, opts lab.SSHDOptions) *lab.SSHD {
	t.Helper()
	if err := lab.CheckSSHD(); err != nil {
		t.Skipf("skipping: real OpenSSH sshd needed: %v", err)
	}
	s, err := lab.StartSSHD(filepath.Join(t.TempDir(), "sshd"), opts)
	if err != nil {
		t.Fatalf("StartSSHD: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("SSHD.Stop: %v", err)
		}
		dumpLogs(t, s.Dir, "sshd.log")
	})
	return s
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
