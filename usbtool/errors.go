package usbtool

import "errors"

var (
	// ErrNoDevice is returned when no UPS matches the selector, or when the
	// device went away during a transfer.
	ErrNoDevice = errors.New("no matching USB UPS found")

	// ErrAmbiguous is returned when more than one UPS matches the
	// selector: reading one UPS's charge for another's, or telling the
	// wrong one to cut its load, is worse than stopping.
	ErrAmbiguous = errors.New("more than one USB UPS matches")

	// ErrDeviceBusy is returned when another driver or process holds the
	// device's interface; usually NUT's own driver (usbhid-ups, blazer_usb).
	ErrDeviceBusy = errors.New("USB device is busy (claimed by another driver)")

	// ErrNoBackend is returned by [OpenBackend] in binaries built without cgo,
	// which therefore have no libusb access.
	ErrNoBackend = errors.New("built without libusb support (cgo disabled)")

	// ErrUnsupported is returned when a device is neither a HID Power Device
	// nor a known Megatec/Q1 unit.
	ErrUnsupported = errors.New("device speaks no supported UPS protocol")

	// ErrStall is returned by a [Transport] when the device stalls a control
	// request; for GET_REPORT it means "report not available".
	ErrStall = errors.New("USB request stalled")

	// ErrTimeout is returned by a [Transport] when a transfer times out.
	ErrTimeout = errors.New("USB transfer timed out")

	// ErrMalformed is wrapped by the parsers ([ParseDescriptor], [ParseQ1],
	// [ParseF], [ParseI]) for input that does not follow the protocol.
	ErrMalformed = errors.New("malformed data")
)
