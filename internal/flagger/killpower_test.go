package flagger

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nutslave/nutslave/internal/eventlog"
)

// killpowerRig is a master reading its UPS through NUT (KILLPOWER=auto
// arms it) whose upsmon.conf names a POWERDOWNFLAG in a temporary
// directory: never the machine's /etc/killpower.
func killpowerRig(t *testing.T) (*Flagger, string, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	flag := filepath.Join(dir, "killpower")
	cfg := defaultConfig(filepath.Join(dir, "upsflags.conf"))
	cfg.Source = "nut://ups@127.0.0.1:1"
	cfg.StateDir, cfg.Trigger = dir, filepath.Join(dir, "upsflags.trigger") // never the machine's
	cfg.UpsmonConf = filepath.Join(dir, "upsmon.conf")
	if err := os.WriteFile(cfg.UpsmonConf, []byte("MONITOR ups@localhost 1 u p primary\nPOWERDOWNFLAG "+flag+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	f, err := New(cfg, eventlog.Open(eventlog.Options{Tag: "upsflags", Stderr: &log}))
	if err != nil {
		t.Fatal(err)
	}
	return f, flag, &log
}

// TestArmUPS: the flag holds upsmon's magic line, so that "upsmon -K" is
// true at the halt; disarm (reset at boot) removes it.
func TestArmUPS(t *testing.T) {
	f, flag, _ := killpowerRig(t)
	f.armUPS()
	b, err := os.ReadFile(flag)
	if err != nil || string(b) != sdMagic+"\n" {
		t.Fatalf("POWERDOWNFLAG = %q, %v; want upsmon's magic line", b, err)
	}
	if got := f.disarm(); got != flag {
		t.Errorf("disarm removed %q, want %s", got, flag)
	}
	if _, err := os.Stat(flag); err == nil {
		t.Errorf("POWERDOWNFLAG still there after disarm")
	}
}

// TestArmUPSNever: no flag with DRYRUN (the master stays up: its next
// ordinary halt would cut the load), KILLPOWER=no, or a file source; and
// disarm leaves a file that is not upsmon's alone.
func TestArmUPSNever(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(f *Flagger)
	}{
		{"DRYRUN", func(f *Flagger) { f.cfg.DryRun = true }},
		{"KILLPOWER=no", func(f *Flagger) { f.cfg.Killpower = "no" }},
		{"file source", func(f *Flagger) { f.src = &fileSource{path: "/nonexistent"} }},
		{"file source behind METRICS", func(f *Flagger) { f.src = &remembering{Source: &fileSource{path: "/nonexistent"}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, flag, log := killpowerRig(t)
			tc.set(f)
			f.armUPS()
			if _, err := os.Stat(flag); err == nil {
				t.Fatalf("POWERDOWNFLAG written\nlog:\n%s", log)
			}
		})
	}
	f, flag, _ := killpowerRig(t)
	if err := os.WriteFile(flag, []byte("someone else's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := f.disarm(); got != "" {
		t.Errorf("disarm removed %q, which is not upsmon's", got)
	}
	if b, _ := os.ReadFile(flag); !strings.HasPrefix(string(b), "someone") {
		t.Errorf("the foreign file changed: %q", b)
	}
}
