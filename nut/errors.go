// Package nut is a client for the network protocol of upsd, the data server of
// Network UPS Tools (TCP port 3493).
//
// It speaks the line-based protocol described in NUT's docs/net-protocol.txt:
// LIST UPS, LIST VAR, GET VAR, SET VAR, VER, PROTVER, USERNAME/PASSWORD and
// STARTTLS. Every request is bound to a deadline. Every "ERR <code>" reply
// becomes an *Error that matches the exported sentinels with errors.Is.
//
// A monitoring program must never read an error as "power is fine". NoReading
// tells the transient cases (stale data, a driver that is not connected, a
// timeout, a dropped connection, a UPS that is still in WAIT) from the
// permanent ones (unknown UPS, access denied).
package nut

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// An Error is an "ERR <Code> [Detail]" reply from upsd.
//
// errors.Is(err, ErrDataStale) and the other sentinels compare Code only.
type Error struct {
	// Code is the error keyword, such as "DATA-STALE".
	Code string
	// Detail is any text upsd sent after the code; usually empty.
	Detail string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Detail != "" {
		return "upsd: " + e.Code + " (" + e.Detail + ")"
	}
	return "upsd: " + e.Code
}

// Is reports whether target is an *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for the error codes upsd sends (NUT docs/net-protocol.txt).
// Compare with errors.Is, never with ==: replies are fresh values.
var (
	ErrAccessDenied         = &Error{Code: "ACCESS-DENIED"}
	ErrUnknownUPS           = &Error{Code: "UNKNOWN-UPS"}
	ErrVarNotSupported      = &Error{Code: "VAR-NOT-SUPPORTED"}
	ErrCmdNotSupported      = &Error{Code: "CMD-NOT-SUPPORTED"}
	ErrInvalidArgument      = &Error{Code: "INVALID-ARGUMENT"}
	ErrInstCmdFailed        = &Error{Code: "INSTCMD-FAILED"}
	ErrSetFailed            = &Error{Code: "SET-FAILED"}
	ErrReadOnly             = &Error{Code: "READONLY"}
	ErrTooLong              = &Error{Code: "TOO-LONG"}
	ErrFeatureNotSupported  = &Error{Code: "FEATURE-NOT-SUPPORTED"}
	ErrFeatureNotConfigured = &Error{Code: "FEATURE-NOT-CONFIGURED"}
	ErrAlreadySSLMode       = &Error{Code: "ALREADY-SSL-MODE"}
	ErrDriverNotConnected   = &Error{Code: "DRIVER-NOT-CONNECTED"}
	ErrDataStale            = &Error{Code: "DATA-STALE"}
	ErrAlreadyLoggedIn      = &Error{Code: "ALREADY-LOGGED-IN"}
	ErrInvalidPassword      = &Error{Code: "INVALID-PASSWORD"}
	ErrAlreadySetPassword   = &Error{Code: "ALREADY-SET-PASSWORD"}
	ErrInvalidUsername      = &Error{Code: "INVALID-USERNAME"}
	ErrAlreadySetUsername   = &Error{Code: "ALREADY-SET-USERNAME"}
	ErrUsernameRequired     = &Error{Code: "USERNAME-REQUIRED"}
	ErrPasswordRequired     = &Error{Code: "PASSWORD-REQUIRED"}
	ErrUnknownCommand       = &Error{Code: "UNKNOWN-COMMAND"}
	ErrInvalidValue         = &Error{Code: "INVALID-VALUE"}
)

var (
	// ErrWait means upsd answered but reports ups.status "WAIT": its driver
	// has not delivered a first reading yet.
	ErrWait = errors.New("nut: ups.status is WAIT (no reading from the driver yet)")

	// ErrProtocol means a reply did not follow the protocol: a malformed line,
	// an unexpected keyword, or a list that does not end. It is usually not
	// upsd at the other end.
	ErrProtocol = errors.New("nut: protocol error")

	// ErrClosed is returned by a Client that was closed or that lost its
	// stream position after an earlier I/O error; dial a new one.
	ErrClosed = errors.New("nut: client closed")
)

// NoReading reports whether err means "no reading is available right now"
// rather than a permanent failure: upsd says DATA-STALE or
// DRIVER-NOT-CONNECTED, ups.status is WAIT, a deadline or context expired, or
// the connection could not be made, was refused, reset or dropped.
//
// A caller must treat NoReading errors as "unknown", never as "fine". Errors
// for which NoReading is false (unknown UPS, access denied, protocol errors)
// are configuration problems that retrying will not fix. NoReading(nil) is
// false.
func NoReading(err error) bool {
	if err == nil {
		return false
	}
	switch {
	case errors.Is(err, ErrDataStale),
		errors.Is(err, ErrDriverNotConnected),
		errors.Is(err, ErrWait),
		errors.Is(err, ErrClosed),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled),
		errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}
