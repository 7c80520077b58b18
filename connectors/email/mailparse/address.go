package mailparse

import (
	"net/mail"
	"strings"
	"time"
)

// Address is a mailbox from an address header.
type Address struct {
	// Name is the decoded display name, "" when there is none.
	Name string
	// Addr is the lower-cased address, e.g. "wangrong@example.cn". It can
	// lack a domain ("mailer-daemon") when the mail says so.
	Addr string
}

// Bounds on list headers.
const (
	maxAddresses = 200
	maxIDs       = 100
	maxIDLen     = 500
)

// parseAddressList reads an address header leniently: groups, comments,
// quoted names, missing angle brackets, unquoted commas in names, and
// encoded-words inside quoted names (Outlook and Foxmail send those) are all
// handled. Entries without an address are dropped.
func parseAddressList(s string) []Address {
	var out []Address
	var carry string // a name-only piece waiting for its address
	for _, piece := range splitAddresses(s) {
		if len(out) >= maxAddresses {
			break
		}
		if carry != "" {
			piece = carry + ", " + piece
			carry = ""
		}
		a, ok, nameOnly := parseMailbox(piece)
		if nameOnly {
			if len(piece) <= 1000 {
				carry = piece
			}
			continue
		}
		if ok {
			out = append(out, a)
		}
	}
	if carry != "" && len(out) < maxAddresses {
		// A lone word such as MAILER-DAEMON is an address without a domain.
		w := strings.TrimSpace(stripComments(carry))
		if w != "" && !strings.ContainsAny(w, " \t,\"") {
			a, _, _ := parseMailbox(w + "@")
			a.Addr = strings.TrimSuffix(a.Addr, "@")
			a.Name = commentText(carry)
			if a.Addr != "" {
				out = append(out, a)
			}
		}
	}
	return out
}

// splitAddresses splits at top-level commas and semicolons, and drops group
// names ("Team: a@x, b@y;").
func splitAddresses(s string) []string {
	var out []string
	start := 0
	angle, sawAt := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '@':
			sawAt = true
		case '"':
			i = skipQuoted(s, i)
		case '(':
			i = skipComment(s, i)
		case '=':
			if strings.HasPrefix(s[i:], "=?") {
				if _, _, end, ok := parseWord(s, i); ok {
					i = end - 1
				}
			}
		case '<':
			angle = true
		case '>':
			angle = false
		case ':':
			if !angle && !sawAt {
				start = i + 1 // a group name
			}
		case ',', ';':
			if !angle {
				if p := strings.TrimSpace(s[start:i]); p != "" {
					out = append(out, p)
				}
				start, sawAt = i+1, false
			}
		}
		if len(out) > maxAddresses*2 {
			return out
		}
	}
	if p := strings.TrimSpace(s[start:]); p != "" {
		out = append(out, p)
	}
	return out
}

// skipQuoted returns the index of the quote closing the string that opens at
// s[i], or the last index.
func skipQuoted(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(s) - 1
}

// skipComment returns the index of the parenthesis closing the comment that
// opens at s[i] (comments nest), or the last index.
func skipComment(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return len(s) - 1
}

func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			j := skipQuoted(s, i)
			b.WriteString(s[i : j+1])
			i = j
		case '(':
			i = skipComment(s, i)
			b.WriteByte(' ')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// commentText returns the text of the first comment in s, decoded: the
// display name of "MAILER-DAEMON@x (Mail Delivery System)".
func commentText(s string) string {
	i := strings.IndexByte(s, '(')
	if i < 0 {
		return ""
	}
	j := skipComment(s, i)
	inner := strings.TrimSuffix(s[i+1:j+1], ")")
	return cleanName(inner)
}

// parseMailbox reads one mailbox. nameOnly reports a piece with no address
// at all (probably half of a name with an unquoted comma).
func parseMailbox(p string) (a Address, ok, nameOnly bool) {
	if i := indexUnquoted(p, '<'); i >= 0 {
		inner := p[i+1:]
		if j := strings.IndexByte(inner, '>'); j >= 0 {
			inner = inner[:j]
		}
		a.Addr = cleanAddr(inner)
		name := p[:i]
		if strings.TrimSpace(name) == "" {
			name = commentText(p[i:])
		}
		a.Name = cleanName(name)
		return a, a.Addr != "", false
	}
	bare := stripComments(p)
	fields := strings.Fields(bare)
	switch {
	case len(fields) == 0:
		return a, false, false
	case len(fields) == 1 && strings.Contains(fields[0], "@"):
		a.Addr = cleanAddr(fields[0])
		a.Name = commentText(p)
		return a, a.Addr != "", false
	}
	// Several words: the one with an '@' is the address, the rest the name.
	for k, f := range fields {
		if strings.Contains(f, "@") && !strings.HasPrefix(f, "\"") {
			a.Addr = cleanAddr(f)
			a.Name = cleanName(strings.Join(append(append([]string{}, fields[:k]...), fields[k+1:]...), " "))
			if a.Name == "" {
				a.Name = commentText(p)
			}
			return a, a.Addr != "", false
		}
	}
	return a, false, true
}

