package router

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"switchboard/session"
	"switchboard/tickets"
)

// onlineAll puts agents online (and keeps them fresh for the test).
func onlineAll(t *testing.T, p *session.Presences, agents []session.Agent) {
	t.Helper()
	for _, a := range agents {
		if _, err := p.Set(context.Background(), a.ID, session.Online); err != nil {
			t.Fatal(err)
		}
	}
}

// 200 conversations, 10 agents of capacity 3, two replicas dispatching at
// once: nobody over capacity, every conversation assigned at most once,
// the rest queued; freeing slots assigns the oldest waiting first.
func TestAssignmentInvariantsAcrossReplicas(t *testing.T) {
	agents := agentsN(10, 3, "support")
	w := newWorld(t, agents, nil, nil)
	a, _, evA := w.replica()
	b, _, evB := w.replica()
	ctx := context.Background()

	// Ingest first, agents offline: everything queues in arrival order.
	var ids []string
	for i := 0; i < 200; i++ {
		acc, err := a.Ingest(ctx, webchatMsg(fmt.Sprintf("cust-%03d", i), "m0", fmt.Sprintf("hello %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, acc.ConversationID)
		time.Sleep(time.Millisecond) // distinct creation times: "oldest" is well defined
	}
	run(t, a, evA)
	run(t, b, evB)
	eventually(t, "200 conversations queued", func() bool {
		n, _ := w.rdb.ZCard(ctx, a.k.queue("support")).Result()
		return n == 200
	})
	// Both replicas backfill as agents come online.
	var wg sync.WaitGroup
	for i, ag := range agents {
		wg.Add(1)
		go func(i int, ag session.Agent) {
			defer wg.Done()
			rep := a
			if i%2 == 1 {
				rep = b
			}
			if _, err := rep.presences.Set(ctx, ag.ID, session.Online); err != nil {
				t.Error(err)
			}
		}(i, ag)
	}
	wg.Wait()
	eventually(t, "30 conversations assigned", func() bool {
		n, _ := w.rdb.HLen(ctx, a.k.owner()).Result()
		return n == 30
	})
	time.Sleep(1500 * time.Millisecond) // let the queue ticks of both replicas run too
	owners, _ := w.rdb.HGetAll(ctx, a.k.owner()).Result()
	if len(owners) != 30 {
		t.Fatalf("%d conversations owned, want 30 (10 agents × 3)", len(owners))
	}
	perAgent := map[string]int{}
	for _, ag := range owners {
		perAgent[ag]++
	}
	loads, _ := w.rdb.HGetAll(ctx, a.sk.Load()).Result()
	for _, ag := range agents {
		if perAgent[ag.ID] != 3 || loads[ag.ID] != "3" {
			t.Errorf("agent %s holds %d (load %s), want 3", ag.ID, perAgent[ag.ID], loads[ag.ID])
		}
	}
	// The 30 assigned are the 30 oldest.
	for _, id := range ids[:30] {
		if owners[id] == "" {
			t.Fatalf("old conversation %s not assigned while newer ones were", id)
		}
	}
	// Conversations mirror their owner.
	eventually(t, "assignments mirrored", func() bool {
		for id, ag := range owners {
			c, _ := a.Conversation(ctx, id)
			if c.Assignee != ag || c.Status != tickets.Open || c.TicketID == "" {
				return false
			}
		}
		return true
	})

	// Resolve one of a00's: a00 gets the oldest waiting conversation.
	var first string
	for id, ag := range owners {
		if ag == "a00" {
			first = id
			break
		}
	}
	a00 := agents[0]
	if _, err := b.Update(ctx, a00, first, Patch{Status: ptr("resolved")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "backfill of the oldest waiting conversation", func() bool {
		ag, _ := w.rdb.HGet(ctx, a.k.owner(), ids[30]).Result()
		return ag == "a00"
	})
	if n, _ := w.rdb.HLen(ctx, a.k.owner()).Result(); n != 30 {
		t.Fatalf("after backfill %d owned, want 30", n)
	}
	if l, _ := w.rdb.HGet(ctx, a.sk.Load(), "a00").Result(); l != "3" {
		t.Fatalf("a00 load after backfill = %s, want 3", l)
	}
}

// The customer's last agent gets their next conversation while online
// with room (sticky), and a reopened ticket goes back to its agent.
func TestStickyAndReopen(t *testing.T) {
	agents := agentsN(3, 5, "support")
	w := newWorld(t, agents, nil, nil)
	r, pres, ev := w.replica()
	run(t, r, ev)
	onlineAll(t, pres, agents)
	ctx := context.Background()

	acc, err := r.Ingest(ctx, webchatMsg("sticky-1", "s1", "first"))
	if err != nil {
		t.Fatal(err)
	}
	var agent string
	eventually(t, "assignment", func() bool {
		c, _ := r.Conversation(ctx, acc.ConversationID)
		agent = c.Assignee
		return agent != ""
	})
	who := agents[0]
	for _, a := range agents {
		if a.ID == agent {
			who = a
		}
	}
	// Resolve, then the customer writes again: reopened, same agent.
	if _, err := r.Update(ctx, who, acc.ConversationID, Patch{Status: ptr("resolved")}); err != nil {
		t.Fatal(err)
	}
	again, err := r.Ingest(ctx, webchatMsg("sticky-1", "s2", "still broken"))
	if err != nil {
		t.Fatal(err)
	}
	if again.ConversationID != acc.ConversationID {
		t.Fatalf("message after resolve opened %s, want reopen of %s", again.ConversationID, acc.ConversationID)
	}
	eventually(t, "reopened with the same agent", func() bool {
		c, _ := r.Conversation(ctx, acc.ConversationID)
		own, _ := w.rdb.HGet(ctx, r.k.owner(), acc.ConversationID).Result()
		return c.Status == tickets.Open && c.Assignee == agent && own == agent
	})
	tk, err := r.Ticket(ctx, (func() string { c, _ := r.Conversation(ctx, acc.ConversationID); return c.TicketID })())
	if err != nil {
		t.Fatal(err)
	}
	var reopened bool
	for _, h := range tk.History {
		if h.Field == "status" && h.From == "resolved" && h.To == "open" && h.Actor == "customer" {
			reopened = true
		}
	}
	if !reopened {
		t.Fatalf("ticket history lacks the reopen: %+v", tk.History)
	}
	// Close: the next message starts a new conversation, sticky to the agent.
	if _, err := r.Update(ctx, who, acc.ConversationID, Patch{Status: ptr("closed")}); err != nil {
		t.Fatal(err)
	}
	third, err := r.Ingest(ctx, webchatMsg("sticky-1", "s3", "another question"))
	if err != nil {
		t.Fatal(err)
	}
	if third.ConversationID == acc.ConversationID || third.CustomerID != acc.CustomerID {
		t.Fatalf("after close: %+v", third)
	}
	eventually(t, "sticky assignment of the new conversation", func() bool {
		c, _ := r.Conversation(ctx, third.ConversationID)
		return c.Assignee == agent
	})
	cust, err := r.Customer(ctx, acc.CustomerID)
	if err != nil || len(cust.Conversations) != 2 || len(cust.Tickets) != 2 {
		t.Fatalf("customer = %+v, %v", cust, err)
	}
}

func TestRulesRouteAndOverflow(t *testing.T) {
	teams := []session.Team{{ID: "support"}, {ID: "billing"}, {ID: "vip"}}
	agents := []session.Agent{{ID: "bill", Email: "b@x", Teams: []string{"billing"}, Skills: []string{"refund"}, Capacity: 2}}
	rules := []Rule{
		{Name: "refunds", When: Match{Keywords: []string{"退款", "refund"}}, Then: Route{Team: "vip", Skills: []string{"refund"},
			Priority: "high", OverflowAfter: 1500 * time.Millisecond, OverflowTeam: "billing"}},
	}
	w := newWorld(t, agents, teams, rules)
	r, pres, ev := w.replica()
	run(t, r, ev)
	onlineAll(t, pres, agents)
	ctx := context.Background()
	acc, err := r.Ingest(ctx, webchatMsg("refund-1", "r1", "我要退款"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "routed to vip and queued", func() bool {
		c, _ := r.Conversation(ctx, acc.ConversationID)
		return c.Team == "vip" && c.Priority == tickets.High && c.Assignee == ""
	})
	eventually(t, "overflow to billing and assignment", func() bool {
		c, _ := r.Conversation(ctx, acc.ConversationID)
		return c.Team == "billing" && c.Assignee == "bill"
	})
}

func ptr(s string) *string { return &s }
