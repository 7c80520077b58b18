package mailparse

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
)

// Mail is an inbound e-mail, decoded. Every string in it is valid UTF-8.
// Bodies use "\n" line breaks whatever the mail used.
type Mail struct {
	// Header is the mail's own header, in order.
	Header Header

	// Subject is decoded (RFC 2047, adjacent words joined).
	Subject string
	// From is the first mailbox of From; its Addr is "" when there is none.
	From    Address
	To      []Address
	Cc      []Address
	ReplyTo []Address
	// ReturnPath is the lower-cased address of the first Return-Path field,
	// "" when it is absent or null.
	ReturnPath string
	// NullReturnPath is set for "Return-Path: <>": a bounce or another
	// automatic mail that must not be answered (RFC 3834, RFC 5321 §4.5.5).
	NullReturnPath bool
	// Date is the Date field; zero when missing or unreadable.
	Date time.Time
	// MessageID is the bare Message-ID (no angle brackets), "" if none.
	MessageID string
	// InReplyTo and References are bare Message-IDs, in order.
	InReplyTo  []string
	References []string

	// Text is the text body: the text/plain parts, charsets and transfer
	// encodings decoded, format=flowed joined; or, when the mail has no
	// text/plain, a plain-text rendering of the HTML (TextFromHTML is set).
	Text         string
	TextFromHTML bool
	// Reply is the new part of Text: quoted history and the separators
	// that start it removed (see ReplyText). Text keeps everything.
	Reply string
	// HTML is the HTML body sanitized for display (see SanitizeHTML), with
	// every image dropped; HTMLWith keeps inline cid: images. "" when the
	// mail has no HTML.
	HTML string
	// Attachments lists attachments and inline parts in mail order.
	Attachments []Attachment
	// Truncated is set when Text or HTML was cut at Limits.MaxBodyBytes.
	Truncated bool
	// Warnings name problems that did not stop parsing (an unknown charset,
	// a missing closing boundary). For logs; they quote no mail content
	// beyond a charset label.
	Warnings []string

	rawHTML string
	report  report
}

// Attachment is a file part of a mail, or an inline part (an image the HTML
// shows by cid:).
type Attachment struct {
	// Name is the file name: decoded (RFC 2231 and RFC 2047, any charset),
	// without directories or control characters. Never empty: a mail that
	// gives none gets a generic one ("attachment.pdf", "message.eml").
	Name string
	// ContentType is the lower-cased media type without parameters.
	ContentType string
	// ContentID is the bare Content-ID (no angle brackets), "" if none.
	ContentID string
	// Inline is set when the HTML body shows this part by cid:.
	Inline bool
	// Size is the decoded size in bytes.
	Size int64
	// Data is the decoded content; nil when Omitted.
	Data []byte
	// Omitted is set when the part is over Limits.MaxAttachmentBytes: it is
	// listed so the agent knows, but its bytes are not kept.
	Omitted bool
}

// report holds what a multipart/report (or a bounce without one) says.
type report struct {
	reportType string   // the report-type of a multipart/report, lower case
	dsn        []Header // blocks of message/delivery-status parts
	mdn        bool     // a message/disposition-notification part
	embedded   []Header // headers of message/rfc822 and text/rfc822-headers parts
}

const maxWarnings = 20

// Parse decodes a raw mail (CRLF or LF line breaks). It is tolerant of the
// many ways real mail breaks the RFCs and never panics. It fails only with a
// *Refused, for an empty mail or one over lim (a mail bomb); the connector
// should quarantine it with the Refused's Reason. Zero fields of lim take
// the defaults.
func Parse(raw []byte, lim Limits) (*Mail, error) {
	lim = lim.withDefaults()
	if len(raw) > lim.MaxBytes {
		return nil, refuse(ErrTooLarge, "mail is %d bytes, over the limit of %d", len(raw), lim.MaxBytes)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, refuse(ErrEmpty, "mail is empty")
	}
	m := &Mail{}
	w := &walker{lim: lim, m: m}
	head, body, ok := splitHeader(raw, lim.MaxHeaderBytes)
	if !ok {
		return nil, refuse(ErrHeaderTooLarge, "header is over the limit of %d bytes", lim.MaxHeaderBytes)
	}
	h, fallback := w.readHeader(head, "")
	m.Header = h
	w.fallback = fallback
	m.fillHeaderFields()
	if err := w.entity(h, bytes.NewReader(body), 0, "text/plain", false); err != nil {
		return nil, err
	}
	w.finish()
	return m, nil
}

