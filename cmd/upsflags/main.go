// Command upsflags is the master side of nutslave: it reads the UPS (through
// upsd or over USB), writes the flag files onl, battsdf and sdf that the
// slaves read over SFTP, waits for the slaves' acknowledgements and shuts
// the master down last. The engine is internal/flagger; this is its
// command line.
package main

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/flagger"
	"github.com/nutslave/nutslave/notify"
)

// version is set with -ldflags "-X main.version=…".
var version = ""

// confEnv names the environment variable that overrides the config path.
const confEnv = "UPSFLAGS_CONF"

var program = &command.Program[*flagger.Config]{
	Name:    "upsflags",
	ConfEnv: confEnv,
	Version: version,
	Load:    flagger.LoadConfig,
	LogFile: func(cfg *flagger.Config) string { return cfg.LogFile },
	Next:    func(cfg *flagger.Config) command.Chain { return cfg.Next },
	Event:   event,
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

// report prints err with its hint and picks the exit code.
func report(stderr io.Writer, err error) int { return program.Report(stderr, err) }

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

// reactTo are the upsmon events that make upsflags decide at once: the
// power changed, or the master's upsmon is shutting down (FSD; since NUT
// 2.8.5 also while it waits for its secondaries, SHUTDOWN_HOSTSYNC), or
// contact with the UPS was lost (DEADTIME counts from the first failed
// reading). The others are logged and left to the next timer run.
var reactTo = map[notify.Event]bool{
	notify.OnBatt: true, notify.Online: true, notify.LowBatt: true, notify.FSD: true,
	notify.Shutdown: true, notify.ShutdownHostSync: true, notify.CommBad: true, notify.NoComm: true,
}

// event is NOTIFYCMD mode on the master. On the events of reactTo it
// decides at once; when it may not write FLAGDIR or STATEDIR (upsmon runs
// it as user nut) it touches TRIGGER instead, so that systemd runs the
// root service. Other events, unknown ones too, are logged at their
// level and exit 0.
func event(ctx context.Context, cfg *flagger.Config, log *eventlog.Logger, notifyType, ups, msg string) error {
	ev, _ := notify.ParseEvent(notifyType)
	if !reactTo[ev] {
		log.At(ev.Level(), "event logged; the next timer run reads the UPS", "event", notifyType, "ups", orDash(ups), "msg", msg)
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
