package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/lab/labtest"
	"github.com/nutslave/nutslave/nut"
)

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func mustRun(t *testing.T, conf string, args ...string) string {
	t.Helper()
	code, out, stderr := runIn(append([]string{"upsflags"}, args...), map[string]string{confEnv: conf})
	if code != command.ExitOK {
		t.Fatalf("upsflags %s = %d; stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	return out
}

// TestRealUPSD runs the outage through a real upsd and dummy-ups.
func TestRealUPSD(t *testing.T) {
	n := labtest.NUT(t, lab.NUTOptions{})
	dir := t.TempDir()
	conf := testConf(t, dir, "SOURCE="+n.URL(), "SLAVES=", "HOSTSYNC=300ms")
	mustRun(t, conf, "run")
	if !exists(filepath.Join(dir, "flags/onl")) {
		t.Fatal("on line through upsd: no onl")
	}
	if err := n.Set(map[string]string{"ups.status": "OB DISCHRG", "battery.charge": "30"}); err != nil {
		t.Fatal(err)
	}
	mustRun(t, conf, "run")
	if exists(filepath.Join(dir, "flags/onl")) || exists(filepath.Join(dir, "flags/sdf")) {
		t.Fatal("after one low reading: onl must be gone and no sdf yet")
	}
	time.Sleep(20 * time.Millisecond)
	mustRun(t, conf, "run")
	if !exists(filepath.Join(dir, "flags/battsdf")) || !exists(filepath.Join(dir, "flags/sdf")) {
		t.Fatal("after two low readings through upsd: want battsdf and sdf")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "shutdown.log")); string(b) != "master\n" {
		t.Errorf("shutdown.log = %q, want one master shutdown", b)
	}
}

// TestRealUPSDStale pauses the driver so upsd says DATA-STALE: shorter than
// DEADTIME is no verdict; longer while on battery is critical.
func TestRealUPSDStale(t *testing.T) {
	n := labtest.NUT(t, lab.NUTOptions{MaxAge: time.Second, Vars: map[string]string{"ups.status": "OB DISCHRG", "battery.charge": "90"}})
	dir := t.TempDir()
	conf := testConf(t, dir, "SOURCE="+n.URL(), "SLAVES=", "DEADTIME=3s", "HOSTSYNC=200ms")
	sdf := filepath.Join(dir, "flags/sdf")
	waitStale := func() {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, err := nut.ReadVars(context.Background(), n.Addr, n.UPS)
			if errors.Is(err, nut.ErrDataStale) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("upsd never said DATA-STALE (last error %v)", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	mustRun(t, conf, "run") // on battery, charge fine

	if err := n.PauseDriver(); err != nil {
		t.Fatal(err)
	}
	waitStale()
	mustRun(t, conf, "run")
	if exists(sdf) {
		t.Fatal("DATA-STALE just began: no verdict wanted")
	}
	if err := n.ResumeDriver(); err != nil {
		t.Fatal(err)
	}
	if err := n.Set(map[string]string{"battery.charge": "89"}); err != nil {
		t.Fatal(err)
	}
	mustRun(t, conf, "run")
	if exists(sdf) {
		t.Fatal("a stale spell shorter than DEADTIME must not be critical")
	}

	if err := n.PauseDriver(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ResumeDriver() })
	waitStale()
	mustRun(t, conf, "run")
	if exists(sdf) {
		t.Fatal("a new stale spell restarts the DEADTIME clock")
	}
	time.Sleep(3100 * time.Millisecond)
	mustRun(t, conf, "run")
	if !exists(sdf) {
		t.Fatal("DATA-STALE for longer than DEADTIME while on battery: want sdf")
	}
	log, _ := os.ReadFile(filepath.Join(dir, "upsflags.log"))
	if !strings.Contains(string(log), "DATA-STALE") {
		t.Errorf("log does not name DATA-STALE:\n%s", log)
	}
}

// TestRealUPSDStatus measures `upsflags status` against real upsd.
func TestRealUPSDStatus(t *testing.T) {
	n := labtest.NUT(t, lab.NUTOptions{})
	dir := t.TempDir()
	conf := testConf(t, dir, "SOURCE="+n.URL(), `SLAVES="a b"`)
	mustRun(t, conf, "run")
	var best time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		out := mustRun(t, conf, "status")
		took := time.Since(start)
		if i == 0 || took < best {
			best = took
		}
		if !strings.Contains(out, `reading:  status="OL" charge=100 runtime=30m0s`) || !strings.Contains(out, "  b") {
			t.Fatalf("status output:\n%s", out)
		}
	}
	t.Logf("upsflags status through real upsd: best of 5 = %v", best)
}

func BenchmarkStatusRealUPSD(b *testing.B) {
	n := labtest.NUT(b, lab.NUTOptions{})
	dir := b.TempDir()
	conf := testConf(b, dir, "SOURCE="+n.URL())
	os.MkdirAll(filepath.Join(dir, "flags"), 0o755)
	for b.Loop() {
		if code, _, stderr := runIn([]string{"upsflags", "status"}, map[string]string{confEnv: conf}); code != 0 {
			b.Fatal(stderr)
		}
	}
}
