package email

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/connectors/email/mailparse"
)

// threadState is what a reply needs to thread in the customer's mail
// client: the subject and the ids of the thread's latest mail, and the
// customer's latest mail to quote below the reply.
type threadState struct {
	Subject    string   `json:"s"`
	MessageID  string   `json:"m"`
	References []string `json:"r"`
	// Latest is the customer's latest mail, nil before the first one
	// (and in state stored before quoting existed).
	Latest *latest `json:"q,omitempty"`
}

func (c *Connector) stateKey(box *Mailbox, conv string) string {
	return c.env.Prefix + "{em:" + box.ID + "}:state:" + conv
}

// rememberState keeps the thread's latest mail, for replies.
func (c *Connector) rememberState(ctx context.Context, box *Mailbox, conv string, st threadState) error {
	return c.env.Redis.Set(ctx, c.stateKey(box, conv), st.encode(), indexTTL).Err()
}

// encode is the state as stored: at most 20 references (the root and the
// latest are what mail clients use).
func (st threadState) encode() []byte {
	if len(st.References) > 20 {
		st.References = append(st.References[:1:1], st.References[len(st.References)-19:]...)
	}
	b, _ := json.Marshal(st)
	return b
}

func (c *Connector) loadState(ctx context.Context, box *Mailbox, conv string) (threadState, error) {
	var st threadState
	b, err := c.env.Redis.Get(ctx, c.stateKey(box, conv)).Bytes()
	if errors.Is(err, redis.Nil) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(b, &st)
	return st, err
}

// Send mails an agent's reply through the mailbox's relay: threaded on
// the customer's latest mail (In-Reply-To, References), the ticket token
// in the subject, a Message-ID of our own that threads the customer's
// answer back, the customer's latest mail quoted below the text
// (quote_history), and the reply's files as attachments. Automatic mail
// (m.Automatic) is marked so that auto-responders do not answer it.
// Nothing from the text or the names reaches a header unencoded, so no CR
// or LF can inject one.
func (c *Connector) Send(ctx context.Context, m *connectors.Outbound) (connectors.Receipt, error) {
	box := c.box(m.Account)
	switch {
	case box == nil:
		return connectors.Receipt{}, connectors.Permanent("", fmt.Errorf("email: no mailbox %q", m.Account))
	case box.SMTPRelay == nil:
		return connectors.Receipt{}, connectors.Permanent("", fmt.Errorf("email: mailbox %s has no smtp_relay to send replies through", box.ID))
	case m.To.Type != "email" || !strings.Contains(m.To.Value, "@") || strings.ContainsAny(m.To.Value, "\r\n<>,; "):
		return connectors.Receipt{}, connectors.Permanent("", fmt.Errorf("email: %q is not an address", m.To.String()))
	}
	files, err := c.files(m.Attachments)
	if err != nil {
		return connectors.Receipt{}, err
	}
	st, err := c.loadState(ctx, box, m.ConversationID)
	if err != nil {
		return connectors.Receipt{}, connectors.Temporary("", fmt.Errorf("email: thread: %w", err))
	}
	msgID := "ticket-" + safeID(m.Thread.Token) + "." + safeID(m.ID) + "@" + box.domain
	raw, err := compose(box, m, st, msgID, files, c.env.Now())
	if err != nil {
		return connectors.Receipt{}, connectors.Permanent("", fmt.Errorf("email: compose: %w", err))
	}
	if err := c.relay(ctx, box, m.To.Value, raw); err != nil {
		return connectors.Receipt{}, err
	}
	// The customer's answer to this mail threads by its Message-ID.
	refs := st.References
	if st.MessageID != "" {
		refs = append(refs, st.MessageID)
	}
	p := c.env.Redis.Pipeline()
	p.Set(ctx, c.midKey(box, msgID), m.ConversationID, indexTTL)
	p.SAdd(ctx, c.partsKey(box, m.ConversationID), strings.ToLower(m.To.Value))
	if _, err := p.Exec(ctx); err != nil {
		c.env.Log.Warn("email: reply sent but not indexed; the answer may open a new conversation", "mailbox", box.ID, "err", err)
	}
	// The customer's mail stays the one to quote: a second reply before
	// they answer still answers it.
	next := threadState{Subject: st.Subject, MessageID: msgID, References: refs, Latest: st.Latest}
	if err := c.rememberState(ctx, box, m.ConversationID, next); err != nil {
		c.env.Log.Warn("email: thread state", "mailbox", box.ID, "err", err)
	}
	return connectors.Receipt{ExternalID: msgID}, nil
}

