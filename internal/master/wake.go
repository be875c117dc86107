package master

import (
	"bytes"
	"fmt"
	"net"
	"time"
)

// Outage is what the master keeps of the last outage across its own
// reboot (STATEDIR/upsflags.outage): which slaves acknowledged it, and how
// each is coming back once the power has returned.
type Outage struct {
	// SDFAt is the outage's sdf: a heartbeat after it means the slave is
	// back.
	SDFAt time.Time `json:"sdf_at"`
	// Slaves are those that acknowledged, by NAME.
	Slaves map[string]*Return `json:"slaves"`
	// Done: every slave is back, or the wake-ups gave up.
	Done bool `json:"done,omitempty"`
	// Said are the notes last logged (why nobody is woken yet), so that a
	// run every few seconds says them once.
	Said []string `json:"said,omitempty"`
}

// Return is one slave's way back after an outage.
type Return struct {
	AckedAt time.Time `json:"acked_at"`
	// FirstWake and WokenAt are the first and the last magic packet sent;
	// Tries counts them.
	FirstWake time.Time `json:"first_wake,omitzero"`
	WokenAt   time.Time `json:"woken_at,omitzero"`
	Tries     int       `json:"tries,omitempty"`
	// BackAt is the time of its first heartbeat after the outage.
	BackAt time.Time `json:"back_at,omitzero"`
	// GaveUp: WAKE_FOR passed without a heartbeat.
	GaveUp bool `json:"gave_up,omitempty"`
}

// WakeConfig holds the settings of the wake-ups.
type WakeConfig struct {
	// MinCharge (RESTORE_MINCHARGE): no wake-up below this charge, so
	// that a second outage finds the battery able to carry the hosts
	// down again.
	MinCharge float64
	// For (WAKE_FOR): how long after the first packet to keep trying.
	For time.Duration
	// Backoff is the pause after the first packet; each next one doubles,
	// up to 16 times it.
	Backoff time.Duration
}

// Wakeup is a slave to wake now: where its last heartbeat says it is.
type Wakeup struct {
	Name string
	MAC  net.HardwareAddr
	Addr net.IP
}

// Wake decides one run's wake-ups after an outage: the power is back on
// line with at least MinCharge, and a slave that acknowledged the outage
// has sent no heartbeat since. A slave is sent packets with back-off until
// it is seen or For has passed since the first. It returns the updated
// outage, the slaves to wake now, and notes for the log (a slave with no
// known MAC, why nobody is woken yet). Pure: the caller sends.
func Wake(o Outage, hbs []Heartbeat, r Reading, now time.Time, c WakeConfig) (Outage, []Wakeup, []string) {
	if o.Done || len(o.Slaves) == 0 {
		return o, nil, nil
	}
	last := map[string]Heartbeat{}
	for _, h := range hbs {
		last[h.Name] = h
	}
	names := sortedNames(o.Slaves, nil)
	pending := 0
	for _, n := range names {
		rt := o.Slaves[n]
		if h, ok := last[n]; ok && rt.BackAt.IsZero() && h.At.After(o.SDFAt) {
			rt.BackAt = h.At
		}
		if rt.BackAt.IsZero() && !rt.GaveUp {
			pending++
		}
	}
	if pending == 0 {
		o.Done = true
		return o, nil, nil
	}
	switch {
	case !r.OK():
		return o, nil, []string{"no reading of the UPS; wake-ups wait for line power"}
	case r.Power() != PowerOnLine:
		return o, nil, nil
	case r.HasCharge && r.Charge < c.MinCharge:
		return o, nil, []string{fmt.Sprintf("charge %v%% below RESTORE_MINCHARGE %v%%: wake-ups wait", r.Charge, c.MinCharge)}
	}
	var due []Wakeup
	var notes []string
	for _, n := range names {
		rt := o.Slaves[n]
		if !rt.BackAt.IsZero() || rt.GaveUp {
			continue
		}
		if !rt.FirstWake.IsZero() && now.Sub(rt.FirstWake) >= c.For {
			rt.GaveUp = true
			notes = append(notes, fmt.Sprintf("slave %s: no heartbeat %v after the first wake-up (WAKE_FOR); giving up", n, c.For))
			continue
		}
		h := last[n]
		if h.MAC == nil || h.Addr == nil {
			notes = append(notes, fmt.Sprintf("slave %s: no MAC address known (its heartbeat names none); cannot wake it", n))
			continue
		}
		if !rt.WokenAt.IsZero() && now.Sub(rt.WokenAt) < backoff(c.Backoff, rt.Tries)-wakeSlack {
			continue
		}
		if rt.FirstWake.IsZero() {
			rt.FirstWake = now
		}
		rt.WokenAt = now
		rt.Tries++
		due = append(due, Wakeup{Name: n, MAC: h.MAC, Addr: h.Addr})
	}
	o.Done = true
	for _, rt := range o.Slaves {
		o.Done = o.Done && (!rt.BackAt.IsZero() || rt.GaveUp)
	}
	return o, due, notes
}

// wakeSlack lets a run a moment before the end of a pause send the next
// packet: runs come on a timer, and one a few milliseconds early would
// otherwise put the packet off by a whole period.
const wakeSlack = time.Second

// backoff is the pause after the tries-th packet: base, doubling, at most
// 16 times base.
func backoff(base time.Duration, tries int) time.Duration {
	d := base
	for i := 1; i < tries && d < 16*base; i++ {
		d *= 2
	}
	return d
}

// MagicPacket is Wake-on-LAN's payload for mac: six 0xff bytes, then the
// MAC sixteen times.
func MagicPacket(mac net.HardwareAddr) []byte {
	p := bytes.Repeat([]byte{0xff}, 6)
	for range 16 {
		p = append(p, mac...)
	}
	return p
}

// MagicMAC returns the MAC a magic packet wakes, as a network card reads
// it: six 0xff bytes, then sixteen equal copies of a 6-byte MAC; what
// follows (a SecureOn password) is ignored. ok is false for anything else.
func MagicMAC(p []byte) (mac net.HardwareAddr, ok bool) {
	if len(p) < 6+16*6 || !bytes.Equal(p[:6], bytes.Repeat([]byte{0xff}, 6)) {
		return nil, false
	}
	m := p[6:12]
	for i := 1; i < 16; i++ {
		if !bytes.Equal(p[6+6*i:12+6*i], m) {
			return nil, false
		}
	}
	return net.HardwareAddr(bytes.Clone(m)), true
}
