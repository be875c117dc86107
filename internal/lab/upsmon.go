package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nutslave/nutslave/nut"
)

// upsmonRunDir is where Debian's upsmon always writes its pid file
// (upsmon.pid); each lab upsmon gets its own directory mounted over it.
const upsmonRunDir = "/run/nut"

// NotifyTypes are the NOTIFY events of NUT 2.8.0's upsmon; StartUpsmon sets
// NOTIFYFLAG SYSLOG+EXEC for each of them.
var NotifyTypes = []string{
	"ONLINE", "ONBATT", "LOWBATT", "FSD", "COMMOK", "COMMBAD",
	"SHUTDOWN", "REPLBATT", "NOCOMM", "NOPARENT", "CAL",
}

// UpsmonOptions configures StartUpsmon. Durations are rounded up to whole
// seconds; zero means the value given.
type UpsmonOptions struct {
	// Secondary makes this a "secondary" MONITOR; the default is primary.
	Secondary bool
	// NotifyCmd is NOTIFYCMD. NUT 2.8.0 runs it as
	// sh -c 'NotifyCmd "message"', one process per event, concurrently,
	// with NOTIFYTYPE and UPSNAME set. Empty: no NOTIFYCMD.
	NotifyCmd string
	// ShutdownCmd is SHUTDOWNCMD, run through sh by the privileged part of
	// upsmon. Empty: append a line to <dir>/shutdown.called (see
	// ShutdownCalled). It is never a real shutdown unless you make it one.
	ShutdownCmd string
	// Env is added to upsmon's environment, which its commands inherit.
	Env []string
	// RunAsUser is RUN_AS_USER, the account notifications run as; default
	// root.
	RunAsUser string
	// HostSync, FinalDelay, DeadTime, PollFreq: HOSTSYNC (default 15s),
	// FINALDELAY (default 0s here, 5s in NUT), DEADTIME (default 15s),
	// POLLFREQ and POLLFREQALERT (default 1s here, 5s in NUT).
	HostSync, FinalDelay, DeadTime, PollFreq time.Duration
	// Debug adds that many -D flags (more detail in upsmon.log).
	Debug int
	// AlsoMonitor are more UPSes this upsmon watches (MONITOR lines of
	// power value 1, in the same role): a host with several supplies.
	// MinSupplies is MINSUPPLIES (default 1).
	AlsoMonitor []*NUT
	MinSupplies int
	// StartTimeout bounds the wait for upsmon's login to upsd; default 20s.
	StartTimeout time.Duration
}

// An Upsmon is a running upsmon in its own mount namespace.
type Upsmon struct {
	// Dir holds upsmon.conf, upsmon.log, run/ (mounted over /run/nut in
	// upsmon's namespace) and the POWERDOWNFLAG file.
	Dir string
	// ConfFile is the upsmon.conf in use.
	ConfFile string
	// ShutdownFile is where the default ShutdownCmd records its calls.
	ShutdownFile string

	p *proc
}

// CheckUpsmon reports whether StartUpsmon can run here.
func CheckUpsmon() error {
	if err := CheckNUT(); err != nil {
		return err
	}
	if fi, err := os.Stat(upsmonRunDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: %s is needed as a mount point for upsmon's pid file", ErrUnavailable, upsmonRunDir)
	}
	return nil
}

