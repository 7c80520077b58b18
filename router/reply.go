package router

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/fanout"
	"switchboard/internal/rdb"
	"switchboard/session"
	"switchboard/tickets"
)

// Reply limits.
const (
	MaxReplyRunes = 16000
	idemTTL       = 24 * time.Hour
)

// ReplyInput is an agent's reply or internal note.
type ReplyInput struct {
	// Text may be empty when Attachments has something.
	Text     string
	Internal bool
	// Attachments are files in the blob store (Ref = blob id), at most
	// MaxReplyAttachments; the caller checks that they exist. A reply
	// carries images only on a channel that implements connectors.Attacher,
	// other files only on one that implements connectors.DocumentAttacher;
	// notes may always carry them.
	Attachments []connectors.Attachment
	// IdempotencyKey makes a repeated request (a double click, a retry)
	// create one message.
	IdempotencyKey string
}

// Reply adds an agent's reply (sent through the customer's channel via
// the outbox) or internal note to a conversation. On a channel with a
// reply window (connectors.Windowed) a reply after the window's end is
// refused with ErrWindowClosed and nothing is written; notes are always
// allowed. A repeated idempotency key answers with the first message even
// after the window closed.
//
// Text and files are one message: of kind text when there is text, else
// file when a file is not a picture, else image; the files are in
// Attachments. A reply with files on a channel that cannot carry them is
// refused with ErrAttachUnsupported.
func (r *Router) Reply(ctx context.Context, a session.Agent, id string, in ReplyInput) (Message, error) {
	text := strings.TrimSpace(in.Text)
	atts, err := checkAttachments(in.Attachments)
	if err != nil {
		return Message{}, err
	}
	switch {
	case text == "" && len(atts) == 0:
		return Message{}, fmt.Errorf("%w: text is empty", ErrInvalid)
	case !utf8.ValidString(text):
		return Message{}, fmt.Errorf("%w: text is not UTF-8", ErrInvalid)
	case utf8.RuneCountInString(text) > MaxReplyRunes:
		return Message{}, fmt.Errorf("%w: text is longer than %d characters", ErrInvalid, MaxReplyRunes)
	case len(in.IdempotencyKey) > 128 || strings.ContainsAny(in.IdempotencyKey, " \n{}"):
		return Message{}, fmt.Errorf("%w: idempotency key must be at most 128 characters without spaces", ErrInvalid)
	}
	conv, err := r.load(ctx, id)
	if err != nil {
		return Message{}, err
	}
	dir := Out
	if in.Internal {
		dir = Note
	} else if conv.Assignee != a.ID && !a.Supervises() {
		if conv.Assignee == "" {
			return Message{}, fmt.Errorf("%w: take the conversation before replying", ErrForbidden)
		}
		return Message{}, fmt.Errorf("%w: the conversation is assigned to another agent", ErrForbidden)
	}
	if dir == Out && len(atts) > 0 {
		switch {
		case !r.canAttach(conv.Channel, conv.Account):
			return Message{}, fmt.Errorf("%w: the %s channel carries text only; send the files as an internal note or describe them",
				ErrAttachUnsupported, conv.Channel)
		case hasDocument(atts) && !r.canAttachDocuments(conv.Channel, conv.Account):
			return Message{}, fmt.Errorf("%w: the %s channel carries text and images only; send other files as an internal note",
				ErrAttachUnsupported, conv.Channel)
		}
	}
	kind := connectors.KindText
	switch {
	case text != "":
	case hasDocument(atts):
		kind = connectors.KindFile
	default:
		kind = connectors.KindImage
	}
	var att string
	if len(atts) > 0 {
		b, _ := json.Marshal(atts)
		att = string(b)
	}
	now := r.now()
	msg := Message{ID: newID(), ConversationID: id, Direction: dir, Kind: kind, Text: text,
		Author: a.ID, AuthorName: a.Name, CreatedAt: now.UTC(), Attachments: atts}
	if dir == Out {
		msg.Delivery = &Delivery{Status: "queued", UpdatedAt: now.UTC()}
	}
	live, _ := json.Marshal(messageEvent{ConversationID: id, Message: msg})
	ttl := int64(0)
	idemKey := r.k.convIdem(id, "-")
	if in.IdempotencyKey != "" {
		ttl, idemKey = int64(idemTTL/time.Second), r.k.convIdem(id, in.IdempotencyKey)
	}
	var window time.Duration
	if dir == Out {
		window = r.replyWindow(conv.Channel, conv.Account)
	}
	b := rdb.NewBatch(r.rdb)
	res := b.Run(ctx, appendOutboundLua,
		[]string{r.k.conv(id), r.k.convMessages(id), r.k.convDelivery(id), idemKey, r.k.convLive(id), r.k.convHistory(id)},
		msg.ID, string(dir), text, a.ID, a.Name, ms(now), ttl, messagePreview(text, atts), fanout.Encode("", "message.new", live),
		window.Milliseconds(), string(kind), att)
	if err := r.commit.Exec(ctx, b); err != nil {
		return Message{}, fmt.Errorf("router: reply: %w", err)
	}
	v, _ := res.Slice()
	switch v[0].(int64) {
	case -1:
		return Message{}, ErrNotFound
	case -2:
		return Message{}, fmt.Errorf("%w: the conversation is closed", ErrConflict)
	case -3:
		ends, _ := v[1].(int64)
		return Message{}, windowClosed(conv, window, time.UnixMilli(ends))
	case 0: // a repeated request: answer with the first message
		prev, err := r.message(ctx, id, v[1].(string), msg)
		if err != nil {
			return Message{}, err
		}
		// If the first request died before its outbox entry was written,
		// the message is still queued: queue it again under its own id,
		// with its own text and images (sending it twice is prevented by
		// claim_send).
		if st, _ := r.rdb.HGet(ctx, r.k.convDelivery(id), prev.ID).Result(); st == "queued" {
			if err := r.queueSend(ctx, conv, prev); err != nil {
				return Message{}, err
			}
		}
		return prev, nil
	}
	msg.Cursor = v[2].(string)
	if dir == Out {
		// Queued only once the message is in the transcript, so a refused
		// reply writes nothing. A crash in between fails the request; its
		// retry (same key) finds the message still queued and queues it
		// (case 0 above); claim_send keeps any message to one send.
		if err := r.queueSend(ctx, conv, msg); err != nil {
			return Message{}, err
		}
	}
	r.announceOutbound(ctx, conv, msg)
	return msg, nil
}

