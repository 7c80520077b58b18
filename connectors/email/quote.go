package email

import (
	"strings"
	"time"
	"unicode"

	"switchboard/connectors/email/mailparse"
)

// quoteBytes bounds the customer's text kept in the thread state to quote
// below a reply.
const quoteBytes = 4 << 10

// latest is the customer's latest mail, as a reply quotes it.
type latest struct {
	// Date is the mail's Date (in the sender's own zone), or when it
	// arrived if it had none.
	Date time.Time `json:"d"`
	// From is "Name <address>", or the address alone.
	From string `json:"f"`
	// Text is the mail's text, at most quoteBytes, cut at a line.
	Text string `json:"t"`
	// Addr is the sender's address, lower-cased: a reply quotes the mail
	// only to the person who wrote it.
	Addr string `json:"a,omitempty"`
}

// quotes reports whether replies from m quote the customer's latest mail
// (quote_history, true unless set false).
func (m *Mailbox) quotes() bool { return m.QuoteHistory == nil || *m.QuoteHistory }

// quotable reports whether l may be quoted in a reply to address to: only
// when to wrote it. The thread's latest mail may come from a colleague on
// Cc who answered the mailbox alone; quoting them to the customer would
// pass on what they wrote to us only.
func (l *latest) quotable(to string) bool {
	return l != nil && l.Addr != "" && strings.EqualFold(l.Addr, to)
}

// latestOf is what a reply needs to quote m, a customer's mail taken at now.
func latestOf(m *mailparse.Mail, now time.Time) *latest {
	l := &latest{Date: m.Date, From: m.From.Addr, Text: capText(strings.TrimSpace(m.Text), quoteBytes),
		Addr: strings.ToLower(m.From.Addr)}
	if l.Date.IsZero() {
		l.Date = now
	}
	if name := oneLine(m.From.Name); name != "" {
		if r := []rune(name); len(r) > 100 {
			name = string(r[:100])
		}
		l.From = name + " <" + m.From.Addr + ">"
	}
	return l
}

// capText shortens s to at most n bytes, at the last line break when there
// is one in the second half, and marks the cut with "[…]".
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = cut(s, n-len("\n[…]"))
	if i := strings.LastIndexByte(s, '\n'); i > len(s)/2 {
		s = s[:i]
	}
	return strings.TrimRight(s, " \t\n") + "\n[…]"
}

// withQuote appends l to a reply's text in the customary form: a blank
// line, the attribution ("On <date>, <name> wrote:" or "在 <date>，<name>
// 写道："), and l's text with every line quoted by "> " (">" before a line
// quoted already and on an empty line). The customer's mail client
// recognises both forms, and so does mailparse.ReplyText when the customer
// answers.
func withQuote(text string, l *latest, lang string) string {
	if strings.TrimSpace(l.Text) == "" {
		return text
	}
	var b strings.Builder
	if text = strings.TrimRight(text, " \t\n"); text != "" {
		b.WriteString(text)
		b.WriteString("\n\n")
	}
	b.WriteString(attribution(l, lang))
	for _, line := range strings.Split(l.Text, "\n") {
		line = strings.TrimRight(line, " \t")
		b.WriteString("\n>")
		if line != "" && !strings.HasPrefix(line, ">") {
			b.WriteByte(' ')
		}
		b.WriteString(line)
	}
	return b.String()
}

// attribution is the line above quoted history, in lang ("zh" or "en").
func attribution(l *latest, lang string) string {
	if lang == "zh" {
		return "在 " + l.Date.Format("2006年1月2日 15:04") + "，" + l.From + " 写道："
	}
	return "On " + l.Date.Format("Mon, 2 Jan 2006 at 15:04") + ", " + l.From + " wrote:"
}

// quoteLanguage is the language of a reply's attribution line: the
// mailbox's language, else Chinese for a thread whose subject or latest
// mail is Chinese, else English.
func quoteLanguage(box *Mailbox, st threadState) string {
	if box.Language != "" {
		return box.Language
	}
	if chinese(st.Subject + "\n" + st.Latest.Text) {
		return "zh"
	}
	return "en"
}

// chinese reports whether s has Han characters and no Japanese kana.
func chinese(s string) bool {
	han := false
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Hiragana, unicode.Katakana):
			return false
		case unicode.Is(unicode.Han, r):
			han = true
		}
	}
	return han
}
