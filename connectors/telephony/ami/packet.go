package ami

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"
)

// field is one "Key: Value" line of a packet.
type field struct {
	key, value string
}

// packet is one AMI message: an action, a response or an event. Its fields
// keep their order; a key may repeat (ChanVariable, Variable).
type packet struct {
	fields []field
}

// get returns the value of the first field named key (case-insensitive),
// or "".
func (p packet) get(key string) string {
	for _, f := range p.fields {
		if strings.EqualFold(f.key, key) {
			return f.value
		}
	}
	return ""
}

// values returns the values of every field named key, in order.
func (p packet) values(key string) []string {
	var out []string
	for _, f := range p.fields {
		if strings.EqualFold(f.key, key) {
			out = append(out, f.value)
		}
	}
	return out
}

// at returns the event's Timestamp (manager.conf timestampevents = yes),
// seconds since the epoch with a fraction, or the zero time without one.
func (p packet) at() time.Time {
	ts := p.get("Timestamp")
	if ts == "" {
		return time.Time{}
	}
	secs, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || s < 0 {
		return time.Time{}
	}
	var ns int64
	if frac != "" {
		frac = (frac + "000000000")[:9]
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil || ns < 0 {
			return time.Time{}
		}
	}
	return time.Unix(s, ns)
}

// errBadValue refuses to write a value that would break the framing.
var errBadValue = errors.New("ami: a line break in an action's field")

// encode writes an action: each "Key: Value" line ended by CRLF, and an
// empty line after the last. A key or value with CR or LF is refused
// rather than sent, so nothing can inject lines of its own.
func encode(fields ...field) ([]byte, error) {
	var b bytes.Buffer
	for _, f := range fields {
		if strings.ContainsAny(f.key, "\r\n:") || strings.ContainsAny(f.value, "\r\n") {
			return nil, errBadValue
		}
		b.WriteString(f.key)
		b.WriteString(": ")
		b.WriteString(f.value)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}
