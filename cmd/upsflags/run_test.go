package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/flagger"
)

// testConf writes an upsflags.conf under dir for a file: source and
// returns its path; extra lines replace the default of their key, or are
// appended.
func testConf(t testing.TB, dir string, extra ...string) string {
	t.Helper()
	lines := []string{
		"SOURCE=file:" + dir + "/ups.txt",
		"FLAGDIR=" + dir + "/flags",
		"ACKDIR=" + dir + "/acks",
		fmt.Sprintf("FLAGOWNER=%d", os.Getuid()),
		"STATEDIR=" + dir + "/state",
		"LOGFILE=" + dir + "/upsflags.log",
		"TRIGGER=" + dir + "/trigger",
		"POLL=20ms",
		"DEADTIME=1s",
		"HOSTSYNC=200ms",
		// Never the machine's own upsmon.conf and its /etc/killpower.
		"UPSMON_CONF=" + dir + "/upsmon.conf",
		`SHUTDOWNCMD="/bin/sh -c 'echo master >> ` + dir + `/shutdown.log'"`,
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "upsflags.conf")
	writeConf(t, p, lines, extra)
	check := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	makeDirs(check, filepath.Join(dir, "flags"), filepath.Join(dir, "acks"))
	return p
}

func writeUPS(t testing.TB, dir, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "ups.txt"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runIn(args []string, env map[string]string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, dir string) (args []string, env map[string]string)
		want   int
		stderr string
	}{
		{"no command", func(t *testing.T, dir string) ([]string, map[string]string) {
			return []string{"upsflags"}, nil
		}, command.ExitUsage, "no command"},
		{"unknown flag", func(t *testing.T, dir string) ([]string, map[string]string) {
			return []string{"upsflags", "--bogus", "run"}, nil
		}, command.ExitUsage, "bogus"},
		{"version", func(t *testing.T, dir string) ([]string, map[string]string) {
			return []string{"upsflags", "--version"}, nil
		}, command.ExitOK, ""},
		{"no configuration", func(t *testing.T, dir string) ([]string, map[string]string) {
			return []string{"upsflags", "--config", dir + "/missing.conf", "run"}, nil
		}, command.ExitNotConfigured, "not configured"},
		{"unknown key", func(t *testing.T, dir string) ([]string, map[string]string) {
			return []string{"upsflags", "run"}, map[string]string{confEnv: testConf(t, dir, "HOSTSYNK=1s")}
		}, command.ExitNotConfigured, "did you mean HOSTSYNC"},
		{"run on line", func(t *testing.T, dir string) ([]string, map[string]string) {
			writeUPS(t, dir, "ups.status: OL\nbattery.charge: 100\n")
			return []string{"upsflags", "run"}, map[string]string{confEnv: testConf(t, dir)}
		}, command.ExitOK, ""},
		{"run with no reading (transient)", func(t *testing.T, dir string) ([]string, map[string]string) {
			return []string{"upsflags", "run"}, map[string]string{confEnv: testConf(t, dir)}
		}, command.ExitOK, ""},
		{"run with a source that cannot work", func(t *testing.T, dir string) ([]string, map[string]string) {
			writeUPS(t, dir, "this is not upsc output\n")
			return []string{"upsflags", "run"}, map[string]string{confEnv: testConf(t, dir)}
		}, command.ExitFailure, "malformed upsc line"},
		{"symlinked FLAGDIR", func(t *testing.T, dir string) ([]string, map[string]string) {
			writeUPS(t, dir, "ups.status: OL\n")
			os.Mkdir(filepath.Join(dir, "real"), 0o755)
			os.Symlink("real", filepath.Join(dir, "flags"))
			return []string{"upsflags", "run"}, map[string]string{confEnv: testConf(t, dir)}
		}, command.ExitFailure, "is a symlink"},
		{"NOTIFYCMD, other event", func(t *testing.T, dir string) ([]string, map[string]string) {
			return []string{"upsflags", "UPS ups@localhost: battery needs replacing"},
				map[string]string{confEnv: testConf(t, dir), "NOTIFYTYPE": "REPLBATT"}
		}, command.ExitOK, ""},
		{"NOTIFYCMD, not configured", func(t *testing.T, dir string) ([]string, map[string]string) {
			return []string{"upsflags", "--config", dir + "/missing.conf", "UPS on battery"}, map[string]string{"NOTIFYTYPE": "ONBATT"}
		}, command.ExitNotConfigured, "not configured"},
		{"status", func(t *testing.T, dir string) ([]string, map[string]string) {
			writeUPS(t, dir, "ups.status: OL\n")
			os.MkdirAll(filepath.Join(dir, "flags"), 0o755)
			return []string{"upsflags", "status"}, map[string]string{confEnv: testConf(t, dir)}
		}, command.ExitOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, env := tt.setup(t, t.TempDir())
			code, _, stderr := runIn(args, env)
			if code != tt.want {
				t.Errorf("run(%q) = %d, want %d; stderr:\n%s", args, code, tt.want, stderr)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.stderr)
			}
		})
	}
}

func TestReportCodes(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, command.ExitOK},
		{errors.New("boom"), command.ExitFailure},
		{&command.UsageError{Msg: "x"}, command.ExitUsage},
		{fmt.Errorf("touch TRIGGER: %w", fs.ErrPermission), command.ExitPermission},
		{fmt.Errorf("%w: x", command.ErrNotConfigured), command.ExitNotConfigured},
		{&command.Hinted{Err: fmt.Errorf("%w: x", flagger.ErrUnsafeDir), Hint: "fix it"}, command.ExitFailure},
		{context.Canceled, command.ExitFailure},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if got := report(&b, tt.err); got != tt.want {
			t.Errorf("report(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestNotifyTrigger plays upsmon running upsflags as user nut: it may not
// write FLAGDIR, so it touches TRIGGER, writes no flag and exits 0.
func TestNotifyTrigger(t *testing.T) {
	dir := t.TempDir()
	conf := testConf(t, dir)
	writeUPS(t, dir, "ups.status: OB\nbattery.charge: 10\n")
	old := canWrite
	t.Cleanup(func() { canWrite = old })
	canWrite = func(d string) bool { return d != filepath.Join(dir, "flags") }

	code, _, stderr := runIn([]string{"upsflags", "UPS ups@localhost on battery"},
		map[string]string{confEnv: conf, "NOTIFYTYPE": "ONBATT", "UPSNAME": "ups@localhost"})
	if code != command.ExitOK {
		t.Fatalf("NOTIFYCMD run = %d, want 0; stderr:\n%s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "trigger"))
	if err != nil {
		t.Fatalf("TRIGGER not touched: %v", err)
	}
	if !strings.Contains(string(b), "event=ONBATT ups=ups@localhost") {
		t.Errorf("TRIGGER = %q", b)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "flags")); len(ents) != 0 {
		t.Errorf("FLAGDIR has %d entries, want none (the root service decides)", len(ents))
	}
	if !strings.Contains(stderr, "touched TRIGGER") {
		t.Errorf("log does not say TRIGGER was touched:\n%s", stderr)
	}

	// TRIGGER that cannot be written: an error, logged.
	conf = testConf(t, dir, "TRIGGER="+dir+"/no/such/dir/trigger")
	code, _, stderr = runIn([]string{"upsflags", "UPS ups@localhost on battery"},
		map[string]string{confEnv: conf, "NOTIFYTYPE": "LOWBATT"})
	if code != command.ExitFailure || !strings.Contains(stderr, "hint: TRIGGER's directory") {
		t.Errorf("unwritable TRIGGER: run = %d, stderr:\n%s", code, stderr)
	}
}
