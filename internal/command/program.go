package command

import (
	"context"
	"io"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/nutslave/nutslave/internal/eventlog"
)

// Program is the shape both upsslave and upsflags have: a configuration
// file found by flag, environment or default path; NOTIFYCMD mode when
// upsmon sets NOTIFYTYPE; subcommands for people otherwise; one place that
// prints errors and picks the exit code. C is the program's configuration.
type Program[C any] struct {
	Name     string   // "upsslave": the log tag and the error prefix
	ConfEnv  string   // "UPSSLAVE_CONF"
	Defaults []string // default configuration paths, in order
	// Load reads and validates the configuration at path.
	Load func(path string) (C, error)
	// LogFile is the configuration's LOGFILE.
	LogFile func(C) string
	// Event handles one upsmon event with the configuration loaded and
	// the log open.
	Event func(ctx context.Context, cfg C, log *eventlog.Logger, notifyType, ups, msg string) error
	// Next is the configuration's chained NOTIFYCMD (NOTIFYCMD_NEXT).
	Next func(C) Chain
	// App builds the subcommands.
	App func(getenv func(string) string, stdout, stderr io.Writer) *cli.App
	// Hint supplies a hint for errors that carry none (may be nil).
	Hint func(error) string
}

// Run is main with every process effect passed in. upsmon sets NOTIFYTYPE:
// that is NOTIFYCMD mode whatever the arguments say, so no message text
// can ever be taken for a subcommand.
func (p *Program[C]) Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if nt := getenv("NOTIFYTYPE"); nt != "" {
		return p.Report(stderr, p.event(ctx, args, nt, getenv, stderr))
	}
	return p.Report(stderr, p.App(getenv, stdout, stderr).RunContext(ctx, args))
}

// Report prints err with its hint and returns the exit code.
func (p *Program[C]) Report(stderr io.Writer, err error) int {
	return Report(p.Name, stderr, err, p.Hint)
}

// Config loads the configuration named by flagValue, $ConfEnv, or the
// first default path that exists.
func (p *Program[C]) Config(flagValue string, getenv func(string) string) (C, error) {
	path, err := configPath(flagValue, p.ConfEnv, p.Defaults, getenv)
	if err != nil {
		var zero C
		return zero, err
	}
	return p.Load(path)
}

// OpenLog logs to syslog, LOGFILE, and stderr when someone watches it.
func (p *Program[C]) OpenLog(cfg C, stderr io.Writer) *eventlog.Logger {
	return OpenLog(p.Name, p.LogFile(cfg), stderr)
}

// event is NOTIFYCMD mode: NOTIFYTYPE and UPSNAME from the environment, the
// message as the last argument, and optionally --config FILE before it.
// Anything else on the command line is ignored, as upsmon ≤ 2.8.5 ran
// NOTIFYCMD through a shell and later versions execvp it. Without a
// usable configuration the event still reaches syslog.
func (p *Program[C]) event(ctx context.Context, args []string, notifyType string, getenv func(string) string, stderr io.Writer) error {
	confFlag, msg := notifyArgs(args)
	path, err := configPath(confFlag, p.ConfEnv, p.Defaults, getenv)
	if err != nil {
		syslogOnly(p.Name, p.Name+" not configured; event "+notifyType+" only logged", err)
		return err
	}
	cfg, err := p.Load(path)
	if err != nil {
		// The user's own chained NOTIFYCMD still gets the event.
		if next := chainFromFile(path); len(next.Argv) > 0 {
			log := syslogLog(p.Name)
			defer log.Close()
			defer next.Start(ChainEnv(getenv), msg, log)()
		}
		syslogOnly(p.Name, p.Name+" configuration error; event "+notifyType+" only logged", err)
		return err
	}
	log := p.OpenLog(cfg, stderr)
	defer log.Close()
	if next := p.chain(cfg); len(next.Argv) > 0 {
		// Started first, waited for last: the chained command never waits
		// for a watch, and its outcome is logged before we exit.
		defer next.Start(ChainEnv(getenv), msg, log)()
	}
	return p.Event(ctx, cfg, log, notifyType, getenv("UPSNAME"), msg)
}

// chain is the configuration's NOTIFYCMD_NEXT, if the program has one.
func (p *Program[C]) chain(cfg C) Chain {
	if p.Next == nil {
		return Chain{}
	}
	return p.Next(cfg)
}
