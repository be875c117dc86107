// Package labtest is the test-side layer over package lab: it skips a test
// with the reason when the lab cannot run here, puts each instance under
// t.TempDir(), stops it in t.Cleanup and shows the daemons' logs when the
// test failed.
package labtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
