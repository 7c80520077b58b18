package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/session"
	"switchboard/tickets"
)

// Filter selects conversations for a list.
type Filter struct {
	// View is "mine", "unassigned" or "all" (the default).
	View     string
	Status   string
	Assignee string
	Channel  string
	Limit    int
	// Before is the NextBefore cursor of the previous page.
	Before string
	// Sort is "" (most recently active first) or "due": the conversations
	// with a running SLA clock, the earliest due first (one page, no
	// cursor).
	Sort string
}

// Page is one page of conversations, most recently active first.
type Page struct {
	Items      []Conversation `json:"items"`
	NextBefore string         `json:"next_before,omitempty"`
}

// Conversation returns one conversation.
func (r *Router) Conversation(ctx context.Context, id string) (Conversation, error) {
	return r.load(ctx, id)
}

// Conversations lists conversations for agent a.
func (r *Router) Conversations(ctx context.Context, a session.Agent, f Filter) (Page, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	if f.Status != "" {
		if _, err := tickets.ParseStatus(f.Status); err != nil {
			return Page{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	if f.View == "mine" {
		f.Assignee = a.ID
	}
	switch f.Sort {
	case "":
	case "due":
		return r.conversationsByDue(ctx, f)
	default:
		return Page{}, fmt.Errorf("%w: sort must be due or left out", ErrInvalid)
	}
	index := r.k.indexAll()
	switch {
	case f.Assignee != "":
		index = r.k.indexAgent(f.Assignee)
	case f.View == "unassigned":
		index = r.k.indexUnassigned()
	case f.View != "" && f.View != "all":
		return Page{}, fmt.Errorf("%w: view must be mine, unassigned or all", ErrInvalid)
	case f.Status != "":
		index = r.k.indexStatus(f.Status)
	}
	// The cursor is the last item's score and id: conversations with the
	// same last activity are ordered by id (descending, as Redis returns
	// ties), so none is skipped or repeated at a page boundary.
	max, after := "+inf", ""
	if f.Before != "" {
		score, id, _ := strings.Cut(f.Before, ":")
		if _, err := strconv.ParseInt(score, 10, 64); err != nil {
			return Page{}, fmt.Errorf("%w: before must be a next_before cursor", ErrInvalid)
		}
		max, after = score, id
	}
	var page Page
	// Read the index in chunks and keep what still matches: the index is
	// ordered by activity, the conversation hash is the truth. offset steps
	// over ties that an earlier chunk or page already covered.
	offset := 0
	for scanned := 0; len(page.Items) < f.Limit && scanned < 2000; {
		count := f.Limit * 2
		zs, err := r.rdb.ZRevRangeByScoreWithScores(ctx, index,
			&redis.ZRangeBy{Min: "-inf", Max: max, Offset: int64(offset), Count: int64(count)}).Result()
		if err != nil {
			return Page{}, fmt.Errorf("router: list: %w", err)
		}
		full := len(zs) == count
		skipped := 0
		for len(zs) > 0 && after != "" && strconv.FormatInt(int64(zs[0].Score), 10) == max && zs[0].Member.(string) >= after {
			zs, skipped = zs[1:], skipped+1
		}
		if len(zs) == 0 {
			if !full {
				return page, nil
			}
			offset += skipped
			continue
		}
		offset = 0
		scanned += len(zs)
		pipe := r.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(zs))
		for i, z := range zs {
			cmds[i] = pipe.HGetAll(ctx, r.k.conv(z.Member.(string)))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return Page{}, fmt.Errorf("router: list: %w", err)
		}
		for i, c := range cmds {
			h := c.Val()
			if len(h) == 0 {
				continue
			}
			conv := r.conversation(h)
			if !f.matches(conv) {
				continue
			}
			page.Items = append(page.Items, conv)
			if len(page.Items) == f.Limit {
				page.NextBefore = cursor(zs[i])
				return page, nil
			}
		}
		if !full {
			return page, nil
		}
		last := zs[len(zs)-1]
		max, after = strconv.FormatInt(int64(last.Score), 10), last.Member.(string)
	}
	return page, nil
}

// conversationsByDue lists the conversations of f with a running SLA
// clock, the earliest due first: up to f.Limit of the 2,000 most urgent.
func (r *Router) conversationsByDue(ctx context.Context, f Filter) (Page, error) {
	if f.View != "" && f.View != "all" && f.View != "mine" && f.View != "unassigned" {
		return Page{}, fmt.Errorf("%w: view must be mine, unassigned or all", ErrInvalid)
	}
	page := Page{Items: []Conversation{}}
	for start := int64(0); start < 2000 && len(page.Items) < f.Limit; start += 200 {
		ids, err := r.rdb.ZRange(ctx, r.k.indexSLADue(), start, start+199).Result()
		if err != nil {
			return Page{}, fmt.Errorf("router: list by due: %w", err)
		}
		pipe := r.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(ids))
		for i, id := range ids {
			cmds[i] = pipe.HGetAll(ctx, r.k.conv(id))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return Page{}, fmt.Errorf("router: list by due: %w", err)
		}
		for _, c := range cmds {
			if len(c.Val()) == 0 {
				continue
			}
			conv := r.conversation(c.Val())
			if f.matches(conv) && conv.Status.Active() && len(page.Items) < f.Limit {
				page.Items = append(page.Items, conv)
			}
		}
		if len(ids) < 200 {
			break
		}
	}
	return page, nil
}

func cursor(z redis.Z) string {
	return strconv.FormatInt(int64(z.Score), 10) + ":" + z.Member.(string)
}

func (f Filter) matches(c Conversation) bool {
	switch {
	case f.Status != "" && string(c.Status) != f.Status:
		return false
	case f.Channel != "" && string(c.Channel) != f.Channel:
		return false
	case f.Assignee != "" && c.Assignee != f.Assignee:
		return false
	case f.View == "unassigned" && (c.Assignee != "" || !c.Status.Active()):
		return false
	}
	return true
}

// Messages returns a conversation's transcript, oldest first: the newest
// limit messages, or those after (or before) a cursor.
func (r *Router) Messages(ctx context.Context, id, after, before string, limit int) ([]Message, error) {
	if limit <= 0 || limit > 500 {
		limit = 200
	}
	if _, err := r.load(ctx, id); err != nil {
		return nil, err
	}
	var xs []redis.XMessage
	var err error
	switch {
	case after != "":
		xs, err = r.rdb.XRangeN(ctx, r.k.convMessages(id), "("+after, "+", int64(limit)).Result()
	case before != "":
		xs, err = r.rdb.XRevRangeN(ctx, r.k.convMessages(id), "("+before, "-", int64(limit)).Result()
		reverse(xs)
	default:
		xs, err = r.rdb.XRevRangeN(ctx, r.k.convMessages(id), "+", "-", int64(limit)).Result()
		reverse(xs)
	}
	if err != nil {
		if isBadCursor(err) {
			return nil, fmt.Errorf("%w: bad cursor", ErrInvalid)
		}
		return nil, fmt.Errorf("router: messages: %w", err)
	}
	out := make([]Message, len(xs))
	ptrs := make([]*Message, 0, len(xs))
	for i, x := range xs {
		out[i] = messageFrom(id, x.ID, x.Values)
		if out[i].Direction == Out {
			ptrs = append(ptrs, &out[i])
		}
	}
	r.attachDelivery(ctx, id, ptrs)
	return out, nil
}

// isBadCursor tells a cursor Redis refused (malformed, or out of range
// for an exclusive bound) from a failure of Redis itself.
func isBadCursor(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "ERR")
}

