package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nutslave/nutslave/internal/e2e"
	"github.com/nutslave/nutslave/internal/lab"
)

// bootTime is how long a woken slave takes to boot before its heartbeat
// timer runs (simulated; a real one takes a minute or more).
const bootTime = 3 * time.Second

// restoreMinCharge is upsflags' default RESTORE_MINCHARGE, which the
// demo's upsflags.conf leaves as it is.
const restoreMinCharge = 30

// returnPlay is the return of the power: the UPS armed at the master's
// halt and cycled, the master's boot, the wake-ups, the slaves back.
type returnPlay struct {
	d         *demo
	c         *e2e.Cluster
	n         *demoNet
	slaveUser string

	lanConf   map[string]string // slave → its upsslave.conf towards the master's LAN address
	listeners []*wakeListener
	relay     *relay
}

// prepare, before the outage: the master's sshd on its side of every
// link, each slave's first heartbeat over its link (so that the master
// knows its MAC, as the packaged timer would have told it long before),
// and the slaves' wake listeners.
func (r *returnPlay) prepare(ctx context.Context) error {
	c, n, d := r.c, r.n, r.d
	args := []string{"-o", "PidFile=none"}
	for _, l := range n.links {
		args = append(args, "-o", "ListenAddress="+l.masterIP+":"+strconv.Itoa(lanSSHPort))
	}
	if _, err := c.StartSSHDProc("sshd-lan.log", lab.NetnsExec(n.master), args...); err != nil {
		return err
	}
	r.lanConf = map[string]string{}
	for _, l := range n.links {
		addr := net.JoinHostPort(l.masterIP, strconv.Itoa(lanSSHPort))
		if err := e2e.WaitFor(ctx, 10*time.Second, "the master's sshd on "+addr+" seen from "+l.name, func() bool {
			return lab.BannerIn(l.ns, addr)
		}); err != nil {
			return err
		}
		s := c.Slave(l.name)
		kh := filepath.Join(s.Dir, "known_hosts.lan")
		if err := c.WriteKnownHosts(kh, addr); err != nil {
			return err
		}
		conf := filepath.Join(s.Dir, "upsslave-lan.conf")
		if err := c.WriteSlaveConf(s, conf, addr, kh); err != nil {
			return err
		}
		r.lanConf[l.name] = conf
		if err := r.heartbeat(ctx, l); err != nil {
			return err
		}
		if seen, ok := seenHas(c.SSH.AckDir, l.name, "mac="+l.mac, "addr="+l.slaveIP); !ok {
			return fmt.Errorf("%w: %s's heartbeat does not report its link (mac %s, addr %s):\n%s", e2e.ErrUnexpected, l.name, l.mac, l.slaveIP, seen)
		}
		d.logf("%s's heartbeat timer ran upsslave heartbeat over its link: the master knows its MAC %s", l.name, l.mac)
	}
	for _, l := range n.links {
		w, err := startWakeListener(l, bootTime, func(ctx context.Context) error { return r.heartbeat(ctx, l) },
			func(text string) { c.NoteAs(l.name, text) })
		if err != nil {
			return err
		}
		r.listeners = append(r.listeners, w)
	}
	d.logf("each slave's wake listener (its network card) waits on UDP port 9 in its namespace")
	return nil
}

// heartbeat runs the slave's heartbeat in its namespace over its link,
// as the packaged timer does (user nut), and waits until seen.<name> is
// new.
func (r *returnPlay) heartbeat(ctx context.Context, l *slaveLink) error {
	s := r.c.Slave(l.name)
	seen := filepath.Join(r.c.SSH.AckDir, "seen."+l.name)
	before, _ := os.ReadFile(seen)
	argv := heartbeatCmd(l.ns, r.slaveUser, r.c.Opts.Bin.Upsslave, r.lanConf[l.name])
	err := runHeartbeat(ctx, argv, filepath.Join(s.Dir, "heartbeat.out"))
	if now, _ := os.ReadFile(seen); len(now) == 0 || string(now) == string(before) {
		return fmt.Errorf("%w: %s's heartbeat wrote no new seen.%s (%v); see %s", e2e.ErrUnexpected, l.name, l.name, err,
			filepath.Join(s.Dir, "heartbeat.out"))
	}
	return nil // problems its check reported are in seen.<name> and the log
}

