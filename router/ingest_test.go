package router

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"switchboard/connectors"
)

func TestIngestDeduplicates(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	r, _, _ := w.replica()
	ctx := context.Background()

	first, err := r.Ingest(ctx, webchatMsg("visitor-1", "m-1", "你好"))
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate {
		t.Fatal("first delivery reported as duplicate")
	}
	again, err := r.Ingest(ctx, webchatMsg("visitor-1", "m-1", "你好"))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.MessageID != first.MessageID || again.ConversationID != first.ConversationID {
		t.Fatalf("retry = %+v, want duplicate of %+v", again, first)
	}
	second, err := r.Ingest(ctx, webchatMsg("visitor-1", "m-2", "在吗"))
	if err != nil {
		t.Fatal(err)
	}
	if second.ConversationID != first.ConversationID || second.CustomerID != first.CustomerID {
		t.Fatalf("second message went to %s/%s, want %s/%s", second.CustomerID, second.ConversationID, first.CustomerID, first.ConversationID)
	}
	msgs, err := r.Messages(ctx, first.ConversationID, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Text != "你好" || msgs[1].Text != "在吗" {
		t.Fatalf("transcript = %+v, want the two messages once each", msgs)
	}
	// Another visitor is another customer and conversation.
	other, err := r.Ingest(ctx, webchatMsg("visitor-2", "m-1", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if other.Duplicate || other.CustomerID == first.CustomerID || other.ConversationID == first.ConversationID {
		t.Fatalf("other visitor = %+v", other)
	}
}

// A crash between the two round trips: the identity step ran, the append
// did not. The channel's retry must complete the work exactly once.
func TestIngestReplayAfterCrash(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	r, _, _ := w.replica()
	ctx := context.Background()
	m := webchatMsg("visitor-9", "ext-9", "hello")
	tag := identityTag(m.From)
	// Round trip 1 only.
	_, err := ingestIdentityLua.Run(ctx, r.rdb, []string{r.k.identityCustomer(tag),
		r.k.identityOpen(tag, m.Channel, m.Account, ""), r.k.identitySeen(tag, m.Channel, m.Account, m.ExternalID)},
		"CUST1", "CONV1", "MSG1", 60, "1", "").Result()
	if err != nil {
		t.Fatal(err)
	}
	acc, err := r.Ingest(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if acc.ConversationID != "CONV1" || acc.MessageID != "MSG1" || acc.CustomerID != "CUST1" {
		t.Fatalf("replay = %+v, want the ids from the first attempt", acc)
	}
	msgs, _ := r.Messages(ctx, "CONV1", "", "", 0)
	if len(msgs) != 1 || msgs[0].ID != "MSG1" {
		t.Fatalf("transcript after replay = %+v", msgs)
	}
	if _, err := r.Ingest(ctx, m); err != nil {
		t.Fatal(err)
	}
	msgs, _ = r.Messages(ctx, "CONV1", "", "", 0)
	if len(msgs) != 1 {
		t.Fatalf("second replay appended again: %d messages", len(msgs))
	}
	c, err := r.Customer(ctx, "CUST1")
	if err != nil || len(c.Conversations) != 1 || len(c.Identities) != 1 {
		t.Fatalf("customer after replay = %+v, %v", c, err)
	}
}

// A burst from one customer split across two replicas opens one
// conversation and keeps each replica's messages in order.
func TestIngestBurstAcrossReplicas(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	a, _, _ := w.replica()
	b, _, _ := w.replica()
	ctx := context.Background()
	var wg sync.WaitGroup
	convs := make(chan string, 50)
	errs := make(chan error, 50)
	for i, rep := range []*Router{a, b} {
		wg.Add(1)
		go func(i int, rep *Router) {
			defer wg.Done()
			for n := i; n < 50; n += 2 {
				acc, err := rep.Ingest(ctx, webchatMsg("burst-visitor", fmt.Sprintf("b-%02d", n), fmt.Sprintf("r%d-%02d", i, n)))
				if err != nil {
					errs <- err
					return
				}
				convs <- acc.ConversationID
			}
		}(i, rep)
	}
	wg.Wait()
	close(convs)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var conv string
	for c := range convs {
		seen[c], conv = true, c
	}
	if len(seen) != 1 {
		t.Fatalf("burst opened %d conversations, want 1", len(seen))
	}
	msgs, err := a.Messages(ctx, conv, "", "", 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 50 {
		t.Fatalf("transcript has %d messages, want 50", len(msgs))
	}
	last := map[string]string{}
	for _, m := range msgs {
		rep := m.Text[:2]
		if prev, ok := last[rep]; ok && m.Text <= prev {
			t.Fatalf("replica %s out of order: %s after %s", rep, m.Text, prev)
		}
		last[rep] = m.Text
	}
	c, _ := a.Conversation(ctx, conv)
	if c.MessageCount != 50 || !strings.HasPrefix(c.Preview, "r") {
		t.Fatalf("conversation = %+v", c)
	}
}

func TestIngestRejectsBadInput(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	r, _, _ := w.replica()
	ctx := context.Background()
	long := strings.Repeat("x", MaxTextBytes+1)
	for name, m := range map[string]*connectors.Message{
		"no identity": {Channel: connectors.WebChat, Account: "site", Text: "x"},
		"no account":  {Channel: connectors.WebChat, From: connectors.Identity{Type: "visitor", Value: "v"}},
		"too long":    webchatMsg("v", "e", long),
		"not utf8":    webchatMsg("v", "e", "\xff\xfe"),
		"bad account": {Channel: connectors.WebChat, Account: "a|b", From: connectors.Identity{Type: "visitor", Value: "v"}},
	} {
		if _, err := r.Ingest(ctx, m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if n, _ := w.rdb.Keys(ctx, w.prefix+"*").Result(); len(n) > 3 { // agents, emails and the like only
		t.Errorf("rejected input wrote keys: %v", n)
	}
}
