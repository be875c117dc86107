//go:build cgo

// This is the only file that uses libusb (through github.com/google/gousb,
// cgo). Everything it returns is normalised to this package's sentinels.

package usbtool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/google/gousb"
)

// ControlTimeout bounds every control transfer (gousb's default of 0 would
// wait forever). NUT uses 5 s.
const ControlTimeout = 5 * time.Second

// interruptTimeout bounds an interrupt read when ctx has no earlier deadline.
const interruptTimeout = 2 * time.Second

// usbBackend is the libusb [Backend].
type usbBackend struct {
	ctx *gousb.Context
}

var _ Backend = (*usbBackend)(nil)
var _ Transport = (*usbDevice)(nil)

// OpenBackend starts libusb. The panic gousb raises when libusb cannot
// initialise (no USB subsystem, containers) is recovered and returned as
// an error. Close the backend after every device.
func OpenBackend() (b Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("libusb: cannot initialise: %v", r)
		}
	}()
	return &usbBackend{ctx: gousb.NewContext()}, nil
}

// Close closes the libusb context.
func (b *usbBackend) Close() error {
	if err := b.ctx.Close(); err != nil {
		return fmt.Errorf("libusb: close: %w", mapErr(err))
	}
	return nil
}

// List enumerates every device. Strings are read only from UPS-like
// devices (opening others is pointless and may be refused); a device
// whose strings cannot be read is still listed.
func (b *usbBackend) List(ctx context.Context) ([]DeviceInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var all []DeviceInfo
	devs, err := b.ctx.OpenDevices(func(d *gousb.DeviceDesc) bool {
		all = append(all, descInfo(d))
		return GuessProtocol(uint16(d.Vendor), uint16(d.Product)) != ProtocolUnknown
	})
	for _, d := range devs {
		d.ControlTimeout = ControlTimeout
		for i := range all {
			if all[i].Bus == d.Desc.Bus && all[i].Address == d.Desc.Address {
				all[i].Manufacturer, _ = d.Manufacturer()
				all[i].Product, _ = d.Product()
				all[i].Serial, _ = d.SerialNumber()
			}
		}
		d.Close()
	}
	if err != nil && len(all) == 0 {
		return nil, fmt.Errorf("libusb: list devices: %w", mapErr(err))
	}
	return all, nil
}

func descInfo(d *gousb.DeviceDesc) DeviceInfo {
	return DeviceInfo{VID: uint16(d.Vendor), PID: uint16(d.Product), Bus: d.Bus, Address: d.Address}
}

// Open opens the device at info's bus and address, detaches the kernel
// driver (usbhid) automatically and claims interface 0 of the active
// configuration.
func (b *usbBackend) Open(ctx context.Context, info DeviceInfo) (Transport, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	devs, err := b.ctx.OpenDevices(func(d *gousb.DeviceDesc) bool {
		return d.Bus == info.Bus && d.Address == info.Address && uint16(d.Vendor) == info.VID && uint16(d.Product) == info.PID
	})
	if len(devs) == 0 {
		if err != nil {
			return nil, mapErr(err)
		}
		return nil, ErrNoDevice // gousb's (nil, nil)
	}
	for _, extra := range devs[1:] {
		extra.Close()
	}
	dev := devs[0]
	dev.ControlTimeout = ControlTimeout
	u := &usbDevice{dev: dev, info: descInfo(dev.Desc)}
	u.info.Manufacturer, _ = dev.Manufacturer()
	u.info.Product, _ = dev.Product()
	u.info.Serial, _ = dev.SerialNumber()
	if err := dev.SetAutoDetach(true); err != nil {
		u.Close()
		return nil, fmt.Errorf("set auto-detach: %w", mapErr(err))
	}
	num, err := dev.ActiveConfigNum()
	if err != nil {
		u.Close()
		return nil, fmt.Errorf("active configuration: %w", mapErr(err))
	}
	if u.cfg, err = dev.Config(num); err != nil {
		u.Close()
		return nil, fmt.Errorf("configuration %d: %w", num, mapErr(err))
	}
	if u.intf, err = u.cfg.Interface(0, 0); err != nil {
		u.Close()
		return nil, fmt.Errorf("claim interface 0: %w", mapErr(err))
	}
	return u, nil
}

// usbDevice is an opened, claimed device.
type usbDevice struct {
	dev  *gousb.Device
	cfg  *gousb.Config
	intf *gousb.Interface
	in   *gousb.InEndpoint
	info DeviceInfo
}

func (u *usbDevice) Info() DeviceInfo { return u.info }

func (u *usbDevice) Control(ctx context.Context, rType, request uint8, value, index uint16, data []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := u.dev.Control(rType, request, value, index, data)
	if err != nil {
		return 0, mapErr(err)
	}
	return n, nil
}

func (u *usbDevice) ReadInterrupt(ctx context.Context, buf []byte) (int, error) {
	if u.in == nil {
		in, err := u.intf.InEndpoint(1)
		if err != nil {
			return 0, fmt.Errorf("interrupt endpoint 0x81: %w", mapErr(err))
		}
		u.in = in
	}
	ctx, cancel := context.WithTimeout(ctx, interruptTimeout)
	defer cancel()
	n, err := u.in.ReadContext(ctx, buf)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, gousb.TransferCancelled) {
			if cerr := ctx.Err(); cerr != nil {
				return n, fmt.Errorf("%w (%v)", ErrTimeout, cerr)
			}
		}
		return n, mapErr(err)
	}
	return n, nil
}

func (u *usbDevice) String(ctx context.Context, index uint8) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s, err := u.dev.GetStringDescriptor(int(index))
	if err != nil {
		return "", mapErr(err)
	}
	return s, nil
}

// Close releases interface, configuration and device, in that order.
func (u *usbDevice) Close() error {
	if u.intf != nil {
		u.intf.Close()
		u.intf = nil
	}
	var errs []error
	if u.cfg != nil {
		errs = append(errs, u.cfg.Close())
		u.cfg = nil
	}
	if u.dev != nil {
		errs = append(errs, u.dev.Close())
		u.dev = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close %s: %w", u.info.ID(), mapErr(err))
	}
	return nil
}

// mapErr translates gousb errors into this package's sentinels and
// fs.ErrPermission. gousb sometimes formats the libusb error into a string
// ("...: libusb: bad access [code -3]"), so the code is matched too.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var ge gousb.Error
	var ts gousb.TransferStatus
	code := func(e gousb.Error) bool {
		return errors.As(err, &ge) && ge == e || strings.Contains(err.Error(), fmt.Sprintf("[code %d]", int(e)))
	}
	switch {
	case code(gousb.ErrorAccess):
		return fmt.Errorf("%w: %v", fs.ErrPermission, err)
	case code(gousb.ErrorBusy):
		return fmt.Errorf("%w: %v", ErrDeviceBusy, err)
	case code(gousb.ErrorNoDevice), code(gousb.ErrorNotFound):
		return fmt.Errorf("%w: %v", ErrNoDevice, err)
	case code(gousb.ErrorPipe):
		return fmt.Errorf("%w: %v", ErrStall, err)
	case code(gousb.ErrorTimeout):
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	case errors.As(err, &ts):
		switch ts {
		case gousb.TransferStall:
			return fmt.Errorf("%w: %v", ErrStall, err)
		case gousb.TransferNoDevice:
			return fmt.Errorf("%w: %v", ErrNoDevice, err)
		case gousb.TransferTimedOut:
			return fmt.Errorf("%w: %v", ErrTimeout, err)
		}
	}
	return err
}
