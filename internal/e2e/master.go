package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/nut"
)

// A Master is the master side of an outage: it reads the UPS, writes onl,
// battsdf and sdf into FLAGDIR, waits for the slaves' acknowledgements and
// runs its (recorded) shutdown command last.
type Master interface {
	// Kind is "upsflags" or "stand-in".
	Kind() string
	// LogFile is the master's log.
	LogFile() string
	// ShutdownLog is where its shutdown command records its calls.
	ShutdownLog() string
	// Stop ends it. Idempotent.
	Stop() error
}

// masterConfig is what both kinds of master need.
type masterConfig struct {
	dir        string // the master's own directory
	source     string // nut://ups@127.0.0.1:port
	upsdAddr   string
	ups        string
	flagDir    string
	ackDir     string
	slaves     []string
	stdwCharge int
	debounce   int
	hostSync   time.Duration
	poll       time.Duration
	deadTime   time.Duration
	recorder   string
	cron       string // a cron.d file: start the master as its minute line does
}

func (m masterConfig) shutdownLog() string { return filepath.Join(m.dir, "shutdown.log") }
func (m masterConfig) logFile() string     { return filepath.Join(m.dir, "master.log") }

// StandInMaster is the master used where upsflags is not available: a
// goroutine that follows DESIGN §4 in its simplest form and writes the
// flags with [flags.Dir]. It is deliberately small: the slaves under test
// see the same files upsflags would write.
type StandInMaster struct {
	cfg    masterConfig
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	log *os.File
}