// queueSend puts an outbound message on the outbox: its text and images.
func (r *Router) queueSend(ctx context.Context, conv Conversation, m Message) error {
	kind := m.Kind
	if kind == "" {
		kind = connectors.KindText
	}
	item, _ := json.Marshal(outItem{Conv: conv.ID, Msg: m.ID, Channel: conv.Channel, Account: conv.Account,
		To: conv.identity, Kind: kind, Text: m.Text, Attach: m.Attachments, Author: m.Author, AuthorName: m.AuthorName,
		At: ms(m.CreatedAt), Thread: connectors.Thread{Token: conv.TicketID}})
	b := rdb.NewBatch(r.rdb)
	b.Pipe().XAdd(ctx, &redis.XAddArgs{Stream: r.k.outbox(), MaxLen: 100000, Approx: true, Values: []any{"m", string(item)}})
	if err := r.commit.Exec(ctx, b); err != nil {
		return fmt.Errorf("router: queue reply: %w", err)
	}
	return nil
}

// announceOutbound moves the conversation up the lists and tells its agent
// (other tabs, or the assignee when someone else wrote a note).
func (r *Router) announceOutbound(ctx context.Context, conv Conversation, msg Message) {
	z := redis.Z{Score: float64(ms(msg.CreatedAt)), Member: conv.ID}
	b := rdb.NewBatch(r.rdb)
	p := b.Pipe()
	p.ZAddXX(ctx, r.k.indexAll(), z)
	p.ZAddXX(ctx, r.k.indexStatus(string(conv.Status)), z)
	data, _ := json.Marshal(messageEvent{ConversationID: conv.ID, Message: msg,
		Conversation: &summaryOfChange{ID: conv.ID, Preview: messagePreview(msg.Text, msg.Attachments), LastMessageAt: msg.CreatedAt,
			Status: string(conv.Status), Assignee: conv.Assignee, Channel: conv.Channel, ReplyUntil: conv.ReplyUntil}})
	if conv.Assignee != "" {
		p.ZAddXX(ctx, r.k.indexAgent(conv.Assignee), z)
		r.events.QueueToAgent(ctx, b, conv.Assignee, session.EventMessageNew, data)
	} else {
		r.events.QueueToInbox(ctx, b, session.EventMessageNew, data)
	}
	if msg.Direction == Out && r.slaOn() {
		r.queueSLAWake(ctx, p, conv.ID, msg.CreatedAt)
	}
	r.queueActivity(ctx, p, conv.ID, msg.CreatedAt)
	if err := r.commit.Exec(ctx, b); err != nil {
		r.log.Warn("router: announce reply", "conversation", conv.ID, "err", err)
	}
	if msg.Direction == Out && conv.Status == tickets.New && !automaticAuthor(msg.Author) {
		// The first reply opened the ticket (append_outbound.lua).
		r.reindex(ctx, change{conv: withStatus(conv, tickets.Open), prevStatus: string(tickets.New),
			prevAssignee: conv.Assignee, changed: []string{"status"}})
	}
}

func withStatus(c Conversation, s tickets.Status) Conversation { c.Status = s; return c }

// message finds one message of a conversation by id, newest first; want
// supplies the fields when it is too old to find quickly.
func (r *Router) message(ctx context.Context, conv, id string, want Message) (Message, error) {
	msgs, err := r.rdb.XRevRangeN(ctx, r.k.convMessages(conv), "+", "-", 200).Result()
	if err != nil {
		return Message{}, fmt.Errorf("router: find message: %w", err)
	}
	for _, m := range msgs {
		if str(m.Values, "id") == id {
			out := messageFrom(conv, m.ID, m.Values)
			r.attachDelivery(ctx, conv, []*Message{&out})
			return out, nil
		}
	}
	want.ID = id
	return want, nil
}

// automaticAuthor reports whether a message's author is no agent: the
// system (surveys) or the FAQ bot.
func automaticAuthor(author string) bool { return author == "system" || author == botAuthor }
