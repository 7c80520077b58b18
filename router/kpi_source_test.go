package router

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"switchboard/kpi"
	"switchboard/session"
	"switchboard/tickets"
)

// The KPI source replays a ticket's real history and transcript: a
// scripted ticket on real Redis comes back as the events it went
// through, with the team and agent of each moment, and the report
// computed from them has the figures worked out by hand.
func TestKPIEventsFromTicketLogs(t *testing.T) {
	w, r1, _, clock := slaWorld(t)
	ctx := context.Background()
	// a00 is online, so the reopened ticket goes back to them (sticky).
	onlineAll(t, session.NewPresences(w.rdb, w.prefix), slaAgents[:1])
	t0 := clock.now()
	acc, err := r1.Ingest(ctx, webchatMsg("v-kpi", "m1", "发票怎么开"))
	if err != nil {
		t.Fatal(err)
	}
	conv := acc.ConversationID
	eventually(t, "the ticket", func() bool {
		c, _ := r1.Conversation(ctx, conv)
		return c.TicketID != "" && targetOf(t, r1, conv, tickets.FirstResponse).State == clockRunning
	})
	sup := session.Agent{ID: "sup", Role: session.RoleSupervisor}
	a00 := session.Agent{ID: "a00", Name: "Agent"}
	assign := func(id string) {
		if _, err := r1.Update(ctx, sup, conv, Patch{Assignee: &id}); err != nil {
			t.Fatal(err)
		}
	}
	status := func(a session.Agent, s string) {
		if _, err := r1.Update(ctx, a, conv, Patch{Status: &s}); err != nil {
			t.Fatal(err)
		}
	}
	clock.set(t0.Add(time.Minute))
	assign("a00")
	if c, _ := r1.Conversation(ctx, conv); c.Assignee != "a00" {
		t.Fatalf("after assign: %+v", c)
	}
	clock.set(t0.Add(4 * time.Minute))
	if _, err := r1.Reply(ctx, a00, conv, ReplyInput{Text: "您好"}); err != nil {
		t.Fatal(err)
	}
	clock.set(t0.Add(20 * time.Minute))
	status(a00, "resolved")
	clock.set(t0.Add(30 * time.Minute))
	if _, err := r1.Ingest(ctx, webchatMsg("v-kpi", "m2", "还是不行")); err != nil {
		t.Fatal(err)
	}
	clock.set(t0.Add(32 * time.Minute))
	if _, err := r1.Reply(ctx, a00, conv, ReplyInput{Text: "再试一次"}); err != nil {
		t.Fatal(err)
	}
	clock.set(t0.Add(40 * time.Minute))
	status(a00, "resolved")
	settle(t, r1)

	evs, err := r1.KPIEvents().Events(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		if e.Conv != conv {
			continue
		}
		s := fmt.Sprintf("%s@%v/%s/%s", e.Kind, e.At.Sub(t0), e.Team, e.Agent)
		if e.Target != "" {
			s += "/" + e.Target
		}
		got = append(got, s)
	}
	want := []string{
		"customer_msg@0s/support/",
		"opened@0s/support/",
		"assigned@0s/support/a00", // dispatch: a00 is online
		"first_response@4m0s/support/a00",
		"agent_reply@4m0s/support/a00",
		"sla_met@4m0s/support/a00/first_response",
		"resolved@20m0s/support/a00",
		// The first resolve's "met" on the resolution target is taken back
		// by the second resolve's verdict.
		"customer_msg@30m0s/support/a00",
		"reopened@30m0s/support/a00",
		"agent_reply@32m0s/support/a00",
		"sla_met@32m0s/support/a00/next_response",
		"resolved@40m0s/support/a00",
		"sla_met@40m0s/support/a00/resolution",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if evs[3].Kind != kpi.FirstResponse || evs[3].Value != 240 {
		t.Errorf("first response value %v, want 240 s", evs[3].Value)
	}

	rep := kpi.Compute(evs, kpi.Filter{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	// One ticket, resolved (finally) at 40 min: resolution time 2400 s;
	// handle time (4→20) + (32→40) = 16 + 8 min = 1440 s; reopened, so
	// not resolved at first contact; SLA: three targets met.
	if rep.Volumes.Opened != 1 || rep.Volumes.Resolved != 1 {
		t.Errorf("volumes %+v", rep.Volumes)
	}
	if v := rep.ResolutionTime.AvgSeconds; v == nil || *v != 2400 {
		t.Errorf("resolution time %v, want 2400", v)
	}
	if v := rep.AHT.AvgSeconds; v == nil || *v != 1440 {
		t.Errorf("handle time %v, want 1440", v)
	}
	if rep.FCR.Resolved != 1 || rep.FCR.FirstContact != 0 {
		t.Errorf("fcr %+v, want 1 resolved, 0 at first contact", rep.FCR)
	}
	if rep.SLA.Overall.Met != 3 || rep.SLA.Overall.Breached != 0 {
		t.Errorf("sla %+v, want 3 met", rep.SLA.Overall)
	}
}

// A ticket whose logs outgrow kpiReadMax is read as its oldest and newest
// entries: the opening and the first messages, and the last ones with the
// reply and the resolve; the middle is left out. A conversation whose
// activity all came days after the period is not read.
func TestKPIEventsLongLogs(t *testing.T) {
	w, r1, _, clock := slaWorld(t)
	ctx := context.Background()
	onlineAll(t, session.NewPresences(w.rdb, w.prefix), slaAgents[:1])
	defer func(n int) { kpiReadMax = n }(kpiReadMax)
	kpiReadMax = 10
	t0 := clock.now()
	var conv string
	for i := 1; i <= 10; i++ {
		clock.set(t0.Add(time.Duration(i-1) * time.Minute))
		acc, err := r1.Ingest(ctx, webchatMsg("v-long", fmt.Sprintf("m%d", i), fmt.Sprintf("第%d条", i)))
		if err != nil {
			t.Fatal(err)
		}
		conv = acc.ConversationID
	}
	eventually(t, "the assignment", func() bool {
		c, _ := r1.Conversation(ctx, conv)
		return c.Assignee == "a00"
	})
	a00 := session.Agent{ID: "a00", Name: "Agent"}
	clock.set(t0.Add(11 * time.Minute))
	if _, err := r1.Reply(ctx, a00, conv, ReplyInput{Text: "您好"}); err != nil {
		t.Fatal(err)
	}
	clock.set(t0.Add(12 * time.Minute))
	resolved := "resolved"
	if _, err := r1.Update(ctx, a00, conv, Patch{Status: &resolved}); err != nil {
		t.Fatal(err)
	}
	settle(t, r1)
	// Another customer, active only days after the period.
	clock.set(t0.Add(48 * time.Hour))
	late, err := r1.Ingest(ctx, webchatMsg("v-late", "l1", "晚到"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the late ticket", func() bool {
		c, _ := r1.Conversation(ctx, late.ConversationID)
		return c.TicketID != ""
	})

	// The history (created, ticket, assignee, status ×2, SLA notices, the
	// escalation) fits; the transcript (ten messages, the resolve's
	// system line, the reply) does not.
	if n, _ := w.rdb.XLen(ctx, r1.k.convHistory(conv)).Result(); n > int64(kpiReadMax) {
		t.Fatalf("the history has %d entries: the test wants it within %d", n, kpiReadMax)
	}
	if n, _ := w.rdb.XLen(ctx, r1.k.convMessages(conv)).Result(); n != 12 {
		t.Fatalf("the transcript has %d entries, want 12", n)
	}
	// The day's activity set expires; one that lost its TTL (restored
	// from a dump without one) gets it back at its next write.
	dayKey := r1.k.activityDay(clock.now().In(r1.cfg.Location).Format(time.DateOnly))
	if ttl, _ := w.rdb.TTL(ctx, dayKey).Result(); ttl <= 399*24*time.Hour || ttl > activityTTL {
		t.Errorf("the day's activity set has TTL %v, want %v", ttl, activityTTL)
	}
	w.rdb.Persist(ctx, dayKey)
	if _, err := r1.Ingest(ctx, webchatMsg("v-late", "l2", "还在吗")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the restored set's TTL back", func() bool {
		ttl, _ := w.rdb.TTL(ctx, dayKey).Result()
		return ttl > 399*24*time.Hour
	})

	evs, err := r1.KPIEvents().Events(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[kpi.Kind]int{}
	var msgAt []time.Duration
	for _, e := range evs {
		if e.Conv == late.ConversationID {
			t.Errorf("a conversation active only after the period was read: %+v", e)
		}
		if e.Conv != conv {
			continue
		}
		counts[e.Kind]++
		if e.Kind == kpi.CustomerMsg {
			msgAt = append(msgAt, e.At.Sub(t0))
		}
		if e.Kind == kpi.FirstResponse && e.Value != 660 {
			t.Errorf("first response %v s, want 660", e.Value)
		}
	}
	// The transcript is read as m1–m5 and m8–m10, the system line, the reply.
	wantAt := []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute,
		7 * time.Minute, 8 * time.Minute, 9 * time.Minute}
	if fmt.Sprint(msgAt) != fmt.Sprint(wantAt) {
		t.Errorf("customer messages at %v, want %v", msgAt, wantAt)
	}
	if counts[kpi.Opened] != 1 || counts[kpi.FirstResponse] != 1 || counts[kpi.Resolved] != 1 || counts[kpi.AgentReply] != 1 {
		t.Errorf("events %v, want the opening, the first response, the reply and the resolve", counts)
	}
}
