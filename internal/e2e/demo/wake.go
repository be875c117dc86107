package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/master"
)

// A packet is one datagram a wake listener received.
type packet struct {
	at   time.Time
	from string
	mac  string // the magic packet's MAC; empty: not a magic packet
}

// A wakeListener is one slave's "network card": it listens for magic
// packets on UDP port 9 in the slave's namespace, and on the first one
// for its own MAC "boots" the slave: it waits bootTime, then runs the
// slave's heartbeat as its timer would after a boot.
type wakeListener struct {
	link     *slaveLink
	bootTime time.Duration
	boot     func(ctx context.Context) error // the heartbeat
	note     func(text string)               // a timeline line in the slave's name

	pc     net.PacketConn
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	packets  []packet
	booting  bool
	bootedAt time.Time // the heartbeat after the boot ended
	bootErr  error
}

func startWakeListener(l *slaveLink, bootTime time.Duration, boot func(context.Context) error, note func(string)) (*wakeListener, error) {
	w := &wakeListener{link: l, bootTime: bootTime, boot: boot, note: note}
	err := lab.InNamespace(l.ns, func() (err error) {
		w.pc, err = net.ListenPacket("udp4", ":9")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s's wake listener: %w", l.name, err)
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.wg.Add(1)
	go w.serve()
	return w, nil
}

func (w *wakeListener) serve() {
	defer w.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := w.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		p := packet{at: time.Now(), from: from.String()}
		if mac, ok := master.MagicMAC(buf[:n]); ok {
			p.mac = mac.String()
		}
		w.mu.Lock()
		w.packets = append(w.packets, p)
		start := p.mac == w.link.mac && !w.booting
		if start {
			w.booting = true
		}
		w.mu.Unlock()
		switch {
		case p.mac == "":
			w.note(fmt.Sprintf("%d bytes on UDP port 9 from %s: not a magic packet", n, p.from))
		case p.mac != w.link.mac:
			w.note(fmt.Sprintf("a magic packet for %s (not this host's %s) from %s: ignored", p.mac, w.link.mac, p.from))
		case start:
			w.note(fmt.Sprintf("magic packet for its MAC %s on %s (from %s): powers on, boots (%v simulated)", p.mac, w.link.vethS, p.from, w.bootTime))
			w.wg.Add(1)
			go w.doBoot()
		default:
			w.note(fmt.Sprintf("magic packet for its MAC %s again (from %s): already up", p.mac, p.from))
		}
	}
}

func (w *wakeListener) doBoot() {
	defer w.wg.Done()
	select {
	case <-w.ctx.Done():
		return
	case <-time.After(w.bootTime):
	}
	w.note("up; its heartbeat timer runs upsslave heartbeat")
	err := w.boot(w.ctx)
	w.mu.Lock()
	w.bootedAt, w.bootErr = time.Now(), err
	w.mu.Unlock()
}

// state returns the packets received so far and when the boot's
// heartbeat ended (zero: not yet).
func (w *wakeListener) state() ([]packet, time.Time, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]packet(nil), w.packets...), w.bootedAt, w.bootErr
}

// close stops the listener and a boot under way.
func (w *wakeListener) close() {
	if w == nil {
		return
	}
	w.cancel()
	w.pc.Close()
	w.wg.Wait()
}

// heartbeatCmd is the command line of a slave's heartbeat in its
// namespace, as user (the account the packaged timer uses) unless that
// is root.
func heartbeatCmd(ns, user, upsslave, conf string) []string {
	argv := lab.NetnsExec(ns)
	if user != "" && user != "root" {
		argv = append(argv, "setpriv", "--reuid="+user, "--regid="+user, "--init-groups")
	}
	return append(argv, upsslave, "--config", conf, "heartbeat")
}

// runHeartbeat runs one heartbeat; its output is appended to logPath.
// The heartbeat's own check may report problems (a non-zero exit) and
// still write seen.<name>: the caller looks at that file.
func runHeartbeat(ctx context.Context, argv []string, logPath string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	cmd.Stdout, cmd.Stderr = f, f
	fmt.Fprintf(f, "%s $ %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))
	err = cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("heartbeat: %w", ctx.Err())
	}
	return err
}

// statusJSON is the part of "upsflags status --json" the demo checks.
type statusJSON struct {
	Roster struct {
		Slaves []struct {
			Name       string `json:"name"`
			LastOutage *struct {
				AckTime   time.Time `json:"ack_time"`
				WokenTime time.Time `json:"woken_time"`
				WakeTries int       `json:"wake_tries"`
				BackTime  time.Time `json:"back_time"`
				GaveUp    bool      `json:"gave_up"`
			} `json:"last_outage"`
		} `json:"slaves"`
	} `json:"roster"`
}

// checkReturn reads "upsflags status --json" and says what is missing
// from the return of every slave: each must have acknowledged the
// outage, been woken after it, and be back after it was woken.
func checkReturn(doc []byte, slaves []string) error {
	var st statusJSON
	if err := json.Unmarshal(doc, &st); err != nil {
		return fmt.Errorf("upsflags status --json: %w", err)
	}
	found := map[string]bool{}
	var errs []error
	for _, s := range st.Roster.Slaves {
		found[s.Name] = true
		r := s.LastOutage
		switch {
		case r == nil:
			errs = append(errs, fmt.Errorf("%s: the master has no record of it in the last outage", s.Name))
		case r.AckTime.IsZero():
			errs = append(errs, fmt.Errorf("%s: did not acknowledge the outage", s.Name))
		case r.WakeTries == 0 || r.WokenTime.IsZero():
			errs = append(errs, fmt.Errorf("%s: not woken", s.Name))
		case r.BackTime.IsZero():
			errs = append(errs, fmt.Errorf("%s: woken %d time(s), not back", s.Name, r.WakeTries))
		case r.BackTime.Before(r.AckTime):
			errs = append(errs, fmt.Errorf("%s: back at %s, before it acknowledged at %s", s.Name, r.BackTime, r.AckTime))
		}
	}
	var missing []string
	for _, n := range slaves {
		if !found[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("not in the master's roster: %s", strings.Join(missing, " ")))
	}
	return errors.Join(errs...)
}

// seenHas reports whether ackDir/seen.<name> contains every one of subs.
func seenHas(ackDir, name string, subs ...string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(ackDir, "seen."+name))
	if err != nil {
		return "", false
	}
	for _, s := range subs {
		if !strings.Contains(string(b), s) {
			return string(b), false
		}
	}
	return string(b), true
}
