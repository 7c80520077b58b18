package mailparse

import (
	"strings"

	"golang.org/x/net/html"
)

// allowedTags are kept by SanitizeHTML (with the attributes in allowedAttrs).
var allowedTags = map[string]bool{
	"p": true, "br": true, "div": true, "span": true, "b": true, "i": true,
	"u": true, "strong": true, "em": true, "blockquote": true, "ul": true,
	"ol": true, "li": true, "a": true, "table": true, "thead": true,
	"tbody": true, "tfoot": true, "tr": true, "td": true, "th": true,
	"pre": true, "code": true, "h1": true, "h2": true, "h3": true, "h4": true,
	"h5": true, "h6": true, "img": true, "hr": true,
}

// droppedWithContent are removed together with everything inside them.
var droppedWithContent = map[string]bool{
	"script": true, "style": true, "iframe": true, "frame": true,
	"frameset": true, "object": true, "embed": true, "applet": true,
	"noscript": true, "noembed": true, "noframes": true, "template": true,
	"head": true, "title": true, "textarea": true, "select": true,
	"svg": true, "math": true, "xmp": true, "plaintext": true, "button": true,
}

// voidTags have no end tag.
var voidTags = map[string]bool{
	"br": true, "img": true, "hr": true, "area": true, "base": true,
	"col": true, "embed": true, "input": true, "link": true, "meta": true,
	"param": true, "source": true, "track": true, "wbr": true,
}

// rawTextTags make the tokenizer read their content as text up to the end
// tag, even when written self-closing.
var rawTextTags = map[string]bool{
	"iframe": true, "noembed": true, "noframes": true, "noscript": true,
	"plaintext": true, "script": true, "style": true, "textarea": true,
	"title": true, "xmp": true,
}

const (
	maxHTMLDepth   = 100 // elements open at once in sanitized HTML
	maxQuotePrefix = 10  // "> " prefixes of a line in the text rendering
)

// SanitizeHTML makes untrusted HTML safe to show. It keeps only p, br, div,
// span, b, i, u, strong, em, blockquote, ul, ol, li, a, table, thead, tbody,
// tfoot, tr, td, th, pre, code, h1–h6, hr and img; other elements are
// dropped but their text kept, except script, style, iframe, object, embed,
// form controls, svg, head and the like, which go with their content.
// Attributes are dropped but for a's href (http, https and mailto only;
// rel="noopener noreferrer" is added) and title; img's alt, title, width
// and height; td's and th's colspan and rowspan; ol's start. An img is kept
// only when its src is a cid: URL that src maps to a URL; a nil src drops
// every image. The output is balanced: every element opened is closed.
func SanitizeHTML(s string, src func(contentID string) (url string, ok bool)) string {
	var cut bool
	return sanitize(s, src, len(s)*6+1024, &cut)
}

