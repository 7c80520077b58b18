package qr

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// A tracking page's token is its key: whoever has it reads and writes on
// the page. Logs never carry it; they name the page by tokenRef.

// tokenRef is how logs name a tracking page: "t#" and 8 hex digits of a
// hash of its token, enough to tell pages apart and to find one whose
// token is known, useless for opening it.
func tokenRef(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return "t#" + hex.EncodeToString(sum[:4])
}

// trackPrefix starts a tracking page's path. Routes match it in any case.
const trackPrefix = "/s/t/"

// RedactPath is a request path fit for a log: a tracking page's path
// (/s/t/{token}, and what lies below it) has its token replaced by its
// tokenRef; any other path is returned as it is.
func RedactPath(p string) string {
	if len(p) < len(trackPrefix) || !strings.EqualFold(p[:len(trackPrefix)], trackPrefix) {
		return p
	}
	rest := p[len(trackPrefix):]
	tok, below := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		tok, below = rest[:i], rest[i:]
	}
	if tok == "" {
		return p
	}
	return p[:len(trackPrefix)] + tokenRef(tok) + below
}

// trackKeyRe finds a tracking page's token in its Redis keys
// ({qrt:TOKEN}:…), which errors from Redis helpers may name.
var trackKeyRe = regexp.MustCompile(`\{qrt:([^}]*)\}`)

// redactText replaces the tokens in Redis keys with their tokenRef.
func redactText(s string) string {
	return trackKeyRe.ReplaceAllStringFunc(s, func(m string) string {
		return "{qrt:" + tokenRef(m[len("{qrt:"):len(m)-1]) + "}"
	})
}

// redactedError is an error whose text is fit for a log (redactText); it
// unwraps to the original, so errors.Is and errors.As see through it.
type redactedError struct{ err error }

func (e redactedError) Error() string { return redactText(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }

// redact makes err fit for a log; nil stays nil.
func redact(err error) error {
	if err == nil {
		return nil
	}
	return redactedError{err}
}
