package qr

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
)

// A customer who left an e-mail address on the form is told by mail when
// an agent replies: a notice through the mailbox notify_mailbox names
// (connectors.Notifier, the e-mail connector), once per reply, in the
// page's language, with the reply quoted and the tracking page's link.

// mailboxID is the form of a channels.email mailbox id.
var mailboxID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// noticeTries is how often the notice of one reply is tried. A failure
// that may pass returns a temporary error from Send, so the outbox tries
// the whole send again (the page keeps the reply once, its marker); after
// noticeTries the notice is given up and Send succeeds. The outbox tries
// a send 8 times, so a notice alone never marks a reply failed that is on
// the tracking page.
const noticeTries = 3

// noticeMarkTTL is how long a reply's notice state is kept: as long as
// the page keeps its marker of the reply, far longer than the outbox
// retries a send.
const noticeMarkTTL = 24 * time.Hour

// noticeKey holds the state of the notice of reply msg on page tok:
// "sent", "failed" (given up), or the count of failed tries.
func (c *Connector) noticeKey(tok, msg string) string {
	return c.env.Prefix + "{qrt:" + tok + "}:n:" + msg
}

// UseNotifiers takes the e-mail connector's notices for notify_mailbox
// (connectors.NotifierUser). The composition root calls it once, after
// every connector is built; a notify_mailbox that is no mailbox with an
// smtp_relay fails start-up.
func (c *Connector) UseNotifiers(find func(connectors.Channel) (connectors.Notifier, bool)) error {
	box := c.cfg.NotifyMailbox
	if box == "" {
		return nil
	}
	n, ok := find(connectors.Email)
	if !ok {
		return fmt.Errorf("notify_mailbox: %q needs channels.email, which is not configured", box)
	}
	if err := n.CanNotify(box); err != nil {
		return fmt.Errorf("notify_mailbox: %w", err)
	}
	c.notify = func(ctx context.Context, nt connectors.Notice) error { return n.Notify(ctx, box, nt) }
	c.env.Log.Info("qr: customers who leave an e-mail address are told of replies", "mailbox", box)
	return nil
}

// notifyReply tells the page's customer by mail that reply m is on page
// tok, when they left an address and replies are notified; not for
// automatic messages. It is called once the reply is on the page and
// returns nil when the notice was sent, is not wanted, was sent before
// (a retried send), or was given up on; a temporary error asks the outbox
// to try the send again (noticeTries). The outbox's send lease keeps one
// send of a message at a time, so the marker needs no lock. A crash
// between the mail and its marker sends the mail again on the retry: the
// same Message-ID.
func (c *Connector) notifyReply(ctx context.Context, tok string, m *connectors.Outbound) error {
	if c.notify == nil || m.Automatic {
		return nil
	}
	t, ok, err := c.loadTrack(ctx, tok)
	if err != nil {
		return connectors.Temporary("redis", redact(err))
	}
	if !ok || t.Email == "" {
		return nil
	}
	key := c.noticeKey(tok, m.ID)
	state, err := c.env.Redis.Get(ctx, key).Result()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return connectors.Temporary("redis", redact(err))
	case state == "sent" || state == "failed":
		return nil
	}
	log := c.env.Log.With("conversation", m.ConversationID, "message", m.ID, "track", tokenRef(tok))
	err = c.notify(ctx, c.notice(ctx, tok, t, m))
	if err == nil {
		if err := c.env.Redis.Set(ctx, key, "sent", noticeMarkTTL).Err(); err != nil {
			log.Warn("qr: reply notice sent but not marked; a retried send would mail it again", "err", redact(err))
		}
		log.Info("qr: reply notice sent")
		return nil
	}
	var ce *connectors.Error
	temporary := !errors.As(err, &ce) || ce.Temporary // as the outbox takes an unclassified error
	p := c.env.Redis.TxPipeline()
	incr := p.Incr(ctx, key)
	p.Expire(ctx, key, noticeMarkTTL)
	_, rerr := p.Exec(ctx)
	if temporary && rerr == nil && incr.Val() < noticeTries {
		log.Info("qr: reply notice failed; the send is retried", "try", incr.Val(), "err", err)
		return &connectors.Error{Code: "notice", Temporary: true,
			Msg: "the reply is on the tracking page; the e-mail telling the customer failed and is tried again", Err: err}
	}
	if err := c.env.Redis.Set(ctx, key, "failed", noticeMarkTTL).Err(); err != nil {
		log.Warn("qr: reply notice state", "err", redact(err))
	}
	log.Warn("qr: reply notice given up; the reply is on the tracking page", "err", err)
	return nil
}

// notice is the mail about reply m on page tok, in the page's language:
// the ticket's number and the asset in the subject, the reply quoted, and
// the page's link.
func (c *Connector) notice(ctx context.Context, tok string, t tracked, m *connectors.Outbound) connectors.Notice {
	lang := t.Lang
	if lang != "en" {
		lang = "zh"
	}
	number := c.ticketState(ctx, t.Conversation).Number
	link := c.env.PublicURL + "/s/t/" + tok + langQuery(lang)

	subject := tr(lang, "notice_subject")
	if t.AssetName != "" {
		subject = tr(lang, "notice_subject_asset", t.AssetName)
	}
	if number != "" {
		subject += " [#" + number + "]"
	}

	who := tr(lang, "agent")
	if author := oneLine(m.Author); author != "" {
		who += " · " + author
	}
	var b strings.Builder
	if name := oneLine(t.From.Name); name != "" {
		b.WriteString(tr(lang, "notice_hello_name", name))
	} else {
		b.WriteString(tr(lang, "notice_hello"))
	}
	b.WriteString("\n\n")
	if t.AssetName != "" {
		b.WriteString(tr(lang, "notice_replied_asset", who, t.AssetName))
	} else {
		b.WriteString(tr(lang, "notice_replied", who))
	}
	if number != "" {
		b.WriteString("\n" + tr(lang, "notice_ticket", number))
	}
	b.WriteString("\n\n")
	for _, line := range strings.Split(strings.TrimRight(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n"), "\n") {
		if line = strings.TrimRight(line, " \t\r"); line == "" {
			b.WriteString(">\n")
		} else {
			b.WriteString("> " + line + "\n")
		}
	}
	b.WriteString("\n" + tr(lang, "notice_open") + "\n" + link + "\n\n" + tr(lang, "notice_auto") + "\n")
	return connectors.Notice{ID: "qr-" + m.ID, To: t.Email, Name: t.From.Name, Subject: subject, Text: b.String(),
		Lang: lang, Link: link}
}

// oneLine is s with its runs of white space (line breaks included) made
// one space, for a name in running text.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
