package master

import (
	"fmt"
	"net"
	"strings"
	"time"
	"unicode"

	"github.com/nutslave/nutslave/flags"
)

// maxShown caps a slave-supplied text before it is displayed.
const maxShown = 300

// Heartbeat is a slave's readiness report, seen.<name> in ACKDIR, as
// read. It is written by the slave's account, so it is shown to people and
// never trusted beyond that: fields are cleaned of control characters and
// capped in length.
type Heartbeat struct {
	Name string
	// At is the report's time= field, or the file's modification time
	// when time= is missing, unparsable or in the future.
	At        time.Time
	FromMtime bool
	// Result is "ok" or "problem" as the slave said; Problems its
	// "error: …; warning: …" list.
	Result, Problems string
	Version, Host    string
	// MAC, Iface and Addr are the link the slave reaches the master
	// through (its hardware address, interface name and IP address), for
	// Wake-on-LAN; MAC is nil when the slave did not say or said nonsense.
	MAC   net.HardwareAddr
	Iface string
	Addr  net.IP
}

// ParseHeartbeat reads the body of seen.<name> (at most [flags.MaxBody]
// bytes are looked at) with its modification time, at time now.
func ParseHeartbeat(name string, body []byte, mtime, now time.Time) Heartbeat {
	fields, _ := flags.Parse(body)
	h := Heartbeat{
		Name:     name,
		Result:   Clean(fields["result"], 16),
		Problems: Clean(fields["problems"], maxShown),
		Version:  Clean(fields["version"], 64),
		Host:     Clean(fields["host"], 64),
		Iface:    Clean(fields["iface"], 16),
	}
	if mac, err := net.ParseMAC(strings.TrimSpace(fields["mac"])); err == nil && len(mac) == 6 {
		h.MAC = mac
	}
	if a := net.ParseIP(strings.TrimSpace(fields["addr"])); a != nil && a.To4() != nil {
		h.Addr = a.To4()
	}
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(fields["time"])); err == nil && !t.After(now.Add(time.Minute)) {
		h.At = t
	} else {
		h.At, h.FromMtime = mtime, true
	}
	return h
}

// Clean makes a slave-supplied string safe to display: control and other
// non-printing characters become spaces, and it is cut to at most n runes.
func Clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

// Readiness is what the master knows about one slave between outages.
type Readiness struct {
	Name string
	// Listed: the slave is in SLAVES or STAGES.
	Listed bool
	// Seen: a seen.<name> exists; then Heartbeat and Age are set.
	Seen      bool
	Heartbeat Heartbeat
	Age       time.Duration
	// Stale: listed, and never seen or not seen for STALE.
	Stale bool
}

// Problem reports whether the slave's last report says something is wrong.
func (r Readiness) Problem() bool {
	return r.Seen && r.Heartbeat.Result != "" && r.Heartbeat.Result != "ok"
}

// Describe says in a few words what is known: "never seen", "last seen
// 12m0s ago", "seen 5s ago, reported: error: …".
func (r Readiness) Describe() string {
	if !r.Seen {
		return "never seen (no seen." + r.Name + ": is its heartbeat timer running?)"
	}
	s := "seen " + Ago(r.Age)
	if r.Stale {
		s = "last seen " + Ago(r.Age)
	}
	if r.Problem() {
		p := r.Heartbeat.Problems
		if p == "" {
			p = "result=" + r.Heartbeat.Result
		}
		s += ", reported: " + p
	}
	return s
}

// Ago renders an age for people: "12s ago", "12m ago", "3h5m ago".
func Ago(d time.Duration) string {
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// Ready lists every known slave, the roster's first (in its order), then
// slaves only known from a heartbeat (by name), with their last report
// and whether a listed one is stale (never seen, or not for stale).
func Ready(roster []string, hbs []Heartbeat, now time.Time, stale time.Duration) []Readiness {
	by := map[string]Heartbeat{}
	for _, h := range hbs {
		by[h.Name] = h
	}
	var out []Readiness
	add := func(name string, listed bool) {
		r := Readiness{Name: name, Listed: listed}
		if h, ok := by[name]; ok {
			r.Seen, r.Heartbeat, r.Age = true, h, now.Sub(h.At)
		}
		r.Stale = listed && (!r.Seen || r.Age > stale)
		out = append(out, r)
	}
	listed := map[string]bool{}
	for _, n := range roster {
		listed[n] = true
		add(n, true)
	}
	for _, n := range sortedNames(by, listed) {
		add(n, false)
	}
	return out
}
