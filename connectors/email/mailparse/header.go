package mailparse

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Field is one header field. Value is unfolded (each line break and the
// whitespace after it become one space) and valid UTF-8; encoded-words are
// left as they are.
type Field struct {
	Key   string
	Value string
}

// Header is a header block in the order of the mail.
type Header []Field

// Get returns the value of the first field named key (case-insensitive), or
// "".
func (h Header) Get(key string) string {
	for _, f := range h {
		if strings.EqualFold(f.Key, key) {
			return f.Value
		}
	}
	return ""
}

// Has reports whether a field named key is present.
func (h Header) Has(key string) bool {
	for _, f := range h {
		if strings.EqualFold(f.Key, key) {
			return true
		}
	}
	return false
}

// Values returns the values of every field named key.
func (h Header) Values(key string) []string {
	var out []string
	for _, f := range h {
		if strings.EqualFold(f.Key, key) {
			out = append(out, f.Value)
		}
	}
	return out
}

// splitHeader cuts an entity into its header block and body. The header ends
// at the first empty line; without one the whole entity is header. It reports
// false when the header block is longer than max.
func splitHeader(b []byte, max int) (head, body []byte, ok bool) {
	// An entity that starts with an empty line has no header.
	if bytes.HasPrefix(b, []byte("\r\n")) {
		return nil, b[2:], true
	}
	if len(b) > 0 && b[0] == '\n' {
		return nil, b[1:], true
	}
	scan := b
	if len(scan)-4 > max {
		scan = scan[:max+4]
	}
	for i := 0; ; {
		j := bytes.IndexByte(scan[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
		switch {
		case i < len(scan) && scan[i] == '\n':
			return headTooLong(b[:i], b[i+1:], max)
		case i+1 < len(scan) && scan[i] == '\r' && scan[i+1] == '\n':
			return headTooLong(b[:i], b[i+2:], max)
		}
	}
	if len(b) > max {
		return nil, nil, false
	}
	return b, nil, true
}

func headTooLong(head, body []byte, max int) ([]byte, []byte, bool) {
	if len(head) > max {
		return nil, nil, false
	}
	return head, body, true
}

// parseHeader parses a header block. It is tolerant: lines that are not
// fields are skipped, a leading mbox "From " line too. Values that are not
// valid UTF-8 (raw 8-bit headers) are decoded with fallback, a charset label.
func parseHeader(b []byte, fallback string) Header {
	var h Header
	var cur []byte // the field being unfolded
	flush := func() {
		if cur == nil {
			return
		}
		i := bytes.IndexByte(cur, ':')
		if i > 0 {
			key := strings.TrimSpace(string(cur[:i]))
			if key != "" && !strings.ContainsAny(key, " \t") {
				h = append(h, Field{Key: validUTF8(key), Value: headerText(bytes.TrimSpace(cur[i+1:]), fallback)})
			}
		}
		cur = nil
	}
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if cur != nil {
				cur = append(cur, ' ')
				cur = append(cur, bytes.TrimLeft(line, " \t")...)
			}
			continue
		}
		flush()
		if len(h) == 0 && bytes.HasPrefix(line, []byte("From ")) {
			continue // mbox separator
		}
		cur = append([]byte(nil), line...)
	}
	flush()
	return h
}

// headerText turns raw header bytes into valid UTF-8: as they are when they
// are UTF-8 already, otherwise decoded from the fallback charset.
func headerText(b []byte, fallback string) string {
	if utf8.Valid(b) {
		return string(b)
	}
	s, _ := decodeCharset(fallback, b)
	return s
}

// params are the parameters of a Content-Type or Content-Disposition field,
// keyed by lower-cased name, values decoded.
type params map[string]string

// parseParamField splits a field like `text/plain; charset="GBK"` into its
// lower-cased value and parameters. RFC 2231 continuations and charsets
// (name*0*=, name*=gbk'zh'%D6%D0) and RFC 2047 words inside quoted values (a
// common violation) are decoded. It never fails: what it cannot read it
// skips.
func parseParamField(s string) (string, params) {
	value, rest, _ := strings.Cut(s, ";")
	value = strings.ToLower(strings.TrimSpace(value))
	p := params{}
	type piece struct {
		val     string
		encoded bool
	}
	multi := map[string]map[int]piece{}
	for rest != "" {
		var name, val string
		name, rest = cutToken(rest)
		rest = strings.TrimLeft(rest, " \t")
		if !strings.HasPrefix(rest, "=") {
			// A parameter without a value: skip to the next ';'.
			if _, after, ok := strings.Cut(rest, ";"); ok {
				rest = after
				continue
			}
			break
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		val, rest = cutValue(rest)
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		// RFC 2231: name*, name*N, name*N*.
		base, section, hasSection := strings.Cut(name, "*")
		if !hasSection {
			if _, dup := p[name]; !dup {
				p[name] = val
			}
			continue
		}
		encoded := strings.HasSuffix(section, "*") || section == ""
		section = strings.TrimSuffix(section, "*")
		n := 0
		if section != "" {
			v, ok := smallInt(section)
			if !ok {
				continue
			}
			n = v
		}
		if multi[base] == nil {
			multi[base] = map[int]piece{}
		}
		if _, dup := multi[base][n]; !dup && len(multi[base]) < 100 {
			multi[base][n] = piece{val: val, encoded: encoded}
		}
	}
	for base, pieces := range multi {
		var raw []byte
		cs := ""
		for n := 0; n < len(pieces); n++ {
			pc, ok := pieces[n]
			if !ok {
				break
			}
			v := pc.val
			if pc.encoded {
				if n == 0 {
					// charset'language'value
					if c, after, ok := strings.Cut(v, "'"); ok {
						if _, after2, ok := strings.Cut(after, "'"); ok {
							cs, v = c, after2
						}
					}
				}
				raw = append(raw, percentDecode(v)...)
			} else {
				raw = append(raw, v...)
			}
		}
		if raw == nil {
			continue
		}
		if cs == "" && !utf8.Valid(raw) {
			cs = "gb18030"
		}
		dec, _ := decodeCharset(cs, raw)
		p[base] = dec // RFC 2231 wins over the plain parameter
	}
	for k, v := range p {
		if strings.Contains(v, "=?") {
			v = decodeWords(v)
		}
		p[k] = validUTF8(v)
	}
	return value, p
}

// cutToken reads a parameter name up to '=' or ';'.
func cutToken(s string) (string, string) {
	s = strings.TrimLeft(s, " \t;")
	i := strings.IndexAny(s, "=;")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// cutValue reads a parameter value, quoted or not, and returns the rest after
// the following ';'.
func cutValue(s string) (string, string) {
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		i := 1
		for ; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				i++
				b.WriteByte(s[i])
				continue
			}
			if c == '"' {
				i++
				break
			}
			b.WriteByte(c)
		}
		rest := s[i:]
		if j := strings.IndexByte(rest, ';'); j >= 0 {
			rest = rest[j+1:]
		} else {
			rest = ""
		}
		return b.String(), rest
	}
	if j := strings.IndexByte(s, ';'); j >= 0 {
		return strings.TrimSpace(s[:j]), s[j+1:]
	}
	return strings.TrimSpace(s), ""
}

func smallInt(s string) (int, bool) {
	if s == "" || len(s) > 3 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if h, ok := unhex(s[i+1]); ok {
				if l, ok := unhex(s[i+2]); ok {
					out = append(out, h<<4|l)
					i += 2
					continue
				}
			}
		}
		out = append(out, s[i])
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// validUTF8 replaces invalid bytes with U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
