package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/fanout"
	"switchboard/internal/rdb"
)

// autoMessage is a message no agent wrote: a survey, its follow-ups, the
// FAQ bot's answers.
type autoMessage struct {
	// Author is "system" or botAuthor; AuthorName is shown in the inbox.
	Author, AuthorName string
	Kind               connectors.Kind
	Text               string
	Fields             map[string]string
	Survey             *connectors.Survey
	// Key makes the send idempotent: a retry with the same key sends the
	// first message again if it is still queued, and never a second one.
	Key string
}

// errNoSend says an automatic message was not sent because the channel
// cannot take it now (closed conversation, reply window over).
var errNoSend = errors.New("router: the conversation takes no message now")

// sendAutomatic appends an automatic message to conv's transcript and
// queues it on the outbox. It does not count as a response: the ticket's
// status, first response and SLA clocks stay as they are.
func (r *Router) sendAutomatic(ctx context.Context, conv Conversation, m autoMessage) (Message, error) {
	if m.Kind == "" {
		m.Kind = connectors.KindText
	}
	now := r.now()
	msg := Message{ID: newID(), ConversationID: conv.ID, Direction: Out, Kind: m.Kind, Text: m.Text,
		Author: m.Author, AuthorName: m.AuthorName, CreatedAt: now.UTC(), Fields: m.Fields,
		Delivery: &Delivery{Status: "queued", UpdatedAt: now.UTC()}}
	live, _ := json.Marshal(messageEvent{ConversationID: conv.ID, Message: msg})
	var fields string
	if len(m.Fields) > 0 {
		b, _ := json.Marshal(m.Fields)
		fields = string(b)
	}
	ttl, idemKey := int64(0), r.k.convIdem(conv.ID, "-")
	if m.Key != "" {
		ttl, idemKey = int64(idemTTL/time.Second), r.k.convIdem(conv.ID, m.Key)
	}
	b := rdb.NewBatch(r.rdb)
	res := b.Run(ctx, appendOutboundLua,
		[]string{r.k.conv(conv.ID), r.k.convMessages(conv.ID), r.k.convDelivery(conv.ID), idemKey, r.k.convLive(conv.ID), r.k.convHistory(conv.ID)},
		msg.ID, string(Out), m.Text, m.Author, m.AuthorName, ms(now), ttl, preview(m.Text),
		fanout.Encode("", "message.new", live), r.replyWindow(conv.Channel, conv.Account).Milliseconds(),
		string(m.Kind), "", "1", fields)
	if err := r.commit.Exec(ctx, b); err != nil {
		return Message{}, fmt.Errorf("router: automatic message: %w", err)
	}
	v, _ := res.Slice()
	if len(v) < 2 {
		return Message{}, fmt.Errorf("router: automatic message: unexpected reply %v", v)
	}
	switch v[0].(int64) {
	case -1:
		return Message{}, ErrNotFound
	case -2, -3:
		return Message{}, errNoSend
	case 0: // sent before under this key: queue it again only if it never left
		msg.ID = v[1].(string)
		st, err := r.rdb.HGet(ctx, r.k.convDelivery(conv.ID), msg.ID).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return Message{}, fmt.Errorf("router: automatic message: %w", err)
		}
		if st != "queued" {
			return msg, nil
		}
	default:
		msg.Cursor, _ = v[2].(string)
	}
	item, _ := json.Marshal(outItem{Conv: conv.ID, Msg: msg.ID, Channel: conv.Channel, Account: conv.Account,
		To: conv.identity, Kind: m.Kind, Text: m.Text, AuthorName: m.AuthorName, At: ms(now),
		Thread: connectors.Thread{Token: conv.TicketID}, Auto: true, Survey: m.Survey})
	ob := rdb.NewBatch(r.rdb)
	p := ob.Pipe()
	p.XAdd(ctx, &redis.XAddArgs{Stream: r.k.outbox(), MaxLen: 100000, Approx: true, Values: []any{"m", string(item)}})
	r.queueActivity(ctx, p, conv.ID, now)
	if err := r.commit.Exec(ctx, ob); err != nil {
		return Message{}, fmt.Errorf("router: queue automatic message: %w", err)
	}
	r.announceOutbound(ctx, conv, msg)
	return msg, nil
}
