package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nutslave/nutslave/nut"
)

// NUTOptions configures StartNUT. The zero value is usable.
type NUTOptions struct {
	// UPS is the UPS name; default "ups".
	UPS string
	// Vars are the initial variables of the dummy UPS. Defaults:
	// ups.status OL, battery.charge 100, battery.runtime 1800.
	Vars map[string]string
	// Port is upsd's port on 127.0.0.1; 0 picks a free one.
	Port int
	// MaxAge is upsd's MAXAGE: after this long without news from the driver
	// upsd answers DATA-STALE. Default 15s (NUT's default); whole seconds.
	MaxAge time.Duration
	// PollInterval is dummy-ups' pollinterval; default 1s; whole seconds.
	PollInterval time.Duration
	// StartTimeout bounds the wait for a real ups.status; default 20s.
	StartTimeout time.Duration
}

// A NUT is a running dummy-ups driver and upsd serving one UPS on loopback.
type NUT struct {
	// Addr is upsd's address, "127.0.0.1:<port>".
	Addr string
	// UPS is the UPS name; the NUT URL is "nut://" + UPS + "@" + Addr.
	UPS string
	// Dir holds everything: conf/, state/, the .dev file and the logs.
	Dir string
	// ConfDir is NUT_CONFPATH and StateDir NUT_STATEPATH of both daemons.
	ConfDir, StateDir string
	// DevFile is the dummy-ups data file that Set rewrites.
	DevFile string
	// PrimaryUser/PrimaryPassword is an upsd user with "upsmon primary",
	// SET and FSD; SecondaryUser/SecondaryPassword one with "upsmon
	// secondary". The passwords are random per instance.
	PrimaryUser, PrimaryPassword     string
	SecondaryUser, SecondaryPassword string

	opts NUTOptions

	mu        sync.Mutex
	vars      map[string]string
	lastMtime time.Time
	driver    *proc
	upsd      *proc
}

// StartNUT writes a configuration under dir (created if needed), starts
// dummy-ups and upsd on 127.0.0.1, and returns once upsd serves a real
// ups.status (not WAIT). On error nothing is left running.
func StartNUT(dir string, opts NUTOptions) (*NUT, error) {
	if err := CheckNUT(); err != nil {
		return nil, err
	}
	if opts.UPS == "" {
		opts.UPS = "ups"
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 15 * time.Second
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 20 * time.Second
	}
	vars := map[string]string{"ups.status": "OL", "battery.charge": "100", "battery.runtime": "1800"}
	maps.Copy(vars, opts.Vars)
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	n := &NUT{
		UPS:               opts.UPS,
		Dir:               abs,
		ConfDir:           filepath.Join(abs, "conf"),
		StateDir:          filepath.Join(abs, "state"),
		DevFile:           filepath.Join(abs, opts.UPS+".dev"),
		PrimaryUser:       "labprimary",
		PrimaryPassword:   randomHex(8),
		SecondaryUser:     "labsecondary",
		SecondaryPassword: randomHex(8),
		opts:              opts,
		vars:              vars,
	}
	for _, d := range []string{n.Dir, n.ConfDir, n.StateDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
	}
	// upsd and the driver talk over a socket in StateDir; keep it private.
	if err := os.Chmod(n.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if err := n.writeDev(); err != nil {
		return nil, err
	}
	if err := n.writeConfig(); err != nil {
		return nil, err
	}
	if err := n.StartDriver(); err != nil {
		return nil, err
	}
	port := opts.Port
	for attempt := 0; ; attempt++ {
		if opts.Port == 0 {
			if port, err = freePort(); err != nil {
				n.Stop()
				return nil, err
			}
		}
		n.Addr = "127.0.0.1:" + strconv.Itoa(port)
		err = n.startUPSD()
		// Another program may take a free port between the check and the
		// bind; try a new one then.
		if err == nil || opts.Port != 0 || attempt == 2 || !errors.Is(err, errExited) {
			break
		}
	}
	if err != nil {
		n.Stop()
		return nil, err
	}
	return n, nil
}

// URL returns the nut:// URL of the UPS.
func (n *NUT) URL() string { return "nut://" + n.UPS + "@" + n.Addr }

func (n *NUT) env() []string {
	return []string{
		"NUT_CONFPATH=" + n.ConfDir,
		"NUT_STATEPATH=" + n.StateDir,
		"NUT_ALTPIDPATH=" + n.StateDir,
	}
}

func (n *NUT) writeConfig() error {
	files := map[string]string{
		"nut.conf": "MODE=standalone\n",
		"ups.conf": fmt.Sprintf("[%s]\n\tdriver = dummy-ups\n\tport = %s\n\tpollinterval = %d\n\tdesc = %s\n",
			n.UPS, n.DevFile, seconds(n.opts.PollInterval), nut.Quote("nutslave lab UPS")),
		"upsd.users": fmt.Sprintf("[%s]\n\tpassword = %s\n\tactions = SET FSD\n\tinstcmds = ALL\n\tupsmon primary\n"+
			"[%s]\n\tpassword = %s\n\tupsmon secondary\n",
			n.PrimaryUser, n.PrimaryPassword, n.SecondaryUser, n.SecondaryPassword),
	}
	for name, body := range files {
		if err := writeFile(filepath.Join(n.ConfDir, name), []byte(body), 0o600); err != nil {
			return fmt.Errorf("lab: writing NUT config: %w", err)
		}
	}
	return nil
}

// writeUPSDConf rewrites upsd.conf with the LISTEN line for the current Addr.
func (n *NUT) writeUPSDConf() error {
	host, port, _ := strings.Cut(n.Addr, ":")
	body := fmt.Sprintf("LISTEN %s %s\nMAXAGE %d\n", host, port, seconds(n.opts.MaxAge))
	if err := writeFile(filepath.Join(n.ConfDir, "upsd.conf"), []byte(body), 0o600); err != nil {
		return fmt.Errorf("lab: writing upsd.conf: %w", err)
	}
	return nil
}

// writeDev writes the .dev file from n.vars with a modification time later,
// in whole seconds, than the previous one: dummy-ups re-reads the file only
// when its mtime (in seconds) changes. Callers hold n.mu or own n.
func (n *NUT) writeDev() error {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(n.vars)) {
		fmt.Fprintf(&b, "%s: %s\n", k, n.vars[k])
	}
	if err := writeFile(n.DevFile, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("lab: writing %s: %w", n.DevFile, err)
	}
	mtime := time.Now().Truncate(time.Second)
	if !mtime.After(n.lastMtime) {
		mtime = n.lastMtime.Add(time.Second)
	}
	if err := os.Chtimes(n.DevFile, mtime, mtime); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	n.lastMtime = mtime
	return nil
}

