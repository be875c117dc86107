// Command upsslave is the slave side of nutslave: a drop-in NOTIFYCMD for
// upsmon that waits for the master's verdict over one SSH/SFTP connection,
// acknowledges the master's sdf, and shuts this host down. The engine is
// internal/slave; this is its command line.
package main

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/nutslave/nutslave/flags/sftpstore"
	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/slave"
)

// version is set with -ldflags "-X main.version=…".
var version = ""

// confEnv names the environment variable that overrides the config path.
const confEnv = "UPSSLAVE_CONF"

var program = &command.Program[*slave.Config]{
	Name:    "upsslave",
	ConfEnv: confEnv,
	Version: version,
	Load:    slave.LoadConfig,
	LogFile: func(cfg *slave.Config) string { return cfg.LogFile },
	Next:    func(cfg *slave.Config) command.Chain { return cfg.Next },
	Event: func(ctx context.Context, cfg *slave.Config, log *eventlog.Logger, notifyType, ups, msg string) error {
		return slave.Open(cfg, log).HandleEvent(ctx, notifyType, ups, msg)
	},
	Hint: func(err error) string {
		if errors.Is(err, sftpstore.ErrHostKey) {
			return "check the master's fingerprint, then run: upsslave trust"
		}
		return ""
	},
}

// newApp uses program (NewApp and the actions), so it is set here rather
// than in program's literal, which would be an initialisation cycle.
func init() { program.App = newApp }

func main() {
	os.Exit(run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr))
}

// run is main with every process effect passed in.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return program.Run(ctx, args, getenv, stdout, stderr)
}