// box is the mailbox with config id id, nil when there is none.
func (c *Connector) box(id string) *Mailbox {
	for _, b := range c.boxes {
		if b.ID == id {
			return b
		}
	}
	return nil
}

// CanAttach reports whether replies from mailbox account may carry files:
// it sends through a relay, and there is a blob store to read them from.
func (c *Connector) CanAttach(account string) bool {
	b := c.box(account)
	return b != nil && b.SMTPRelay != nil && c.env.Blobs != nil
}

// CanAttachDocuments is CanAttach: mail carries any file as well as an
// image (connectors.DocumentAttacher).
func (c *Connector) CanAttachDocuments(account string) bool { return c.CanAttach(account) }

// safeID keeps the characters a Message-ID's left side may hold.
func safeID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, s)
}

// oneLine makes text safe for one header line: control characters
// become spaces, runs of white space one space. Encoding what is not ASCII
// (RFC 2047) is go-message's.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// msgIDs keeps the Message-IDs that can stand in a header as they are:
// printable ASCII without spaces or angle brackets. Inbound ids come from
// the customer's mail.
func msgIDs(ids ...string) []string {
	var out []string
	for _, id := range ids {
		ok := id != "" && len(id) <= 500
		for i := 0; ok && i < len(id); i++ {
			ok = id[i] > ' ' && id[i] < 0x7f && id[i] != '<' && id[i] != '>'
		}
		if ok {
			out = append(out, id)
		}
	}
	return out
}

