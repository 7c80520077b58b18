package router

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/session"
	"switchboard/tickets"
)

// fakeClock is a settable clock shared by replicas.
type fakeClock struct{ ms atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) set(t time.Time)         { c.ms.Store(t.UnixMilli()) }
func (c *fakeClock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

var slaAgents = []session.Agent{
	{ID: "a00", Email: "a00@example.com", Name: "Agent", Teams: []string{"support"}, Capacity: 5},
	{ID: "sup", Email: "sup@example.com", Name: "Supervisor", Role: session.RoleSupervisor, Teams: []string{"support"}, Capacity: 5},
	{ID: "boss", Email: "boss@example.com", Name: "Other team", Role: session.RoleSupervisor, Teams: []string{"sales"}, Capacity: 5},
}

// slaWorld is two running replicas sharing a Redis and a clock, with one
// policy: first response 10 min, next response 30 min, resolution 2 h,
// warnings at 80%, and a breach of the first response raising the
// priority to urgent.
func slaWorld(t *testing.T) (*world, *Router, *Router, *fakeClock) {
	t.Helper()
	w := newWorld(t, append([]session.Agent(nil), slaAgents...),
		[]session.Team{{ID: "support", Name: "Support"}, {ID: "sales", Name: "Sales"}}, nil)
	w.cfg.SLA = []tickets.SLAPolicy{{Name: "standard", FirstResponse: 10 * time.Minute, NextResponse: 30 * time.Minute,
		Resolution: 2 * time.Hour, WarnAt: []float64{0.8},
		Escalate: []tickets.Escalation{{On: tickets.OnBreach, Target: tickets.FirstResponse, Priority: tickets.Urgent}}}}
	clock := &fakeClock{}
	clock.set(time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC))
	var rs []*Router
	for i := 0; i < 2; i++ {
		r, _, ev := w.replica()
		r.now = clock.now
		run(t, r, ev)
		rs = append(rs, r)
	}
	return w, rs[0], rs[1], clock
}

