package router

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/redis/go-redis/v9"

	"switchboard/session"
	"switchboard/tickets"
)

// The first message of a new conversation dies between the two round
// trips and is never retried; the customer's next message must still get
// a conversation that is listed, has its customer, and is dispatched.
func TestOrphanedConversationIsCompleted(t *testing.T) {
	agents := agentsN(1, 3, "support")
	w := newWorld(t, agents, nil, nil)
	r, pres, ev := w.replica()
	ctx := context.Background()
	m := webchatMsg("orphan-visitor", "lost-1", "first, lost")
	tag := identityTag(m.From)
	if err := ingestIdentityLua.Run(ctx, r.rdb, []string{r.k.identityCustomer(tag),
		r.k.identityOpen(tag, m.Channel, m.Account, ""), r.k.identitySeen(tag, m.Channel, m.Account, m.ExternalID)},
		"CUSTO", "CONVO", "MSGO", 60, "1", "").Err(); err != nil {
		t.Fatal(err)
	}
	acc, err := r.Ingest(ctx, webchatMsg("orphan-visitor", "next-2", "second"))
	if err != nil {
		t.Fatal(err)
	}
	if acc.ConversationID != "CONVO" || acc.CustomerID != "CUSTO" {
		t.Fatalf("next message went to %+v", acc)
	}
	if _, err := r.Customer(ctx, "CUSTO"); err != nil {
		t.Fatalf("customer of the orphaned conversation: %v", err)
	}
	if n, _ := w.rdb.ZScore(ctx, r.k.indexUnassigned(), "CONVO").Result(); n == 0 {
		t.Fatal("conversation missing from the unassigned list")
	}
	run(t, r, ev)
	onlineAll(t, pres, agents)
	eventually(t, "dispatch of the completed conversation", func() bool {
		c, _ := r.Conversation(ctx, "CONVO")
		return c.Assignee == agents[0].ID && c.TicketID != ""
	})
}

// Dispatch died after numbering the ticket but before indexing the
// number: the next dispatch of the conversation repairs the index.
func TestTicketIndexRepairedOnRedispatch(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	r, _, ev := w.replica()
	ctx := context.Background()
	acc, err := r.Ingest(ctx, webchatMsg("ticket-visitor-1", "t1", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	run(t, r, ev)
	var number string
	eventually(t, "ticket number", func() bool {
		c, _ := r.Conversation(ctx, acc.ConversationID)
		number = c.TicketID
		return number != ""
	})
	w.rdb.Del(ctx, r.k.ticketNumber(number))
	if _, err := r.Ticket(ctx, number); err == nil {
		t.Fatal("ticket found without its index; the test set-up is wrong")
	}
	w.rdb.XAdd(ctx, &redis.XAddArgs{Stream: r.k.dispatch(), Values: []any{"conv", acc.ConversationID, "kind", "repair"}})
	eventually(t, "ticket index repaired", func() bool {
		tk, err := r.Ticket(ctx, number)
		return err == nil && tk.ConversationID == acc.ConversationID && tk.Status == tickets.New
	})
}

// A reply whose request died after the transcript write but before the
// outbox entry: the client's retry with the same key must get it sent.
func TestRepeatedReplyRequeuesAnUnsentMessage(t *testing.T) {
	x := withAssigned(t, agentsN(1, 3, "support"), "reply-visitor-1")
	w, r, agents, id := x.w, x.r, x.agents, x.conv
	ctx := context.Background()
	// The first attempt: transcript and delivery state only.
	live, _ := json.Marshal(map[string]string{})
	if err := appendOutboundLua.Run(ctx, r.rdb, []string{r.k.conv(id), r.k.convMessages(id), r.k.convDelivery(id),
		r.k.convIdem(id, "key-1"), r.k.convLive(id), r.k.convHistory(id)},
		"FIRSTMSG", "out", "on it", agents[0].ID, agents[0].Name, 1, 3600, "on it", string(live)).Err(); err != nil {
		t.Fatal(err)
	}
	msg, err := r.Reply(ctx, agents[0], id, ReplyInput{Text: "on it", IdempotencyKey: "key-1"})
	if err != nil {
		t.Fatal(err)
	}
	if msg.ID != "FIRSTMSG" {
		t.Fatalf("retry answered with %s, want the first message", msg.ID)
	}
	eventually(t, "the first message sent", func() bool {
		for _, s := range w.ch.Sent() {
			if s.ID == "FIRSTMSG" {
				return true
			}
		}
		return false
	})
	msgs, _ := r.Messages(ctx, id, "", "", 0)
	outs := 0
	for _, m := range msgs {
		if m.Direction == Out {
			outs++
		}
	}
	if outs != 1 {
		t.Fatalf("%d outbound messages in the transcript, want 1", outs)
	}
}

// A customer answering a pending ticket moves it back to open, in the
// conversation and in the status lists.
func TestCustomerReplyReopensPending(t *testing.T) {
	x := withAssigned(t, agentsN(1, 3, "support"), "pending-visitor-1")
	r, agents := x.r, x.agents
	ctx := context.Background()
	if _, err := r.Update(ctx, agents[0], x.conv, Patch{Status: ptr("pending")}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Ingest(ctx, webchatMsg("pending-visitor-1", "p2", "here is the order number")); err != nil {
		t.Fatal(err)
	}
	c, _ := r.Conversation(ctx, x.conv)
	if c.Status != tickets.Open {
		t.Fatalf("status after the customer's answer = %s, want open", c.Status)
	}
	eventually(t, "status lists", func() bool {
		p, _ := r.Conversations(ctx, agents[0], Filter{Status: "pending"})
		o, _ := r.Conversations(ctx, agents[0], Filter{Status: "open"})
		return len(p.Items) == 0 && len(o.Items) == 1
	})
}

// Handing a resolved ticket to an agent records who has it but takes none
// of their capacity: nothing would ever give it back.
func TestAssigningResolvedTakesNoCapacity(t *testing.T) {
	agents := agentsN(2, 1, "support")
	agents[1].Role = session.RoleSupervisor
	x := withAssigned(t, agents, "resolved-visitor-1")
	w, r := x.w, x.r
	ctx := context.Background()
	if _, err := r.Update(ctx, agents[0], x.conv, Patch{Status: ptr("resolved")}); err != nil {
		t.Fatal(err)
	}
	c, err := r.Update(ctx, agents[1], x.conv, Patch{Assignee: ptr(agents[1].ID)})
	if err != nil || c.Assignee != agents[1].ID || c.Status != tickets.Resolved {
		t.Fatalf("reassign resolved = %+v, %v", c, err)
	}
	for _, a := range agents {
		if l, _ := w.rdb.HGet(ctx, r.sk.Load(), a.ID).Int(); l != 0 {
			t.Fatalf("%s holds load %d for a resolved ticket", a.ID, l)
		}
	}
	// Reopening gives it capacity again, with its (new) agent.
	if _, err := r.Update(ctx, agents[1], x.conv, Patch{Status: ptr("open")}); err != nil {
		t.Fatal(err)
	}
	if l, _ := w.rdb.HGet(ctx, r.sk.Load(), agents[1].ID).Int(); l != 1 {
		t.Fatalf("after reopen load = %d, want 1", l)
	}
}
