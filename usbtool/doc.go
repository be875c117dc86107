// Package usbtool reads a USB UPS directly, the way NUT's usbhid-ups and
// blazer_usb/nutdrv_qx drivers do, and reports NUT-named variables
// ("battery.charge", "ups.status", ...).
//
// Two protocols are supported:
//
//   - HID Power Device Class (PDC): the report descriptor is parsed into
//     fields with usage paths such as UPS.PowerSummary.RemainingCapacity,
//     each needed feature report is fetched once with GET_REPORT and the
//     fields are decoded with NUT's rules (see [ParseDescriptor], [Field.Value]
//     and [MapVars]).
//   - Megatec/Q1 over USB ("krauler" string-descriptor requests and "cypress"
//     SET_REPORT + interrupt IN), used by the CLASSIC PRO UPS1200LX (0001:0000)
//     and many other small units (see [ParseQ1]).
//
// Everything except the libusb binding is pure Go and works without cgo. The
// libusb binding (github.com/google/gousb) lives in gousb.go alone; without
// cgo [OpenBackend] returns [ErrNoBackend].
package usbtool