// slaHistory returns the ticket's SLA history values.
func slaHistory(t *testing.T, r *Router, conv string) []string {
	t.Helper()
	xs, err := r.rdb.XRange(context.Background(), r.k.convHistory(conv), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range xs {
		if str(x.Values, "field") == "sla" {
			out = append(out, str(x.Values, "to"))
		}
	}
	return out
}

// slaEventsOf returns the SLA events on agent's stream.
func slaEventsOf(t *testing.T, r *Router, agent string) []SLAEvent {
	t.Helper()
	xs, err := r.rdb.XRange(context.Background(), r.sk.AgentEvents(agent), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []SLAEvent
	for _, x := range xs {
		typ, _ := x.Values["t"].(string)
		if typ == session.EventSLAWarning || typ == session.EventSLABreached {
			var e SLAEvent
			d, _ := x.Values["d"].(string)
			if err := json.Unmarshal([]byte(d), &e); err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
	}
	return out
}

func targetOf(t *testing.T, r *Router, conv string, target tickets.Target) tickets.TargetStatus {
	t.Helper()
	c, err := r.load(context.Background(), conv)
	if err != nil {
		t.Fatal(err)
	}
	if st := r.slaStatus(c, r.now()); st != nil {
		for _, ts := range st.Targets {
			if ts.Target == target {
				return ts
			}
		}
	}
	return tickets.TargetStatus{}
}

// settle waits until no SLA work is due or in flight, then a little
// longer, so a duplicate firing would have had its chance.
func settle(t *testing.T, r *Router) {
	t.Helper()
	ctx := context.Background()
	eventually(t, "SLA work done", func() bool {
		due, _ := r.rdb.ZCount(ctx, r.k.slaTimers(), "-inf", strconv.FormatInt(ms(r.now()), 10)).Result()
		pend, err := r.rdb.XPending(ctx, r.k.slaWork(), "sla").Result()
		return due == 0 && err == nil && pend.Count == 0
	})
	time.Sleep(3 * slaTick)
}

// Warnings and breaches fire once, at their time, across two replicas;
// a reply stops the first-response clock; pending pauses the resolution
// clock; resolve stops it and a reopen resumes it.
func TestSLATimersAcrossReplicas(t *testing.T) {
	_, r1, r2, clock := slaWorld(t)
	ctx := context.Background()
	t0 := clock.now()
	acc, err := r1.Ingest(ctx, webchatMsg("v-sla", "m1", "我的订单还没到"))
	if err != nil {
		t.Fatal(err)
	}
	conv := acc.ConversationID
	eventually(t, "the clocks start", func() bool {
		return targetOf(t, r2, conv, tickets.FirstResponse).State == clockRunning
	})
	if due := targetOf(t, r2, conv, tickets.FirstResponse).Due; due == nil || !due.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("first response due %v, want %v", due, t0.Add(10*time.Minute))
	}
	sup := session.Agent{ID: "sup", Role: session.RoleSupervisor}
	a00 := "a00"
	if _, err := r1.Update(ctx, sup, conv, Patch{Assignee: &a00}); err != nil {
		t.Fatal(err)
	}

	clock.advance(7 * time.Minute)
	settle(t, r1)
	if h := slaHistory(t, r1, conv); len(h) != 0 {
		t.Fatalf("before 80%%: history %q", h)
	}
	clock.advance(time.Minute + 3*time.Second) // 8 min 3 s: past 80%, and past the sync's 2 s settling time
	eventually(t, "the warning", func() bool { return len(slaHistory(t, r1, conv)) == 1 })
	clock.advance(2 * time.Minute) // past the due time
	eventually(t, "the breach", func() bool { return len(slaHistory(t, r1, conv)) == 2 })
	settle(t, r2)
	want := []string{"warning:first_response:80", "breached:first_response"}
	if h := slaHistory(t, r1, conv); strings.Join(h, ",") != strings.Join(want, ",") {
		t.Fatalf("history %q, want %q", h, want)
	}
	// Told to the assignee and the team's supervisor, once each; not to
	// the other team's supervisor.
	for agent, n := range map[string]int{"a00": 2, "sup": 2, "boss": 0} {
		if got := slaEventsOf(t, r1, agent); len(got) != n {
			t.Errorf("%s got %d SLA events, want %d: %+v", agent, len(got), n, got)
		}
	}
	if ev := slaEventsOf(t, r1, "sup"); len(ev) == 2 && (ev[1].What != "breached" || ev[1].Target != tickets.FirstResponse) {
		t.Errorf("second event %+v, want the first-response breach", ev[1])
	}
	c, _ := r1.Conversation(ctx, conv)
	if c.Priority != tickets.Urgent {
		t.Errorf("priority %q after the breach, want urgent (escalation)", c.Priority)
	}
	if c.SLAFlag != "breached" {
		t.Errorf("sla flag %q, want breached", c.SLAFlag)
	}

	// A late reply keeps the breach and says by how much.
	agent := session.Agent{ID: "a00", Name: "Agent"}
	if _, err := r2.Reply(ctx, agent, conv, ReplyInput{Text: "在查了"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the late reply is folded", func() bool {
		return targetOf(t, r1, conv, tickets.FirstResponse).LateSeconds == 3
	})

	// Pending at 10 min 3 s (that much of the resolution's 2 h used),
	// then five hours pass: no resolution breach.
	pending := "pending"
	if _, err := r1.Update(ctx, agent, conv, Patch{Status: &pending}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pause", func() bool {
		return targetOf(t, r1, conv, tickets.Resolution).State == clockPaused
	})
	clock.advance(5 * time.Hour)
	settle(t, r1)
	if h := slaHistory(t, r1, conv); len(h) != 2 {
		t.Fatalf("while pending: history %q", h)
	}
	// The customer answers: open again; 2 h − 10 min 3 s left.
	resumed := clock.now()
	if _, err := r2.Ingest(ctx, webchatMsg("v-sla", "m2", "地址是上海")); err != nil {
		t.Fatal(err)
	}
	wantDue := resumed.Add(2*time.Hour - 10*time.Minute - 3*time.Second)
	eventually(t, "the resume", func() bool {
		ts := targetOf(t, r1, conv, tickets.Resolution)
		return ts.State == clockRunning && ts.Due != nil && ts.Due.Equal(wantDue)
	})
	if nr := targetOf(t, r1, conv, tickets.NextResponse); nr.State != clockRunning || !nr.Due.Equal(resumed.Add(30*time.Minute)) {
		t.Errorf("next response %+v, want running, due %v", nr, resumed.Add(30*time.Minute))
	}
	// Resolve: the resolution target is met and nothing fires after.
	resolved := "resolved"
	if _, err := r1.Update(ctx, agent, conv, Patch{Status: &resolved}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "resolution met", func() bool {
		return targetOf(t, r1, conv, tickets.Resolution).State == clockMet
	})
	clock.advance(24 * time.Hour)
	settle(t, r1)
	want = []string{"warning:first_response:80", "breached:first_response", "met:resolution", "stopped:next_response"}
	if h := slaHistory(t, r1, conv); strings.Join(h, ",") != strings.Join(want, ",") {
		t.Fatalf("history %q, want %q", h, want)
	}
	if n, _ := r1.rdb.SIsMember(ctx, r1.k.slaLive(), conv).Result(); n {
		t.Error("a resolved ticket is still among the live clocks")
	}
}

// A replica that took a wake-up off the work stream and died before
// syncing loses nothing: another replica takes the entry over and the
// breach is recorded once.
func TestSLAWakeOfDeadReplica(t *testing.T) {
	w := newWorld(t, append([]session.Agent(nil), slaAgents...), []session.Team{{ID: "support", Name: "Support"}}, nil)
	w.cfg.SLA = []tickets.SLAPolicy{{Name: "standard", FirstResponse: 10 * time.Minute, WarnAt: []float64{}}}
	clock := &fakeClock{}
	clock.set(time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC))
	ctx := context.Background()

	// The first replica opens the ticket and starts its clock, then stops.
	r1, _, ev1 := w.replica()
	r1.now = clock.now
	stop := start(r1, ev1)
	acc, err := r1.Ingest(ctx, webchatMsg("v-dead", "m1", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	conv := acc.ConversationID
	eventually(t, "the clocks start", func() bool {
		return targetOf(t, r1, conv, tickets.FirstResponse).State == clockRunning
	})
	settle(t, r1)
	stop()

	// A replica (the one that dies) claims the due wake-up and reads the
	// work entry into its own pending list, then nothing more.
	clock.advance(11 * time.Minute)
	n, err := slaClaimLua.Run(ctx, r1.rdb, []string{r1.k.slaTimers(), r1.k.slaWork()}, ms(clock.now()), 10).Int()
	if err != nil || n != 1 {
		t.Fatalf("claimed %d, %v; want 1", n, err)
	}
	got, err := r1.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "sla", Consumer: "dead-replica",
		Streams: []string{r1.k.slaWork(), ">"}, Count: 10, Block: -1}).Result()
	if err != nil || len(got) != 1 || len(got[0].Messages) != 1 {
		t.Fatalf("dead replica read %v, %v", got, err)
	}

	// A survivor takes the entry over once it has been idle long enough.
	r2, _, ev2 := w.replica()
	r2.now = clock.now
	run(t, r2, ev2)
	eventually(t, "the breach", func() bool {
		return strings.Join(slaHistory(t, r2, conv), ",") == "breached:first_response"
	})
	settle(t, r2)
	if h := slaHistory(t, r2, conv); strings.Join(h, ",") != "breached:first_response" {
		t.Fatalf("history %q, want one breach", h)
	}
}

