// Package notify holds upsslave's vocabulary of upsmon events and its
// decisions, as pure functions of (event, persisted state, flags seen). It
// performs no I/O; cmd/upsslave applies the plans it returns.
package notify

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// An Event is the NOTIFYTYPE string upsmon sets for NOTIFYCMD.
type Event string

// Every NOTIFYTYPE NUT has defined, 2.6.5 through 2.8.6-dev
// (networkupstools/nut clients/upsmon.h). The set keeps growing: an event
// not listed here is logged and ignored, never fatal.
const (
	Online           Event = "ONLINE"
	OnBatt           Event = "ONBATT"
	LowBatt          Event = "LOWBATT"
	FSD              Event = "FSD"
	CommOK           Event = "COMMOK"
	CommBad          Event = "COMMBAD"
	Shutdown         Event = "SHUTDOWN"
	ReplBatt         Event = "REPLBATT"
	NoComm           Event = "NOCOMM"
	NoParent         Event = "NOPARENT"
	Cal              Event = "CAL"
	NotCal           Event = "NOTCAL"
	Off              Event = "OFF"
	NotOff           Event = "NOTOFF"
	Bypass           Event = "BYPASS"
	NotBypass        Event = "NOTBYPASS"
	Eco              Event = "ECO"
	NotEco           Event = "NOTECO"
	Alarm            Event = "ALARM"
	NotAlarm         Event = "NOTALARM"
	Over             Event = "OVER"
	NotOver          Event = "NOTOVER"
	Trim             Event = "TRIM"
	NotTrim          Event = "NOTTRIM"
	Boost            Event = "BOOST"
	NotBoost         Event = "NOTBOOST"
	Other            Event = "OTHER"
	NotOther         Event = "NOTOTHER"
	SuspendStarting  Event = "SUSPEND_STARTING"
	SuspendFinished  Event = "SUSPEND_FINISHED"
	ShutdownHostSync Event = "SHUTDOWN_HOSTSYNC"
	SuspendTimeJump  Event = "SUSPEND_TIMEJUMP_UNEXPECTED"
)

// Events lists every known NOTIFYTYPE, in upsmon.h order.
var Events = []Event{
	Online, OnBatt, LowBatt, FSD, CommOK, CommBad, Shutdown, ReplBatt, NoComm, NoParent,
	Cal, NotCal, Off, NotOff, Bypass, NotBypass, Eco, NotEco, Alarm, NotAlarm,
	Over, NotOver, Trim, NotTrim, Boost, NotBoost, Other, NotOther,
	SuspendStarting, SuspendFinished, ShutdownHostSync, SuspendTimeJump,
}

// ErrUnknownEvent means a NOTIFYTYPE this version does not know. Callers
// log it and exit 0.
var ErrUnknownEvent = errors.New("unknown NOTIFYTYPE")

// ParseEvent normalises a NOTIFYTYPE value. Unknown but well-formed names
// are returned with [ErrUnknownEvent]; so is an empty or malformed value,
// as the empty Event.
func ParseEvent(s string) (Event, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrUnknownEvent)
	}
	if len(s) > 64 || strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_')
	}) >= 0 {
		return "", fmt.Errorf("%w: %q", ErrUnknownEvent, s)
	}
	ev := Event(strings.ToUpper(s))
	if !ev.Known() {
		return ev, fmt.Errorf("%w: %s", ErrUnknownEvent, ev)
	}
	return ev, nil
}

// attention are the events that need nothing from nutslave but want a
// person's attention: the UPS is not protecting, or not as it should.
var attention = map[Event]bool{
	ReplBatt: true, NoComm: true, CommBad: true, Off: true, Bypass: true,
	Alarm: true, Over: true, Other: true, SuspendTimeJump: true,
}

// Level is how loudly an event is logged when it changes nothing by
// itself: warning when the UPS is not protecting as it should (bypass,
// overload, alarms, a battery to replace, no contact, administratively
// off, an unclassified status, a clock jump), info for the rest (and for
// their NOT… counterparts, calibration, ECO, TRIM/BOOST, suspend).
// OnEvent decides the events that do change something.
func (ev Event) Level() slog.Level {
	if attention[ev] {
		return LevelWarning
	}
	return LevelInfo
}

// Known reports whether ev is one of [Events].
func (ev Event) Known() bool {
	for _, k := range Events {
		if k == ev {
			return true
		}
	}
	return false
}
