// Command upsflags is the master side of nutslave: it reads the UPS (through
// upsd or over USB), writes the flag files onl, battsdf and sdf that the
// slaves read over SFTP, waits for the slaves' acknowledgements and shuts
// the master down last.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/nutslave/nutslave/internal/conf"
	"github.com/nutslave/nutslave/internal/eventlog"
)

// version is set with -ldflags "-X main.version=…".
var version = ""

func getVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}

// Exit codes, aligned with systemd's LSB codes.
const (
	exitOK            = 0
	exitFailure       = 1
	exitUsage         = 2
	exitPermission    = 4
	exitNotConfigured = 6
)

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

// usageError is a mistake in how upsflags was called.
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }

// hinted carries a hint line for the user.
type hinted struct {
	err  error
	hint string
}

func (e *hinted) Error() string { return e.err.Error() }
func (e *hinted) Unwrap() error { return e.err }

// report prints err (with its hint) and picks the exit code. It is the one
// place that prints errors.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var ce *conf.Error
	var h *hinted
	code := exitFailure
	hint := ""
	switch {
	case errors.As(err, &ue):
		code, hint = exitUsage, ue.hint
	case errors.Is(err, errNotConfigured), errors.As(err, &ce):
		code = exitNotConfigured
	case errors.Is(err, fs.ErrPermission):
		code = exitPermission
	}
	if errors.As(err, &h) {
		hint = h.hint
	}
	fmt.Fprintf(stderr, "upsflags: error: %v\n", err)
	if hint != "" {
		for _, line := range strings.Split(hint, "\n") {
			fmt.Fprintf(stderr, "upsflags: hint: %s\n", line)
		}
	}
	return code
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
	var confFlag, msg string
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case (a == "--config" || a == "-config" || a == "-c") && i+1 < len(rest):
			confFlag = rest[i+1]
			i++
		case strings.HasPrefix(a, "--config="):
			confFlag = strings.TrimPrefix(a, "--config=")
		default:
			msg = a
		}
	}
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
		if err := trigger(cfg, notifyType, ups); err != nil {
			log.Crit("cannot write FLAGDIR/STATEDIR as this user, and cannot touch TRIGGER either; the timer's next run decides",
				"event", notifyType, "uid", os.Geteuid(), "err", err)
			return &hinted{err: err, hint: "TRIGGER's directory must be writable by upsmon's RUN_AS_USER (the package makes /run/nutslave root:nut 0770)"}
		}
		log.Info("touched TRIGGER: this user may not write FLAGDIR, so systemd runs upsflags.service as root now",
			"event", notifyType, "ups", orDash(ups), "uid", os.Geteuid(), "trigger", cfg.Trigger)
		return nil
	}
	f, err := newFlagger(cfg, log)
	if err != nil {
		return err
	}
	log.Info("event: deciding now", "event", notifyType, "ups", orDash(ups), "msg", msg)
	return f.once(ctx)
}

// openLog logs to syslog and LOGFILE, and to stderr when it is a terminal
// or the journal (upsmon often points it at /dev/null).
func openLog(cfg *Config, stderr io.Writer) *eventlog.Logger {
	var errw io.Writer
	if isTerminalOrJournal(stderr) {
		errw = stderr
	}
	l := eventlog.Open(eventlog.Options{Tag: "upsflags", File: cfg.LogFile, Syslog: true, Stderr: errw})
	if l.FileErr != nil {
		l.Warn("cannot write LOGFILE; logging to syslog only", "err", l.FileErr)
	}
	return l
}

func syslogOnly(msg string, err error) {
	l := eventlog.Open(eventlog.Options{Tag: "upsflags", Syslog: true})
	l.Crit(msg, "err", err)
	l.Close()
}

func isTerminalOrJournal(w io.Writer) bool {
	if os.Getenv("JOURNAL_STREAM") != "" {
		return true
	}
	f, ok := w.(*os.File)
	if !ok {
		return true // tests and pipes we were handed explicitly
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