// fillHeaderFields decodes the fields of the mail's own header.
func (m *Mail) fillHeaderFields() {
	h := m.Header
	m.Subject = cleanSubject(decodeWords(h.Get("Subject")))
	if from := parseAddressList(h.Get("From")); len(from) > 0 {
		m.From = from[0]
	}
	m.To = addressFields(h, "To")
	m.Cc = addressFields(h, "Cc")
	m.ReplyTo = addressFields(h, "Reply-To")
	if h.Has("Return-Path") {
		rp := strings.TrimSpace(stripComments(h.Get("Return-Path")))
		if strings.Join(strings.Fields(rp), "") == "<>" || rp == "" {
			m.NullReturnPath = true
		} else if a := parseAddressList(rp); len(a) > 0 {
			m.ReturnPath = a[0].Addr
		}
	}
	m.Date = parseDate(h.Get("Date"))
	if ids := parseMsgIDs(h.Get("Message-ID")); len(ids) > 0 {
		m.MessageID = ids[0]
	}
	m.InReplyTo = parseMsgIDs(strings.Join(h.Values("In-Reply-To"), " "))
	m.References = parseMsgIDs(strings.Join(h.Values("References"), " "))
}

func addressFields(h Header, key string) []Address {
	var out []Address
	for _, v := range h.Values(key) {
		out = append(out, parseAddressList(v)...)
		if len(out) >= maxAddresses {
			return out[:maxAddresses]
		}
	}
	return out
}

