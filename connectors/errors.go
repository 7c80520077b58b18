package connectors

import (
	"errors"
	"fmt"
)

// ErrUnsupported means the channel cannot carry a message at all.
var ErrUnsupported = errors.New("connectors: not supported by this channel")

// Error is a refusal that carries what the caller must decide on: the HTTP
// status to answer an inbound request with, the channel's own error code,
// and whether a send may be retried.
type Error struct {
	// Status is the HTTP status for an inbound refusal (400, 401, 403, 413).
	Status int
	// Code is the channel's own code: a WeChat errcode, an SMTP reply code.
	Code string
	// Temporary asks the outbox to retry with backoff.
	Temporary bool
	// Msg is safe to show to the caller; it never holds secrets.
	Msg string
	Err error
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Msg != "":
		return e.Msg + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Err.Error()
	case e.Msg != "":
		return e.Msg
	}
	return fmt.Sprintf("connector error (status %d, code %q)", e.Status, e.Code)
}

func (e *Error) Unwrap() error { return e.Err }

// Refuse returns an inbound refusal with an HTTP status and a message safe
// to show to the caller.
func Refuse(status int, msg string) *Error { return &Error{Status: status, Msg: msg} }

// Temporary wraps err as a send failure worth retrying.
func Temporary(code string, err error) *Error { return &Error{Code: code, Temporary: true, Err: err} }

// Permanent wraps err as a send failure not worth retrying.
func Permanent(code string, err error) *Error { return &Error{Code: code, Err: err} }
