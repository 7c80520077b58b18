package email

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/connectors/email/mailparse"
)

// threadState is what a reply needs to thread in the customer's mail
// client: the subject and the ids of the thread's latest mail.
type threadState struct {
	Subject    string   `json:"s"`
	MessageID  string   `json:"m"`
	References []string `json:"r"`
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
// answer back. Nothing from the text or the names reaches a header
// unencoded, so no CR or LF can inject one.
func (c *Connector) Send(ctx context.Context, m *connectors.Outbound) (connectors.Receipt, error) {
	var box *Mailbox
	for _, b := range c.boxes {
		if b.ID == m.Account {
			box = b
		}
	}
	switch {
	case box == nil:
		return connectors.Receipt{}, connectors.Permanent("", fmt.Errorf("email: no mailbox %q", m.Account))
	case box.SMTPRelay == nil:
		return connectors.Receipt{}, connectors.Permanent("", fmt.Errorf("email: mailbox %s has no smtp_relay to send replies through", box.ID))
	case m.To.Type != "email" || !strings.Contains(m.To.Value, "@") || strings.ContainsAny(m.To.Value, "\r\n<>,; "):
		return connectors.Receipt{}, connectors.Permanent("", fmt.Errorf("email: %q is not an address", m.To.String()))
	case len(m.Attachments) > 0:
		return connectors.Receipt{}, connectors.Permanent("", errors.New("email: attachments on e-mail replies are not available yet"))
	}
	st, err := c.loadState(ctx, box, m.ConversationID)
	if err != nil {
		return connectors.Receipt{}, connectors.Temporary("", fmt.Errorf("email: thread: %w", err))
	}
	msgID := "ticket-" + safeID(m.Thread.Token) + "." + safeID(m.ID) + "@" + box.domain
	raw := compose(box, m, st, msgID, c.env.Now())
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
	if err := c.rememberState(ctx, box, m.ConversationID, threadState{Subject: st.Subject, MessageID: msgID, References: refs}); err != nil {
		c.env.Log.Warn("email: thread state", "mailbox", box.ID, "err", err)
	}
	return connectors.Receipt{ExternalID: msgID}, nil
}

// safeID keeps the characters a Message-ID's left side may hold.
func safeID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, s)
}

// headerText makes text safe for one header line: no control characters,
// non-ASCII as RFC 2047 encoded-words (UTF-8).
func headerText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return mime.QEncoding.Encode("utf-8", strings.TrimSpace(s))
}

// compose writes the reply as an RFC 5322 message.
func compose(box *Mailbox, m *connectors.Outbound, st threadState, msgID string, now time.Time) []byte {
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
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", headerText(fromName)+" <"+box.Address+">")
	h("To", "<"+m.To.Value+">")
	h("Subject", headerText("Re: "+subject))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<"+msgID+">")
	if st.MessageID != "" {
		h("In-Reply-To", "<"+st.MessageID+">")
		refs := append(append([]string(nil), st.References...), st.MessageID)
		for i := range refs {
			refs[i] = "<" + refs[i] + ">"
		}
		h("References", strings.Join(refs, "\r\n "))
	}
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	w := newQP(&b)
	_, _ = io.WriteString(w, strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n", "\r\n"))
	_ = w.Close()
	return b.Bytes()
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
