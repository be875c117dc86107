package scripttest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// Main is TestMain for a program's specs: the test binary also runs as
// the program name, with run (the program's main with every process
// effect passed in) bounded as [Bound] says, with logFile to show, and as
// the shutdown [Recorder].
func Main(m testscript.TestingM, name, logFile string, run func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int) {
	testscript.Main(m, map[string]func(){
		name: func() {
			Bound(name, logFile)
			os.Exit(run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr))
		},
		"recorder": Recorder,
	})
}

// Params are the testscript parameters of a program's specs in
// testdata/script: programs run only with exec and each run is bounded
// ([SetExecLimit]); UPDATE_GOLDEN set rewrites the scripts; $confEnv
// names confFile in $WORK; $WORK/state, the STATEDIR of mkconf, exists.
// setup, if not nil, prepares the rest.
func Params(confEnv, confFile string, cmds map[string]Cmd, setup func(e *testscript.Env) error) testscript.Params {
	return testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		UpdateScripts:       os.Getenv("UPDATE_GOLDEN") != "",
		Setup: func(e *testscript.Env) error {
			SetExecLimit(e)
			if err := os.MkdirAll(filepath.Join(e.WorkDir, "state"), 0o755); err != nil {
				return err
			}
			e.Setenv(confEnv, filepath.Join(e.WorkDir, confFile))
			// A -race binary sleeps a second at exit unless told
			// otherwise; every "exec" of the program would pay it.
			e.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			if setup == nil {
				return nil
			}
			return setup(e)
		},
		Cmds: cmds,
	}
}

// WriteConf is the heart of a spec's mkconf command: it writes the
// configuration file name in $WORK from defaults, KEY=VALUE lines in their
// order, and args, KEY=VALUE overrides: a key of defaults keeps its place,
// a new key comes last, and "KEY=-" leaves the key out. It returns every
// value by key ("-" for a key left out).
func WriteConf(ts *testscript.TestScript, name string, args []string, defaults ...string) map[string]string {
	vals := map[string]string{}
	var order []string
	set := func(kv string) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			ts.Fatalf("mkconf: want KEY=VALUE, got %q", kv)
		}
		if _, known := vals[k]; !known {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, kv := range defaults {
		set(kv)
	}
	for _, kv := range args {
		set(kv)
	}
	var b strings.Builder
	b.WriteString("# written by the test\n")
	for _, k := range order {
		if v := vals[k]; v != "-" {
			fmt.Fprintf(&b, "%s=%s\n", k, v)
		}
	}
	ts.Check(os.WriteFile(filepath.Join(ts.Getenv("WORK"), name), []byte(b.String()), 0o640))
	return vals
}
