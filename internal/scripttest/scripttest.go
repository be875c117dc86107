// Package scripttest holds what the programs' CLI specs share: their
// TestMain and testscript parameters, the configuration file that mkconf
// writes, a shutdown recorder and waits for files, log lines and counts.
package scripttest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Recorder stands in for a shutdown command in tests: registered with
// testscript.Main, it appends one line to the file named by its first
// argument. Tests count the lines: a real shutdown never runs.
func Recorder() {
	f, err := os.OpenFile(os.Args[1], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(f, "shutdown %s pid=%d\n", strings.Join(os.Args[2:], " "), os.Getpid())
	f.Close()
	os.Exit(0)
}

// ExecLimitEnv names the variable that bounds one run of a program under
// test: a spec whose program waits forever fails in one screen instead of
// hanging until go test's -timeout and its goroutine dump.
const ExecLimitEnv = "NUTSLAVE_TEST_EXEC_LIMIT"

// ExecLimit is the default bound set by [SetExecLimit]: far above what any
// spec's program needs (seconds), far below go test's -timeout.
const ExecLimit = 90 * time.Second

// SetExecLimit bounds every program the script runs (see [Bound]); the
// variable set for go test overrides the default.
func SetExecLimit(e *testscript.Env) {
	limit := os.Getenv(ExecLimitEnv)
	if limit == "" {
		limit = ExecLimit.String()
	}
	e.Setenv(ExecLimitEnv, limit)
}

// Bound, called first in a program registered with testscript.Main, ends
// that program with exit status 124 once it has run for longer than
// $NUTSLAVE_TEST_EXEC_LIMIT, after printing what it was doing: the last
// lines of logFile (relative to the script's directory).
func Bound(name, logFile string) {
	limit, err := time.ParseDuration(os.Getenv(ExecLimitEnv))
	if err != nil || limit <= 0 {
		return
	}
	time.AfterFunc(limit, func() {
		fmt.Fprintf(os.Stderr, "%s: still running after %v (%s): the spec waited for something that never came; the last lines of %s:\n%s",
			name, limit, ExecLimitEnv, logFile, tail(logFile, 15))
		os.Exit(124)
	})
}

// tail returns the last n lines of a file, or why it cannot.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "  (" + err.Error() + ")\n"
	}
	lines := bytes.SplitAfter(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var out strings.Builder
	for _, l := range lines {
		out.WriteString("  ")
		out.Write(bytes.TrimRight(l, "\n"))
		out.WriteString("\n")
	}
	return out.String()
}

// Cmd is a testscript custom command.
type Cmd = func(ts *testscript.TestScript, neg bool, args []string)

// Cmds returns the shared commands; waitlog watches logFile in $WORK.
//
//	sleep DURATION            pause
//	waitfor FILE [TIMEOUT]    wait until FILE (a glob pattern) exists (! : until it is gone); default 10s
//	lines FILE N              FILE has exactly N lines (a missing file has 0)
//	waitlog PATTERN [TIMEOUT] wait until logFile has a line matching PATTERN
//	json FILE PATH [VALUE]    see [JSON]
func Cmds(logFile string) map[string]Cmd {
	return map[string]Cmd{
		"sleep":   sleep,
		"waitfor": waitfor,
		"lines":   lines,
		"waitlog": func(ts *testscript.TestScript, neg bool, args []string) { waitlog(ts, logFile, args) },
		"json":    JSON,
	}
}

func timeoutArg(ts *testscript.TestScript, args []string, i int) time.Duration {
	if len(args) <= i {
		return 10 * time.Second
	}
	d, err := time.ParseDuration(args[i])
	ts.Check(err)
	return d
}

func sleep(ts *testscript.TestScript, neg bool, args []string) {
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

func waitfor(ts *testscript.TestScript, neg bool, args []string) {
	timeout := timeoutArg(ts, args, 1)
	deadline := time.Now().Add(timeout)
	for {
		matches, _ := filepath.Glob(ts.MkAbs(args[0]))
		if (len(matches) > 0) != neg {
			return
		}
		if time.Now().After(deadline) {
			if neg {
				ts.Fatalf("%s still exists after %v", args[0], timeout)
			}
			ts.Fatalf("%s did not appear within %v", args[0], timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func lines(ts *testscript.TestScript, neg bool, args []string) {
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	if err != nil && !os.IsNotExist(err) {
		ts.Check(err)
	}
	got := strings.Count(string(b), "\n")
	if (got == want) == neg {
		ts.Fatalf("%s has %d lines, want %d:\n%s", args[0], got, want, b)
	}
}

func waitlog(ts *testscript.TestScript, logFile string, args []string) {
	re, err := regexp.Compile(args[0])
	ts.Check(err)
	timeout := timeoutArg(ts, args, 1)
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(ts.MkAbs(logFile))
		if re.Match(b) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no line matching %q in %s within %v:\n%s", args[0], logFile, timeout, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