func indexUnquoted(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			i = skipQuoted(s, i)
		case '(':
			i = skipComment(s, i)
		case c:
			return i
		}
	}
	return -1
}

// cleanAddr normalizes an address: no whitespace, quotes around the whole,
// mailto: or a source route; lower case.
func cleanAddr(s string) string {
	s = strings.Join(strings.Fields(stripComments(s)), "")
	s = strings.Trim(s, "\"'<>,;")
	if len(s) >= 7 && strings.EqualFold(s[:7], "mailto:") {
		s = s[7:]
	}
	if strings.HasPrefix(s, "@") { // obsolete route: @a,@b:user@host
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			s = s[i+1:]
		}
	}
	if len(s) > maxIDLen {
		return ""
	}
	return validUTF8(strings.ToLower(s))
}

// cleanName unquotes a display name, decodes its encoded-words (quoted ones
// too, a common violation) and collapses whitespace.
func cleanName(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			j := skipQuoted(s, i)
			inner := s[i+1 : j+1]
			inner = strings.TrimSuffix(inner, "\"")
			b.WriteString(unescapeQuoted(inner))
			i = j
		default:
			b.WriteByte(c)
		}
	}
	name := decodeWords(b.String())
	return strings.Join(strings.Fields(name), " ")
}

func unescapeQuoted(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseMsgIDs reads a Message-ID, In-Reply-To or References field into bare
// ids (no angle brackets). It tolerates missing brackets, commas, comments,
// quoted junk ("Your message of …") and whitespace inside brackets from bad
// folding. Duplicates are dropped. Past maxIDs, the first id and the last
// ones are kept (RFC 5322 §3.6.4 trims References the same way).
func parseMsgIDs(s string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.Join(strings.Fields(id), "")
		id = strings.Trim(id, "\"'<>,;")
		if id == "" || len(id) > maxIDLen || seen[id] {
			return
		}
		seen[id] = true
		out = append(out, validUTF8(id))
	}
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '<':
			rest := s[i+1:]
			j := strings.IndexAny(rest, "<>")
			if j >= 0 && rest[j] == '<' { // "<junk <id@x>": start again
				i += 1 + j
				continue
			}
			if j < 0 { // no closing bracket: up to whitespace or comma
				k := strings.IndexAny(rest, " \t\r\n,;")
				if k < 0 {
					k = len(rest)
				}
				if strings.Contains(rest[:k], "@") {
					add(rest[:k])
				}
				i += 1 + k
				continue
			}
			add(rest[:j])
			i += j + 2
		case c == '(':
			i = skipComment(s, i) + 1
		case c == '"':
			i = skipQuoted(s, i) + 1
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ';':
			i++
		default:
			k := strings.IndexAny(s[i:], " \t\r\n,;<(\"")
			if k < 0 {
				k = len(s) - i
			}
			tok := s[i : i+k]
			if strings.Contains(tok, "@") && !strings.HasSuffix(tok, "@") {
				add(tok)
			}
			i += k
		}
	}
	if len(out) > maxIDs {
		out = append(out[:1], out[len(out)-(maxIDs-1):]...)
	}
	return out
}

// parseDate reads a Date field; the zero time when it cannot.
func parseDate(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if t, err := mail.ParseDate(s); err == nil {
		return t
	}
	// "Tue,14 Nov" and comments mail.ParseDate does not take.
	fixed := strings.Join(strings.Fields(strings.ReplaceAll(stripComments(s), ",", ", ")), " ")
	if t, err := mail.ParseDate(fixed); err == nil {
		return t
	}
	for _, layout := range []string{
		"2006-01-02 15:04:05 -0700",
		"2006-01-02T15:04:05Z07:00",
		"Mon, 2 Jan 2006 15:04:05",
		"2 Jan 2006 15:04:05",
		"Mon, 2 Jan 2006 15:04:05 -0700 MST",
	} {
		if t, err := time.Parse(layout, fixed); err == nil {
			return t
		}
	}
	return time.Time{}
}