func startStandIn(cfg masterConfig) (*StandInMaster, error) {
	lf, err := os.OpenFile(cfg.logFile(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("stand-in master: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &StandInMaster{cfg: cfg, cancel: cancel, done: make(chan struct{}), log: lf}
	// Like "upsflags reset" at boot: no flag survives from before.
	if err := m.reset(ctx); err != nil {
		cancel()
		lf.Close()
		return nil, err
	}
	go m.loop(ctx)
	return m, nil
}

// Kind implements Master.
func (m *StandInMaster) Kind() string { return "stand-in" }

// LogFile implements Master.
func (m *StandInMaster) LogFile() string { return m.cfg.logFile() }

// ShutdownLog implements Master.
func (m *StandInMaster) ShutdownLog() string { return m.cfg.shutdownLog() }

// Stop implements Master.
func (m *StandInMaster) Stop() error {
	m.cancel()
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.log != nil {
		m.log.Close()
		m.log = nil
	}
	return nil
}

func (m *StandInMaster) logf(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.log != nil {
		fmt.Fprintf(m.log, "%s stand-in-master: %s\n", time.Now().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
	}
}

func (m *StandInMaster) reset(ctx context.Context) error {
	fd, err := flags.OpenDir(m.cfg.flagDir)
	if err != nil {
		return err
	}
	defer fd.Close()
	for _, n := range []flags.Name{flags.SDF, flags.BattSDF} {
		if err := fd.Clear(ctx, n); err != nil {
			return err
		}
	}
	ad, err := flags.OpenDir(m.cfg.ackDir)
	if err != nil {
		return err
	}
	defer ad.Close()
	infos, err := ad.List(ctx)
	if err != nil {
		return err
	}
	for _, in := range infos {
		if _, ok := flags.AckSlave(in.Name); ok {
			if err := ad.Clear(ctx, in.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *StandInMaster) loop(ctx context.Context) {
	defer close(m.done)
	fd, err := flags.OpenDir(m.cfg.flagDir)
	if err != nil {
		m.logf("error: %v", err)
		return
	}
	defer fd.Close()
	set := func(n flags.Name, status, charge string) {
		body := flags.Stamp(time.Now(), "master", flags.Field{Key: "ups", Value: m.cfg.ups},
			flags.Field{Key: "status", Value: status}, flags.Field{Key: "charge", Value: charge})
		if err := fd.Set(ctx, n, body); err != nil {
			m.logf("error: set %s: %v", n, err)
			return
		}
		m.logf("wrote %s (status %q, charge %s)", n, status, charge)
	}
	clear := func(n flags.Name) {
		if _, err := fd.Stat(ctx, n); flags.IsNotExist(err) {
			return
		}
		if err := fd.Clear(ctx, n); err != nil {
			m.logf("error: clear %s: %v", n, err)
			return
		}
		m.logf("removed %s", n)
	}
	below := 0
	var lastGood time.Time
	lastOB := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(m.cfg.poll):
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		vars, err := nut.ReadVars(rctx, m.cfg.upsdAddr, m.cfg.ups)
		cancel()
		critical, why := false, ""
		status, charge := "", ""
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if lastOB && time.Since(lastGood) >= m.cfg.deadTime {
				critical, why = true, "no reading for DEADTIME while on battery"
			} else {
				continue
			}
		} else {
			lastGood = time.Now()
			status, charge = vars["ups.status"], vars["battery.charge"]
			tokens := strings.Fields(status)
			ob := slices.Contains(tokens, "OB")
			lastOB = ob
			switch {
			case slices.Contains(tokens, "OL") && !ob:
				below = 0
				if _, err := fd.Stat(ctx, flags.Onl); flags.IsNotExist(err) {
					set(flags.Onl, status, charge)
				}
				clear(flags.BattSDF)
			case ob:
				clear(flags.Onl)
				if c, err := strconv.ParseFloat(charge, 64); err == nil && c < float64(m.cfg.stdwCharge) {
					below++
				} else {
					below = 0
				}
				switch {
				case slices.Contains(tokens, "LB"):
					critical, why = true, "LB"
				case below >= m.cfg.debounce:
					critical, why = true, fmt.Sprintf("charge %s < STDWCHARGE %d", charge, m.cfg.stdwCharge)
				}
			}
		}
		if critical {
			m.logf("critical (%s): shutting the slaves down", why)
			set(flags.BattSDF, status, charge)
			set(flags.SDF, status, charge)
			m.waitAcks(ctx)
			return
		}
	}
}

// waitAcks waits for every slave's sdfok.<name> or HOSTSYNC, then runs the
// (recorded) shutdown command once.
func (m *StandInMaster) waitAcks(ctx context.Context) {
	ad, err := flags.OpenDir(m.cfg.ackDir)
	if err != nil {
		m.logf("error: %v", err)
		return
	}
	defer ad.Close()
	deadline := time.Now().Add(m.cfg.hostSync)
	var missing []string
	for {
		missing = missing[:0]
		for _, s := range m.cfg.slaves {
			if _, err := ad.Stat(ctx, flags.Ack(s)); err != nil {
				missing = append(missing, s)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ctx.Err() != nil {
		return
	}
	if len(missing) > 0 {
		m.logf("HOSTSYNC %v passed; no acknowledgement from %s", m.cfg.hostSync, strings.Join(missing, " "))
	} else {
		m.logf("every slave acknowledged (%s)", strings.Join(m.cfg.slaves, " "))
	}
	m.logf("running the shutdown command (recorded)")
	if out, err := exec.Command(m.cfg.recorder, m.cfg.shutdownLog(), "master").CombinedOutput(); err != nil {
		m.logf("error: shutdown command: %v: %s", err, out)
	}
}

// UpsflagsMaster runs the real upsflags: "upsflags reset", then
// "upsflags watch", with UPSFLAGS_CONF pointing at a config it writes.
type UpsflagsMaster struct {
	bin      string
	cfg      masterConfig
	confFile string
	p        *proc
}

func (m masterConfig) upsflagsConf(trigger string) string {
	var b strings.Builder
	w := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, v) }
	b.WriteString("# written by nutslave's internal/e2e\n")
	w("SOURCE", m.source)
	w("FLAGDIR", m.flagDir)
	w("ACKDIR", m.ackDir)
	w("SLAVES", strconv.Quote(strings.Join(m.slaves, " ")))
	w("STDWCHARGE", strconv.Itoa(m.stdwCharge))
	w("DEBOUNCE", strconv.Itoa(m.debounce))
	w("HOSTSYNC", m.hostSync.String())
	w("DEADTIME", m.deadTime.String())
	w("POLL", m.poll.String())
	w("SHUTDOWNCMD", strconv.Quote(m.recorder+" "+m.shutdownLog()+" master"))
	w("LOGFILE", m.logFile())
	w("STATEDIR", filepath.Join(m.dir, "state"))
	w("TRIGGER", trigger)
	w("DRYRUN", "no")
	// The master's primary upsmon (never the machine's own upsmon.conf
	// and its /etc/killpower): upsflags arms the lab's POWERDOWNFLAG.
	w("UPSMON_CONF", filepath.Join(m.dir, "upsmon", "upsmon.conf"))
	return b.String()
}

func startUpsflags(bin string, cfg masterConfig) (*UpsflagsMaster, error) {
	m := &UpsflagsMaster{bin: bin, cfg: cfg, confFile: filepath.Join(cfg.dir, "upsflags.conf")}
	if err := os.MkdirAll(filepath.Join(cfg.dir, "state"), 0o750); err != nil {
		return nil, fmt.Errorf("upsflags master: %w", err)
	}
	if err := os.WriteFile(m.confFile, []byte(cfg.upsflagsConf(m.Trigger())), 0o640); err != nil {
		return nil, fmt.Errorf("upsflags master: %w", err)
	}
	if _, err := m.reset(nil); err != nil {
		return nil, err
	}
	argv := []string{bin, "watch"}
	if cfg.cron != "" {
		var err error
		if argv, err = cronCommand(cfg.cron, bin, m.confFile, filepath.Join(cfg.dir, "state")); err != nil {
			return nil, err
		}
	}
	if err := m.startWatch(argv, "start"); err != nil {
		return nil, err
	}
	return m, nil
}

// reset runs "upsflags reset", with wrap before it, and returns its
// output.
func (m *UpsflagsMaster) reset(wrap []string) (string, error) {
	argv := append(append([]string{}, wrap...), m.bin, "--config", m.confFile, "reset")
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("upsflags reset: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// startWatch starts argv as the master's "upsflags watch" and fails if it
// has exited 200 ms later (at is "start" or "boot", for the message).
func (m *UpsflagsMaster) startWatch(argv []string, at string) error {
	logPath := filepath.Join(m.cfg.dir, "upsflags-watch.out")
	p, err := startProc("upsflags watch", logPath, []string{"UPSFLAGS_CONF=" + m.confFile}, argv...)
	if err != nil {
		return err
	}
	m.p = p
	time.Sleep(200 * time.Millisecond)
	if p.exited() {
		b, _ := os.ReadFile(logPath)
		return fmt.Errorf("upsflags watch exited at %s: %s", at, strings.TrimSpace(string(b)))
	}
	return nil
}

// cronCommand returns the command of the every-minute line of a cron.d
// file (packaging/cron/nutslave-master) as cron runs it, /bin/sh -c, with
// the packaged paths pointed at the test's: the binary and STATEDIR. It
// first runs "upsflags check", as the administrator would, so that the
// line's guard (upsflags.checked) lets the watch start.
func cronCommand(cronFile, bin, conf, stateDir string) ([]string, error) {
	b, err := os.ReadFile(cronFile)
	if err != nil {
		return nil, err
	}
	var line string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "* * * * *") {
			line = l
		}
	}
	f := strings.Fields(line)
	if len(f) < 7 || f[5] != "root" {
		return nil, fmt.Errorf("%s: no every-minute line run as root", cronFile)
	}
	cmd := strings.Join(f[6:], " ")
	cmd = strings.ReplaceAll(cmd, "/var/lib/nutslave", stateDir)
	cmd = strings.ReplaceAll(cmd, "/usr/sbin/upsflags", bin)
	exec.Command(bin, "--config", conf, "check").Run() // the slaves' heartbeats fail it; the mark is what counts
	if _, err := os.Stat(filepath.Join(stateDir, "upsflags.checked")); err != nil {
		return nil, fmt.Errorf("upsflags check did not mark the master checked: %w", err)
	}
	return []string{"/bin/sh", "-c", cmd}, nil
}

// Kind implements Master.
func (m *UpsflagsMaster) Kind() string { return "upsflags" }

// LogFile implements Master.
func (m *UpsflagsMaster) LogFile() string { return m.cfg.logFile() }

// ShutdownLog implements Master.
func (m *UpsflagsMaster) ShutdownLog() string { return m.cfg.shutdownLog() }

// ConfFile is the upsflags.conf in use (UPSFLAGS_CONF).
func (m *UpsflagsMaster) ConfFile() string { return m.confFile }

// Trigger is the file upsflags touches when upsmon runs it as NOTIFYCMD.
func (m *UpsflagsMaster) Trigger() string { return filepath.Join(m.cfg.dir, "upsflags.trigger") }

// Stop implements Master.
func (m *UpsflagsMaster) Stop() error {
	if m == nil || m.p == nil {
		return nil
	}
	return m.p.stop()
}

// Boot is the master's boot after an outage, as its systemd units would
// run it: the running upsflags is stopped (the halt), "upsflags reset"
// runs (upsflags-reset.service, before NUT), startNUT (if not nil) starts
// NUT, then "upsflags watch" starts again with the same configuration.
// wrap goes before both command lines (such as "ip netns exec NS": the
// master's network). It returns reset's output.
func (m *UpsflagsMaster) Boot(wrap []string, startNUT func() error) (string, error) {
	if err := m.Stop(); err != nil {
		return "", err
	}
	out, err := m.reset(wrap)
	if err != nil {
		return out, err
	}
	if startNUT != nil {
		if err := startNUT(); err != nil {
			return out, err
		}
	}
	return out, m.startWatch(append(append([]string{}, wrap...), m.bin, "watch"), "boot")
}