// sanitize is SanitizeHTML with a bound on the output: past max bytes it
// stops, closes what is open and sets *cut.
func sanitize(s string, src func(string) (string, bool), max int, cut *bool) string {
	var out strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	var open []string // allowed elements written and not yet closed
	var skip skipper
	for {
		if out.Len() > max {
			*cut = true
			break
		}
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		switch tt {
		case html.TextToken:
			if !skip.active() {
				out.WriteString(html.EscapeString(string(z.Text())))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if skip.start(tag, tt) {
				continue
			}
			if !allowedTags[tag] || len(open) >= maxHTMLDepth {
				continue
			}
			attrs, ok := sanitizeAttrs(z, tag, src)
			if !ok {
				continue
			}
			out.WriteString("<" + tag + attrs + ">")
			if !voidTags[tag] {
				open = append(open, tag)
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if skip.end(tag) {
				continue
			}
			for i := len(open) - 1; i >= 0; i-- {
				if open[i] == tag {
					for j := len(open) - 1; j >= i; j-- {
						out.WriteString("</" + open[j] + ">")
					}
					open = open[:i]
					break
				}
			}
		}
	}
	for j := len(open) - 1; j >= 0; j-- {
		out.WriteString("</" + open[j] + ">")
	}
	return out.String()
}

// sanitizeAttrs renders the allowed attributes of the current tag. It
// reports false when the element should be dropped (an a without a safe
// href, an img without a mapped cid:).
func sanitizeAttrs(z *html.Tokenizer, tag string, src func(string) (string, bool)) (string, bool) {
	var b strings.Builder
	var href, imgSrc string
	seen := map[string]bool{}
	for {
		k, v, more := z.TagAttr()
		key, val := string(k), string(v)
		if key != "" && !seen[key] {
			seen[key] = true
			switch {
			case tag == "a" && key == "href":
				href = val
			case tag == "img" && key == "src":
				imgSrc = val
			case key == "title" && (tag == "a" || tag == "img"),
				key == "alt" && tag == "img":
				writeAttr(&b, key, val)
			case (key == "width" || key == "height") && tag == "img",
				(key == "colspan" || key == "rowspan") && (tag == "td" || tag == "th"),
				key == "start" && tag == "ol":
				if isDigits(val) {
					writeAttr(&b, key, val)
				}
			}
		}
		if !more {
			break
		}
	}
	switch tag {
	case "a":
		u, ok := safeHref(href)
		if !ok {
			return "", false
		}
		return ` href="` + html.EscapeString(u) + `" rel="noopener noreferrer"` + b.String(), true
	case "img":
		cid, ok := cidOf(imgSrc)
		if !ok || src == nil {
			return "", false
		}
		u, ok := src(cid)
		if !ok || u == "" {
			return "", false
		}
		return ` src="` + html.EscapeString(u) + `"` + b.String(), true
	}
	return b.String(), true
}

func writeAttr(b *strings.Builder, key, val string) {
	b.WriteString(" " + key + `="` + html.EscapeString(val) + `"`)
}

func isDigits(s string) bool {
	if s == "" || len(s) > 4 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// safeHref accepts http, https and mailto URLs. Whitespace and control
// characters, which browsers drop inside a scheme ("java\tscript:"), are
// removed before the scheme is checked.
func safeHref(v string) (string, bool) {
	v = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, v)
	low := strings.ToLower(v)
	for _, scheme := range []string{"http://", "https://", "mailto:"} {
		if strings.HasPrefix(low, scheme) && len(v) > len(scheme) {
			return v, true
		}
	}
	return "", false
}

// cidOf returns the Content-ID of a "cid:" URL (RFC 2392: percent-encoded).
func cidOf(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if len(v) < 5 || !strings.EqualFold(v[:4], "cid:") {
		return "", false
	}
	id := strings.Trim(string(percentDecode(v[4:])), "<>")
	if id == "" {
		return "", false
	}
	return validUTF8(id), true
}

// blockTags start and end a line in the text rendering.
var blockTags = map[string]bool{
	"p": true, "div": true, "h1": true, "h2": true, "h3": true, "h4": true,
	"h5": true, "h6": true, "ul": true, "ol": true, "li": true, "table": true,
	"tr": true, "pre": true, "blockquote": true, "hr": true, "dl": true,
	"dt": true, "dd": true, "section": true, "article": true, "header": true,
	"footer": true, "address": true, "center": true, "form": true,
	"fieldset": true, "caption": true, "nav": true, "aside": true,
	"main": true, "figure": true, "body": true, "html": true,
}

// textWriter builds the text rendering. Blockquotes are marked by lines
// holding quoteIn or quoteOut, which finish turns into "> " prefixes so that
// ReplyText can strip the quoted history.
type textWriter struct {
	b         strings.Builder
	pendingNL int  // line breaks asked for before the next text
	needSpace bool // a space before the next word
}

const (
	quoteIn  = "\x01"
	quoteOut = "\x02"
)

var (
	dropMarks    = strings.NewReplacer(quoteIn, "", quoteOut, "")
	dropMarksPre = strings.NewReplacer(quoteIn, "", quoteOut, "", "\u00a0", " ")
)

func (t *textWriter) atLineStart() bool {
	return t.b.Len() == 0 || strings.HasSuffix(t.b.String(), "\n")
}

func (t *textWriter) breaks(n int) { t.pendingNL = max(t.pendingNL, n) }

func (t *textWriter) startText() {
	if t.pendingNL > 0 {
		if t.b.Len() > 0 {
			if !t.atLineStart() {
				t.b.WriteByte('\n')
			}
			for i := 1; i < t.pendingNL; i++ {
				t.b.WriteByte('\n')
			}
		}
		t.pendingNL, t.needSpace = 0, false
	}
}

func (t *textWriter) words(s string) {
	s = dropMarks.Replace(s)
	fields := strings.FieldsFunc(s, isHTMLSpace)
	if len(fields) == 0 {
		if s != "" && !t.atLineStart() {
			t.needSpace = true
		}
		return
	}
	if isHTMLSpace(rune(s[0])) {
		t.needSpace = true
	}
	for _, f := range fields {
		t.startText()
		if t.needSpace && !t.atLineStart() {
			t.b.WriteByte(' ')
		}
		t.b.WriteString(f)
		t.needSpace = true
	}
	t.needSpace = isHTMLSpace(rune(s[len(s)-1]))
}

func (t *textWriter) preText(s string) {
	s = dropMarksPre.Replace(s)
	if s == "" {
		return
	}
	t.startText()
	t.b.WriteString(s)
	t.needSpace = false
}

func (t *textWriter) mark(m string) {
	if !t.atLineStart() {
		t.b.WriteByte('\n')
	}
	t.b.WriteString(m + "\n")
	t.needSpace, t.pendingNL = false, 0
}

// finish applies the quote marks and trims blank lines: none at either end,
// at most one in a row.
func (t *textWriter) finish() string {
	var out []string
	depth, blank := 0, 0
	for _, l := range strings.Split(t.b.String(), "\n") {
		switch l {
		case quoteIn:
			depth++
			continue
		case quoteOut:
			depth = max(depth-1, 0)
			continue
		}
		l = strings.TrimRight(l, " ")
		if l == "" {
			blank++
			if blank > 1 || len(out) == 0 {
				continue
			}
		} else {
			blank = 0
		}
		if depth > 0 {
			// Deeper quotes get no more prefixes: the output stays linear.
			l = strings.TrimRight(strings.Repeat("> ", min(depth, maxQuotePrefix))+l, " ")
		}
		out = append(out, l)
	}
	for len(out) > 0 && strings.Trim(out[len(out)-1], "> ") == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}

func isHTMLSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == 0xA0
}

// htmlToText renders HTML as plain text: paragraphs and line breaks kept,
// list items as "- " lines, blockquotes as "> " lines, links as
// "text <url>", scripts, styles and the like dropped.
func htmlToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	t := &textWriter{}
	var skip skipper
	pre := 0
	var href string
	var linkText strings.Builder
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		switch tt {
		case html.TextToken:
			if skip.active() {
				continue
			}
			txt := string(z.Text())
			if href != "" {
				linkText.WriteString(txt)
			}
			if pre > 0 {
				t.preText(txt)
			} else {
				t.words(txt)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if skip.start(tag, tt) {
				continue
			}
			switch tag {
			case "br":
				t.pendingNL++
			case "li":
				t.breaks(1)
				t.words("- ")
			case "blockquote":
				t.mark(quoteIn)
			case "pre":
				t.breaks(1)
				pre++
			case "td", "th":
				t.needSpace = true
			case "a":
				href = anchorHref(z)
				linkText.Reset()
			case "p", "h1", "h2", "h3", "h4", "h5", "h6", "table":
				t.breaks(2)
			default:
				if blockTags[tag] {
					t.breaks(1)
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if skip.end(tag) {
				continue
			}
			switch tag {
			case "blockquote":
				t.mark(quoteOut)
			case "pre":
				pre = max(pre-1, 0)
				t.breaks(1)
			case "a":
				lt := strings.TrimSpace(linkText.String())
				bare := strings.TrimPrefix(href, "mailto:")
				if href != "" && lt != "" && !strings.Contains(lt, bare) && !strings.Contains(bare, lt) {
					t.words(" <" + href + ">")
				}
				href = ""
			case "p", "h1", "h2", "h3", "h4", "h5", "h6", "table":
				t.breaks(2)
			default:
				if blockTags[tag] {
					t.breaks(1)
				}
			}
		}
	}
	return t.finish()
}

// anchorHref returns the href of the current a tag when it is a safe http,
// https or mailto URL.
func anchorHref(z *html.Tokenizer) string {
	for {
		k, v, more := z.TagAttr()
		if string(k) == "href" {
			u, _ := safeHref(string(v))
			return u
		}
		if !more {
			return ""
		}
	}
}

// skipper drops an element that goes with its content (script, style,
// …) and everything inside it, counting nested start tags of the same
// name, for the sanitizer and the text rendering alike.
type skipper struct {
	tag   string
	depth int
}

func (s *skipper) active() bool { return s.tag != "" }

// start reports whether a start (or self-closing) tag is dropped, and
// begins dropping at an element that goes with its content.
func (s *skipper) start(tag string, tt html.TokenType) bool {
	if s.tag != "" {
		if tag == s.tag && tt == html.StartTagToken {
			s.depth++
		}
		return true
	}
	if droppedWithContent[tag] {
		if tt == html.StartTagToken || rawTextTags[tag] {
			s.tag, s.depth = tag, 1
		}
		return true
	}
	return false
}

// end reports whether an end tag is dropped, ending the drop at the end
// of the element that began it.
func (s *skipper) end(tag string) bool {
	if s.tag == "" {
		return false
	}
	if tag == s.tag {
		if s.depth--; s.depth == 0 {
			s.tag = ""
		}
	}
	return true
}
