package router

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"switchboard/session"
)

// A take or transfer writes the dispatch slot, queues an "assigned" entry
// and then writes the conversation; when dispatch mirrors the slot first,
// the ticket's history still names the agent who decided, not the system.
// A mirror without an actor (a backfill) is the system's.
func TestMirrorNamesWhoDecided(t *testing.T) {
	li := session.Agent{ID: "li", Email: "li@example.com", Name: "李明", Teams: []string{"support"}, Capacity: 3}
	w := newWorld(t, []session.Agent{li}, nil, nil)
	r, _, _ := w.replica()
	ctx := context.Background()
	history := func(id string) []redis.XMessage {
		t.Helper()
		h, err := r.rdb.XRange(ctx, r.k.convHistory(id), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for _, tc := range []struct{ visitor, actor, want string }{
		{"mirror-visitor-0001", "li", "li"},
		{"mirror-visitor-0002", "", "system"},
	} {
		acc, err := r.Ingest(ctx, webchatMsg(tc.visitor, "m-"+tc.visitor, "你好"))
		if err != nil {
			t.Fatal(err)
		}
		id := acc.ConversationID
		if err := r.rdb.HSet(ctx, r.k.owner(), id, "li").Err(); err != nil {
			t.Fatal(err)
		}
		if err := r.handleDispatch(ctx, redis.XMessage{ID: "1-1", Values: map[string]any{
			"conv": id, "kind": "assigned", "agent": "li", "actor": tc.actor}}); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, h := range history(id) {
			if h.Values["field"] == "assignee" && h.Values["to"] == "li" {
				found = true
				if h.Values["actor"] != tc.want {
					t.Errorf("actor %q: the history names %v, want %s", tc.actor, h.Values["actor"], tc.want)
				}
			}
		}
		if !found {
			t.Errorf("actor %q: no assignment in the history %v", tc.actor, history(id))
		}
	}
}
