package router

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/rdb"
	"switchboard/session"
	"switchboard/tickets"
)

// field is one conversation field to set.
type field struct{ name, value string }

// change is the outcome of applying fields to a conversation.
type change struct {
	conv                     Conversation
	prevStatus, prevAssignee string
	changed                  []string
}

func (c change) did(f string) bool {
	for _, x := range c.changed {
		if x == f {
			return true
		}
	}
	return false
}

// apply sets fields on a conversation atomically, with history entries,
// then moves it between list indexes and tells agents. allowed, when not
// empty, lists the statuses the conversation must be in.
func (r *Router) apply(ctx context.Context, id, actor string, allowed []tickets.Status, fields ...field) (change, error) {
	return r.applyWith(ctx, id, actor, allowed, nil, fields...)
}

// applyWith is apply with more writes (extra, when not nil) sent in the
// same pipeline right after the change: work the change must not be
// stored without.
func (r *Router) applyWith(ctx context.Context, id, actor string, allowed []tickets.Status, extra func(redis.Pipeliner), fields ...field) (change, error) {
	var allow []string
	for _, s := range allowed {
		allow = append(allow, string(s))
	}
	args := []any{actor, ms(r.now()), newID(), strings.Join(allow, ",")}
	for _, f := range fields {
		args = append(args, f.name, f.value)
	}
	b := rdb.NewBatch(r.rdb)
	res := b.Run(ctx, setFieldsLua, []string{r.k.conv(id), r.k.convHistory(id), r.k.convMessages(id)}, args...)
	all := b.Pipe().HGetAll(ctx, r.k.conv(id))
	if extra != nil {
		extra(b.Pipe())
	}
	if err := r.commit.Exec(ctx, b); err != nil {
		return change{}, fmt.Errorf("router: change conversation: %w", err)
	}
	v, _ := res.Slice()
	if len(v) != 6 {
		return change{}, fmt.Errorf("router: change conversation: unexpected reply %v", v)
	}
	switch v[0].(int64) {
	case -1:
		return change{}, ErrNotFound
	case -2:
		return change{}, fmt.Errorf("%w: the conversation is %s", ErrConflict, v[1])
	}
	c := change{conv: r.conversation(all.Val()), prevStatus: v[1].(string), prevAssignee: v[3].(string)}
	if s := v[5].(string); s != "" {
		c.changed = strings.Split(s, ",")
	}
	if len(c.changed) > 0 {
		r.reindex(ctx, c)
	}
	return c, nil
}

// reindex moves a changed conversation between list indexes and publishes
// conversation.updated to everyone (and conversation.assigned to a new
// assignee) in one round trip.
func (r *Router) reindex(ctx context.Context, c change) {
	conv := c.conv
	z := redis.Z{Score: float64(ms(conv.LastMessageAt)), Member: conv.ID}
	b := rdb.NewBatch(r.rdb)
	p := b.Pipe()
	if c.prevStatus != string(conv.Status) {
		p.ZRem(ctx, r.k.indexStatus(c.prevStatus), conv.ID)
	}
	p.ZAdd(ctx, r.k.indexStatus(string(conv.Status)), z)
	if c.prevAssignee != "" && c.prevAssignee != conv.Assignee {
		p.ZRem(ctx, r.k.indexAgent(c.prevAssignee), conv.ID)
	}
	if conv.Assignee != "" && conv.Status != tickets.Closed {
		p.ZAdd(ctx, r.k.indexAgent(conv.Assignee), z)
	} else if conv.Assignee != "" {
		p.ZRem(ctx, r.k.indexAgent(conv.Assignee), conv.ID)
	}
	if conv.Assignee == "" && conv.Status.Active() {
		p.ZAdd(ctx, r.k.indexUnassigned(), z)
	} else {
		p.ZRem(ctx, r.k.indexUnassigned(), conv.ID)
	}
	data, _ := json.Marshal(map[string]any{"conversation": conv, "changed": c.changed})
	r.events.QueueToInbox(ctx, b, session.EventConversationUpdated, data)
	if c.did("assignee") && conv.Assignee != "" {
		r.events.QueueToAgent(ctx, b, conv.Assignee, session.EventConversationAssigned, data)
	}
	if r.slaOn() && (c.did("status") || c.did("priority") || c.did("team")) {
		r.queueSLAWake(ctx, p, conv.ID, r.now())
	}
	r.queueActivity(ctx, p, conv.ID, r.now())
	if err := r.commit.Exec(ctx, b); err != nil {
		r.log.Warn("router: reindex", "conversation", conv.ID, "err", err)
	}
}

// load reads one conversation.
func (r *Router) load(ctx context.Context, id string) (Conversation, error) {
	h, err := r.rdb.HGetAll(ctx, r.k.conv(id)).Result()
	if err != nil {
		return Conversation{}, fmt.Errorf("router: load conversation: %w", err)
	}
	if len(h) == 0 || h["id"] == "" {
		return Conversation{}, ErrNotFound
	}
	return r.conversation(h), nil
}
