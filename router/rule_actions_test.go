package router

import (
	"context"
	"testing"
	"time"

	"switchboard/session"
	"switchboard/tickets"
)

// A matching rule's actions: the ticket is held to the named SLA policy
// (not the one its priority would match), the customer gets the tags, and
// the automatic reply goes out once, in the customer's language; a later
// conversation of the tagged customer matches a rule on the tag.
func TestRuleActions(t *testing.T) {
	rules := []Rule{
		{Name: "退货", When: Match{Keywords: []string{"退货"}}, Continue: true,
			Then: Route{Tags: []string{"returns"}, SLAPolicy: "returns", AutoReply: &AutoReply{ZH: "已收到您的退货申请。", EN: "We got your return request."}}},
		{Name: "returns customers", When: Match{Tags: []string{"returns"}}, Then: Route{Priority: tickets.High}},
	}
	w := newWorld(t, append([]session.Agent(nil), slaAgents[:1]...), []session.Team{{ID: "support", Name: "Support"}}, rules)
	w.cfg.SLA = []tickets.SLAPolicy{
		{Name: "standard", FirstResponse: time.Hour},
		{Name: "returns", FirstResponse: 5 * time.Minute},
	}
	r, _, ev := w.replica()
	run(t, r, ev)
	ctx := context.Background()
	acc, err := r.Ingest(ctx, webchatMsg("v-ret", "r1", "我要退货"))
	if err != nil {
		t.Fatal(err)
	}
	id := acc.ConversationID
	eventually(t, "the SLA policy", func() bool {
		c, _ := r.load(ctx, id)
		st := r.slaStatus(c, time.Now())
		return st != nil && st.Policy == "returns"
	})
	eventually(t, "the auto-reply", func() bool { return len(sentTo(w, id)) == 1 })
	if m := sentTo(w, id)[0]; m.Text != "已收到您的退货申请。" || !m.Automatic {
		t.Fatalf("auto-reply %+v", m)
	}
	cust, err := r.Customer(ctx, acc.CustomerID)
	if err != nil || len(cust.Tags) != 1 || cust.Tags[0] != "returns" {
		t.Fatalf("customer tags %v %v", cust.Tags, err)
	}
	if c, _ := r.Conversation(ctx, id); c.Priority != tickets.Normal {
		t.Errorf("first conversation priority %s: the tag rule must not see the tag it is being given", c.Priority)
	}
	// Close it; the customer's next conversation matches on the tag.
	sup, closed := session.Agent{ID: "sup", Role: session.RoleSupervisor}, "closed"
	if _, err := r.Update(ctx, sup, id, Patch{Status: &closed}); err != nil {
		t.Fatal(err)
	}
	acc2, err := r.Ingest(ctx, webchatMsg("v-ret", "r2", "hello again"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second ticket", func() bool {
		c, _ := r.Conversation(ctx, acc2.ConversationID)
		return c.TicketID != ""
	})
	if c, _ := r.Conversation(ctx, acc2.ConversationID); c.Priority != tickets.High {
		t.Errorf("second conversation priority %s, want high (tag rule)", c.Priority)
	}
	if n := len(sentTo(w, acc2.ConversationID)); n != 0 {
		t.Errorf("%d messages sent in the second conversation, want none", n)
	}
}
