package command

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
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
}

// OK prints a finding that needs nothing.
func (k *Checker) OK(format string, a ...any) { fmt.Fprintf(k.W, "ok: "+format+"\n", a...) }

// Warn prints a finding worth fixing that does not stop the program.
func (k *Checker) Warn(format string, a ...any) {
	k.Warnings++
	fmt.Fprintf(k.W, "warning: "+format+"\n", a...)
}

// Fail prints a problem that will stop the program from doing its job.
func (k *Checker) Fail(format string, a ...any) {
	k.Errors++
	fmt.Fprintf(k.W, "error: "+format+"\n", a...)
}

// Err summarises the problems as an error whose exit code says their
// kind, or nil when there were none.
func (k *Checker) Err() error {
	switch {
	case k.Errors == 0:
		return nil
	case k.Config:
		return fmt.Errorf("%w: %d problem(s), see above", ErrNotConfigured, k.Errors)
	case k.Permission:
		return fmt.Errorf("%w: %d problem(s), see above", fs.ErrPermission, k.Errors)
	}
	return fmt.Errorf("check failed: %d problem(s), see above", k.Errors)
}

// StateDir checks that STATEDIR can be written and LOGFILE appended to.
func (k *Checker) StateDir(dir, logFile string) {
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
