// Package poweroff runs a host's shutdown command at most once per boot,
// however many processes decide to shut down at the same moment.
package poweroff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/nutslave/nutslave/internal/lock"
)

// Outcome says what Run did.
type Outcome int

const (
	// Ran: the command ran and exited 0.
	Ran Outcome = iota
	// DryRun: DRYRUN was set; the command was logged, not run.
	DryRun
	// AlreadyStarted: another process started the shutdown in this boot.
	AlreadyStarted
	// Failed: the command could not run or exited non-zero. A later Run
	// (for example upsmon's SHUTDOWNCMD running as root) may try again.
	Failed
)

func (o Outcome) String() string {
	return [...]string{"ran", "dry-run", "already-started", "failed"}[o]
}

// AtMostOnce is what the engines need of a [Runner]: run the shutdown at
// most once per boot, log what happened, and say whether it ran. Tests put
// a recorder in its place.
type AtMostOnce interface {
	RunLogged(ctx context.Context, reason, host string, log Logger) (Outcome, error)
	Status() (state string, when time.Time, ok bool)
}

// Runner runs Argv with no shell.
type Runner struct {
	Argv   []string
	DryRun bool
	// Marker is the file that records "shutdown started in boot B"; its
	// lock file is Marker+".lock".
	Marker string
	BootID string
	// Timeout bounds the command (default 60s): shutdown -h +0 returns
	// at once, and a hung command must not hang upsslave.
	Timeout time.Duration
}

// Logger is where RunLogged says what happened (internal/eventlog's
// Logger is one).
type Logger interface {
	Crit(msg string, kv ...any)
	Info(msg string, kv ...any)
}

// RunLogged runs the command (Run) and logs the outcome as both programs
// do; host names the machine going down ("this host", "the master"). The
// caller handles a failure beyond the log line.
func (r *Runner) RunLogged(ctx context.Context, reason, host string, log Logger) (Outcome, error) {
	outcome, err := r.Run(ctx, reason)
	cmd := fmt.Sprintf("%q", r.Argv)
	switch outcome {
	case Ran:
		log.Crit("shutdown command started", "cmd", cmd)
	case DryRun:
		log.Crit("DRYRUN: would run the shutdown command now", "cmd", cmd)
	case AlreadyStarted:
		log.Info("the shutdown of " + host + " was already started in this boot")
	case Failed:
		log.Crit("THE SHUTDOWN COMMAND FAILED; "+host+" is still running on a failing UPS", "err", err)
	}
	return outcome, err
}

// BootID reads the kernel's boot id, so a marker left by the previous boot
// never stops the next outage's shutdown.
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// Status reads the marker: its state ("started", "dry-run", "failed"), and
// whether it belongs to this boot.
func (r *Runner) Status() (state string, when time.Time, ok bool) {
	b, err := os.ReadFile(r.Marker)
	if err != nil {
		return "", time.Time{}, false
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, found := strings.Cut(line, "="); found {
			fields[k] = v
		}
	}
	if fields["boot"] != r.BootID {
		return "", time.Time{}, false
	}
	when, _ = time.Parse(time.RFC3339Nano, fields["time"])
	return fields["state"], when, true
}

// Run runs the command unless this boot already started it. It returns
// what it did; err explains Failed.
func (r *Runner) Run(ctx context.Context, reason string) (Outcome, error) {
	l, err := lock.Acquire(ctx, r.Marker+".lock")
	if err != nil {
		return Failed, err
	}
	defer l.Unlock()
	if state, _, ok := r.Status(); ok && state != "failed" {
		return AlreadyStarted, nil
	}
	state := "started"
	if r.DryRun {
		state = "dry-run"
	}
	if err := r.mark(state, reason); err != nil {
		return Failed, err
	}
	if r.DryRun {
		return DryRun, nil
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, r.Argv[0], r.Argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		r.mark("failed", reason)
		msg := strings.TrimSpace(out.String())
		if len(msg) > 300 {
			msg = msg[:300]
		}
		if msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return Failed, fmt.Errorf("shutdown command %q: %w", strings.Join(r.Argv, " "), err)
	}
	return Ran, nil
}

func (r *Runner) mark(state, reason string) error {
	body := fmt.Sprintf("boot=%s\nstate=%s\ntime=%s\npid=%d\nreason=%s\n",
		r.BootID, state, time.Now().Format(time.RFC3339Nano), os.Getpid(), strings.ReplaceAll(reason, "\n", " "))
	tmp := fmt.Sprintf("%s.%d.tmp", r.Marker, os.Getpid())
	if err := os.WriteFile(tmp, []byte(body), 0o640); err != nil {
		return fmt.Errorf("shutdown marker: %w", err)
	}
	if err := os.Rename(tmp, r.Marker); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("shutdown marker: %w", err)
	}
	return nil
}

// IsPermission reports whether a Failed outcome looks like the command
// needed root.
func IsPermission(err error) bool {
	if err == nil {
		return false
	}
	var ee *exec.ExitError
	s := strings.ToLower(err.Error())
	return errors.Is(err, os.ErrPermission) || strings.Contains(s, "permission") ||
		strings.Contains(s, "must be root") || strings.Contains(s, "access denied") ||
		strings.Contains(s, "interactive authentication required") || (errors.As(err, &ee) && os.Geteuid() != 0)
}
