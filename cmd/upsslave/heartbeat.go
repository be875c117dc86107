package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/flags/sftpstore"
)

// runHeartbeat is the readiness report a slave-side timer sends between
// outages: the same self-check as `check`, written to the master as
// seen.<NAME> in ACKDIR, so a broken slave is found before the power
// fails. It also answers a drill the master may have asked for.
func (s *slave) runHeartbeat(ctx context.Context, w io.Writer) error {
	var out bytes.Buffer
	checkErr := runCheck(ctx, s.cfg, &out)
	var problems []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "error: ") || strings.HasPrefix(line, "warning: ") {
			problems = append(problems, line)
		}
	}
	result := "ok"
	if checkErr != nil {
		result = "problem"
	}
	io.Copy(w, &out)

	signer, err := sftpstore.LoadSigner(s.cfg.Identity)
	if err != nil {
		s.log.Error("heartbeat: cannot load the ssh identity", "err", err)
		return errors.Join(checkErr, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 3*s.cfg.ConnectTimeout)
	defer cancel()
	conn, err := sftpstore.Dial(cctx, sshConfig(s.cfg, signer))
	if err != nil {
		s.log.Error("heartbeat: master unreachable", "err", err)
		return errors.Join(checkErr, err)
	}
	defer conn.Close()
	body := flags.Stamp(time.Now(), s.cfg.Name,
		flags.Field{Key: "version", Value: getVersion()},
		flags.Field{Key: "result", Value: result},
		flags.Field{Key: "uid", Value: fmt.Sprint(os.Geteuid())},
		flags.Field{Key: "problems", Value: truncate(strings.Join(problems, "; "), 1500)})
	if err := sftpstore.New(conn.SFTP, s.cfg.AckDir).Set(cctx, flags.Seen(s.cfg.Name), body); err != nil {
		s.log.Error("heartbeat: cannot write to the master", "err", err)
		return errors.Join(checkErr, err)
	}
	s.log.Info("heartbeat sent", "flag", flags.Seen(s.cfg.Name), "result", result)
	if in, err := sftpstore.New(conn.SFTP, s.cfg.FlagDir).Stat(cctx, flags.Drill); err == nil {
		s.answerDrill(cctx, conn.SFTP, in)
	}
	return checkErr
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// answerDrill goes through the shutdown handshake for a drill the master
// asked for: it acknowledges with drillok.<NAME> and logs what it would
// do. It never runs SHUTDOWNCMD, and a drill is never an sdf. Each drill
// (told apart by its id) is answered once.
func (s *slave) answerDrill(ctx context.Context, c *sftp.Client, in flags.Info) {
	if in.HasOwner && in.UID != s.cfg.FlagOwner {
		return // not from the master: ignore, as for any flag
	}
	store := sftpstore.New(c, s.cfg.FlagDir)
	body, _ := store.Get(ctx, flags.Drill)
	fields, _ := flags.Parse(body)
	id := fields["id"]
	if id == "" {
		id = in.ModTime.UTC().Format(time.RFC3339)
	}
	marker := filepath.Join(s.cfg.StateDir, "drill.answered")
	if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == id {
		return
	}
	start := time.Now()
	s.log.Warn("drill: the master asks for a shutdown drill; nothing will be powered off", "drill", id)
	ack := flags.Stamp(start, s.cfg.Name,
		flags.Field{Key: "drill", Value: id},
		flags.Field{Key: "version", Value: getVersion()},
		flags.Field{Key: "would_run", Value: strings.Join(s.cfg.ShutdownCmd, " ")},
		flags.Field{Key: "uid", Value: fmt.Sprint(os.Geteuid())})
	if err := sftpstore.New(c, s.cfg.AckDir).Set(ctx, flags.DrillAck(s.cfg.Name), ack); err != nil {
		s.log.Error("drill: could not acknowledge", "drill", id, "err", err)
		return
	}
	os.WriteFile(marker, []byte(id+"\n"), 0o640)
	s.log.Crit("drill: would shut down now", "drill", id, "cmd", fmt.Sprintf("%q", s.cfg.ShutdownCmd), "handshake", time.Since(start).Round(time.Millisecond))
}
