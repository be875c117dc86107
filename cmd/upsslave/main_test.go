package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/internal/lab/labtest"
	"github.com/nutslave/nutslave/internal/scripttest"
	"github.com/nutslave/nutslave/internal/sshtest"
)

func TestMain(m *testing.M) {
	scripttest.Main(labtest.M(m), "upsslave", "upsslave.log", run)
}

// servers maps a script's work dir to its test master; scripts run in
// parallel.
var servers sync.Map

func TestScript(t *testing.T) {
	testscript.Run(t, scripttest.Params(confEnv, "upsslave.conf", cmds(), func(e *testscript.Env) error {
		for _, d := range []string{"master/flags", "master/acks"} {
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
		return nil
	}))
}

func cmds() map[string]scripttest.Cmd {
	c := scripttest.Cmds("upsslave.log")
	c["mkconf"] = cmdMkconf
	c["master"] = cmdMaster
	c["flag"] = cmdFlag
	return c
}

// mkconf writes upsslave.conf for the test master, with KEY=VALUE overrides.
func cmdMkconf(ts *testscript.TestScript, neg bool, args []string) {
	w := ts.Getenv("WORK")
	scripttest.WriteConf(ts, "upsslave.conf", args,
		"MASTER=nutslave@"+ts.Getenv("SFTP_ADDR"),
		"IDENTITY="+ts.Getenv("SFTP_IDENTITY"),
		"KNOWN_HOSTS="+ts.Getenv("SFTP_KNOWN_HOSTS"),
		"FLAGDIR="+w+"/master/flags",
		"ACKDIR="+w+"/master/acks",
		"FLAGOWNER="+strconv.Itoa(os.Getuid()),
		"NAME=slave1",
		"POLL=20ms",
		"SDFWAIT=3s",
		"DEADTIME=1s",
		"CONNECT_TIMEOUT=1s",
		"STATEDIR="+w+"/state",
		"LOGFILE="+w+"/upsslave.log",
		`SHUTDOWNCMD="recorder `+w+`/shutdown.log"`,
	)
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

// flag set|clear NAME [after DURATION] [aged DURATION] writes the master's
// flags atomically; with "after" it happens in the background, with "aged"
// the flag's time is set that far in the past (a leftover from an earlier
// on-line period).
func cmdFlag(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || len(args)%2 != 0 {
		ts.Fatalf("usage: flag set|clear NAME [after DURATION] [aged DURATION]")
	}
	dirPath := ts.Getenv("WORK") + "/master/flags"
	if strings.HasPrefix(args[1], "sdfok") {
		dirPath = ts.Getenv("WORK") + "/master/acks"
	}
	var after, aged time.Duration
	for i := 2; i < len(args); i += 2 {
		d, err := time.ParseDuration(args[i+1])
		ts.Check(err)
		switch args[i] {
		case "after":
			after = d
		case "aged":
			aged = d
		default:
			ts.Fatalf("flag: unknown option %q", args[i])
		}
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
		if err := d.Set(context.Background(), flags.Name(args[1]), flags.Stamp(time.Now(), "master", flags.Field{Key: "reason", Value: "test"})); err != nil {
			return err
		}
		if aged > 0 {
			t := time.Now().Add(-aged)
			return os.Chtimes(filepath.Join(dirPath, args[1]), t, t)
		}
		return nil
	}
	if after > 0 {
		time.AfterFunc(after, func() { do() })
		return
	}
	ts.Check(do())
}
