package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/lab/labtest"
	"github.com/nutslave/nutslave/internal/scripttest"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	scripttest.Main(labtest.M(m), "upsflags", "upsflags.log", run)
}

func TestScript(t *testing.T) {
	testscript.Run(t, scripttest.Params(confEnv, "upsflags.conf", cmds(), nil))
}

func cmds() map[string]scripttest.Cmd {
	c := scripttest.Cmds("upsflags.log")
	c["mkconf"] = cmdMkconf
	c["ups"] = cmdUPS
	c["ack"] = cmdAck
	c["mtime"] = cmdMtime
	c["seen"] = cmdSeen
	c["drillok"] = cmdDrillok
	c["waitgrep"] = cmdWaitgrep
	return c
}

// mkconf writes upsflags.conf for a file: source under $WORK, with
// KEY=VALUE overrides ("KEY=-" removes a key).
func cmdMkconf(ts *testscript.TestScript, neg bool, args []string) {
	w := ts.Getenv("WORK")
	vals := scripttest.WriteConf(ts, "upsflags.conf", args,
		"SOURCE=file:"+w+"/ups.txt",
		"FLAGDIR="+w+"/master/flags",
		"ACKDIR="+w+"/master/acks",
		"FLAGOWNER="+strconv.Itoa(os.Getuid()),
		"SSHUSER=nutslave-test-nonexistent",
		`SLAVES="a b"`,
		"STDWCHARGE=50",
		"DEBOUNCE=2",
		"HOSTSYNC=5s",
		"DEADTIME=1s",
		"POLL=20ms",
		"STATEDIR="+w+"/state",
		"LOGFILE="+w+"/upsflags.log",
		"TRIGGER="+w+"/trigger",
		`SHUTDOWNCMD="recorder `+w+`/shutdown.log"`,
		// Never the machine's own upsmon.conf and its /etc/killpower.
		"UPSMON_CONF="+w+"/upsmon.conf",
	)
	// As the package's tmpfiles.d does, FLAGDIR and ACKDIR exist before
	// the first run (run and watch create neither); "KEY=-" or a path
	// that exists already is left alone.
	makeDirs(ts.Check, vals["FLAGDIR"], vals["ACKDIR"])
}

// makeDirs creates the directories among paths that do not exist yet
// ("-" and "" are skipped).
func makeDirs(check func(error), paths ...string) {
	for _, p := range paths {
		if p == "-" || p == "" {
			continue
		}
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			check(os.MkdirAll(p, 0o755))
		}
	}
}

// ups STATUS [CHARGE [RUNTIME]] writes the file: source; "ups gone"
// removes it (no reading).
func cmdUPS(ts *testscript.TestScript, neg bool, args []string) {
	p := filepath.Join(ts.Getenv("WORK"), "ups.txt")
	if len(args) == 1 && args[0] == "gone" {
		os.Remove(p)
		return
	}
	if len(args) < 1 {
		ts.Fatalf("usage: ups STATUS [CHARGE [RUNTIME]] | ups gone")
	}
	body := "ups.status: " + strings.ReplaceAll(args[0], ",", " ") + "\n"
	if len(args) > 1 {
		body += "battery.charge: " + args[1] + "\n"
	}
	if len(args) > 2 {
		body += "battery.runtime: " + args[2] + "\n"
	}
	tmp := p + ".tmp"
	ts.Check(os.WriteFile(tmp, []byte(body), 0o644))
	ts.Check(os.Rename(tmp, p))
}

// ack NAME [AGE] writes master/acks/sdfok.NAME ("-" for a plain sdfok),
// dated AGE ago.
func cmdAck(ts *testscript.TestScript, neg bool, args []string) {
	name := "sdfok"
	if args[0] != "-" {
		name += "." + args[0]
	}
	p := filepath.Join(ts.Getenv("WORK"), "master/acks", name)
	ts.Check(os.WriteFile(p, []byte("time=test\nhost="+args[0]+"\n"), 0o644))
	if len(args) > 1 {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		old := time.Now().Add(-d)
		ts.Check(os.Chtimes(p, old, old))
	}
}

// mtime save FILE remembers FILE's modification time and inode; mtime same
// FILE asserts they did not change (the file was not rewritten).
func cmdMtime(ts *testscript.TestScript, neg bool, args []string) {
	fi, err := os.Stat(ts.MkAbs(args[1]))
	ts.Check(err)
	mark := fmt.Sprintf("%d/%v", fi.ModTime().UnixNano(), fi.Sys())
	key := "MTIME_" + regexp.MustCompile(`\W`).ReplaceAllString(args[1], "_")
	switch args[0] {
	case "save":
		ts.Setenv(key, mark)
	case "same":
		if (ts.Getenv(key) == mark) == neg {
			ts.Fatalf("%s: rewritten=%v, want %v", args[1], ts.Getenv(key) != mark, neg)
		}
	default:
		ts.Fatalf("usage: mtime save|same FILE")
	}
}

// seen NAME [AGE [KEY=VALUE...]] writes master/acks/seen.NAME as
// "upsslave heartbeat" does, its time= and mtime AGE ago (default 0s),
// result=ok unless a KEY=VALUE says otherwise.
func cmdSeen(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: seen NAME [AGE [KEY=VALUE...]]")
	}
	age := time.Duration(0)
	if len(args) > 1 {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		age = d
	}
	when := time.Now().Add(-age)
	fields := map[string]string{"result": "ok"}
	var extra []string
	if len(args) > 2 {
		extra = args[2:]
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = v
	}
	body := "time=" + when.Format(time.RFC3339) + "\nhost=" + args[0] + "\nversion=test\nresult=" + fields["result"] + "\nuid=0\n"
	for _, k := range []string{"problems", "mac", "iface", "addr"} {
		if v, ok := fields[k]; ok {
			body += k + "=" + v + "\n"
		}
	}
	p := filepath.Join(ts.Getenv("WORK"), "master/acks", "seen."+args[0])
	ts.Check(os.MkdirAll(filepath.Dir(p), 0o755))
	ts.Check(os.WriteFile(p, []byte(body), 0o644))
	ts.Check(os.Chtimes(p, when, when))
}

// drillok NAME answers the drill in master/flags/drill as a slave would:
// master/acks/drillok.NAME with the drill's id (or ID, if given).
func cmdDrillok(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: drillok NAME [ID]")
	}
	id := ""
	if len(args) > 1 {
		id = args[1]
	} else {
		b, err := os.ReadFile(filepath.Join(ts.Getenv("WORK"), "master/flags/drill"))
		ts.Check(err)
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "id="); ok {
				id = v
			}
		}
	}
	p := filepath.Join(ts.Getenv("WORK"), "master/acks", "drillok."+args[0])
	ts.Check(os.WriteFile(p, []byte("time="+time.Now().Format(time.RFC3339)+"\nhost="+args[0]+"\ndrill="+id+"\n"), 0o644))
}

// waitgrep FILE PATTERN waits up to 10s until FILE has a line matching
// PATTERN (a file rewritten by another process, such as METRICS).
func cmdWaitgrep(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitgrep FILE PATTERN")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(ts.MkAbs(args[0]))
		if re.Match(b) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s has no line matching %s after 10s:\n%s", args[0], args[1], b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
