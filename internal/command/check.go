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

// Chain checks the NOTIFYCMD chain: that upsmonConf (the upsmon.conf in
// use, "" for none) runs prog when upsmon is in use there, and that a
// configured NOTIFYCMD_NEXT can run. A NOTIFYCMD that is someone else's
// gets the two lines that keep it.
func (k *Checker) Chain(prog string, next Chain, confPath, upsmonConf string) {
	if len(next.Argv) > 0 {
		if path, err := exec.LookPath(next.Argv[0]); err != nil {
			k.Fail("NOTIFYCMD_NEXT %q cannot run: %v; upsmon's events would not reach it", next.Argv[0], err)
		} else {
			k.OK("NOTIFYCMD_NEXT %s gets every event too", path)
		}
	}
	path := upsmonConf
	if path == "" {
		return
	}
	u, err := ReadUpsmon(path)
	switch {
	case err != nil:
		k.Warn("cannot read %s to check its NOTIFYCMD: %v", path, err)
	case u.NotifyCmd == "" && len(u.Monitors) > 0:
		k.Warn("%s has no NOTIFYCMD: upsmon's events do not reach %s; add: NOTIFYCMD /usr/sbin/%s", path, prog, prog)
	case u.NotifyCmd == "":
	case filepath.Base(strings.Fields(u.NotifyCmd)[0]) == prog:
		k.OK("%s:%d: NOTIFYCMD runs %s", path, u.NotifyLine, prog)
	default:
		k.Warn("%s:%d: NOTIFYCMD is %q, not %s: upsmon's events do not reach %s; to keep it, set NOTIFYCMD_NEXT=%q in %s and NOTIFYCMD /usr/sbin/%s in %s",
			path, u.NotifyLine, u.NotifyCmd, prog, prog, u.NotifyCmd, confPath, prog, path)
	}
}
