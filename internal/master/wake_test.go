package master

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"
)

// TestWake plays the return of the power, one run at a time, on explicit
// times: who is woken, when, and when the wake-ups stop.
func TestWake(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC) // the outage's sdf
	mac, _ := net.ParseMAC("02:00:5e:10:00:01")
	ip := net.ParseIP("198.18.0.2").To4()
	hb := func(name string, at time.Time, withMAC bool) Heartbeat {
		h := Heartbeat{Name: name, At: at}
		if withMAC {
			h.MAC, h.Addr = mac, ip
		}
		return h
	}
	ol := func(charge float64) Reading {
		return Reading{Status: []string{"OL"}, Charge: charge, HasCharge: true}
	}
	cfg := WakeConfig{MinCharge: 30, For: time.Hour, Backoff: 30 * time.Second}
	type run struct {
		at      time.Duration // after t0
		reading Reading
		hbs     []Heartbeat
		wake    string // names woken, space-separated
		note    string // part of a note, if any
	}
	before := t0.Add(-time.Hour)
	for _, tc := range []struct {
		name string
		runs []run
		done bool
	}{
		{"normal wake, then seen", []run{
			{at: time.Hour, reading: ol(80), hbs: []Heartbeat{hb("web1", before, true)}, wake: "web1"},
			{at: time.Hour + 10*time.Second, reading: ol(80), hbs: []Heartbeat{hb("web1", before, true)}, wake: ""},
			{at: time.Hour + 31*time.Second, reading: ol(80), hbs: []Heartbeat{hb("web1", before, true)}, wake: "web1"},
			{at: time.Hour + 80*time.Second, reading: ol(80), hbs: []Heartbeat{hb("web1", before, true)}, wake: ""}, // 2nd pause is 1 m
			{at: time.Hour + 92*time.Second, reading: ol(80), hbs: []Heartbeat{hb("web1", before, true)}, wake: "web1"},
			{at: time.Hour + 2*time.Minute, reading: ol(80), hbs: []Heartbeat{hb("web1", t0.Add(time.Hour+100*time.Second), true)}, wake: ""},
		}, true},
		{"a run a moment before the pause ends sends", []run{
			{at: time.Hour, reading: ol(80), hbs: []Heartbeat{hb("web1", before, true)}, wake: "web1"},
			{at: time.Hour + 28*time.Second, reading: ol(80), hbs: []Heartbeat{hb("web1", before, true)}, wake: ""},
			{at: time.Hour + 29*time.Second + 995*time.Millisecond, reading: ol(80), hbs: []Heartbeat{hb("web1", before, true)}, wake: "web1"},
		}, false},
		{"back before any wake-up: no packet", []run{
			{at: time.Hour, reading: ol(80), hbs: []Heartbeat{hb("web1", t0.Add(50*time.Minute), true)}, wake: ""},
		}, true},
		{"charge below RESTORE_MINCHARGE: nothing until it rises", []run{
			{at: time.Hour, reading: ol(12), hbs: []Heartbeat{hb("web1", before, true)}, wake: "", note: "below RESTORE_MINCHARGE"},
			{at: 2 * time.Hour, reading: ol(29), hbs: []Heartbeat{hb("web1", before, true)}, wake: ""},
			{at: 3 * time.Hour, reading: ol(31), hbs: []Heartbeat{hb("web1", before, true)}, wake: "web1"},
		}, false},
		{"still on battery: nothing", []run{
			{at: time.Hour, reading: Reading{Status: []string{"OB"}, Charge: 90, HasCharge: true}, hbs: []Heartbeat{hb("web1", before, true)}, wake: ""},
		}, false},
		{"unknown MAC: said, not woken", []run{
			{at: time.Hour, reading: ol(80), hbs: []Heartbeat{hb("web1", before, false)}, wake: "", note: "slave web1: no MAC address known"},
		}, false},
		{"WAKE_FOR passes: give up", []run{
			{at: time.Hour, reading: ol(80), hbs: []Heartbeat{hb("web1", before, true)}, wake: "web1"},
			{at: 2*time.Hour + time.Second, reading: ol(80), hbs: []Heartbeat{hb("web1", before, true)}, wake: "", note: "giving up"},
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Outage{SDFAt: t0, Slaves: map[string]*Return{"web1": {AckedAt: t0.Add(time.Second)}}}
			for i, r := range tc.runs {
				var due []Wakeup
				var notes []string
				o, due, notes = Wake(o, r.hbs, r.reading, t0.Add(r.at), cfg)
				var got []string
				for _, d := range due {
					got = append(got, d.Name)
					if d.MAC.String() != mac.String() || !d.Addr.Equal(ip) {
						t.Errorf("run %d: wake-up of %s to %v %v, want the heartbeat's MAC and address", i, d.Name, d.MAC, d.Addr)
					}
				}
				if g := strings.Join(got, " "); g != r.wake {
					t.Errorf("run %d (+%v): woken %q, want %q", i, r.at, g, r.wake)
				}
				if r.note != "" && !strings.Contains(strings.Join(notes, "\n"), r.note) {
					t.Errorf("run %d: notes %q lack %q", i, notes, r.note)
				}
			}
			if o.Done != tc.done {
				t.Errorf("done = %v, want %v", o.Done, tc.done)
			}
		})
	}
}

func TestMagicPacket(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:5e:10:00:01")
	p := MagicPacket(mac)
	if len(p) != 102 {
		t.Fatalf("len = %d, want 6 + 16×6 = 102", len(p))
	}
	if !bytes.Equal(p[:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) {
		t.Errorf("header = % x, want six ff", p[:6])
	}
	for i := range 16 {
		if !bytes.Equal(p[6+6*i:12+6*i], mac) {
			t.Fatalf("copy %d = % x, want the MAC", i, p[6+6*i:12+6*i])
		}
	}
}

func TestMagicMAC(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	got, ok := MagicMAC(MagicPacket(mac))
	if !ok || got.String() != "02:42:ac:11:00:02" {
		t.Errorf("MagicMAC(a magic packet) = %v, %v", got, ok)
	}
	// A SecureOn password after the sixteen copies is ignored, as a card does.
	if got, ok := MagicMAC(append(MagicPacket(mac), 1, 2, 3, 4, 5, 6)); !ok || !bytes.Equal(got, mac) {
		t.Errorf("MagicMAC(with a password) = %v, %v", got, ok)
	}
	bad := MagicPacket(mac)
	bad[6+6*9] ^= 1 // the tenth copy differs
	short := MagicPacket(mac)[:6+15*6]
	noSync := MagicPacket(mac)
	noSync[0] = 0
	for name, p := range map[string][]byte{"a copy differs": bad, "15 copies": short, "no sync": noSync, "empty": nil} {
		if got, ok := MagicMAC(p); ok {
			t.Errorf("MagicMAC(%s) = %v, true; want not a magic packet", name, got)
		}
	}
}
