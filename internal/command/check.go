package command

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Checker prints one line per finding of a `check` subcommand (ok:,
// warning:, error:) and remembers what kind of problems it saw, to pick
// the exit code.
type Checker struct {
	W                io.Writer
	Errors, Warnings int
	// Permission and Config mark errors that are a permission problem
	// (exit 4) or a configuration problem (exit 6).
	Permission, Config bool
	// Findings are the warning and error lines as printed ("warning: …",
	// "error: …"), for a program that reports them elsewhere.
	Findings []string
}

// OK prints a finding that needs nothing.
func (k *Checker) OK(format string, a ...any) { fmt.Fprintf(k.W, "ok: "+format+"\n", a...) }

// Warn prints a finding worth fixing that does not stop the program.
func (k *Checker) Warn(format string, a ...any) {
	k.Warnings++
	k.print("warning: "+format, a...)
}

// Fail prints a problem that will stop the program from doing its job.
func (k *Checker) Fail(format string, a ...any) {
	k.Errors++
	k.print("error: "+format, a...)
}

func (k *Checker) print(format string, a ...any) {
	line := fmt.Sprintf(format, a...)
	k.Findings = append(k.Findings, line)
	fmt.Fprintln(k.W, line)
}

// Err summarises the problems as an error whose exit code says their
// kind, or nil when there were none.
func (k *Checker) Err() error {
	switch {
	case k.Errors == 0:
		return nil
	case k.Config:
		return &Problems{N: k.Errors, Kind: ErrNotConfigured}
	case k.Permission:
		return &Problems{N: k.Errors, Kind: fs.ErrPermission}
	}
	return &Problems{N: k.Errors}
}

// Problems is the outcome of a check that found N problems, each already
// printed as an "error:" line. Kind (ErrNotConfigured, fs.ErrPermission or
// nil) picks the exit code.
type Problems struct {
	N    int
	Kind error
}

func (p *Problems) Error() string {
	return fmt.Sprintf("check found %d problem(s); each is an \"error:\" line above", p.N)
}

func (p *Problems) Unwrap() error { return p.Kind }

// StateDir checks that STATEDIR can be written and LOGFILE appended to.
// owner is who runs the program ("nut" for upsslave under upsmon, "root"
// for upsflags), for the command that creates a missing STATEDIR.
func (k *Checker) StateDir(dir, logFile, owner string) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		k.Config = true
		k.Fail("STATEDIR %s does not exist; create it: install -d -o %s -g %s -m 0750 %s", dir, owner, owner, dir)
		return
	}
	probe := filepath.Join(dir, fmt.Sprintf(".check.%d", os.Getpid()))
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			k.Permission = true
		}
		k.Fail("STATEDIR %s is not writable: %v", dir, err)
		return
	}
	os.Remove(probe)
	k.OK("STATEDIR %s writable", dir)
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			k.Warn("LOGFILE %s not writable (%v); syslog only", logFile, err)
		} else {
			f.Close()
		}
	}
}

// ShutdownCmd checks that the shutdown command exists; it returns its
// path, or "" after reporting the problem.
func (k *Checker) ShutdownCmd(argv []string, dryRun bool) string {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		k.Fail("SHUTDOWNCMD %q: %v", argv[0], err)
		return ""
	}
	if dryRun {
		k.Warn("DRYRUN=yes: this host will NOT shut down, it will only log")
	}
	return path
}

// UpsmonConfPaths are where upsmon.conf is looked for when $UPSMON_CONF
// is unset: Debian's NUT directory, then RHEL's.
var UpsmonConfPaths = []string{"/etc/nut/upsmon.conf", "/etc/ups/upsmon.conf"}

// UpsmonConf returns the upsmon.conf in use: $UPSMON_CONF, or the first
// of UpsmonConfPaths that exists ("" if none).
func UpsmonConf(getenv func(string) string) string {
	if p := getenv("UPSMON_CONF"); p != "" {
		return p
	}
	for _, p := range UpsmonConfPaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// upsmonNotify is what upsmon.conf says about NOTIFYCMD.
type upsmonNotify struct {
	Cmd      string // the NOTIFYCMD value, unquoted; "" when absent
	Line     int
	Monitors bool // upsmon.conf has a MONITOR line: upsmon is in use
}

// readUpsmonNotify reads NOTIFYCMD (the last one, as upsmon does) and
// whether any MONITOR line is present.
func readUpsmonNotify(path string) (upsmonNotify, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return upsmonNotify{}, err
	}
	var n upsmonNotify
	for i, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "MONITOR":
			n.Monitors = true
		case "NOTIFYCMD":
			rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "NOTIFYCMD"))
			n.Cmd, n.Line = strings.Trim(rest, `"`), i+1
		}
	}
	return n, nil
}

// Chain checks the NOTIFYCMD chain: that upsmon.conf runs prog (when
// upsmon is in use there), and that a configured NOTIFYCMD_NEXT can run.
// A NOTIFYCMD that is someone else's gets the two lines that keep it.
func (k *Checker) Chain(prog string, next Chain, confPath string, getenv func(string) string) {
	if len(next.Argv) > 0 {
		if path, err := exec.LookPath(next.Argv[0]); err != nil {
			k.Fail("NOTIFYCMD_NEXT %q cannot run: %v; upsmon's events would not reach it", next.Argv[0], err)
		} else {
			k.OK("NOTIFYCMD_NEXT %s gets every event too", path)
		}
	}
	path := UpsmonConf(getenv)
	if path == "" {
		return
	}
	n, err := readUpsmonNotify(path)
	switch {
	case err != nil:
		k.Warn("cannot read %s to check its NOTIFYCMD: %v", path, err)
	case n.Cmd == "" && n.Monitors:
		k.Warn("%s has no NOTIFYCMD: upsmon's events do not reach %s; add: NOTIFYCMD /usr/sbin/%s", path, prog, prog)
	case n.Cmd == "":
	case filepath.Base(strings.Fields(n.Cmd)[0]) == prog:
		k.OK("%s:%d: NOTIFYCMD runs %s", path, n.Line, prog)
	default:
		k.Warn("%s:%d: NOTIFYCMD is %q, not %s: upsmon's events do not reach %s; to keep it, set NOTIFYCMD_NEXT=%q in %s and NOTIFYCMD /usr/sbin/%s in %s",
			path, n.Line, n.Cmd, prog, prog, n.Cmd, confPath, prog, path)
	}
}
