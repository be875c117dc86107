// Command upsflags is the master side of nutslave: it reads the UPS (through
// upsd or over USB), writes the flag files onl, battsdf and sdf that the
// slaves read over SFTP, waits for the slaves' acknowledgements and shuts
// the master down last.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/flagger"
	"golang.org/x/sys/unix"
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
	// upsmon sets NOTIFYTYPE: that is NOTIFYCMD mode whatever the
	// arguments say, so no message text can be taken for a subcommand.
	if nt := getenv("NOTIFYTYPE"); nt != "" {
		return report(stderr, dropIn(ctx, args, nt, getenv, stderr))
	}
	return report(stderr, newApp(getenv, stdout, stderr).RunContext(ctx, args))
}

// report prints err with its hint and picks the exit code.
func report(stderr io.Writer, err error) int { return command.Report("upsflags", stderr, err, nil) }

// confEnv names the environment variable that overrides the config path.
const confEnv = "UPSFLAGS_CONF"

// defaultConfPaths are tried in order: Debian's NUT directory, then RHEL's.
var defaultConfPaths = []string{"/etc/nut/upsflags.conf", "/etc/ups/upsflags.conf"}

// configPath picks the configuration file: the flag, then $UPSFLAGS_CONF,
// then the first default that exists.
func configPath(flagValue string, getenv func(string) string) (string, error) {
	return command.ConfigPath(flagValue, confEnv, defaultConfPaths, getenv)
}

// loadConfig reads the configuration file at path for this program.
func loadConfig(path string) (*flagger.Config, error) {
	cfg, err := flagger.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	cfg.Version = getVersion()
	return cfg, nil
}

// canWrite reports whether this process may create files in dir, or
// create dir in its nearest existing parent. It is a variable so tests can
// play upsmon's unprivileged user.
var canWrite = func(dir string) bool {
	for p := dir; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil || p == "/" {
			return unix.Access(p, unix.W_OK|unix.X_OK) == nil
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// reactTo are the upsmon events that make upsflags decide at once; the
// others are logged and left to the next timer run.
var reactTo = map[string]bool{"ONBATT": true, "ONLINE": true, "LOWBATT": true, "FSD": true}

// dropIn is NOTIFYCMD mode on the master: NOTIFYTYPE and UPSNAME from the
// environment, the message as the last argument, optionally --config FILE
// before it. On ONBATT, ONLINE, LOWBATT and FSD it decides at once; when
// it may not write FLAGDIR or STATEDIR (upsmon runs it as user nut) it
// touches TRIGGER instead, so that systemd runs the root service.
func dropIn(ctx context.Context, args []string, notifyType string, getenv func(string) string, stderr io.Writer) error {
	confFlag, msg := command.NotifyArgs(args)
	path, err := configPath(confFlag, getenv)
	if err != nil {
		syslogOnly("upsflags not configured; event "+notifyType+" only logged", err)
		return err
	}
	cfg, err := loadConfig(path)
	if err != nil {
		syslogOnly("upsflags configuration error; event "+notifyType+" only logged", err)
		return err
	}
	log := openLog(cfg, stderr)
	defer log.Close()
	ups := getenv("UPSNAME")
	if !reactTo[notifyType] {
		log.Info("event logged; the next timer run reads the UPS", "event", notifyType, "ups", orDash(ups), "msg", msg)
		return nil
	}
	if !canWrite(cfg.FlagDir) || !canWrite(cfg.StateDir) {
		if err := flagger.Trigger(cfg, notifyType, ups); err != nil {
			log.Crit("cannot write FLAGDIR/STATEDIR as this user, and cannot touch TRIGGER either; the timer's next run decides",
				"event", notifyType, "uid", os.Geteuid(), "err", err)
			return &command.Hinted{Err: err, Hint: "TRIGGER's directory must be writable by upsmon's RUN_AS_USER (the package makes /run/nutslave root:nut 0770)"}
		}
		log.Info("touched TRIGGER: this user may not write FLAGDIR, so systemd runs upsflags.service as root now",
			"event", notifyType, "ups", orDash(ups), "uid", os.Geteuid(), "trigger", cfg.Trigger)
		return nil
	}
	f, err := flagger.New(cfg, log)
	if err != nil {
		return err
	}
	log.Info("event: deciding now", "event", notifyType, "ups", orDash(ups), "msg", msg)
	return f.Once(ctx)
}

// openLog logs to syslog, LOGFILE, and stderr when someone watches it.
func openLog(cfg *flagger.Config, stderr io.Writer) *eventlog.Logger {
	return command.OpenLog("upsflags", cfg.LogFile, stderr)
}

func syslogOnly(msg string, err error) { command.SyslogOnly("upsflags", msg, err) }
