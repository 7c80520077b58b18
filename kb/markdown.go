package kb

import (
	"html"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PlainText turns Markdown into the plain text a reader sees: what is
// indexed, what snippets quote, and what an agent inserts into a reply.
// Headings, emphasis, list and quote markers, table pipes, HTML tags and
// link targets go; the words stay (a link keeps its text, an image its
// alternative text, code its content). It is no Markdown parser: it reads
// line by line and never fails.
func PlainText(md string) string {
	md = strings.ToValidUTF8(md, "\uFFFD")
	md = strings.ReplaceAll(strings.ReplaceAll(md, "\r\n", "\n"), "\r", "\n")
	var out []string
	fence := "" // the open code fence, if any
	for line := range strings.SplitSeq(md, "\n") {
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
				fence = ""
				continue
			}
			out = append(out, strings.TrimRight(line, " \t"))
			continue
		}
		if f := fenceOf(trimmed); f != "" {
			fence = f
			continue
		}
		if ruleRe.MatchString(trimmed) || tableRuleRe.MatchString(trimmed) || refDefRe.MatchString(trimmed) {
			continue
		}
		out = append(out, plainLine(trimmed))
	}
	return strings.TrimSpace(joinLines(out))
}

var (
	// ruleRe is a thematic break or a setext heading's underline.
	ruleRe = regexp.MustCompile(`^(?:(?:\*\s*){3,}|(?:-\s*){3,}|(?:_\s*){3,}|=+)$`)
	// tableRuleRe is the line under a table's header: |---|:--:|.
	tableRuleRe = regexp.MustCompile(`^\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?$`)
	// refDefRe is a link reference definition: [id]: https://…
	refDefRe = regexp.MustCompile(`^\[[^\]]+\]:\s*\S+`)
	// blockRe is what starts a line and marks its block: headings,
	// quotes, list items and task boxes.
	blockRe = regexp.MustCompile(`^(?:#{1,6}(?:\s+|$)|(?:>\s?)+|[-*+]\s+(?:\[[ xX]\]\s+)?|\d{1,9}[.)]\s+(?:\[[ xX]\]\s+)?)`)
	// closingHashesRe is the optional run of # that closes a heading.
	closingHashesRe = regexp.MustCompile(`\s+#+\s*$`)
	tagRe           = regexp.MustCompile(`^</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>`)
)

// fenceOf returns the fence (``` or ~~~, as long as written) that opens a
// code block on this line, or "".
func fenceOf(line string) string {
	for _, c := range []string{"`", "~"} {
		n := len(line) - len(strings.TrimLeft(line, c))
		if n >= 3 {
			return strings.Repeat(c, n)
		}
	}
	return ""
}

// plainLine strips one line's block markers and inline markup.
func plainLine(line string) string {
	for range 8 { // "> - 1. [x] text" and such; no deeper, so "+ + + …" is linear
		m := blockRe.FindString(line)
		if m == "" {
			break
		}
		heading := strings.HasPrefix(m, "#")
		line = strings.TrimSpace(line[len(m):])
		if heading {
			line = closingHashesRe.ReplaceAllString(line, "")
			break
		}
	}
	if strings.Count(line, "|") >= 2 { // a table row: its cells, two spaces apart
		var cells []string
		for c := range strings.SplitSeq(line, "|") {
			if c = strings.TrimSpace(c); c != "" {
				cells = append(cells, c)
			}
		}
		line = strings.Join(cells, "  ")
	}
	return inline(line)
}