func reverse(xs []redis.XMessage) {
	for i, j := 0, len(xs)-1; i < j; i, j = i+1, j-1 {
		xs[i], xs[j] = xs[j], xs[i]
	}
}

// attachDelivery fills in the delivery state of outbound messages.
func (r *Router) attachDelivery(ctx context.Context, conv string, msgs []*Message) {
	if len(msgs) == 0 {
		return
	}
	var fields []string
	for _, m := range msgs {
		fields = append(fields, m.ID, m.ID+":err", m.ID+":code", m.ID+":at", m.ID+":attempts", m.ID+":ext")
	}
	vals, err := r.rdb.HMGet(ctx, r.k.convDelivery(conv), fields...).Result()
	if err != nil {
		return
	}
	for i, m := range msgs {
		v := vals[i*6 : i*6+6]
		st := asString(v[0])
		if st == "" {
			continue
		}
		if st == "sending" {
			st = "queued"
		}
		d := &Delivery{Status: st, Error: asString(v[1]), Code: asString(v[2]), UpdatedAt: msTime(asString(v[3])),
			ExternalID: asString(v[5])}
		d.Attempts, _ = strconv.Atoi(asString(v[4]))
		m.Delivery = d
	}
}

// Ticket returns a ticket by number, with its history.
func (r *Router) Ticket(ctx context.Context, number string) (tickets.Ticket, error) {
	id, err := r.ticketConversation(ctx, number)
	if err != nil {
		return tickets.Ticket{}, err
	}
	conv, err := r.load(ctx, id)
	if err != nil {
		return tickets.Ticket{}, err
	}
	t := ticketOf(conv)
	t.SLA = r.slaStatus(conv, r.now())
	hist, err := r.rdb.XRangeN(ctx, r.k.convHistory(id), "-", "+", 500).Result()
	if err != nil {
		return tickets.Ticket{}, fmt.Errorf("router: ticket history: %w", err)
	}
	for _, h := range hist {
		t.History = append(t.History, tickets.Change{At: msTime(str(h.Values, "at")), Actor: str(h.Values, "actor"),
			Field: str(h.Values, "field"), From: str(h.Values, "from"), To: str(h.Values, "to")})
	}
	return t, nil
}

