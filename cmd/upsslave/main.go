// Command upsslave is the slave side of nutslave: a drop-in NOTIFYCMD for
// upsmon that waits for the master's verdict over one SSH/SFTP connection,
// acknowledges the master's sdf, and shuts this host down.
package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nutslave/nutslave/flags/sftpstore"
	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/slave"
)

// version is set with -ldflags "-X main.version=…".
var version = ""

func getVersion() string { return command.Version(version) }

func main() {
	os.Exit(run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr))
}

// run is main with every process effect passed in.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// upsmon sets NOTIFYTYPE: that is drop-in mode whatever the arguments
	// say, so no NOTIFYMSG text can ever be taken for a subcommand.
	if nt := getenv("NOTIFYTYPE"); nt != "" {
		return report(stderr, dropIn(ctx, args, nt, getenv, stderr))
	}
	return report(stderr, newApp(getenv, stdout, stderr).RunContext(ctx, args))
}

// confEnv names the environment variable that overrides the config path.
const confEnv = "UPSSLAVE_CONF"

// defaultConfPaths are tried in order: Debian's NUT directory, then RHEL's.
var defaultConfPaths = []string{"/etc/nut/upsslave.conf", "/etc/ups/upsslave.conf"}

// configPath picks the configuration file: the flag, then $UPSSLAVE_CONF,
// then the first default that exists.
func configPath(flagValue string, getenv func(string) string) (string, error) {
	return command.ConfigPath(flagValue, confEnv, defaultConfPaths, getenv)
}

// loadConfig reads the configuration file at path for this program.
func loadConfig(path string) (*slave.Config, error) {
	cfg, err := slave.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	cfg.Version = getVersion()
	return cfg, nil
}

// report prints err with its hint and picks the exit code.
func report(stderr io.Writer, err error) int {
	return command.Report("upsslave", stderr, err, func(err error) string {
		if errors.Is(err, sftpstore.ErrHostKey) {
			return "check the master's fingerprint, then run: upsslave trust"
		}
		return ""
	})
}

// dropIn is NOTIFYCMD mode: NOTIFYTYPE and UPSNAME from the environment,
// the message as the last argument, and optionally --config FILE before
// it. Anything else on the command line is ignored, as upsmon ≤ 2.8.5 ran
// NOTIFYCMD through a shell and later versions execvp it.
func dropIn(ctx context.Context, args []string, notifyType string, getenv func(string) string, stderr io.Writer) error {
	confFlag, msg := command.NotifyArgs(args)
	path, err := configPath(confFlag, getenv)
	if err != nil {
		syslogOnly("upsslave not configured; event "+notifyType+" only logged", err)
		return err
	}
	cfg, err := loadConfig(path)
	if err != nil {
		syslogOnly("upsslave configuration error; event "+notifyType+" only logged", err)
		return err
	}
	log := openLog(cfg, stderr)
	defer log.Close()
	return slave.Open(cfg, log).HandleEvent(ctx, notifyType, getenv("UPSNAME"), msg)
}

// openLog logs to syslog, LOGFILE, and stderr when someone watches it.
func openLog(cfg *slave.Config, stderr io.Writer) *eventlog.Logger {
	return command.OpenLog("upsslave", cfg.LogFile, stderr)
}

func syslogOnly(msg string, err error) { command.SyslogOnly("upsslave", msg, err) }
