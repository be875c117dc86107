package slave

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/flags/sftpstore"
	"github.com/nutslave/nutslave/internal/eventlog"
)

// Heartbeat is the readiness report a slave-side timer sends between
// outages: the same self-check as `check`, written to the master as
// seen.<NAME> in ACKDIR, so a broken slave is found before the power
// fails. It also answers a drill the master may have asked for.
func Heartbeat(ctx context.Context, cfg *Config, log *eventlog.Logger, w io.Writer) error {
	k, checkErr := check(ctx, cfg, w)
	problems := k.Findings
	result := "ok"
	if checkErr != nil {
		result = "problem"
	}

	signer, err := sftpstore.LoadSigner(cfg.Identity)
	if err != nil {
		log.Error("heartbeat: cannot load the ssh identity", "err", err)
		return errors.Join(checkErr, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 3*cfg.ConnectTimeout)
	defer cancel()
	conn, err := sftpstore.Dial(cctx, sshConfig(cfg, signer))
	if err != nil {
		log.Error("heartbeat: master unreachable", "err", err)
		return errors.Join(checkErr, err)
	}
	defer conn.Close()
	body := flags.Stamp(time.Now(), cfg.Name,
		flags.Field{Key: "version", Value: cfg.Version},
		flags.Field{Key: "result", Value: result},
		flags.Field{Key: "uid", Value: fmt.Sprint(os.Geteuid())},
		flags.Field{Key: "problems", Value: truncate(strings.Join(problems, "; "), 1500)})
	if err := sftpstore.New(conn.SFTP, cfg.AckDir).Set(cctx, flags.Seen(cfg.Name), body); err != nil {
		log.Error("heartbeat: cannot write to the master", "err", err)
		return errors.Join(checkErr, err)
	}
	log.Info("heartbeat sent", "flag", flags.Seen(cfg.Name), "result", result)
	if in, err := sftpstore.New(conn.SFTP, cfg.FlagDir).Stat(cctx, flags.Drill); err == nil {
		AnswerDrill(cctx, log, cfg.Options(), conn.SFTP, in)
	}
	return checkErr
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