func (r *Router) ticketConversation(ctx context.Context, number string) (string, error) {
	if _, err := strconv.ParseUint(number, 10, 64); err != nil {
		return "", ErrNotFound
	}
	id, err := r.rdb.Get(ctx, r.k.ticketNumber(number)).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("router: find ticket: %w", err)
	}
	return id, nil
}

func msPtr(v int64) *time.Time {
	t := time.UnixMilli(v).UTC()
	return &t
}

func ticketOf(c Conversation) tickets.Ticket {
	n, _ := strconv.ParseInt(c.TicketID, 10, 64)
	t := tickets.Ticket{ID: c.TicketID, Number: n, ConversationID: c.ID, CustomerID: c.CustomerID,
		Channel: string(c.Channel), Status: c.Status, Priority: c.Priority, Team: c.Team, Assignee: c.Assignee,
		Subject: c.Preview, CreatedAt: c.CreatedAt, UpdatedAt: c.LastMessageAt}
	if s := c.fields["subject"]; s != "" {
		t.Subject = s
	}
	opt := func(k string) *time.Time {
		if tm := msTime(c.fields[k]); !tm.IsZero() {
			return &tm
		}
		return nil
	}
	t.FirstResponseDue, t.ResolveDue = opt("frt_due"), opt("res_due")
	if raw := c.fields["sla"]; raw != "" {
		// The SLA clocks' due times replace those set at opening, which
		// know neither business hours nor pauses.
		var st slaState
		if json.Unmarshal([]byte(raw), &st) == nil {
			t.FirstResponseDue, t.ResolveDue = nil, nil
			if cl := st.Clocks[tickets.FirstResponse]; cl != nil && cl.State == clockRunning && cl.Due > 0 {
				t.FirstResponseDue = msPtr(cl.Due)
			}
			if cl := st.Clocks[tickets.Resolution]; cl != nil && cl.State == clockRunning && cl.Due > 0 {
				t.ResolveDue = msPtr(cl.Due)
			}
		}
	}
	t.FirstResponseAt, t.ResolvedAt = opt("first_response_at"), opt("resolved_at")
	return t
}