// inline strips inline markup: code spans keep their text verbatim;
// images, links and autolinks keep their text; emphasis marks, HTML tags
// and escapes go; entities are decoded.
func inline(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && isASCIIPunct(s[i+1]):
			b.WriteByte(s[i+1])
			i += 2
		case c == '`':
			n := len(s[i:]) - len(strings.TrimLeft(s[i:], "`"))
			tick := s[i : i+n]
			if end := strings.Index(window(s, i+n), tick); end >= 0 {
				b.WriteString(strings.TrimSpace(s[i+n : i+n+end]))
				i += n + end + n
			} else {
				b.WriteString(tick)
				i += n
			}
		case c == '!' && i+1 < len(s) && s[i+1] == '[':
			if text, next, ok := link(s, i+1); ok {
				b.WriteString(inline(text))
				i = next
			} else {
				b.WriteByte(c)
				i++
			}
		case c == '[':
			if text, next, ok := link(s, i); ok {
				b.WriteString(inline(text))
				i = next
			} else {
				b.WriteByte(c)
				i++
			}
		case strings.HasPrefix(s[i:], "<!--"): // a comment
			if end := strings.Index(window(s, i+4), "-->"); end >= 0 {
				i += 4 + end + 3
			} else {
				b.WriteByte(c)
				i++
			}
		case c == '<':
			if end := strings.IndexByte(window(s, i), '>'); end > 0 && isAutolink(s[i+1:i+end]) {
				b.WriteString(s[i+1 : i+end])
				i += end + 1
			} else if loc := tagRe.FindStringIndex(window(s, i)); loc != nil {
				i += loc[1]
			} else {
				b.WriteByte(c)
				i++
			}
		case c == '*':
			i++ // emphasis; a lone * reads the same without
		case strings.HasPrefix(s[i:], "~~"):
			i += 2 // strike-through
		case c == '_' && emphasisUnderscore(s, i):
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return strings.TrimSpace(html.UnescapeString(b.String()))
}

// lookAhead bounds how far inline markup is looked for from where it
// starts (a closing backtick, bracket, parenthesis or >), so a body full
// of unclosed markup ("[[[[…") takes linear time.
const lookAhead = 1024

// window is s from i, at most lookAhead bytes of it.
func window(s string, i int) string { return s[i:min(len(s), i+lookAhead)] }

// link reads [text](target "title") or [text][ref] or [text][] at s[i]
// == '[' and returns the text and the index after it.
func link(s string, i int) (text string, next int, ok bool) {
	depth := 0
	for j := i; j < min(len(s), i+lookAhead); j++ {
		switch s[j] {
		case '\\':
			j++
		case '[':
			depth++
		case ']':
			depth--
			if depth > 0 {
				continue
			}
			text = s[i+1 : j]
			rest := window(s, j+1)
			switch {
			case strings.HasPrefix(rest, "("):
				if end := strings.IndexByte(rest, ')'); end >= 0 {
					return text, j + 1 + end + 1, true
				}
			case strings.HasPrefix(rest, "["):
				if end := strings.IndexByte(rest, ']'); end >= 0 {
					return text, j + 1 + end + 1, true
				}
			}
			return "", 0, false
		}
	}
	return "", 0, false
}

func isAutolink(s string) bool {
	if strings.ContainsAny(s, " \t<") {
		return false
	}
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "mailto:") ||
		(strings.Contains(s, "@") && !strings.Contains(s, ":"))
}

// emphasisUnderscore reports whether the _ at s[i] marks emphasis: it
// is not inside a word (snake_case keeps its underscores).
func emphasisUnderscore(s string, i int) bool {
	before, _ := utf8.DecodeLastRuneInString(s[:i])
	after, _ := utf8.DecodeRuneInString(s[i+1:])
	inWord := func(r rune) bool { return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r)) }
	return !(inWord(before) && inWord(after))
}

func isASCIIPunct(c byte) bool {
	return c < utf8.RuneSelf && unicode.IsPunct(rune(c)) || strings.IndexByte("$+<=>^`|~", c) >= 0
}

// joinLines joins lines, keeping at most one empty line in a row and
// none at the ends.
func joinLines(lines []string) string {
	var b strings.Builder
	blank := false
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			blank = b.Len() > 0
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
			if blank {
				b.WriteByte('\n')
			}
		}
		blank = false
		b.WriteString(l)
	}
	return b.String()
}