// cleanSubject turns line breaks and tabs into spaces and trims.
func cleanSubject(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\r', '\n', '\t':
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// walker walks the MIME tree of one mail.
type walker struct {
	lim      Limits
	m        *Mail
	fallback string // charset for raw 8-bit header bytes
	parts    int
	texts    []string
	htmls    []string
}

func (w *walker) warn(format string, args ...any) {
	if len(w.m.Warnings) < maxWarnings {
		w.m.Warnings = append(w.m.Warnings, validUTF8(fmt.Sprintf(format, args...)))
	}
}

// readHeader parses the mail's own header block (or an enclosed mail's) with
// the tolerant parser of header.go. Raw 8-bit values are decoded with the
// block's own Content-Type charset when it names one, else with inherit.
func (w *walker) readHeader(head []byte, inherit string) (Header, string) {
	h := parseHeader(head, inherit)
	if utf8.Valid(head) {
		return h, inherit
	}
	if cs := ownCharset(h); cs != "" {
		return parseHeader(head, cs), cs
	}
	return h, inherit
}

// ownCharset is the charset a header block's Content-Type names, when it is
// a known 8-bit one: raw 8-bit values in the block are most likely in it.
func ownCharset(h Header) string {
	_, p := parseParamField(h.Get("Content-Type"))
	if cs := normalizeLabel(p["charset"]); cs != "" && !utf8Labels[cs] && !asciiLabels[cs] && knownCharset(cs) {
		return cs
	}
	return ""
}

// partHeader turns the header go-message read for a part into a Header,
// enforcing MaxHeaderBytes on its raw size and decoding raw 8-bit values
// like readHeader.
func (w *walker) partHeader(th textproto.Header) (Header, error) {
	var h Header
	size, eight := 0, false
	for f := th.Fields(); f.Next(); {
		raw, _ := f.Raw()
		if size += len(raw); size > w.lim.MaxHeaderBytes {
			return nil, refuse(ErrHeaderTooLarge, "a part's header is over the limit of %d bytes", w.lim.MaxHeaderBytes)
		}
		v := f.Value()
		eight = eight || !utf8.ValidString(v)
		h = append(h, Field{Key: validUTF8(f.Key()), Value: v})
	}
	if !eight {
		return h, nil
	}
	cs := w.fallback
	if own := ownCharset(h); own != "" {
		cs = own
	}
	for i := range h {
		h[i].Value = headerText([]byte(h[i].Value), cs)
	}
	return h, nil
}

// entity handles one MIME entity whose header is h and whose raw body (still
// transfer-encoded) body reads. depth counts the multiparts it is in;
// defType is the type it has without a Content-Type.
func (w *walker) entity(h Header, body io.Reader, depth int, defType string, inReport bool) error {
	w.parts++
	if w.parts > w.lim.MaxParts {
		return refuse(ErrTooManyParts, "more than %d MIME parts", w.lim.MaxParts)
	}
	ct, cp := parseParamField(h.Get("Content-Type"))
	if !validMediaType(ct) {
		ct, cp = defType, params{}
	}
	disp, dp := parseParamField(h.Get("Content-Disposition"))
	cte := h.Get("Content-Transfer-Encoding")

	if strings.HasPrefix(ct, "multipart/") {
		boundary := cp["boundary"]
		if boundary == "" {
			w.warn("%s without a boundary, read as text", ct)
			return w.leaf(h, "text/plain", params{}, disp, dp, cte, body, inReport)
		}
		if depth+1 > w.lim.MaxDepth {
			return refuse(ErrTooDeep, "MIME nesting deeper than %d levels", w.lim.MaxDepth)
		}
		return w.multipart(ct, cp, boundary, body, depth+1, inReport)
	}
	return w.leaf(h, ct, cp, disp, dp, cte, body, inReport)
}

// multipart walks the parts of a multipart body with go-message's multipart
// reader, recursing into each part itself so that depth and part counts stay
// bounded.
func (w *walker) multipart(ct string, cp params, boundary string, body io.Reader, depth int, inReport bool) error {
	// The start of the body is kept until a part is found: a multipart with
	// no parts is read as text.
	pre := &capture{max: w.lim.MaxBytes}
	br := io.TeeReader(body, pre)
	mr := textproto.NewMultipartReader(br, boundary)
	var last *errReader // the last part read
	childType := "text/plain"
	if ct == "multipart/digest" {
		childType = "message/rfc822"
	}
	if ct == "multipart/report" {
		inReport = true
		w.m.report.reportType = strings.ToLower(cp["report-type"])
	}
	alt := ct == "multipart/alternative"
	var firstTexts, lastHTMLs []string
	haveTexts := false
	t0, h0 := len(w.texts), len(w.htmls)
	n := 0
parts:
	for {
		p, err := mr.NextPart()
		if err != nil {
			switch {
			case n == 0:
				_, _ = io.Copy(io.Discard, br)
				w.warn("%s with no parts, read as text", ct)
				return w.leaf(nil, "text/plain", params{}, "", params{}, "", bytes.NewReader(pre.buf), inReport)
			case err == io.EOF:
			case last != nil && last.err != nil:
				w.warn("%s without a closing boundary", ct)
			default:
				w.warn("%s with a malformed part, the rest skipped", ct)
			}
			break parts
		}
		n++
		pre.buf, pre.max = nil, 0
		ph, err := w.partHeader(p.Header)
		if err != nil {
			return err
		}
		tb, hb := len(w.texts), len(w.htmls)
		last = &errReader{r: p}
		if err := w.entity(ph, last, depth, childType, inReport); err != nil {
			return err
		}
		if alt {
			// Of the alternatives, keep the text of the first that has text
			// and the HTML of the last that has HTML.
			if !haveTexts && len(w.texts) > tb {
				firstTexts, haveTexts = append([]string(nil), w.texts[tb:]...), true
			}
			if len(w.htmls) > hb {
				lastHTMLs = append([]string(nil), w.htmls[hb:]...)
			}
			w.texts, w.htmls = w.texts[:tb], w.htmls[:hb]
		}
	}
	if alt {
		w.texts = append(w.texts[:t0], firstTexts...)
		w.htmls = append(w.htmls[:h0], lastHTMLs...)
	}
	return nil
}

// capture keeps what is written to it, up to max bytes.
type capture struct {
	buf []byte
	max int
}

func (c *capture) Write(p []byte) (int, error) {
	if n := min(len(p), c.max-len(c.buf)); n > 0 {
		c.buf = append(c.buf, p[:n]...)
	}
	return len(p), nil
}

// errReader remembers that its reader ended early: go-message's part reader
// reports io.ErrUnexpectedEOF for the last part when the closing boundary is
// missing.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// readPart reads a leaf's raw body. A part cut short (no closing boundary)
// keeps what it has; the multipart around it warns.
func readPart(r io.Reader) []byte {
	b, _ := io.ReadAll(r)
	return b
}

// leaf handles a part that is not multipart.
func (w *walker) leaf(h Header, ct string, cp params, disp string, dp params, cte string, r io.Reader, inReport bool) error {
	body := readPart(r)
	switch ct {
	case "message/delivery-status", "message/global-delivery-status":
		w.m.report.dsn = append(w.m.report.dsn, parseDSN(decodeBody(cte, body), w.lim.MaxHeaderBytes)...)
		return nil
	case "message/disposition-notification", "message/global-disposition-notification":
		w.m.report.mdn = true
		return nil
	case "text/rfc822-headers", "message/rfc822-headers", "message/global-headers":
		w.embed(decodeBody(cte, body))
		return nil
	case "message/rfc822", "message/global":
		eh := w.embed(decodeBody(cte, body))
		if inReport {
			return nil
		}
		// A forwarded mail: named after its subject unless it has a name.
		if dp["filename"] == "" && cp["name"] == "" {
			if subj := cleanSubject(decodeWords(eh.Get("Subject"))); subj != "" {
				dp = params{"filename": subj + ".eml"}
			}
		}
	}
	named := dp["filename"] != "" || cp["name"] != ""
	if (ct == "text/plain" || ct == "text/html") && disp != "attachment" && !named {
		w.body(ct, cp, cte, body)
		return nil
	}
	return w.attachment(h, ct, cp, dp, cte, body)
}

// embed reads and keeps the header of an enclosed mail (for bounces).
func (w *walker) embed(b []byte) Header {
	head, _, ok := splitHeader(b, w.lim.MaxHeaderBytes)
	if !ok {
		return nil
	}
	h := parseHeader(head, w.fallback)
	if len(w.m.report.embedded) < 20 {
		w.m.report.embedded = append(w.m.report.embedded, h)
	}
	return h
}

// body decodes a text/plain or text/html body part.
func (w *walker) body(ct string, cp params, cte string, b []byte) {
	b = decodeBody(cte, b)
	// Cut early to bound the work, with room for the charset conversion;
	// finish cuts the UTF-8 result to MaxBodyBytes.
	if pre := w.lim.MaxBodyBytes; len(b)/4 > pre {
		pre *= 4
		b = trimPartialRune(b[:pre])
		w.m.Truncated = true
	}
	cs := cp["charset"]
	if cs == "" && ct == "text/html" {
		cs = sniffHTMLCharset(b)
	}
	s, ok := decodeCharset(cs, b)
	if !ok {
		w.warn("unknown charset %.40q", cs)
	}
	s = normalizeNewlines(strings.TrimPrefix(s, "\uFEFF"))
	if ct == "text/plain" && strings.EqualFold(cp["format"], "flowed") {
		s = unflow(s, strings.EqualFold(cp["delsp"], "yes"))
	}
	if ct == "text/html" {
		w.htmls = append(w.htmls, s)
	} else {
		w.texts = append(w.texts, s)
	}
}

func (w *walker) attachment(h Header, ct string, cp, dp params, cte string, body []byte) error {
	if len(w.m.Attachments) >= w.lim.MaxAttachments {
		return refuse(ErrTooManyAttachments, "more than %d attachments", w.lim.MaxAttachments)
	}
	a := Attachment{ContentType: ct}
	name := dp["filename"]
	if name == "" {
		name = cp["name"]
	}
	a.Name = cleanFilename(name)
	if a.Name == "" {
		a.Name = defaultName(ct)
	}
	if ids := parseMsgIDs(h.Get("Content-ID")); len(ids) > 0 {
		a.ContentID = ids[0]
	} else if id := strings.Trim(strings.TrimSpace(h.Get("Content-ID")), "<>"); id != "" && len(id) <= maxIDLen {
		a.ContentID = validUTF8(id)
	}
	max := w.lim.MaxAttachmentBytes
	if strings.EqualFold(strings.TrimSpace(cte), "base64") {
		if n := base64Size(body); n > max {
			a.Size, a.Omitted = int64(n), true
			w.m.Attachments = append(w.m.Attachments, a)
			return nil
		}
	}
	// decodeBody always returns a fresh slice: the raw mail is not kept alive.
	data := decodeBody(cte, body)
	a.Size = int64(len(data))
	if len(data) > max {
		a.Omitted = true
	} else {
		a.Data = data
	}
	w.m.Attachments = append(w.m.Attachments, a)
	return nil
}

// finish assembles the bodies once the tree is walked.
func (w *walker) finish() {
	m, max := w.m, w.lim.MaxBodyBytes
	m.rawHTML = cutUTF8(strings.Join(w.htmls, "\n"), max, &m.Truncated)
	if len(w.texts) > 0 {
		m.Text = cutUTF8(strings.Join(w.texts, "\n"), max, &m.Truncated)
	} else if m.rawHTML != "" {
		m.Text = cutUTF8(htmlToText(m.rawHTML), max, &m.Truncated)
		m.TextFromHTML = true
	}
	if m.rawHTML != "" {
		cids := map[string]bool{}
		var cut bool
		m.HTML = sanitize(m.rawHTML, func(cid string) (string, bool) {
			cids[cid] = true
			return "", false
		}, max, &cut)
		if cut {
			m.Truncated = true
		}
		for i := range m.Attachments {
			if id := m.Attachments[i].ContentID; id != "" && cids[id] {
				m.Attachments[i].Inline = true
			}
		}
	}
	m.Reply = ReplyText(m.Text)
}

// HTMLWith sanitizes the HTML body like HTML, but keeps the inline images
// whose cid: source src maps to a URL (e.g. of the stored blob). src gets the
// bare Content-ID; an image it returns false for is dropped. A nil src drops
// every image.
func (m *Mail) HTMLWith(src func(contentID string) (url string, ok bool)) string {
	var cut bool
	return sanitize(m.rawHTML, src, len(m.rawHTML)*6+1024, &cut)
}

// validMediaType reports whether s looks like "type/subtype".
func validMediaType(s string) bool {
	t, sub, ok := strings.Cut(s, "/")
	if !ok || t == "" || sub == "" || len(s) > 127 {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// sniffHTMLCharset finds <meta charset=…> or http-equiv's charset= near the
// start of an HTML body that has no charset parameter.
func sniffHTMLCharset(b []byte) string {
	if len(b) > 2048 {
		b = b[:2048]
	}
	low := bytes.ToLower(b)
	i := bytes.Index(low, []byte("charset="))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(low[i+len("charset="):], "\"' ")
	end := bytes.IndexAny(rest, "\"' ;/>")
	if end < 0 {
		return ""
	}
	return string(rest[:end])
}

func normalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b, so
// that a cut does not make UTF-8 text look like another charset.
func trimPartialRune(b []byte) []byte {
	for k := 1; k <= 3 && k <= len(b); k++ {
		if c := b[len(b)-k]; utf8.RuneStart(c) {
			if c >= 0x80 && !utf8.FullRune(b[len(b)-k:]) {
				return b[:len(b)-k]
			}
			return b
		}
	}
	return b
}

// cutUTF8 cuts s to at most max bytes on a rune boundary, setting *cut.
func cutUTF8(s string, max int, cut *bool) string {
	if len(s) <= max {
		return s
	}
	*cut = true
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// cleanFilename keeps the last path element of a name, without control
// characters, at most 255 bytes.
func cleanFilename(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSpace(s)
	if strings.Trim(s, ".") == "" {
		return ""
	}
	if len(s) > 255 {
		var cut bool
		ext := ""
		if i := strings.LastIndexByte(s, '.'); i >= 0 && len(s)-i <= 16 {
			ext = s[i:]
		}
		s = cutUTF8(s, 255-len(ext), &cut) + ext
	}
	return s
}

var extensions = map[string]string{
	"application/pdf": ".pdf", "application/zip": ".zip", "image/png": ".png",
	"image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
	"image/bmp": ".bmp", "text/plain": ".txt", "text/html": ".html",
	"text/calendar": ".ics", "text/csv": ".csv", "message/rfc822": ".eml",
	"message/global": ".eml", "audio/amr": ".amr", "audio/mpeg": ".mp3",
	"video/mp4": ".mp4",
}

// defaultName makes up a file name for a part that has none.
func defaultName(ct string) string {
	base := "attachment"
	switch {
	case strings.HasPrefix(ct, "image/"):
		base = "image"
	case strings.HasPrefix(ct, "message/"):
		base = "message"
	}
	return base + extensions[ct]
}
