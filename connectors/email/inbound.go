package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/connectors/email/mailparse"
	"switchboard/internal/blob"
)

// Bounds on what one mail puts in a message.
const (
	maxText = 60 << 10 // the router takes 64 KiB of text
	maxRaw  = 200 << 10
	maxHTML = 200 << 10
)

// envelope is what is known of how a mail reached us: its SMTP reverse
// path (MAIL FROM), when there was an SMTP transaction to tell it.
type envelope struct {
	// from is the reverse path, lower-cased; with known set, "" is the
	// null reverse path <> of a bounce.
	from string
	// known is false for mail fetched from a mailbox (IMAP): no envelope
	// came with it, so take falls back on its Return-Path field, and
	// without one nothing is assumed about the sender.
	known bool
	// deferrable is true while an SMTP client waits for the answer and can
	// be told to try again later (450). Mail fetched from a mailbox cannot
	// be put back, and holding it would hold every later mail too.
	deferrable bool
}

// smtpEnvelope is the envelope of mail handed over by SMTP.
func smtpEnvelope(from string) envelope { return envelope{from: from, known: true, deferrable: true} }

// fetched is the envelope of mail fetched from a mailbox (IMAP).
var fetched = envelope{}

// nullSender reports whether the mail came with the null reverse path <>:
// said by the SMTP envelope, or for fetched mail by "Return-Path: <>", which
// the delivering server writes from its envelope. Mail without either is
// not taken for a bounce.
func (e envelope) nullSender(m *mailparse.Mail) bool {
	if e.known {
		return e.from == ""
	}
	return m.NullReturnPath
}

// deliveredTag finds the +tag of a fetched mail (which came without its
// envelope recipient): in the Delivered-To or X-Original-To fields the
// delivering server wrote from its envelope, else in To or Cc. Threading
// by the tag still needs the sender to be one of the thread's participants.
func deliveredTag(box *Mailbox, m *mailparse.Mail) string {
	var addrs []string
	for _, key := range []string{"Delivered-To", "X-Original-To"} {
		for _, v := range m.Header.Values(key) {
			addrs = append(addrs, strings.Trim(strings.TrimSpace(v), "<>"))
		}
	}
	for _, a := range append(append([]mailparse.Address(nil), m.To...), m.Cc...) {
		addrs = append(addrs, a.Addr)
	}
	for _, a := range addrs {
		if tag, ok := box.accepts(strings.ToLower(a)); ok && tag != "" {
			return tag
		}
	}
	return ""
}

// take stores one inbound mail for box: parsed, classified, threaded and
// ingested. A mail that cannot be parsed is quarantined with its reason
// (and acknowledged: retrying would not help); automatic mail, lists and
// bounces never open a conversation. It returns nil only once Redis holds
// the mail (or its quarantine entry, or it was deliberately not filed);
// an *smtp.SMTPError is for the SMTP answer.
func (c *Connector) take(ctx context.Context, box *Mailbox, raw []byte, env envelope, plusTag string) error {
	m, err := mailparse.Parse(raw, mailparse.Limits{MaxBytes: int(box.MaxMessageBytes)})
	if err != nil {
		return c.quarantine(ctx, box, raw, env, err.Error())
	}
	if m.From.Addr == "" {
		return c.quarantine(ctx, box, raw, env, "no From address")
	}
	if c.ours(m.From.Addr) {
		// Our own mail coming back: a loop.
		c.m.mails.WithLabelValues(box.ID, "auto_reply").Inc()
		return nil
	}
	if plusTag == "" && !env.known && box.PlusAddress {
		plusTag = deliveredTag(box, m)
	}
	class := mailparse.Classify(m)
	if env.nullSender(m) && class.Kind == mailparse.Human {
		class = mailparse.Class{Kind: mailparse.Bounce, Reason: "null envelope sender"}
	}
	t, err := c.resolve(ctx, box, m, plusTag)
	if err != nil {
		return err
	}
	switch class.Kind {
	case mailparse.AutoReply, mailparse.Bulk, mailparse.Bounce:
		// Never a conversation of its own. Answering a known thread, it is
		// kept there as a passive message (no reopening, no window).
		if class.Kind == mailparse.Bounce {
			if err := c.bounced(ctx, box, class.Bounce); err != nil {
				return err
			}
		}
		if t.conv == "" || class.Kind == mailparse.Bounce {
			c.m.mails.WithLabelValues(box.ID, string(class.Kind)).Inc()
			c.env.Log.Info("email: automatic mail not filed", "mailbox", box.ID, "kind", class.Kind, "reason", class.Reason)
			return nil
		}
	default:
		if t.conv == "" {
			err := c.allow(ctx, box, m.From.Addr)
			switch {
			case errors.Is(err, errOverLimit) && !env.deferrable:
				// Fetched mail cannot be deferred, and retrying it would
				// hold up every later mail of the mailbox for up to an
				// hour: it is kept for an operator instead.
				return c.quarantine(ctx, box, raw, env, fmt.Sprintf("more than per_sender_per_hour (%d) new conversations from one sender",
					box.PerSenderPerHour))
			case errors.Is(err, errOverLimit):
				c.m.mails.WithLabelValues(box.ID, "deferred").Inc()
				return err
			case err != nil:
				return err
			}
		}
	}
	msg := c.message(ctx, box, m, raw, t)
	msg.Passive = class.Kind != mailparse.Human
	acc, err := c.env.In.Ingest(ctx, msg)
	if err != nil {
		return err
	}
	var st *threadState
	if m.MessageID != "" && class.Kind == mailparse.Human {
		// Replies answer the customer's latest mail.
		st = &threadState{Subject: m.Subject, MessageID: m.MessageID, References: m.References}
	}
	if err := c.remember(ctx, box, m, t.key, acc.ConversationID, st); err != nil {
		return err
	}
	outcome := "stored"
	if t.conv != "" {
		outcome = "threaded"
	}
	c.m.mails.WithLabelValues(box.ID, outcome).Inc()
	return nil
}

