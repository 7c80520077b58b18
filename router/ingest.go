package router

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
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

// Limits on what one inbound message may carry.
const (
	MaxTextBytes = 64 << 10
	MaxRawBytes  = 256 << 10
	seenTTL      = 7 * 24 * time.Hour
)

// Ingest stores an inbound message: deduplicated, attached to its
// customer and conversation, queued for dispatch when the conversation is
// new. It returns once Redis holds the message: two round trips (a
// reopened conversation's return to dispatch adds one). Telling the agent
// about a message in an ongoing conversation is handed to the group commit
// and does not hold up the return.
func (r *Router) Ingest(ctx context.Context, m *connectors.Message) (connectors.Accepted, error) {
	if err := validInbound(m); err != nil {
		return connectors.Accepted{}, err
	}
	redactSurveyLinks(m)
	var now time.Time
	tag := identityTag(m.From)
	ext := m.ExternalID
	dedup := "0"
	if ext != "" {
		dedup = "1"
	}
	seenKey := r.k.identitySeen(tag, m.Channel, m.Account, ext)
	openKey := r.k.identityOpen(tag, m.Channel, m.Account, m.Thread.Key)
	stale := ""
	join := m.Thread.Conversation
	for attempt := 0; attempt < 3; attempt++ {
		// Round trip 1, on the identity's slot.
		b := rdb.NewBatch(r.rdb)
		cmd := b.Run(ctx, ingestIdentityLua, []string{r.k.identityCustomer(tag), openKey, seenKey},
			newID(), newID(), newID(), int64(seenTTL/time.Second), dedup, stale, join)
		if err := r.commit.Exec(ctx, b); err != nil {
			return connectors.Accepted{}, fmt.Errorf("router: ingest identity: %w", err)
		}
		res, err := cmd.Slice()
		if err != nil {
			return connectors.Accepted{}, fmt.Errorf("router: ingest identity: %w", err)
		}
		parts := strings.Split(res[1].(string), "|")
		if len(parts) != 4 || len(parts[3]) != 2 {
			return connectors.Accepted{}, fmt.Errorf("router: ingest identity: bad record %q", res[1])
		}
		cust, conv, msg := parts[0], parts[1], parts[2]
		// The message's time (and a new conversation's score) is read
		// after the identity was resolved, not before: an unmerge gives
		// back the winner's conversations opened by an identity the merge
		// had re-pointed by their score (at least the merge's start), and
		// one that found the identity re-pointed must not carry a time
		// from before the merge began (see returnConversations).
		now = r.now()
		// The new-conversation writes ride with the first delivery only; a
		// replay that finds the conversation missing records it below.
		newConv := parts[3][1] == '1' && res[0].(int64) == 0

		// Round trip 2: the conversation's slot, pipelined with the
		// customer, list and dispatch writes of a new conversation.
		out, err := r.appendInbound(ctx, m, now, tag, cust, conv, msg, newConv)
		if err != nil {
			return connectors.Accepted{}, err
		}
		if out.code == -1 { // closed under us: open a new conversation
			stale, join = conv, ""
			continue
		}
		// A repeat whose first attempt died between the two round trips
		// is appended now: only an append that found the message is a
		// duplicate.
		acc := connectors.Accepted{MessageID: msg, ConversationID: conv, CustomerID: cust, Duplicate: out.code == 0,
			NewConversation: out.created}
		if acc.Duplicate {
			r.metrics.duplicates.WithLabelValues(string(m.Channel)).Inc()
			if tickets.Status(out.status).Active() {
				// The first attempt may have died after storing the message
				// but before its dispatch step (a reopen): dispatch is
				// idempotent, so ask it to look again.
				b := rdb.NewBatch(r.rdb)
				b.Pipe().XAdd(ctx, &redis.XAddArgs{Stream: r.k.dispatch(), MaxLen: 100000, Approx: true,
					Values: []any{"conv", conv, "kind", "repair"}})
				r.commit.Go(b, func(err error) { r.log.Warn("router: repair after duplicate", "err", err) })
			}
			return acc, nil
		}
		r.metrics.ingested.WithLabelValues(string(m.Channel)).Inc()
		switch {
		case out.created && !newConv:
			// The conversation's first message died between the round trips
			// and was never retried: this one created it, so record it now.
			b := r.openConversation(ctx, m, now, cust, conv, nil)
			merging := r.queueMergeCheck(ctx, b, cust)
			if err := r.commit.Exec(ctx, b); err != nil {
				return connectors.Accepted{}, fmt.Errorf("router: open conversation: %w", err)
			}
			out.mergingInto = merging.Val()
		case out.created:
		case out.reopened:
			if err := r.commit.Exec(ctx, r.announceInbound(ctx, m, now, conv, msg, out)); err != nil {
				return connectors.Accepted{}, fmt.Errorf("router: reopen: %w", err)
			}
		case out.bot:
			// The bot's turn is queued before the channel's ack, so a
			// crash cannot leave the customer's question unanswered.
			b := r.announceInbound(ctx, m, now, conv, msg, out)
			b.Pipe().XAdd(ctx, &redis.XAddArgs{Stream: r.k.dispatch(), MaxLen: 100000, Approx: true,
				Values: []any{"conv", conv, "kind", "bot", "msg", msg, "text", truncate(m.Text, 2000)}})
			if err := r.commit.Exec(ctx, b); err != nil {
				return connectors.Accepted{}, fmt.Errorf("router: hand to the bot: %w", err)
			}
		default:
			// Stored; telling the agent need not hold up the channel's ack.
			r.commit.Go(r.announceInbound(ctx, m, now, conv, msg, out), func(err error) {
				r.log.Warn("router: announce message", "conversation", conv, "err", err)
			})
		}
		if out.survey > 0 {
			r.surveyFollowUp(ctx, conv, out.survey)
		}
		if out.mergingInto != "" { // opened under a customer being merged (merge.go)
			acc.CustomerID = r.adoptInbound(ctx, m, now, cust, conv)
		}
		return acc, nil
	}
	return connectors.Accepted{}, fmt.Errorf("router: ingest: conversation kept closing under us")
}