// start runs a replica's background work until the returned stop is
// called (or the test ends).
func start(r *Router, ev *session.Events) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = r.Run(ctx) }()
	go func() { defer wg.Done(); _ = ev.Run(ctx) }()
	var once sync.Once
	return func() { once.Do(func() { cancel(); wg.Wait() }) }
}

// A change whose wake-up was lost (the replica died after storing it) is
// found by the sweep.
func TestSLASweepFindsLostWake(t *testing.T) {
	_, r1, _, clock := slaWorld(t)
	ctx := context.Background()
	acc, err := r1.Ingest(ctx, webchatMsg("v-sweep", "m1", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	conv := acc.ConversationID
	eventually(t, "the clocks start", func() bool {
		return targetOf(t, r1, conv, tickets.FirstResponse).State == clockRunning
	})
	settle(t, r1)
	// A status change stored without its wake-up, as if its replica died
	// in between; the pending wake-up for the warning is dropped too.
	err = setFieldsLua.Run(ctx, r1.rdb, []string{r1.k.conv(conv), r1.k.convHistory(conv), r1.k.convMessages(conv)},
		"a00", ms(clock.now()), newID(), "", "status", "pending").Err()
	if err != nil {
		t.Fatal(err)
	}
	r1.rdb.ZRem(ctx, r1.k.slaTimers(), conv)
	if err := r1.slaSweepTick(ctx); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Second)
	eventually(t, "the pause", func() bool {
		return targetOf(t, r1, conv, tickets.FirstResponse).State == clockPaused
	})
}

// A ticket with more events than one sync reads is folded in steps, in
// time order: the first response is met at the reply, not breached.
func TestSLALongTranscriptInSteps(t *testing.T) {
	defer func(n int) { slaReadMax = n }(slaReadMax)
	slaReadMax = 4
	_, r1, _, clock := slaWorld(t)
	ctx := context.Background()
	t0 := clock.now()
	acc, err := r1.Ingest(ctx, webchatMsg("v-long", "m0", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	conv := acc.ConversationID
	for i := 1; i <= 9; i++ {
		clock.advance(30 * time.Second)
		if _, err := r1.Ingest(ctx, webchatMsg("v-long", "m"+strconv.Itoa(i), "more")); err != nil {
			t.Fatal(err)
		}
	}
	sup := session.Agent{ID: "sup", Role: session.RoleSupervisor}
	a00 := "a00"
	if _, err := r1.Update(ctx, sup, conv, Patch{Assignee: &a00}); err != nil {
		t.Fatal(err)
	}
	clock.set(t0.Add(6 * time.Minute))
	if _, err := r1.Reply(ctx, session.Agent{ID: "a00"}, conv, ReplyInput{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	clock.set(t0.Add(time.Hour))
	eventually(t, "the first response met", func() bool {
		return targetOf(t, r1, conv, tickets.FirstResponse).State == clockMet
	})
	settle(t, r1)
	if h := slaHistory(t, r1, conv); strings.Join(h, ",") != "met:first_response,warning:resolution:80" &&
		strings.Join(h, ",") != "met:first_response" {
		t.Fatalf("history %q", h)
	}
}