// bounced marks the replies a bounce reports as failed, with its status
// and diagnostic. Only mail Switchboard sent is known (its Message-ID is
// ticket-N.MSGID@domain and in the thread index); a delay warning (4.x.x)
// changes nothing.
func (c *Connector) bounced(ctx context.Context, box *Mailbox, b *mailparse.BounceReport) error {
	dr, ok := c.env.In.(connectors.DeliveryReporter)
	if !ok || b == nil || strings.HasPrefix(b.Status, "4") || strings.EqualFold(b.Action, "delayed") {
		return nil
	}
	for _, id := range b.OriginalMessageIDs {
		left, domain, found := strings.Cut(id, "@")
		_, msgID, dot := strings.Cut(left, ".")
		if !found || !dot || !strings.HasPrefix(left, "ticket-") || !strings.EqualFold(domain, box.domain) {
			continue
		}
		conv, err := c.env.Redis.Get(ctx, c.midKey(box, id)).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return fmt.Errorf("email: bounce: %w", err)
		}
		reason := "退信 · the mail bounced"
		if d := strings.TrimSpace(b.Status + " " + b.Diagnostic); d != "" {
			reason += ": " + cut(d, 300)
		}
		if err := dr.ReportFailure(ctx, conv, msgID, b.Status, reason); err != nil {
			return err
		}
	}
	return nil
}

// message builds the conversation message of a mail.
func (c *Connector) message(ctx context.Context, box *Mailbox, m *mailparse.Mail, raw []byte, t thread) *connectors.Message {
	ext := "mid:" + hash(m.MessageID, 40)
	if m.MessageID == "" {
		ext = "raw:" + hash(string(raw), 40)
	}
	text := m.Reply
	if text == "" {
		text = m.Text
	}
	if text == "" {
		text = "(" + m.Subject + ")"
	}
	text = cut(text, maxText)
	fields := map[string]string{"subject": m.Subject}
	if m.Text != text && m.Text != "" {
		fields["full_text"] = cut(m.Text, maxText)
	}
	msg := &connectors.Message{Channel: connectors.Email, Account: box.ID, ExternalID: ext,
		From: connectors.Identity{Type: "email", Value: m.From.Addr, Name: m.From.Name},
		Kind: connectors.KindText, Text: text, Fields: fields, Time: m.Date,
		Thread: connectors.Thread{MessageID: m.MessageID, InReplyTo: first(m.InReplyTo), References: m.References,
			Token: subjectToken(m.Subject), Key: t.key, Conversation: t.conv}}
	if len(raw) <= maxRaw {
		msg.Raw = raw
	}
	if c.env.Blobs != nil {
		byCID := map[string]string{}
		for i, a := range m.Attachments {
			if a.Omitted || len(a.Data) == 0 {
				continue
			}
			id := blob.IDFor("email", box.ID, ext, strconv.Itoa(i))
			if !c.env.Blobs.Exists(id) {
				if _, err := c.env.Blobs.Put(ctx, id, bytes.NewReader(a.Data), a.Name, a.ContentType); err != nil {
					c.env.Log.Warn("email: attachment not stored", "mailbox", box.ID, "err", err)
					continue
				}
			}
			if a.Inline && a.ContentID != "" {
				byCID[a.ContentID] = "/api/v1/blobs/" + id
			}
			msg.Attachments = append(msg.Attachments, connectors.Attachment{Name: a.Name, ContentType: a.ContentType, Size: a.Size, Ref: id})
		}
		if m.HTML != "" {
			fields["html"] = cut(m.HTMLWith(func(cid string) (string, bool) { u, ok := byCID[cid]; return u, ok }), maxHTML)
		}
	} else if m.HTML != "" {
		fields["html"] = cut(m.HTML, maxHTML)
	}
	if len(msg.Attachments) > 0 && m.Text == "" {
		msg.Kind = connectors.KindFile
	}
	return msg
}

// allow counts a sender's new conversations per hour; over the bound the
// mail is deferred (450), so a looping or flooding sender is slowed down
// without losing a message.
func (c *Connector) allow(ctx context.Context, box *Mailbox, sender string) error {
	key := c.env.Prefix + "{em:" + box.ID + "}:rate:" + hash(sender, 24) + ":" + strconv.FormatInt(c.env.Now().Unix()/3600, 10)
	p := c.env.Redis.TxPipeline()
	n := p.Incr(ctx, key)
	p.Expire(ctx, key, 2*time.Hour)
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("email: rate: %w", err)
	}
	if n.Val() > int64(box.PerSenderPerHour) {
		return errOverLimit
	}
	return nil
}

// errOverLimit defers a sender's mail over per_sender_per_hour (450).
var errOverLimit = &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
	Message: "Too many new conversations from this sender; try later"}

func first(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[0]
}

// cut shortens s to at most n bytes on a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
