package router

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Conversations with the same last activity straddle page boundaries:
// every one is listed exactly once.
func TestConversationPagingWithTies(t *testing.T) {
	agents := agentsN(1, 3, "support")
	w := newWorld(t, agents, nil, nil)
	r, _, _ := w.replica()
	ctx := context.Background()
	want := map[string]bool{}
	for i := 0; i < 7; i++ {
		acc, err := r.Ingest(ctx, webchatMsg(fmt.Sprintf("tie-visitor-%02d", i), "m", "hi"))
		if err != nil {
			t.Fatal(err)
		}
		want[acc.ConversationID] = true
		score := float64(1_700_000_000_000 + i/3) // ties in groups of three
		w.rdb.ZAdd(ctx, r.k.indexAll(), redis.Z{Score: score, Member: acc.ConversationID})
	}
	for _, limit := range []int{1, 2, 3, 5} {
		seen := map[string]bool{}
		before := ""
		for pages := 0; pages < 20; pages++ {
			p, err := r.Conversations(ctx, agents[0], Filter{Limit: limit, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range p.Items {
				if seen[c.ID] {
					t.Fatalf("limit %d: %s listed twice", limit, c.ID)
				}
				seen[c.ID] = true
			}
			if p.NextBefore == "" {
				break
			}
			before = p.NextBefore
		}
		if len(seen) != len(want) {
			t.Fatalf("limit %d: listed %d of %d conversations", limit, len(seen), len(want))
		}
	}
	if _, err := r.Conversations(ctx, agents[0], Filter{Before: "yesterday"}); err == nil {
		t.Fatal("a bad cursor was accepted")
	}
	for _, c := range []struct{ after, before string }{{"", "0-0"}, {"18446744073709551615-18446744073709551615", ""}, {"abc", ""}} {
		acc, _ := r.Ingest(ctx, webchatMsg("tie-visitor-00", "m2", "again"))
		if _, err := r.Messages(ctx, acc.ConversationID, c.after, c.before, 0); err == nil || !isInvalid(err) {
			t.Errorf("cursor after=%q before=%q: %v, want an invalid-request error", c.after, c.before, err)
		}
	}
}

func isInvalid(err error) bool { return err != nil && errors.Is(err, ErrInvalid) }
