//go:build !cgo

package usbtool

// OpenBackend returns [ErrNoBackend]: this binary was built without cgo,
// so it has no libusb.
func OpenBackend() (Backend, error) { return nil, ErrNoBackend }
