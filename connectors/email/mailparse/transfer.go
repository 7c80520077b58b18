package mailparse

import (
	"bytes"
	"io"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// b64 maps a base64 alphabet byte to its value, others to 0xFF.
var b64 = func() [256]byte {
	var t [256]byte
	for i := range t {
		t[i] = 0xFF
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodeBase64 decodes base64 leniently: bytes outside the alphabet (line
// breaks, spaces, junk) are skipped, padding may be missing, and padding in
// the middle (concatenated chunks) ends a group rather than the data.
func decodeBase64(b []byte) []byte {
	out := make([]byte, 0, len(b)*3/4+3)
	var acc uint32
	n := 0
	tail := func() {
		switch n {
		case 2:
			out = append(out, byte(acc>>4))
		case 3:
			out = append(out, byte(acc>>10), byte(acc>>2))
		}
		acc, n = 0, 0
	}
	for _, c := range b {
		if c == '=' {
			tail()
			continue
		}
		v := b64[c]
		if v == 0xFF {
			continue
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	tail()
	return out
}

// base64Size is the decoded size of b, without decoding it.
func base64Size(b []byte) int {
	size, n := 0, 0
	for _, c := range b {
		if c == '=' {
			if n >= 2 {
				size += n - 1
			}
			n = 0
			continue
		}
		if b64[c] == 0xFF {
			continue
		}
		n++
		if n == 4 {
			size += 3
			n = 0
		}
	}
	if n >= 2 {
		size += n - 1
	}
	return size
}

// decodeQP decodes quoted-printable leniently: "=XX" in either case, soft
// line breaks with trailing whitespace, a stray "=" kept as it is, and
// trailing whitespace on a line dropped (RFC 2045 6.7).
func decodeQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch c {
		case '=':
			if i+2 < len(b) {
				h, ok1 := unhex(b[i+1])
				l, ok2 := unhex(b[i+2])
				if ok1 && ok2 {
					out = append(out, h<<4|l)
					i += 2
					continue
				}
			}
			// A soft line break: "=", optional whitespace, end of line.
			k := i + 1
			for k < len(b) && (b[k] == ' ' || b[k] == '\t') {
				k++
			}
			switch {
			case k == len(b):
				i = k - 1
			case b[k] == '\n':
				i = k
			case b[k] == '\r' && k+1 < len(b) && b[k+1] == '\n':
				i = k + 1
			case b[k] == '\r' && k+1 == len(b):
				i = k
			default:
				out = append(out, c)
			}
		case ' ', '\t':
			k := i
			for k < len(b) && (b[k] == ' ' || b[k] == '\t') {
				k++
			}
			if k == len(b) || b[k] == '\n' || b[k] == '\r' {
				i = k - 1 // trailing whitespace: dropped
				continue
			}
			out = append(out, b[i:k]...)
			i = k - 1
		default:
			out = append(out, c)
		}
	}
	return out
}

// decodeBody undoes a Content-Transfer-Encoding with go-message (an
// Entity's Body is decoded). go-message's decoders are the strict ones of the
// standard library: when they fail (junk or missing padding in base64, a
// control byte in quoted-printable), the lenient decoders here take over.
// Unknown encodings leave the bytes as they are. The result never aliases b.
func decodeBody(cte string, b []byte) []byte {
	var th textproto.Header
	if cte = strings.TrimSpace(cte); cte != "" {
		th.Set("Content-Transfer-Encoding", cte)
	}
	e, err := message.New(message.Header{Header: th}, bytes.NewReader(b))
	if err != nil { // an unknown encoding: e.Body reads the bytes as they are
		return bytes.Clone(b)
	}
	out, err := io.ReadAll(e.Body)
	if err != nil {
		return bytes.Clone(decodeTransfer(cte, b))
	}
	return out
}

// decodeTransfer undoes a Content-Transfer-Encoding leniently. Unknown
// encodings leave the bytes as they are.
func decodeTransfer(cte string, b []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return decodeBase64(b)
	case "quoted-printable":
		return decodeQP(b)
	}
	return b
}
