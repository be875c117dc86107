package flagger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nutslave/nutslave/internal/master"
	"github.com/nutslave/nutslave/internal/statefile"
)

// wolPort is the UDP port magic packets go to (the "discard" port, as
// etherwake and wakeonlan use).
const wolPort = 9

// wakeBackoff is the pause after the first magic packet to a slave; each
// next one doubles (master.Wake).
const wakeBackoff = 30 * time.Second

// outageFile keeps the last outage across the master's reboot: who
// acknowledged, and who is back (master.Outage). Reset leaves it.
func outageFile(cfg *Config) string { return filepath.Join(cfg.StateDir, "upsflags.outage") }

func loadOutage(cfg *Config) (master.Outage, bool) {
	var o master.Outage
	found, err := statefile.Load(outageFile(cfg), &o)
	return o, found && err == nil
}

func saveOutage(cfg *Config, o master.Outage) error { return statefile.Save(outageFile(cfg), o) }

// recordOutage writes who acknowledged this outage, just before the
// master's own shutdown: after its reboot the master wakes them.
func (f *Flagger) recordOutage(st master.State, t master.Tally) {
	o := master.Outage{SDFAt: st.SDFAt, Slaves: map[string]*master.Return{}}
	for _, a := range t.Acked {
		if a.Slave != "" {
			o.Slaves[a.Slave] = &master.Return{AckedAt: a.At}
		}
	}
	if err := saveOutage(f.cfg, o); err != nil {
		f.log.Error("cannot record the outage; the slaves will not be woken after it", "err", err)
	}
}

// wakeAfterOutage is each ordinary run's part in the return of the power:
// master.Wake decides, this sends the magic packets and keeps the record.
func (f *Flagger) wakeAfterOutage(ctx context.Context, r master.Reading, now time.Time) {
	if f.cfg.WakeFor <= 0 {
		return // WAKE_FOR=0: no automatic wake-ups
	}
	o, ok := loadOutage(f.cfg)
	if !ok || o.Done {
		return
	}
	hbs, err := readHeartbeats(ctx, f.cfg)
	if err != nil {
		f.log.Error("cannot read the heartbeats to see who is back", "err", err)
		return
	}
	before, _ := json.Marshal(o)
	wasBack := map[string]bool{}
	for n, rt := range o.Slaves {
		wasBack[n] = !rt.BackAt.IsZero()
	}
	o, due, notes := master.Wake(o, hbs, r, now, f.wakeConfig())
	// A run every few seconds: say what holds the wake-ups back once,
	// not at every run.
	if !slices.Equal(notes, o.Said) {
		for _, n := range notes {
			f.log.Warn(n)
		}
		o.Said = notes
	}
	for _, w := range due {
		iface, err := sendWake(w.MAC, w.Addr)
		rt := o.Slaves[w.Name]
		if err != nil {
			f.log.Error("could not wake a slave", "slave", w.Name, "mac", w.MAC, "addr", w.Addr, "try", rt.Tries, "err", err)
			continue
		}
		f.log.Warn("woke a slave (Wake-on-LAN)", "slave", w.Name, "mac", w.MAC, "iface", iface, "try", rt.Tries)
	}
	for n, rt := range o.Slaves {
		if !wasBack[n] && !rt.BackAt.IsZero() {
			f.log.Info("slave back after the outage", "slave", n, "at", rt.BackAt.Format(time.RFC3339))
		}
	}
	if o.Done {
		f.log.Info("every slave of the last outage is back or given up; wake-ups end")
	}
	if after, _ := json.Marshal(o); !bytes.Equal(before, after) {
		if err := saveOutage(f.cfg, o); err != nil {
			f.log.Error("cannot save the wake-ups", "err", err)
		}
	}
}

func (f *Flagger) wakeConfig() master.WakeConfig {
	return master.WakeConfig{MinCharge: f.cfg.RestoreMinCharge, For: f.cfg.WakeFor, Backoff: wakeBackoff}
}

// errNoLink means no interface of this host is on the slave's network:
// magic packets are never routed.
var errNoLink = errors.New("no interface of this master is on the slave's network (magic packets are never routed)")

// sendWake broadcasts a magic packet for mac on the link towards addr: the
// interface whose IPv4 network holds addr, to that network's broadcast
// address, bound to the interface so the packet cannot leave by another
// one. It returns the interface used.
func sendWake(mac net.HardwareAddr, addr net.IP) (string, error) {
	ifc, bcast, err := linkTowards(addr)
	if err != nil {
		return "", err
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1); serr != nil {
				return
			}
			serr = syscall.BindToDevice(int(fd), ifc)
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", ":0")
	if err != nil {
		return ifc, fmt.Errorf("socket on %s: %w", ifc, err)
	}
	defer pc.Close()
	if _, err := pc.WriteTo(master.MagicPacket(mac), &net.UDPAddr{IP: bcast, Port: wolPort}); err != nil {
		return ifc, fmt.Errorf("send on %s to %s: %w", ifc, bcast, err)
	}
	return ifc, nil
}

// linkTowards finds the interface whose IPv4 network holds addr, and that
// network's broadcast address.
func linkTowards(addr net.IP) (string, net.IP, error) {
	ip := addr.To4()
	if ip == nil {
		return "", nil, fmt.Errorf("%v is not an IPv4 address", addr)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", nil, err
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.To4() == nil || !n.Contains(ip) {
				continue
			}
			b := make(net.IP, 4)
			for i := range b {
				b[i] = n.IP.To4()[i] | ^n.Mask[len(n.Mask)-4+i]
			}
			return ifc.Name, b, nil
		}
	}
	return "", nil, fmt.Errorf("%v: %w", ip, errNoLink)
}

// Wake is `upsflags wake NAME…|--all`: a magic packet to each slave named
// (every slave of SLAVES and STAGES with --all), to the MAC address and
// link its last heartbeat reported. It says what it did for each; a slave
// it could not wake makes it fail.
func Wake(ctx context.Context, cfg *Config, names []string, all bool, w io.Writer) error {
	if all {
		names = cfg.roster()
	}
	if len(names) == 0 {
		return errors.New("no slave to wake: name them, or --all with SLAVES set")
	}
	hbs, err := readHeartbeats(ctx, cfg)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	last := map[string]master.Heartbeat{}
	for _, h := range hbs {
		last[h.Name] = h
	}
	var failed []string
	for _, n := range names {
		h, ok := last[n]
		switch {
		case !ok:
			fmt.Fprintf(w, "%s: never sent a heartbeat (seen.%s): its MAC address is unknown; run \"upsslave heartbeat\" on it once\n", n, n)
			failed = append(failed, n)
		case h.MAC == nil || h.Addr == nil:
			fmt.Fprintf(w, "%s: its heartbeat names no MAC address (it reaches this master over loopback, a tunnel, or runs an older upsslave)\n", n)
			failed = append(failed, n)
		default:
			ifc, err := sendWake(h.MAC, h.Addr)
			if err != nil {
				fmt.Fprintf(w, "%s: %v\n", n, err)
				failed = append(failed, n)
				continue
			}
			fmt.Fprintf(w, "%s: magic packet for %s sent on %s (towards %s)\n", n, h.MAC, ifc, h.Addr)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("could not wake %s", strings.Join(failed, " "))
	}
	return nil
}
