package email

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/connectors/email/mailparse"
)

// indexTTL is how long a Message-ID is remembered for threading.
const indexTTL = 400 * 24 * time.Hour

// Keys, all on the mailbox's slot {em:ID}.
func (c *Connector) midKey(box *Mailbox, msgID string) string {
	return c.env.Prefix + "{em:" + box.ID + "}:mid:" + hash(msgID, 32)
}
func (c *Connector) partsKey(box *Mailbox, conv string) string {
	return c.env.Prefix + "{em:" + box.ID + "}:parts:" + conv
}
func (c *Connector) threadKeyOf(box *Mailbox, conv string) string {
	return c.env.Prefix + "{em:" + box.ID + "}:thread:" + conv
}

// hash is the first n hex digits of SHA-256(s).
func hash(s string, n int) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:n]
}

// thread is where an inbound mail belongs.
type thread struct {
	key, conv string // conv empty for a new thread
	how       string // "in-reply-to", "references", "token", "plus", "new"
}

// resolve finds the thread of m: a Message-ID it answers that this mailbox
// has seen or sent, then the ticket token in its subject, then a +tag
// address. A match counts only when the sender is one of the thread's
// participants, so a stranger answering a forwarded mail, or one of many
// recipients of a notice, starts a thread of their own.
//
// A mail that joins no known thread is keyed by the root of the thread it
// answers (rootOf): conversations are kept per sender and key, so each
// person answering one notice Switchboard never saw (a newsletter, a
// maintenance notice sent from another system) has a conversation of
// their own, and their next answer to the same notice joins it.
func (c *Connector) resolve(ctx context.Context, box *Mailbox, m *mailparse.Mail, plusTag string) (thread, error) {
	sender := m.From.Addr
	try := func(conv, how string) (thread, bool, error) {
		if conv == "" {
			return thread{}, false, nil
		}
		p := c.env.Redis.Pipeline() // one round trip for both
		member := p.SIsMember(ctx, c.partsKey(box, conv), sender)
		keyCmd := p.Get(ctx, c.threadKeyOf(box, conv))
		if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return thread{}, false, fmt.Errorf("email: thread index: %w", err)
		}
		key := keyCmd.Val()
		if !member.Val() || key == "" {
			return thread{}, false, nil
		}
		return thread{key: key, conv: conv, how: how}, true, nil
	}
	ids := append([]string(nil), m.InReplyTo...)
	for i := len(m.References) - 1; i >= 0; i-- { // the newest reference first
		ids = append(ids, m.References[i])
	}
	for i, id := range ids {
		v, err := c.env.Redis.Get(ctx, c.midKey(box, id)).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return thread{}, fmt.Errorf("email: thread index: %w", err)
		}
		how := "references"
		if i < len(m.InReplyTo) {
			how = "in-reply-to"
		}
		if t, ok, err := try(v, how); err != nil || ok {
			return t, err
		}
	}
	tl, _ := c.env.In.(connectors.TicketLookup)
	for _, cand := range []struct{ token, how string }{{subjectToken(m.Subject), "token"}, {plusTag, "plus"}} {
		if cand.token == "" || tl == nil {
			continue
		}
		conv, err := tl.ConversationByTicket(ctx, cand.token)
		if err != nil {
			return thread{}, err
		}
		if t, ok, err := try(conv, cand.how); err != nil || ok {
			return t, err
		}
	}
	return thread{key: hash(rootOf(m), 24), how: "new"}, nil
}

// rootOf is the Message-ID a new thread is keyed by: the first of the
// mail's References (the thread's root, which every later mail of the
// thread names too), else what it answers, else its own Message-ID. The
// key never joins two senders: the router keeps a conversation per
// customer and key.
func rootOf(m *mailparse.Mail) string {
	switch {
	case len(m.References) > 0:
		return m.References[0]
	case len(m.InReplyTo) > 0:
		return m.InReplyTo[0]
	case m.MessageID != "":
		return m.MessageID
	}
	return fmt.Sprint(time.Now().UnixNano(), m.From.Addr, m.Subject)
}

func subjectToken(s string) string {
	t, ok := mailparse.SubjectToken(s)
	if !ok {
		return ""
	}
	return t
}

// remember records, once the mail is stored in conversation conv, its
// Message-ID for threading, the thread's key, and its participants (the
// sender and everyone else it was addressed to, not this mailbox). With
// st, the mail is the thread's latest: replies answer it and quote it.
func (c *Connector) remember(ctx context.Context, box *Mailbox, m *mailparse.Mail, key, conv string, st *threadState) error {
	p := c.env.Redis.Pipeline()
	if st != nil {
		s := *st
		s.Latest = latestOf(m, c.env.Now())
		p.Set(ctx, c.stateKey(box, conv), s.encode(), indexTTL)
	}
	if m.MessageID != "" {
		p.Set(ctx, c.midKey(box, m.MessageID), conv, indexTTL)
	}
	p.Set(ctx, c.threadKeyOf(box, conv), key, indexTTL)
	var parts []any
	for _, a := range append(append([]mailparse.Address{m.From}, m.To...), m.Cc...) {
		if a.Addr == "" || c.ours(a.Addr) {
			continue
		}
		parts = append(parts, a.Addr)
	}
	if len(parts) > 0 {
		p.SAdd(ctx, c.partsKey(box, conv), parts...)
		p.Expire(ctx, c.partsKey(box, conv), indexTTL)
	}
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("email: thread index: %w", err)
	}
	return nil
}

// ours reports whether addr is one of the configured mailboxes (or a +tag
// of one).
func (c *Connector) ours(addr string) bool {
	addr = strings.ToLower(addr)
	for _, b := range c.boxes {
		if _, ok := b.accepts(addr); ok || addr == b.Address {
			return true
		}
	}
	return false
}
