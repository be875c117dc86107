// Package command holds what nutslave's programs share at their edge:
// exit codes, the one place errors are printed, the version string,
// NOTIFYCMD argument handling and where the configuration file is.
package command

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"

	"github.com/nutslave/nutslave/internal/conf"
	"github.com/nutslave/nutslave/internal/eventlog"
)

// Exit codes, aligned with systemd's LSB codes (systemd.exec(5)). upsmon
// ignores them; they are for operators, tests and systemd units.
const (
	ExitOK            = 0
	ExitFailure       = 1
	ExitUsage         = 2
	ExitPermission    = 4
	ExitNotConfigured = 6
)

// ErrNotConfigured means no configuration file could be found or used.
var ErrNotConfigured = errors.New("not configured")

// UsageError is a mistake in how a program was called.
type UsageError struct{ Msg, Hint string }

func (e *UsageError) Error() string { return e.Msg }

// Hinted carries a hint line for the user with an error.
type Hinted struct {
	Err  error
	Hint string
}

func (e *Hinted) Error() string { return e.Err.Error() }
func (e *Hinted) Unwrap() error { return e.Err }

// Code picks the exit code for err.
func Code(err error) int {
	var ue *UsageError
	var ce *conf.Error
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, ErrNotConfigured), errors.As(err, &ce):
		return ExitNotConfigured
	case errors.Is(err, fs.ErrPermission):
		return ExitPermission
	}
	return ExitFailure
}

// Report prints err as "prog: error: …" with its "prog: hint: …" lines and
// returns the exit code. It is the one place that prints errors. hint, if
// not nil, supplies a hint for errors that carry none.
func Report(prog string, stderr io.Writer, err error, hint func(error) string) int {
	if err == nil {
		return ExitOK
	}
	var ue *UsageError
	var h *Hinted
	text := ""
	switch {
	case errors.As(err, &h):
		text = h.Hint
	case errors.As(err, &ue):
		text = ue.Hint
	case hint != nil:
		text = hint(err)
	}
	fmt.Fprintf(stderr, "%s: error: %v\n", prog, err)
	if text != "" {
		for _, line := range strings.Split(text, "\n") {
			fmt.Fprintf(stderr, "%s: hint: %s\n", prog, line)
		}
	}
	return Code(err)
}

// Version returns v (set with -ldflags "-X main.version=…"), else the
// module version, else "devel".
func Version(v string) string {
	if v != "" {
		return v
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// notifyArgs reads a NOTIFYCMD command line: upsmon ≤ 2.8.5 runs it
// through a shell with the message double-quoted, later versions execvp
// it with the message last. Only --config FILE (or -c, --config=FILE)
// counts; the message is the last other argument; anything else is
// ignored, so no message text can ever be taken for a subcommand.
func notifyArgs(args []string) (configFlag, msg string) {
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case (a == "--config" || a == "-config" || a == "-c") && i+1 < len(rest):
			configFlag = rest[i+1]
			i++
		case strings.HasPrefix(a, "--config="):
			configFlag = strings.TrimPrefix(a, "--config=")
		default:
			msg = a
		}
	}
	return configFlag, msg
}

// configPath picks the configuration file: the flag, then the environment
// variable envName, then the first of defaults that exists.
func configPath(flagValue, envName string, defaults []string, getenv func(string) string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if p := getenv(envName); p != "" {
		return p, nil
	}
	for _, p := range defaults {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: no %s (set --config or %s)", ErrNotConfigured, strings.Join(defaults, " or "), envName)
}

// ApplyConfig reads the configuration file at path, applies each line
// with its key's setter, and returns the line number of each key, for
// the errors of a later validation of the whole. A missing file is
// [ErrNotConfigured].
func ApplyConfig(path string, keys map[string]conf.Setter) (lines map[string]int, err error) {
	entries, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	if err := conf.Apply(path, entries, keys); err != nil {
		return nil, err
	}
	lines = map[string]int{}
	for _, e := range entries {
		lines[e.Key] = e.Line
	}
	return lines, nil
}

// Common points at the settings upsflags.conf and upsslave.conf share.
type Common struct {
	FlagDir, AckDir   *string // FLAGDIR; ACKDIR, FLAGDIR/acks by default
	LogFile, StateDir *string // LOGFILE ("" logs to syslog only); STATEDIR
	DryRun            *bool   // DRYRUN
	Next              *Chain  // NOTIFYCMD_NEXT, NOTIFYCMD_NEXT_TIMEOUT
	// Lines gets the line of each key in the file, for validate's errors.
	Lines *map[string]int
}

// LoadConfig applies the configuration file at path with keys and the
// keys of common, sets ACKDIR to FLAGDIR/acks when the file does not, and
// then checks the whole with validate.
func LoadConfig(path string, keys map[string]conf.Setter, common Common, validate func() error) error {
	ackSet := false
	keys["FLAGDIR"] = conf.AbsPath(common.FlagDir)
	keys["ACKDIR"] = func(v string) error { ackSet = true; return conf.AbsPath(common.AckDir)(v) }
	keys["LOGFILE"] = conf.OptionalPath(common.LogFile)
	keys["STATEDIR"] = conf.AbsPath(common.StateDir)
	keys["DRYRUN"] = conf.Bool(common.DryRun)
	keys["NOTIFYCMD_NEXT"] = conf.Command(&common.Next.Argv)
	keys["NOTIFYCMD_NEXT_TIMEOUT"] = conf.Duration(&common.Next.Timeout)
	lines, err := ApplyConfig(path, keys)
	if err != nil {
		return err
	}
	*common.Lines = lines
	if !ackSet {
		*common.AckDir = *common.FlagDir + "/acks"
	}
	return validate()
}

// readConfig parses the configuration file at path; a missing file is
// [ErrNotConfigured].
func readConfig(path string) ([]conf.Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %v", ErrNotConfigured, err)
		}
		return nil, err
	}
	defer f.Close()
	return conf.Parse(path, f)
}

// OpenLog logs to syslog and logFile, and to stderr when it is a terminal
// or the journal (upsmon often points it at /dev/null).
func OpenLog(tag, logFile string, stderr io.Writer) *eventlog.Logger {
	var errw io.Writer
	if watched(stderr) {
		errw = stderr
	}
	l := eventlog.Open(eventlog.Options{Tag: tag, File: logFile, Syslog: true, Stderr: errw})
	if l.FileErr != nil {
		l.Warn("cannot write LOGFILE; logging to syslog only", "err", l.FileErr)
	}
	return l
}

// syslogOnly logs one critical line when there is no configuration to say
// where else to log.
func syslogOnly(tag, msg string, err error) {
	l := syslogLog(tag)
	l.Crit(msg, "err", err)
	l.Close()
}

// syslogLog is a logger to syslog alone, for when the configuration (and
// with it LOGFILE) is unknown.
func syslogLog(tag string) *eventlog.Logger {
	return eventlog.Open(eventlog.Options{Tag: tag, Syslog: true})
}

// watched reports whether someone reads w: a terminal, the journal, or a
// writer that is not a file (tests, pipes handed in explicitly).
func watched(w io.Writer) bool {
	if os.Getenv("JOURNAL_STREAM") != "" {
		return true
	}
	f, ok := w.(*os.File)
	if !ok {
		return true
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
