package mailparse

import (
	"errors"
	"fmt"
)

// Limits bound the work Parse does on one mail. A zero field takes its
// default (see DefaultLimits); a negative field is treated as zero, i.e. the
// default too, so Limits{} is always safe.
type Limits struct {
	// MaxBytes is the largest raw mail accepted.
	MaxBytes int
	// MaxHeaderBytes bounds each header block: the mail's own and each
	// part's.
	MaxHeaderBytes int
	// MaxDepth is the deepest multipart nesting accepted; the top-level
	// multipart is depth 1.
	MaxDepth int
	// MaxParts bounds the number of MIME parts, containers included.
	MaxParts int
	// MaxAttachments bounds the number of attachments and inline parts.
	MaxAttachments int
	// MaxAttachmentBytes bounds one attachment's decoded size. A larger
	// attachment is not a refusal: it is listed with Omitted set and no Data.
	MaxAttachmentBytes int
	// MaxBodyBytes bounds each of Text and HTML (decoded, UTF-8). Longer
	// bodies are cut and Mail.Truncated is set.
	MaxBodyBytes int
}

// Default limits. They are generous for real mail and small enough that a
// crafted mail cannot make Parse slow or large.
const (
	DefaultMaxBytes           = 40 << 20
	DefaultMaxHeaderBytes     = 256 << 10
	DefaultMaxDepth           = 16
	DefaultMaxParts           = 500
	DefaultMaxAttachments     = 100
	DefaultMaxAttachmentBytes = 25 << 20
	DefaultMaxBodyBytes       = 1 << 20
)

// DefaultLimits returns the limits Parse uses for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:           DefaultMaxBytes,
		MaxHeaderBytes:     DefaultMaxHeaderBytes,
		MaxDepth:           DefaultMaxDepth,
		MaxParts:           DefaultMaxParts,
		MaxAttachments:     DefaultMaxAttachments,
		MaxAttachmentBytes: DefaultMaxAttachmentBytes,
		MaxBodyBytes:       DefaultMaxBodyBytes,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	pick := func(v, def int) int {
		if v <= 0 {
			return def
		}
		return v
	}
	return Limits{
		MaxBytes:           pick(l.MaxBytes, d.MaxBytes),
		MaxHeaderBytes:     pick(l.MaxHeaderBytes, d.MaxHeaderBytes),
		MaxDepth:           pick(l.MaxDepth, d.MaxDepth),
		MaxParts:           pick(l.MaxParts, d.MaxParts),
		MaxAttachments:     pick(l.MaxAttachments, d.MaxAttachments),
		MaxAttachmentBytes: pick(l.MaxAttachmentBytes, d.MaxAttachmentBytes),
		MaxBodyBytes:       pick(l.MaxBodyBytes, d.MaxBodyBytes),
	}
}

// The limit a refused mail broke. A *Refused wraps one of them, so callers
// can test with errors.Is.
var (
	ErrEmpty              = errors.New("mail is empty")
	ErrTooLarge           = errors.New("mail too large")
	ErrHeaderTooLarge     = errors.New("header too large")
	ErrTooDeep            = errors.New("MIME nesting too deep")
	ErrTooManyParts       = errors.New("too many MIME parts")
	ErrTooManyAttachments = errors.New("too many attachments")
)

// Refused is the error Parse returns for a mail it will not process: empty,
// or over one of the Limits (a mail bomb). Reason is short, safe to log and
// to show (it holds numbers only, never bytes of the mail); the connector
// quarantines the mail with it.
type Refused struct {
	Reason string
	// Err is the sentinel for the broken limit (ErrTooDeep, …).
	Err error
}

// Error implements error.
func (r *Refused) Error() string { return "mail refused: " + r.Reason }

// Unwrap returns the sentinel, for errors.Is.
func (r *Refused) Unwrap() error { return r.Err }

func refuse(sentinel error, format string, args ...any) *Refused {
	return &Refused{Reason: fmt.Sprintf(format, args...), Err: sentinel}
}
