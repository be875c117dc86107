package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/internal/sshtest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"upsslave": func() { os.Exit(run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr)) },
		// recorder stands in for the shutdown command: it appends one line
		// to the file named by its first argument.
		"recorder": func() {
			f, err := os.OpenFile(os.Args[1], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Fprintf(f, "shutdown %s pid=%d\n", strings.Join(os.Args[2:], " "), os.Getpid())
			f.Close()
			os.Exit(0)
		},
	})
}

// servers maps a script's work dir to its test master; scripts run in
// parallel.
var servers sync.Map

func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		UpdateScripts:       os.Getenv("UPDATE_GOLDEN") != "",
		Setup: func(e *testscript.Env) error {
			for _, d := range []string{"master/flags", "master/acks", "state"} {
				if err := os.MkdirAll(filepath.Join(e.WorkDir, d), 0o755); err != nil {
					return err
				}
			}
			s, err := sshtest.StartEnv(e, filepath.Join(e.WorkDir, "ssh"), sshtest.Options{})
			if err != nil {
				return err
			}
			servers.Store(e.WorkDir, s)
			e.Defer(func() { servers.Delete(e.WorkDir) })
			e.Setenv(confEnv, filepath.Join(e.WorkDir, "upsslave.conf"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkconf":  cmdMkconf,
			"master":  cmdMaster,
			"flag":    cmdFlag,
			"waitfor": cmdWaitfor,
			"lines":   cmdLines,
			"sleep":   cmdSleep,
			"waitlog": cmdWaitlog,
		},
	})
}

// mkconf writes upsslave.conf for the test master, with KEY=VALUE overrides.
func cmdMkconf(ts *testscript.TestScript, neg bool, args []string) {
	w := ts.Getenv("WORK")
	vals := map[string]string{
		"MASTER":          "nutslave@" + ts.Getenv("SFTP_ADDR"),
		"IDENTITY":        ts.Getenv("SFTP_IDENTITY"),
		"KNOWN_HOSTS":     ts.Getenv("SFTP_KNOWN_HOSTS"),
		"FLAGDIR":         w + "/master/flags",
		"ACKDIR":          w + "/master/acks",
		"FLAGOWNER":       strconv.Itoa(os.Getuid()),
		"NAME":            "slave1",
		"POLL":            "20ms",
		"SDFWAIT":         "3s",
		"DEADTIME":        "1s",
		"CONNECT_TIMEOUT": "1s",
		"STATEDIR":        w + "/state",
		"LOGFILE":         w + "/upsslave.log",
		"SHUTDOWNCMD":     `"recorder ` + w + `/shutdown.log"`,
	}
	order := []string{"MASTER", "IDENTITY", "KNOWN_HOSTS", "FLAGDIR", "ACKDIR", "FLAGOWNER", "NAME", "POLL", "SDFWAIT", "DEADTIME", "CONNECT_TIMEOUT", "STATEDIR", "LOGFILE", "SHUTDOWNCMD"}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			ts.Fatalf("mkconf: want KEY=VALUE, got %q", a)
		}
		if _, known := vals[k]; !known {
			order = append(order, k)
		}
		vals[k] = v
	}
	var b strings.Builder
	b.WriteString("# written by the test\n")
	for _, k := range order {
		if v := vals[k]; v != "-" {
			fmt.Fprintf(&b, "%s=%s\n", k, v)
		}
	}
	ts.Check(os.WriteFile(filepath.Join(w, "upsslave.conf"), []byte(b.String()), 0o640))
}

// master stop|start|rotate|refuse N|pause|resume|drop controls the test master.
func cmdMaster(ts *testscript.TestScript, neg bool, args []string) {
	v, _ := servers.Load(ts.Getenv("WORK"))
	s := v.(*sshtest.Server)
	if len(args) == 0 {
		ts.Fatalf("usage: master stop|start|rotate|refuse N|pause|resume|drop|stats")
	}
	switch args[0] {
	case "stop":
		s.Stop()
	case "start":
		ts.Check(s.Restart())
	case "rotate":
		ts.Check(s.RotateHostKey())
	case "refuse":
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		s.SetRefuse(n)
	case "pause":
		s.Pause()
	case "resume":
		s.Resume()
	case "drop":
		s.DropConns()
	case "stats":
		st := s.Stats()
		fmt.Fprintf(ts.Stdout(), "accepted=%d refused=%d handshakes=%d\n", st.Accepted, st.Refused, st.Handshakes)
	default:
		ts.Fatalf("master: unknown action %q", args[0])
	}
}

// flag set|clear NAME [after DURATION] writes the master's flags atomically;
// with "after" it happens in the background.
func cmdFlag(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: flag set|clear NAME [after DURATION]")
	}
	dirPath := ts.Getenv("WORK") + "/master/flags"
	if strings.HasPrefix(args[1], "sdfok") {
		dirPath = ts.Getenv("WORK") + "/master/acks"
	}
	do := func() error {
		d, err := flags.OpenDir(dirPath)
		if err != nil {
			return err
		}
		defer d.Close()
		if args[0] == "clear" {
			return d.Clear(context.Background(), flags.Name(args[1]))
		}
		return d.Set(context.Background(), flags.Name(args[1]), flags.Stamp(time.Now(), "master", flags.Field{Key: "reason", Value: "test"}))
	}
	if len(args) == 4 && args[2] == "after" {
		d, err := time.ParseDuration(args[3])
		ts.Check(err)
		time.AfterFunc(d, func() { do() })
		return
	}
	ts.Check(do())
}

// waitfor FILE [TIMEOUT] waits until FILE exists (default 10s).
func cmdWaitfor(ts *testscript.TestScript, neg bool, args []string) {
	timeout := 10 * time.Second
	if len(args) > 1 {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		timeout = d
	}
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
		time.Sleep(10 * time.Millisecond)
	}
}

// lines FILE N asserts FILE has exactly N lines (a missing file has 0).
func cmdLines(ts *testscript.TestScript, neg bool, args []string) {
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

// sleep DURATION pauses the script.
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// waitlog PATTERN [TIMEOUT] waits until upsslave.log has a line matching
// the regular expression PATTERN (default 10s).
func cmdWaitlog(ts *testscript.TestScript, neg bool, args []string) {
	re, err := regexp.Compile(args[0])
	ts.Check(err)
	timeout := 10 * time.Second
	if len(args) > 1 {
		timeout, err = time.ParseDuration(args[1])
		ts.Check(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(ts.MkAbs("upsslave.log"))
		if re.Match(b) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no line matching %q in upsslave.log within %v:\n%s", args[0], timeout, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