type appended struct {
	code              int64
	status, assignee  string
	created, reopened bool
	team              string
	before            string // status before the message
	slaWake           bool   // the message may start or resume an SLA clock
	survey            int64  // 1: the message was a survey score, 2: a survey comment
	bot               bool   // the FAQ bot has the conversation
	mergingInto       string // the customer's merging_into, read after the new-conversation writes
}

func (r *Router) appendInbound(ctx context.Context, m *connectors.Message, now time.Time, tag, cust, conv, msg string, newConv bool) (appended, error) {
	ts := ms(now)
	name := displayName(m.From)
	var att, fields string
	if len(m.Attachments) > 0 {
		b, _ := json.Marshal(m.Attachments)
		att = string(b)
	}
	if len(m.Fields) > 0 {
		b, _ := json.Marshal(m.Fields)
		fields = string(b)
	}
	live, _ := json.Marshal(messageEvent{ConversationID: conv, Message: Message{
		ID: msg, ConversationID: conv, Direction: In, Kind: m.Kind, Text: m.Text, CreatedAt: now.UTC(),
		ExternalID: m.ExternalID, Attachments: m.Attachments, Fields: m.Fields,
	}, ReplyUntil: r.replyUntil(m.Channel, m.Account, now)})
	svScore, svWindow, svComment := r.surveyArgs(m)
	b := rdb.NewBatch(r.rdb)
	cmd := b.Run(ctx, appendInboundLua,
		[]string{r.k.conv(conv), r.k.convMessages(conv), r.k.convExternal(conv), r.k.convHistory(conv), r.k.convLive(conv)},
		msg, m.ExternalID, ts, cust, string(m.Channel), m.Account, m.From.String(), tag, name,
		preview(m.Text), string(m.Kind), m.Text, att, fields, string(m.Raw), m.ExternalID,
		fanout.Encode("", "message.new", live), passiveFlag(m.Passive), m.Thread.Key, svScore, svWindow, svComment)
	var merging *redis.StringCmd
	if newConv {
		r.openConversation(ctx, m, now, cust, conv, b)
		merging = r.queueMergeCheck(ctx, b, cust)
	}
	if err := r.commit.Exec(ctx, b); err != nil {
		return appended{}, fmt.Errorf("router: append: %w", err)
	}
	v, err := cmd.Slice()
	if err != nil || len(v) < 8 {
		return appended{}, fmt.Errorf("router: append: unexpected reply %v: %w", v, err)
	}
	out := appended{
		code: v[0].(int64), status: v[1].(string), assignee: v[2].(string),
		created: v[3].(int64) == 1, reopened: v[4].(int64) == 1, team: v[6].(string), before: v[7].(string),
	}
	if len(v) > 10 {
		out.slaWake = v[8].(int64) == 1
		out.survey = v[9].(int64)
		out.bot = v[10].(int64) == 1
	}
	if merging != nil {
		out.mergingInto = merging.Val()
	}
	return out, nil
}

// openConversation adds to b (a new batch when nil) the writes that record
// a new conversation with its customer and in the lists, and queue it for
// dispatch. Every write is idempotent, so a replay is harmless. Queued
// after the append in one pipeline, the dispatch entry follows the
// conversation on a single Redis; on a cluster it may arrive first, and
// dispatch waits for it (route).
func (r *Router) openConversation(ctx context.Context, m *connectors.Message, now time.Time, cust, conv string, b *rdb.Batch) *rdb.Batch {
	ts := ms(now)
	if b == nil {
		b = rdb.NewBatch(r.rdb)
	}
	p := b.Pipe()
	ck := r.k.customer(cust)
	p.HSetNX(ctx, ck, "id", cust)
	p.HSetNX(ctx, ck, "name", displayName(m.From))
	p.HSetNX(ctx, ck, "created_at", ts)
	p.SAdd(ctx, r.k.customerIdentities(cust), string(m.Channel)+"|"+m.Account+"|"+m.From.Type+"|"+m.From.Value)
	z := redis.Z{Score: float64(ts), Member: conv}
	p.ZAddNX(ctx, r.k.customerConversations(cust), z)
	p.ZAddNX(ctx, r.k.indexAll(), z)
	p.ZAddNX(ctx, r.k.indexUnassigned(), z)
	p.ZAddNX(ctx, r.k.indexStatus("new"), z)
	r.queueActivity(ctx, p, conv, now)
	p.XAdd(ctx, &redis.XAddArgs{Stream: r.k.dispatch(), MaxLen: 100000, Approx: true, Values: []any{
		"conv", conv, "kind", "new", "customer", cust, "text", truncate(m.Text, 2000), "asset", m.Fields["asset"], "team", m.Fields["team"], "at", ts,
		"passive", passiveFlag(m.Passive || m.Kind == connectors.KindEvent),
	}})
	return b
}