// play is the return, after every upsmon ran its SHUTDOWNCMD.
func (r *returnPlay) play(ctx context.Context) error {
	c, n, d := r.c, r.n, r.d
	m := c.Master.(*e2e.UpsflagsMaster)

	// The master's halt: its programs stop (upsmon has exited already).
	// upsflags armed the UPS before its SHUTDOWNCMD; at the end of the
	// halt Debian's hook runs upsdrvctl shutdown.
	if err := m.Stop(); err != nil {
		return err
	}
	killpower := filepath.Join(c.Primary.Dir, "killpower")
	if b, err := os.ReadFile(killpower); err != nil || !strings.Contains(string(b), "upsmon-shutdown-file") {
		return fmt.Errorf("%w: the UPS is not armed: POWERDOWNFLAG %s holds %q (%v)", e2e.ErrUnexpected, killpower, b, err)
	}
	if b, _ := os.ReadFile(m.LogFile()); !strings.Contains(string(b), "armed the UPS: wrote POWERDOWNFLAG") {
		return fmt.Errorf("%w: the master's log does not say it armed the UPS", e2e.ErrUnexpected)
	}
	if !e2e.UpsmonK(c.Primary.Dir) {
		return fmt.Errorf("%w: upsmon -K is false: NUT's hook would not cut the power", e2e.ErrUnexpected)
	}
	d.logf("the master's halt ends: Debian's nutshutdown hook (upsmon -K, then upsdrvctl shutdown, a recorder)")
	calls, err := e2e.RunHaltHook(c.Primary.Dir, filepath.Join(c.Opts.Dir, "master", "halt-hook"))
	if err != nil {
		return err
	}
	if calls != "upsdrvctl shutdown\n" {
		return fmt.Errorf("%w: the UPS is not armed: the halt hook ran %q, want one upsdrvctl shutdown", e2e.ErrUnexpected, calls)
	}
	c.NoteAs("master", "halt hook nutshutdown: upsmon -K true, ran upsdrvctl shutdown (recorded): the UPS is told to cut its load and restore it with the mains")
	// The master is off: no upsd reads the UPS until it boots.
	c.NoteAs("ups", "OFF: cuts its load (after its delay)")
	d.logf("the UPS cuts its load: every host is off")
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	c.NoteAs("ups", "mains back: restores its load, the master powers on")
	d.logf("mains back: the UPS restores its load and the master boots")

	// The master's boot: upsflags-reset.service, NUT (a fresh upsd: the
	// last halt's FSD is gone), then its timer's runs (upsflags watch
	// here), in its namespace where its links are. upsd stays on the root
	// namespace's loopback: a relay of this program serves it at the same
	// address inside, so upsflags.conf is unchanged.
	if r.relay, err = startRelay(n.master, c.NUT.Addr, c.NUT.Addr); err != nil {
		return err
	}
	c.NoteAs("master", "boots: upsflags reset (upsflags-reset.service), NUT, then upsflags watch (its timer), in its namespace")
	out, err := m.Boot(lab.NetnsExec(n.master), func() error {
		if err := c.NUT.RestartUPSD(); err != nil {
			return err
		}
		return c.Set(map[string]string{"ups.status": "OL CHRG", "battery.charge": "10"})
	})
	if err != nil {
		return err
	}
	if s := strings.TrimSpace(out); s != "" {
		d.logf("upsflags reset: %s", strings.ReplaceAll(s, "\n", "; "))
	}
	if _, err := os.Stat(killpower); err == nil {
		return fmt.Errorf("%w: POWERDOWNFLAG %s is still there after upsflags reset: the next halt would cut the power", e2e.ErrUnexpected, killpower)
	}
	d.logf("the master is up: upsflags reset removed POWERDOWNFLAG; upsflags watch runs; RESTORE_MINCHARGE %d (default)", restoreMinCharge)

	// The battery charges; no wake-up below RESTORE_MINCHARGE.
	if err := c.Set(map[string]string{"battery.charge": "20"}); err != nil {
		return err
	}
	d.logf("battery.charge 20")
	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	for _, w := range r.listeners {
		if p, _, _ := w.state(); len(p) > 0 {
			return fmt.Errorf("%w: %s got a packet at charge 20, below RESTORE_MINCHARGE %d", e2e.ErrUnexpected, w.link.name, restoreMinCharge)
		}
	}
	if err := c.Set(map[string]string{"battery.charge": "40"}); err != nil {
		return err
	}
	d.logf("battery.charge 40: at least RESTORE_MINCHARGE, the master wakes the slaves")

	// Every slave woken and back.
	if err := e2e.WaitFor(ctx, 10*time.Second, "a magic packet at every slave", func() bool {
		for _, w := range r.listeners {
			if !w.woken() {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	d.logf("every slave got its magic packet and boots")
	if err := e2e.WaitFor(ctx, bootTime+25*time.Second, "every slave back (its heartbeat after the boot)", func() bool {
		for _, w := range r.listeners {
			if _, at, _ := w.state(); at.IsZero() {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	for _, w := range r.listeners {
		if _, _, err := w.state(); err != nil {
			return fmt.Errorf("%w: %s did not come back: %v", e2e.ErrUnexpected, w.link.name, err)
		}
	}
	if err := e2e.WaitFor(ctx, 10*time.Second, "the master to see every slave back", func() bool {
		b, _ := os.ReadFile(m.LogFile())
		return strings.Contains(string(b), "every slave of the last outage is back")
	}); err != nil {
		return err
	}
	d.logf("the master saw every slave back; wake-ups end")

	// The roster, as the administrator sees it.
	upsflags := func(args ...string) ([]byte, error) {
		argv := append(lab.NetnsExec(n.master), append([]string{c.Opts.Bin.Upsflags, "--config", m.ConfFile()}, args...)...)
		return exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
	}
	text, err := upsflags("status")
	if err != nil {
		return fmt.Errorf("upsflags status: %w", err)
	}
	d.status = string(text)
	doc, err := upsflags("status", "--json")
	if err != nil {
		return fmt.Errorf("upsflags status --json: %w", err)
	}
	if err := checkReturn(doc, slaves); err != nil {
		return fmt.Errorf("%w: the roster after the return: %v", e2e.ErrUnexpected, err)
	}
	for _, w := range r.listeners {
		if p, _, _ := w.state(); len(p) != 1 {
			return fmt.Errorf("%w: %s received %d packets, want 1 magic packet", e2e.ErrUnexpected, w.link.name, len(p))
		}
	}
	d.logf("upsflags status: every slave acknowledged, was woken and is back")
	return nil
}

// woken reports whether the listener got a magic packet for its MAC.
func (w *wakeListener) woken() bool { return !w.firstMagic().IsZero() }

// firstMagic is when the listener got its first magic packet for its
// MAC (zero: not yet).
func (w *wakeListener) firstMagic() time.Time {
	p, _, _ := w.state()
	for _, x := range p {
		if x.mac == w.link.mac {
			return x.at
		}
	}
	return time.Time{}
}

// printReturn writes one line per slave: its magic packets and when it
// was back, relative to t0.
func (r *returnPlay) printReturn(out io.Writer, t0 time.Time) {
	if r == nil || len(r.listeners) == 0 {
		return
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%s (%+.2fs)", t.Format("15:04:05.000"), t.Sub(t0).Seconds())
	}
	fmt.Fprintf(out, "%-10s %-19s %-28s %-28s %s\n", "host", "MAC", "magic packet received", "back (heartbeat done)", "packets")
	for _, w := range r.listeners {
		p, back, _ := w.state()
		fmt.Fprintf(out, "%-10s %-19s %-28s %-28s %d\n", w.link.name, w.link.mac, at(w.firstMagic()), at(back), len(p))
	}
}

// close stops the listeners and the relay. A nil returnPlay is closed.
func (r *returnPlay) close() {
	if r == nil {
		return
	}
	for _, w := range r.listeners {
		w.close()
	}
	r.relay.close()
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
