package email

import (
	"io"
	"mime/quotedprintable"
)

// newQP is a quoted-printable body writer (RFC 2045), lines of at most 76.
func newQP(w io.Writer) io.WriteCloser { return quotedprintable.NewWriter(w) }