// StartDriver starts dummy-ups (again, after StopDriver) and waits for its
// socket.
func (n *NUT) StartDriver() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.driver != nil && !n.driver.exited() {
		return nil
	}
	sock := filepath.Join(n.StateDir, "dummy-ups-"+n.UPS)
	os.Remove(sock)
	logPath := filepath.Join(n.Dir, "dummy-ups.log")
	p, err := startProc("dummy-ups", logPath, n.env(), nil, DummyUPSPath, "-a", n.UPS, "-F", "-u", "root")
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	n.driver = p
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return nil
		}
		if p.exited() || time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("lab: dummy-ups did not create %s (exit: %v)%s", sock, p.err, TailLog(logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StopDriver stops dummy-ups. upsd then answers DRIVER-NOT-CONNECTED.
func (n *NUT) StopDriver() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.driver.stop(); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// PauseDriver freezes dummy-ups with SIGSTOP: its socket stays open but it
// answers nothing, so after MaxAge upsd answers DATA-STALE.
func (n *NUT) PauseDriver() error { return n.signalDriver(syscall.SIGSTOP) }

// ResumeDriver undoes PauseDriver.
func (n *NUT) ResumeDriver() error { return n.signalDriver(syscall.SIGCONT) }

// signalDriver sends sig to dummy-ups, if it runs.
func (n *NUT) signalDriver(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.driver == nil || n.driver.exited() {
		return errors.New("lab: dummy-ups is not running")
	}
	return n.driver.signal(sig)
}

func (n *NUT) startUPSD() error {
	if err := n.writeUPSDConf(); err != nil {
		return err
	}
	logPath := filepath.Join(n.Dir, "upsd.log")
	p, err := startProc("upsd", logPath, n.env(), nil, UPSDPath, "-F", "-u", "root")
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	n.mu.Lock()
	n.upsd = p
	n.mu.Unlock()
	if err := n.waitReal(n.opts.StartTimeout); err != nil {
		p.stop()
		return fmt.Errorf("lab: upsd on %s: %w%s", n.Addr, err, TailLog(logPath))
	}
	return nil
}

// RestartUPSD stops and starts upsd on the same address, which clears its
// FSD latch, and waits for a real status again.
func (n *NUT) RestartUPSD() error {
	n.mu.Lock()
	p := n.upsd
	n.mu.Unlock()
	if err := p.stop(); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return n.startUPSD()
}

// waitReal waits until upsd serves the UPS with a status other than WAIT.
func (n *NUT) waitReal(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		n.mu.Lock()
		p := n.upsd
		n.mu.Unlock()
		if p.exited() {
			return fmt.Errorf("upsd %w (%v)", errExited, p.err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		vars, err := nut.ReadVars(ctx, n.Addr, n.UPS)
		cancel()
		if err == nil && vars["ups.status"] != "" {
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("no real ups.status after %v (last: %v)", timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Vars returns a copy of the variables last written to the .dev file.
func (n *NUT) Vars() map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.vars)
}

// Set merges vars into the dummy UPS' variables (e.g. "ups.status": "OB
// DISCHRG", "battery.charge": "40"), rewrites the .dev file with a new
// modification time and waits (up to 10 s) until upsd serves every given
// value.
func (n *NUT) Set(vars map[string]string) error {
	n.mu.Lock()
	maps.Copy(n.vars, vars)
	err := n.writeDev()
	n.mu.Unlock()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		got, err := nut.ReadVars(ctx, n.Addr, n.UPS)
		cancel()
		if err == nil && served(got, vars) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: upsd does not serve %v after 10s (got %v, err %v)", vars, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func served(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// Pids returns the process ids of the running daemons (for tests that check
// that Stop leaves nothing behind).
func (n *NUT) Pids() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	var pids []int
	for _, p := range []*proc{n.driver, n.upsd} {
		if p != nil {
			pids = append(pids, p.pid())
		}
	}
	return pids
}

// Stop stops upsd and the driver (SIGTERM to each process group, SIGKILL
// after 5 s). The directory and its logs stay. Stop is idempotent.
func (n *NUT) Stop() error {
	n.mu.Lock()
	up, drv := n.upsd, n.driver
	n.mu.Unlock()
	return errors.Join(up.stop(), drv.stop())
}

// seconds rounds d up to whole seconds, at least 1, for NUT's configs.
func seconds(d time.Duration) int { return max(1, int((d+time.Second-1)/time.Second)) }

func randomHex(nbytes int) string {
	b := make([]byte, nbytes)
	rand.Read(b)
	return hex.EncodeToString(b)
}
