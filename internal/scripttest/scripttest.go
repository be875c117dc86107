// Package scripttest holds the testscript commands that the programs' CLI
// specs share: a shutdown recorder and waits for files, log lines and
// counts.
package scripttest

import (
	"fmt"
	"os"
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

// Cmd is a testscript custom command.
type Cmd = func(ts *testscript.TestScript, neg bool, args []string)

// Cmds returns the shared commands; waitlog watches logFile in $WORK.
//
//	sleep DURATION            pause
//	waitfor FILE [TIMEOUT]    wait until FILE exists (! : until it is gone); default 10s
//	lines FILE N              FILE has exactly N lines (a missing file has 0)
//	waitlog PATTERN [TIMEOUT] wait until logFile has a line matching PATTERN
func Cmds(logFile string) map[string]Cmd {
	return map[string]Cmd{
		"sleep":   sleep,
		"waitfor": waitfor,
		"lines":   lines,
		"waitlog": func(ts *testscript.TestScript, neg bool, args []string) { waitlog(ts, logFile, args) },
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
		_, err := os.Stat(ts.MkAbs(args[0]))
		if (err == nil) != neg {
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