// Customer returns the 360° view of a customer.
func (r *Router) Customer(ctx context.Context, id string) (Customer, error) {
	pipe := r.rdb.Pipeline()
	h := pipe.HGetAll(ctx, r.k.customer(id))
	ids := pipe.SMembers(ctx, r.k.customerIdentities(id))
	convs := pipe.ZRevRange(ctx, r.k.customerConversations(id), 0, 49)
	tags := pipe.SMembers(ctx, r.k.customerTags(id))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Customer{}, fmt.Errorf("router: customer: %w", err)
	}
	if len(h.Val()) == 0 {
		return Customer{}, ErrNotFound
	}
	if into := h.Val()["merged_into"]; into != "" { // folded into another: show that one (merge.go)
		return r.mergedCustomer(ctx, into)
	}
	c := Customer{ID: id, Name: h.Val()["name"], Level: h.Val()["level"], Region: h.Val()["region"],
		CreatedAt: msTime(h.Val()["created_at"]), Identities: []Identity{}, Tickets: []tickets.Ticket{},
		Conversations: []Conversation{}, Tags: tags.Val()}
	sort.Strings(c.Tags)
	c.Avatar = h.Val()["avatar"]
	for _, s := range ids.Val() {
		var idn Identity
		parts := strings.SplitN(s, "|", 4)
		if len(parts) == 4 {
			idn = Identity{Channel: connectors.Channel(parts[0]), Account: parts[1], Type: parts[2], Value: parts[3]}
			c.Identities = append(c.Identities, idn)
		}
	}
	if len(convs.Val()) > 0 {
		pipe := r.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(convs.Val()))
		for i, cid := range convs.Val() {
			cmds[i] = pipe.HGetAll(ctx, r.k.conv(cid))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return Customer{}, fmt.Errorf("router: customer conversations: %w", err)
		}
		for _, cmd := range cmds {
			if len(cmd.Val()) == 0 {
				continue
			}
			conv := r.conversation(cmd.Val())
			c.Conversations = append(c.Conversations, conv)
			if conv.TicketID != "" {
				c.Tickets = append(c.Tickets, ticketOf(conv))
			}
		}
	}
	return c, nil
}

// CustomerPatch changes a customer's profile; nil fields stay. Tags,
// when set, replaces the customer's tags.
type CustomerPatch struct {
	Name, Level, Region *string
	Tags                *[]string
}

// UpdateCustomer changes a customer's profile.
func (r *Router) UpdateCustomer(ctx context.Context, id string, p CustomerPatch) (Customer, error) {
	id, err := r.followMerged(ctx, id) // a merged customer's edits go to the one it was folded into
	if err != nil {
		return Customer{}, err
	}
	n, err := r.rdb.Exists(ctx, r.k.customer(id)).Result()
	if err != nil {
		return Customer{}, fmt.Errorf("router: customer: %w", err)
	}
	if n == 0 {
		return Customer{}, ErrNotFound
	}
	var kv []any
	for k, v := range map[string]*string{"name": p.Name, "level": p.Level, "region": p.Region} {
		if v != nil {
			if utf8.RuneCountInString(*v) > 200 {
				return Customer{}, fmt.Errorf("%w: %s is longer than 200 characters", ErrInvalid, k)
			}
			kv = append(kv, k, *v)
			if k == "name" { // set by hand: a channel's profile never replaces it (profile.go)
				kv = append(kv, "name_source", nameByAgent)
			}
		}
	}
	var tags []any
	if p.Tags != nil {
		if len(*p.Tags) > 50 {
			return Customer{}, fmt.Errorf("%w: at most 50 tags", ErrInvalid)
		}
		for _, t := range *p.Tags {
			if t = strings.TrimSpace(t); t == "" || utf8.RuneCountInString(t) > MaxTagLen {
				return Customer{}, fmt.Errorf("%w: a tag has 1–%d characters", ErrInvalid, MaxTagLen)
			}
			tags = append(tags, t)
		}
	}
	p2 := r.rdb.TxPipeline() // one key per command, same slot: the tags change at once
	if len(kv) > 0 {
		p2.HSet(ctx, r.k.customer(id), kv...)
	}
	if p.Tags != nil {
		p2.Del(ctx, r.k.customerTags(id))
		if len(tags) > 0 {
			p2.SAdd(ctx, r.k.customerTags(id), tags...)
		}
	}
	if len(kv) > 0 || p.Tags != nil {
		if _, err := p2.Exec(ctx); err != nil {
			return Customer{}, fmt.Errorf("router: update customer: %w", err)
		}
	}
	if p.Name != nil {
		r.renameConversations(ctx, id) // the lists, thread headers and SLA events name them so
	}
	return r.Customer(ctx, id)
}
