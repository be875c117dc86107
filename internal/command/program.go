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
type Program[C Config] struct {
	// Name ("upsslave") is the log tag, the error prefix and the name of
	// the configuration file, NAME.conf in /etc/nut (Debian's NUT
	// directory), else in /etc/ups (RHEL's).
	Name    string
	ConfEnv string // "UPSSLAVE_CONF"
	// Version is main.version, set with -ldflags (see [Version]).
	Version string
	// Load reads and validates the configuration at path.
	Load func(path string) (C, error)
	// LogFile is the configuration's LOGFILE.
	LogFile func(C) string
	// Event handles one upsmon event with the configuration loaded and
	// the log open.
	Event func(ctx context.Context, cfg C, log *eventlog.Logger, notifyType, ups, msg string) error
	// Next is the configuration's chained NOTIFYCMD (NOTIFYCMD_NEXT).
	Next func(C) Chain
	// App builds the command line, on [Program.NewApp].
	App func(getenv func(string) string, stdout, stderr io.Writer) *cli.App
	// Hint supplies a hint for errors that carry none (may be nil).
	Hint func(error) string
}

// Config is what a [Program] needs of its configuration besides Load and
// the functions of its fields.
type Config interface {
	// SetVersion records the program's version, for what it writes for
	// people (flags, acknowledgements).
	SetVersion(v string)
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
	path, err := configPath(flagValue, p.ConfEnv, p.defaults(), getenv)
	if err != nil {
		var zero C
		return zero, err
	}
	return p.load(path)
}

// defaults are the configuration paths tried in turn when neither the
// flag nor $ConfEnv names one.
func (p *Program[C]) defaults() []string {
	return []string{"/etc/nut/" + p.Name + ".conf", "/etc/ups/" + p.Name + ".conf"}
}

// load is Load, with the program's version set in the configuration.
func (p *Program[C]) load(path string) (C, error) {
	cfg, err := p.Load(path)
	if err == nil {
		cfg.SetVersion(Version(p.Version))
	}
	return cfg, err
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
	path, err := configPath(confFlag, p.ConfEnv, p.defaults(), getenv)
	if err != nil {
		syslogOnly(p.Name, p.Name+" not configured; event "+notifyType+" only logged", err)
		return err
	}
	cfg, err := p.load(path)
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

// NewApp returns the command line both programs share, for App to fill in
// with its usage, description, default action and subcommands: output to
// stdout and stderr, the --config flag (also $ConfEnv), no help command,
// shell completion, errors returned for [Program.Report] to print, and
// usage errors that point at --help.
func (p *Program[C]) NewApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:                 p.Name,
		Version:              Version(p.Version),
		Writer:               stdout,
		ErrWriter:            stderr,
		HideHelpCommand:      true,
		EnableBashCompletion: true,
		Flags: []cli.Flag{&cli.StringFlag{
			Name:    "config",
			Aliases: []string{"c"},
			Usage:   "read the configuration from `FILE`",
			EnvVars: []string{p.ConfEnv},
		}},
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &UsageError{Msg: err.Error(), Hint: "see " + p.Name + " --help"}
		},
	}
}

// Action returns a subcommand's action that loads the configuration named
// by --config (or $ConfEnv, or the defaults) and calls fn with it.
func (p *Program[C]) Action(getenv func(string) string, fn func(c *cli.Context, cfg C) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		cfg, err := p.Config(c.String("config"), getenv)
		if err != nil {
			return err
		}
		return fn(c, cfg)
	}
}

// LogAction is [Program.Action] for a subcommand that logs: fn gets the
// log of [Program.OpenLog] too, closed when it returns.
func (p *Program[C]) LogAction(getenv func(string) string, stderr io.Writer, fn func(c *cli.Context, cfg C, log *eventlog.Logger) error) cli.ActionFunc {
	return p.Action(getenv, func(c *cli.Context, cfg C) error {
		log := p.OpenLog(cfg, stderr)
		defer log.Close()
		return fn(c, cfg, log)
	})
}

// CheckCommand is the "check" subcommand both programs have: it loads the
// configuration and runs check on it, which prints its findings to the
// app's Writer.
func (p *Program[C]) CheckCommand(getenv func(string) string, usage string, check func(ctx context.Context, cfg C, w io.Writer) error) *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     usage,
		UsageText: p.Name + " check",
		Action: p.Action(getenv, func(c *cli.Context, cfg C) error {
			return check(c.Context, cfg, c.App.Writer)
		}),
	}
}
