// Package gadget emulates USB UPSes on a real kernel USB stack: on Linux it
// is the user-space half of a FunctionFS gadget function (usb_f_fs), so a
// host-side driver — NUT's usbhid-ups or nutdrv_qx, or usbtool itself —
// talks to it through the kernel's USB core as it would to a real UPS
// (with dummy_hcd connecting gadget and host inside one machine).
//
// Two kinds of device are emulated:
//
//   - a HID Power Device ([HID]): any captured report descriptor with its
//     recorded feature and input reports, answering GET_DESCRIPTOR(Report),
//     GET_REPORT and SET_REPORT and pushing input reports on the interrupt
//     IN endpoint;
//   - a Megatec/Q1 unit ([Megatec]): the krauler string-descriptor style of
//     VID:PID 0001:0000 and the cypress SET_REPORT + interrupt IN style.
//
// Both follow a simulated UPS [State] (on line or on battery, charge, low
// battery) that a scenario changes over time, and both record every
// command they receive with a [Recorder]. The request handling is pure Go
// and tested without a kernel; only [Server] needs FunctionFS.
package gadget

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrStall is returned by a [Device] that refuses a control request; the
// server stalls the endpoint.
var ErrStall = errors.New("gadget: stall")

// Device is an emulated USB function.
type Device interface {
	// Interface describes the function's interface and endpoint.
	Interface() Interface
	// Strings returns the function's own string descriptors, numbered by
	// the composite layer after the gadget's (see [StringsBlob]).
	Strings() []string
	// ControlIn answers an IN control request with at most s.Length
	// bytes, or returns [ErrStall].
	ControlIn(s Setup) ([]byte, error)
	// ControlOut takes an OUT control request and its data, or returns
	// [ErrStall]. It returns input reports to send on the interrupt IN
	// endpoint as a result (a cypress reply), if any.
	ControlOut(s Setup, data []byte) ([][]byte, error)
	// Apply makes st the device's state and returns the input reports
	// that announce the change on the interrupt IN endpoint.
	Apply(st State) ([][]byte, error)
}

// State is the simulated condition of the UPS.
type State struct {
	Online     bool    // on line power (false: on battery)
	Charge     float64 // battery charge, percent
	LowBattery bool    // the UPS's own low-battery signal
}

// Initial is the state a device starts in: on line, fully charged.
var Initial = State{Online: true, Charge: 100}

// ParseStep applies one scenario step to st. Steps are "online",
// "onbatt", "charge N" (percent), "charge -N" (falls by N, not below 0),
// "lowbatt on" and "lowbatt off".
func ParseStep(st State, step string) (State, error) {
	f := strings.Fields(step)
	if len(f) == 0 {
		return st, fmt.Errorf("empty scenario step")
	}
	bad := func() (State, error) {
		return st, fmt.Errorf("scenario step %q: want online, onbatt, charge N, charge -N, lowbatt on or lowbatt off", step)
	}
	switch {
	case len(f) == 1 && f[0] == "online":
		st.Online = true
	case len(f) == 1 && f[0] == "onbatt":
		st.Online = false
	case len(f) == 2 && f[0] == "charge":
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return bad()
		}
		if strings.HasPrefix(f[1], "-") || strings.HasPrefix(f[1], "+") {
			v += st.Charge
		}
		st.Charge = min(max(v, 0), 100)
	case len(f) == 2 && f[0] == "lowbatt" && (f[1] == "on" || f[1] == "off"):
		st.LowBattery = f[1] == "on"
	default:
		return bad()
	}
	return st, nil
}