// compose writes the reply as an RFC 5322 message with go-message: a
// text/plain part alone, or with files multipart/mixed, the text first
// and each file an attachment after it. A survey is multipart/alternative
// (survey.go), threaded as a reply, its title before the subject.
func compose(box *Mailbox, m *connectors.Outbound, st threadState, msgID string, files []file, now time.Time) ([]byte, error) {
	subject := mailparse.NormalizeSubject(st.Subject)
	if subject == "" {
		subject = box.Name
	}
	if m.Thread.Token != "" && !strings.Contains(subject, "[#"+m.Thread.Token+"]") {
		subject += " [#" + m.Thread.Token + "]"
	}
	fromName := box.Name
	if m.Author != "" {
		fromName = m.Author + " · " + box.Name
	}
	var h mail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{{Name: oneLine(fromName), Address: box.Address}})
	h.SetAddressList("To", []*mail.Address{{Address: m.To.Value}})
	sv, isSurvey := surveyOf(m)
	if isSurvey && len(files) == 0 {
		h.SetSubject(oneLine(sv.subject(subject)))
	} else {
		h.SetSubject(oneLine("Re: " + subject))
		isSurvey = false
	}
	h.SetMessageID(msgID)
	if parent := msgIDs(st.MessageID); len(parent) > 0 {
		h.SetMsgIDList("In-Reply-To", parent)
		h.SetMsgIDList("References", msgIDs(append(append([]string(nil), st.References...), st.MessageID)...))
	}
	if m.Automatic {
		// RFC 3834: no auto-responder answers it; Exchange's own
		// out-of-office and read receipts stay quiet too.
		h.Set("Auto-Submitted", "auto-replied")
		h.Set("X-Auto-Response-Suppress", "All")
	}

	if isSurvey {
		return composeSurvey(h, sv)
	}
	text := strings.ReplaceAll(m.Text, "\r\n", "\n")
	if box.quotes() && !m.Automatic && st.Latest.quotable(m.To.Value) {
		text = withQuote(text, st.Latest, quoteLanguage(box, st))
	}
	body := []byte(strings.ReplaceAll(text, "\n", "\r\n"))
	textPart := func(h *message.Header) {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		h.Set("Content-Transfer-Encoding", textEncoding(body))
	}

	var b bytes.Buffer
	if len(files) == 0 {
		textPart(&h.Header)
		w, err := mail.CreateSingleInlineWriter(&b, h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(body); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	mw, err := mail.CreateWriter(&b, h)
	if err != nil {
		return nil, err
	}
	var th mail.InlineHeader
	textPart(&th.Header)
	w, err := mw.CreateSingleInline(th)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(body); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := f.write(mw); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// composeSurvey writes a survey's text and HTML as multipart/alternative
// under header h.
func composeSurvey(h mail.Header, sv surveyMail) ([]byte, error) {
	html, err := sv.html()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	w, err := mail.CreateInlineWriter(&b, h)
	if err != nil {
		return nil, err
	}
	for _, p := range []struct{ mediaType, body string }{{"text/plain", sv.text()}, {"text/html", html}} {
		body := []byte(strings.ReplaceAll(p.body, "\n", "\r\n"))
		var ph mail.InlineHeader
		ph.SetContentType(p.mediaType, map[string]string{"charset": "utf-8"})
		ph.Set("Content-Transfer-Encoding", textEncoding(body))
		pw, err := w.CreatePart(ph)
		if err != nil {
			return nil, err
		}
		if _, err := pw.Write(body); err != nil {
			return nil, err
		}
		if err := pw.Close(); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// textEncoding is the shorter transfer encoding for a text body:
// quoted-printable for mostly ASCII text, base64 for Chinese (where
// quoted-printable triples every byte).
func textEncoding(body []byte) string {
	n := 0
	for _, c := range body {
		if c >= 0x80 {
			n++
		}
	}
	if qp, b64 := len(body)+2*n, (len(body)+2)/3*4; b64 < qp {
		return "base64"
	}
	return "quoted-printable"
}

// relay hands raw to the mailbox's SMTP relay. A 5xx is permanent (the
// server's text reaches the inbox), anything else is retried.
func (c *Connector) relay(ctx context.Context, box *Mailbox, to string, raw []byte) error {
	r := box.SMTPRelay
	host, _, _ := net.SplitHostPort(r.Addr)
	tlsc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	var cl *smtp.Client
	var err error
	switch r.Security {
	case "tls":
		cl, err = smtp.DialTLS(r.Addr, tlsc)
	case "none":
		cl, err = smtp.Dial(r.Addr)
	default:
		cl, err = smtp.DialStartTLS(r.Addr, tlsc)
	}
	if err != nil {
		return connectors.Temporary("", fmt.Errorf("email: relay %s: %w", r.Addr, err))
	}
	defer cl.Close()
	if dl, ok := ctx.Deadline(); ok {
		cl.CommandTimeout, cl.SubmissionTimeout = time.Until(dl), time.Until(dl)
	}
	if r.User != "" {
		if err := cl.Auth(sasl.NewPlainClient("", r.User, r.Password)); err != nil {
			return smtpError("auth", err)
		}
	}
	if err := cl.SendMail(box.Address, []string{to}, bytes.NewReader(raw)); err != nil {
		return smtpError("send", err)
	}
	_ = cl.Quit()
	return nil
}

func smtpError(step string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		code := fmt.Sprint(se.Code)
		if se.Code >= 500 {
			return &connectors.Error{Code: code, Msg: fmt.Sprintf("the mail server refused the reply (%d %s)", se.Code, se.Message), Err: err}
		}
		return &connectors.Error{Code: code, Temporary: true, Msg: fmt.Sprintf("the mail server deferred the reply (%d %s)", se.Code, se.Message), Err: err}
	}
	return connectors.Temporary("", fmt.Errorf("email: relay %s: %w", step, err))
}