// StartUpsmon writes an upsmon.conf under dir that monitors n, starts
// upsmon in the foreground in a private mount namespace (with dir/run
// mounted over /run/nut, so several upsmons can run side by side), and
// returns once it has logged in to upsd. upsmon polls every 5 s until it
// first sees OL or OB, whatever POLLFREQ says.
func (n *NUT) StartUpsmon(dir string, opts UpsmonOptions) (*Upsmon, error) {
	if err := CheckUpsmon(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	u := &Upsmon{
		Dir:          abs,
		ConfFile:     filepath.Join(abs, "upsmon.conf"),
		ShutdownFile: filepath.Join(abs, "shutdown.called"),
	}
	runDir := filepath.Join(abs, "run")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if opts.RunAsUser == "" {
		opts.RunAsUser = "root"
	}
	usr, err := user.Lookup(opts.RunAsUser)
	if err != nil {
		return nil, fmt.Errorf("lab: RUN_AS_USER: %w", err)
	}
	gid, _ := strconv.Atoi(usr.Gid)
	// The unprivileged child of upsmon must be able to use run/ (like the
	// packaged /run/nut) and to read the config.
	if err := os.Chown(runDir, 0, gid); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if err := os.Chmod(runDir, 0o770); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	conf := u.config(n, opts)
	if err := writeFile(u.ConfFile, []byte(conf), 0o640); err != nil {
		return nil, fmt.Errorf("lab: writing upsmon.conf: %w", err)
	}
	if err := os.Chown(u.ConfFile, 0, gid); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}

	before, _ := n.numLogins()
	argv := []string{"/bin/sh", "-c", `mount --bind "$0" ` + upsmonRunDir + ` && exec "$@"`, runDir,
		UpsmonPath, "-F"}
	for range opts.Debug {
		argv = append(argv, "-D")
	}
	env := append([]string{"NUT_CONFPATH=" + abs, "NUT_STATEPATH=" + runDir, "NUT_ALTPIDPATH=" + runDir}, opts.Env...)
	logPath := filepath.Join(abs, "upsmon.log")
	p, err := startProc("upsmon", logPath, env, &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}, argv...)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	u.p = p
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		if p.exited() {
			return nil, fmt.Errorf("lab: upsmon exited at start (%v)%s", p.err, TailLog(logPath))
		}
		if got, err := n.numLogins(); err == nil && got > before {
			return u, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("lab: upsmon did not log in to upsd within %v%s", timeout, TailLog(logPath))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (u *Upsmon) config(n *NUT, opts UpsmonOptions) string {
	orDefault := func(d, def time.Duration) int {
		if d <= 0 {
			d = def
		}
		return seconds(d)
	}
	monitor := func(n *NUT) string {
		role, usr, pass := "primary", n.PrimaryUser, n.PrimaryPassword
		if opts.Secondary {
			role, usr, pass = "secondary", n.SecondaryUser, n.SecondaryPassword
		}
		return fmt.Sprintf("MONITOR %s@%s 1 %s %s %s\n", n.UPS, n.Addr, usr, pass, role)
	}
	shutdownCmd := opts.ShutdownCmd
	if shutdownCmd == "" {
		shutdownCmd = "echo SHUTDOWNCMD >> " + shellQuote(u.ShutdownFile)
	}
	finalDelay := 0
	if opts.FinalDelay > 0 {
		finalDelay = seconds(opts.FinalDelay)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# written by nutslave's internal/lab\n")
	fmt.Fprintf(&b, "RUN_AS_USER %s\n", opts.RunAsUser)
	b.WriteString(monitor(n))
	for _, o := range opts.AlsoMonitor {
		b.WriteString(monitor(o))
	}
	fmt.Fprintf(&b, "MINSUPPLIES %d\n", max(opts.MinSupplies, 1))
	fmt.Fprintf(&b, "SHUTDOWNCMD %s\n", nut.Quote(shutdownCmd))
	if opts.NotifyCmd != "" {
		fmt.Fprintf(&b, "NOTIFYCMD %s\n", nut.Quote(opts.NotifyCmd))
	}
	poll := orDefault(opts.PollFreq, time.Second)
	fmt.Fprintf(&b, "POLLFREQ %d\nPOLLFREQALERT %d\n", poll, poll)
	fmt.Fprintf(&b, "HOSTSYNC %d\n", orDefault(opts.HostSync, 15*time.Second))
	fmt.Fprintf(&b, "DEADTIME %d\n", orDefault(opts.DeadTime, 15*time.Second))
	fmt.Fprintf(&b, "FINALDELAY %d\n", finalDelay)
	fmt.Fprintf(&b, "POWERDOWNFLAG %s\n", filepath.Join(u.Dir, "killpower"))
	for _, ev := range NotifyTypes {
		fmt.Fprintf(&b, "NOTIFYFLAG %s SYSLOG+EXEC\n", ev)
	}
	return b.String()
}

// numLogins asks upsd how many upsmons are logged in to the UPS.
func (n *NUT) numLogins() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := nut.Dial(ctx, n.Addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.NumLogins(ctx, n.UPS)
}

// Pid returns upsmon's process id (the leader of its process group).
func (u *Upsmon) Pid() int { return u.p.pid() }

// Done is closed when upsmon has exited, e.g. after running SHUTDOWNCMD.
func (u *Upsmon) Done() <-chan struct{} { return u.p.done }

// ShutdownCalled reports how many times the default ShutdownCmd ran.
func (u *Upsmon) ShutdownCalled() int {
	b, err := os.ReadFile(u.ShutdownFile)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "SHUTDOWNCMD\n")
}

// FSD asks this (primary) upsmon to force a shutdown, like "upsmon -c fsd".
func (u *Upsmon) FSD() error {
	if u.p.exited() {
		return errors.New("lab: upsmon is not running")
	}
	// upsmon -c fsd sends SIGUSR1 to the monitoring process.
	return syscall.Kill(u.p.pid(), syscall.SIGUSR1)
}

// Stop stops upsmon and everything it started (notification commands
// included): SIGTERM to its process group, SIGKILL after 5 s. Idempotent.
func (u *Upsmon) Stop() error {
	if err := u.p.stop(); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// shellQuote quotes s for sh in single quotes.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
