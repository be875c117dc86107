package usbtool

import (
	"context"
	"fmt"
)

// DeviceInfo describes a USB device as enumerated.
type DeviceInfo struct {
	VID, PID     uint16
	Manufacturer string // iManufacturer string, "" when unreadable
	Product      string // iProduct string
	Serial       string // iSerialNumber string
	Bus, Address int
}

// ID returns "vvvv:pppp".
func (i DeviceInfo) ID() string { return fmt.Sprintf("%04x:%04x", i.VID, i.PID) }

// Transport is what the UPS protocols need from a USB device. An
// implementation has claimed interface 0. Errors are [ErrStall],
// [ErrTimeout], [ErrNoDevice], [ErrDeviceBusy] or wrap [fs.ErrPermission]
// where they apply.
type Transport interface {
	// Control performs a control transfer on endpoint 0. For IN requests
	// (requestType&0x80 != 0) data receives the reply and n is its length;
	// for OUT requests data is sent.
	Control(ctx context.Context, requestType, request uint8, value, index uint16, data []byte) (n int, err error)
	// ReadInterrupt reads one transfer from the interrupt IN endpoint 0x81.
	ReadInterrupt(ctx context.Context, buf []byte) (n int, err error)
	// String returns string descriptor index in the device's first
	// language, as ASCII.
	String(ctx context.Context, index uint8) (string, error)
	// Info describes the device.
	Info() DeviceInfo
	// Close releases the interface and the device.
	Close() error
}

// Backend enumerates and opens USB devices. [OpenBackend] returns the
// libusb one; tests use usbtest.Backend.
type Backend interface {
	// List returns every USB device the backend sees.
	List(ctx context.Context) ([]DeviceInfo, error)
	// Open opens and claims the device described by info.
	Open(ctx context.Context, info DeviceInfo) (Transport, error)
	// Close releases the backend; every Transport must be closed first.
	Close() error
}

// Standard and HID class requests.
const (
	reqGetDescriptor = 0x06
	reqGetReport     = 0x01
	reqSetReport     = 0x09

	typeStdInterfaceIn = 0x81 // IN | standard | interface
	typeStdDeviceIn    = 0x80 // IN | standard | device
	typeClassIfaceIn   = 0xa1 // IN | class | interface
	typeClassIfaceOut  = 0x21 // OUT | class | interface

	descString = 0x03
	descReport = 0x22
)

// ReadReportDescriptor reads the HID report descriptor of interface 0 with
// GET_DESCRIPTOR(0x22). It asks for a generous buffer and accepts what
// comes back, since some devices misstate its length.
func ReadReportDescriptor(ctx context.Context, t Transport) ([]byte, error) {
	buf := make([]byte, 4096)
	n, err := t.Control(ctx, typeStdInterfaceIn, reqGetDescriptor, descReport<<8, 0, buf)
	if err != nil {
		return nil, fmt.Errorf("read report descriptor: %w", err)
	}
	return buf[:n], nil
}

// GetReport fetches report id of type typ with GET_REPORT. The reply
// starts with the report ID when id is not 0; short replies are returned
// as they are.
func GetReport(ctx context.Context, t Transport, typ ReportType, id uint8) ([]byte, error) {
	buf := make([]byte, 256)
	n, err := t.Control(ctx, typeClassIfaceIn, reqGetReport, uint16(typ)<<8|uint16(id), 0, buf)
	if err != nil {
		return nil, fmt.Errorf("get %s report 0x%02x: %w", typ, id, err)
	}
	return buf[:n], nil
}
