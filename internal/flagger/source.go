package flagger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/nutslave/nutslave/internal/master"
	"github.com/nutslave/nutslave/nut"
	"github.com/nutslave/nutslave/usbtool"
)

// readTimeout bounds one reading of the UPS.
const readTimeout = 5 * time.Second

// autoAddr is where SOURCE=auto looks for upsd.
const autoAddr = "localhost:3493"

// A Source reads the UPS once. A failed reading comes back with Err set;
// it is never "fine".
type Source interface {
	Read(ctx context.Context) master.Reading
	String() string
}

// errChooseUPS means upsd serves several UPSes and UPS= names none of them.
var errChooseUPS = errors.New("cannot tell which UPS to read")

// parseSource turns SOURCE= into a Source; ups is UPS= (for auto).
func parseSource(s, ups string) (Source, error) {
	switch {
	case s == "auto":
		return &autoSource{addr: autoAddr, ups: ups}, nil
	case strings.HasPrefix(s, "nut://"):
		name, addr, err := nut.ParseURL(s)
		if err != nil {
			return nil, err
		}
		return &nutSource{ups: name, addr: addr}, nil
	case s == "usb" || strings.HasPrefix(s, "usb://"):
		sel, err := usbtool.ParseSelector(s)
		if err != nil {
			return nil, err
		}
		return &usbSource{sel: sel}, nil
	case strings.HasPrefix(s, "file:"):
		p := strings.TrimPrefix(s, "file:")
		p = strings.TrimPrefix(p, "//")
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("SOURCE %q: want file:/absolute/path", s)
		}
		return &fileSource{path: p}, nil
	}
	return nil, fmt.Errorf("SOURCE %q: want auto, nut://ups@host[:port], usb, usb://VID:PID[?serial=...] or file:/path", s)
}

// parseNUTName checks a UPS name (UPS=) the way NUT URLs do.
func parseNUTName(v string) (string, string, error) {
	name, addr, err := nut.ParseURL("nut://" + v)
	if err != nil || strings.Contains(v, "@") {
		return "", "", fmt.Errorf("%q is not a UPS name (letters, digits, . _ -)", v)
	}
	return name, addr, nil
}

// permanent reports whether a reading error is a configuration problem that
// retrying will not fix (as opposed to "no reading right now").
func permanent(err error) bool {
	for _, e := range []error{
		nut.ErrUnknownUPS, nut.ErrAccessDenied, nut.ErrProtocol,
		usbtool.ErrNoBackend, usbtool.ErrUnsupported, usbtool.ErrAmbiguous, fs.ErrPermission,
		errChooseUPS, master.ErrSyntax,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// nutSource reads one UPS from upsd.
type nutSource struct{ ups, addr string }

func (s *nutSource) String() string { return "nut://" + s.ups + "@" + s.addr }

func (s *nutSource) Read(ctx context.Context) master.Reading {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	vars, err := nut.ReadVars(ctx, s.addr, s.ups)
	if err != nil {
		return master.NoReading(time.Now(), err)
	}
	return master.FromVars(vars, time.Now())
}

// usbSource reads the UPS over USB.
type usbSource struct{ sel usbtool.Selector }

func (s *usbSource) String() string { return s.sel.String() }

func (s *usbSource) Read(ctx context.Context) master.Reading {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	vars, err := usbtool.ReadVars(ctx, s.sel)
	if err != nil {
		return master.NoReading(time.Now(), fmt.Errorf("usb %s: %w", s.sel, err))
	}
	return master.FromVars(vars, time.Now())
}

// autoSource reads through upsd on localhost when it serves a UPS (NUT's
// driver then holds the USB device), else over USB.
type autoSource struct {
	addr, ups string
	// usb reads the UPS when upsd is absent; nil means any USB UPS.
	usb Source
	// used says which way the last successful Read went: for status, and
	// for how the master arms the UPS (a failed USB read, say a device
	// NUT's driver holds, must not make the master arm over USB).
	used string
}

func (s *autoSource) String() string {
	if s.used != "" {
		return "auto → " + s.used
	}
	return "auto"
}

func (s *autoSource) Read(ctx context.Context) master.Reading {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	c, err := nut.Dial(ctx, s.addr)
	if err != nil {
		return s.viaUSB(ctx, fmt.Sprintf("no upsd on %s (%v)", s.addr, unwrapOp(err)))
	}
	defer c.Close()
	list, err := c.ListUPS(ctx)
	if err != nil {
		return master.NoReading(time.Now(), fmt.Errorf("upsd on %s: LIST UPS: %w", s.addr, err))
	}
	name, err := chooseUPS(list, s.ups)
	if err != nil {
		if len(list) == 0 {
			return s.viaUSB(ctx, fmt.Sprintf("upsd on %s serves no UPS", s.addr))
		}
		return master.NoReading(time.Now(), fmt.Errorf("upsd on %s: %w", s.addr, err))
	}
	via := "nut://" + name + "@" + s.addr
	vars, err := c.ListVars(ctx, name)
	if err != nil {
		return master.NoReading(time.Now(), fmt.Errorf("reading %s: %w", via, err))
	}
	s.used = via
	return master.FromVars(vars, time.Now())
}

func (s *autoSource) viaUSB(ctx context.Context, why string) master.Reading {
	u := s.usb
	if u == nil {
		u = &usbSource{}
	}
	r := u.Read(ctx)
	if !r.OK() {
		r.Err = fmt.Errorf("%s; %w", why, r.Err)
		return r
	}
	s.used = u.String()
	return r
}

func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// chooseUPS picks the UPS named by want, or the only one.
func chooseUPS(list map[string]string, want string) (string, error) {
	names := make([]string, 0, len(list))
	for n := range list {
		names = append(names, n)
	}
	sort.Strings(names)
	if want != "" {
		if _, ok := list[want]; ok {
			return want, nil
		}
		return "", fmt.Errorf("%w: UPS=%s is not served (upsd serves: %s)", errChooseUPS, want, strings.Join(names, " "))
	}
	if len(names) == 1 {
		return names[0], nil
	}
	return "", fmt.Errorf("%w: upsd serves %d UPSes (%s); set UPS=", errChooseUPS, len(names), strings.Join(names, " "))
}

// fileSource reads upsc-style "name: value" lines from a file: for tests,
// demos and drills ("upsc myups > file", then edit it).
type fileSource struct{ path string }

func (s *fileSource) String() string { return "file:" + s.path }

func (s *fileSource) Read(ctx context.Context) master.Reading {
	f, err := os.Open(s.path)
	if err != nil {
		return master.NoReading(time.Now(), fmt.Errorf("reading %s: %w", s.path, err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, master.MaxUpscSize+1))
	if err != nil {
		return master.NoReading(time.Now(), fmt.Errorf("reading %s: %w", s.path, err))
	}
	vars, err := master.ParseUpsc(b)
	if err != nil {
		return master.NoReading(time.Now(), fmt.Errorf("reading %s: %w", s.path, err))
	}
	return master.FromVars(vars, time.Now())
}