// announceInbound builds the batch that updates the list indexes and tells
// agents about a message in an existing conversation: its agent, or
// everyone while it waits. A reopened conversation goes back to dispatch.
func (r *Router) announceInbound(ctx context.Context, m *connectors.Message, now time.Time, conv, msg string, out appended) *rdb.Batch {
	ts := float64(ms(now))
	until := r.replyUntil(m.Channel, m.Account, now)
	data, _ := json.Marshal(messageEvent{
		ConversationID: conv,
		Message: Message{ID: msg, ConversationID: conv, Direction: In, Kind: m.Kind, Text: m.Text,
			CreatedAt: now.UTC(), Attachments: m.Attachments, Fields: m.Fields},
		Conversation: &summaryOfChange{ID: conv, Status: out.status, Assignee: out.assignee,
			Preview: preview(m.Text), LastMessageAt: now.UTC(), Channel: m.Channel, ReplyUntil: until},
		ReplyUntil: until,
	})
	b := rdb.NewBatch(r.rdb)
	p := b.Pipe()
	z := redis.Z{Score: ts, Member: conv}
	p.ZAddXX(ctx, r.k.indexAll(), z)
	if out.before != out.status {
		p.ZRem(ctx, r.k.indexStatus(out.before), conv)
		p.ZAdd(ctx, r.k.indexStatus(out.status), z)
	} else {
		p.ZAddXX(ctx, r.k.indexStatus(out.status), z)
	}
	if out.reopened {
		p.XAdd(ctx, &redis.XAddArgs{Stream: r.k.dispatch(), MaxLen: 100000, Approx: true,
			Values: []any{"conv", conv, "kind", "reopen", "at", ms(now)}})
	}
	if out.slaWake {
		r.queueSLAWake(ctx, p, conv, now)
	}
	r.queueActivity(ctx, p, conv, now)
	if out.assignee != "" {
		p.ZAdd(ctx, r.k.indexAgent(out.assignee), z)
		r.events.QueueToAgent(ctx, b, out.assignee, session.EventMessageNew, data)
	} else {
		p.ZAddXX(ctx, r.k.indexUnassigned(), z)
		r.events.QueueToInbox(ctx, b, session.EventMessageNew, data)
	}
	return b
}

func passiveFlag(p bool) string {
	if p {
		return "1"
	}
	return "0"
}

var threadKeyRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func validInbound(m *connectors.Message) error {
	switch {
	case m == nil:
		return fmt.Errorf("%w: no message", ErrInvalid)
	case m.Channel == "" || m.Account == "":
		return fmt.Errorf("%w: channel and account are required", ErrInvalid)
	case !m.From.Valid():
		return fmt.Errorf("%w: the sender's identity is required", ErrInvalid)
	case len(m.Text) > MaxTextBytes:
		return fmt.Errorf("%w: text is longer than %d bytes", ErrInvalid, MaxTextBytes)
	case len(m.Raw) > MaxRawBytes:
		return fmt.Errorf("%w: raw payload is longer than %d bytes", ErrInvalid, MaxRawBytes)
	case !utf8.ValidString(m.Text):
		return fmt.Errorf("%w: text is not UTF-8", ErrInvalid)
	case strings.ContainsAny(m.Account, "|:{}") || strings.ContainsAny(m.ExternalID, "{}"):
		return fmt.Errorf("%w: account or external id has reserved characters", ErrInvalid)
	case m.Thread.Key != "" && !threadKeyRe.MatchString(m.Thread.Key):
		return fmt.Errorf("%w: thread key must be at most 64 characters of A–Z a–z 0–9 _ -", ErrInvalid)
	case m.Thread.Conversation != "" && !threadKeyRe.MatchString(m.Thread.Conversation):
		return fmt.Errorf("%w: bad conversation id %q", ErrInvalid, m.Thread.Conversation)
	}
	if m.Kind == "" {
		m.Kind = connectors.KindText
	}
	return nil
}

func displayName(id connectors.Identity) string {
	if id.Name != "" {
		return id.Name
	}
	v := id.Value
	if id.Type == "visitor" && len(v) > 6 {
		return "访客 " + v[len(v)-6:] // "visitor" in Chinese, and a short tag to tell visitors apart
	}
	return v
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
