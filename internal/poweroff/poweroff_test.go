package poweroff

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// recorder returns argv for a command that appends a line to a file.
func recorder(t *testing.T, exit int) ([]string, string) {
	out := filepath.Join(t.TempDir(), "calls")
	script := "echo called >> " + out
	if exit != 0 {
		script += "; echo not allowed >&2; exit 1"
	}
	return []string{"/bin/sh", "-c", script}, out
}

func calls(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func TestRunAtMostOncePerBoot(t *testing.T) {
	argv, out := recorder(t, 0)
	marker := filepath.Join(t.TempDir(), "shutdown.started")
	var wg sync.WaitGroup
	outcomes := make(chan Outcome, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &Runner{Argv: argv, Marker: marker, BootID: "boot-1"}
			o, err := r.Run(context.Background(), "test")
			if err != nil {
				t.Error(err)
			}
			outcomes <- o
		}()
	}
	wg.Wait()
	close(outcomes)
	ran := 0
	for o := range outcomes {
		if o == Ran {
			ran++
		} else if o != AlreadyStarted {
			t.Errorf("outcome %v", o)
		}
	}
	if ran != 1 || calls(t, out) != 1 {
		t.Fatalf("ran %d times, command called %d times; want 1 and 1", ran, calls(t, out))
	}
	// The next boot's outage must shut down again: a stale marker is ignored.
	r := &Runner{Argv: argv, Marker: marker, BootID: "boot-2"}
	if o, err := r.Run(context.Background(), "next boot"); o != Ran || err != nil {
		t.Fatalf("after reboot: %v, %v; want ran", o, err)
	}
	if calls(t, out) != 2 {
		t.Fatalf("command called %d times, want 2", calls(t, out))
	}
}

func TestRunFailedMayRetry(t *testing.T) {
	argv, out := recorder(t, 1)
	marker := filepath.Join(t.TempDir(), "shutdown.started")
	r := &Runner{Argv: argv, Marker: marker, BootID: "b"}
	o, err := r.Run(context.Background(), "first")
	if o != Failed || err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("Run = %v, %v; want Failed with the command's output", o, err)
	}
	if state, _, ok := r.Status(); !ok || state != "failed" {
		t.Fatalf("Status = %q, %v; want failed", state, ok)
	}
	// A second runner (say, upsmon's SHUTDOWNCMD as root) tries again.
	good, _ := recorder(t, 0)
	r2 := &Runner{Argv: good, Marker: marker, BootID: "b"}
	if o, err := r2.Run(context.Background(), "retry"); o != Ran || err != nil {
		t.Fatalf("retry = %v, %v; want Ran", o, err)
	}
	if calls(t, out) != 1 {
		t.Fatalf("failing command called %d times, want 1", calls(t, out))
	}
}

func TestDryRunRunsNothing(t *testing.T) {
	argv, out := recorder(t, 0)
	r := &Runner{Argv: argv, Marker: filepath.Join(t.TempDir(), "m"), BootID: "b", DryRun: true}
	if o, err := r.Run(context.Background(), "dry"); o != DryRun || err != nil {
		t.Fatalf("Run = %v, %v; want DryRun", o, err)
	}
	if o, _ := r.Run(context.Background(), "dry again"); o != AlreadyStarted {
		t.Fatalf("second Run = %v, want AlreadyStarted", o)
	}
	if calls(t, out) != 0 {
		t.Fatal("DRYRUN ran the command")
	}
}

// lines is a Logger that keeps what it is told.
type lines []string

func (l *lines) Crit(msg string, kv ...any) { *l = append(*l, "crit: "+msg) }
func (l *lines) Info(msg string, kv ...any) { *l = append(*l, "info: "+msg) }

func TestRunLogged(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "shutdown.started")
	bad, _ := recorder(t, 1)
	good, out := recorder(t, 0)
	var log lines
	for _, r := range []*Runner{
		{Argv: bad, Marker: marker, BootID: "b"},
		{Argv: good, Marker: marker, BootID: "b"},
		{Argv: good, Marker: marker, BootID: "b"},
	} {
		r.RunLogged(context.Background(), "test", "this host", &log)
	}
	want := []string{
		"crit: THE SHUTDOWN COMMAND FAILED; this host is still running on a failing UPS",
		"crit: shutdown command started",
		"info: the shutdown of this host was already started in this boot",
	}
	if strings.Join(log, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
	if calls(t, out) != 1 {
		t.Errorf("the command ran %d times, want 1", calls(t, out))
	}
}
