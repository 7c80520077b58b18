package router

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"switchboard/connectors"
	"switchboard/session"
)

// ctiPolicy is the CTI connector as far as the router asks it: which
// sources want callback tickets for missed calls.
type ctiPolicy struct{ callback map[string]bool }

func (p ctiPolicy) Channel() connectors.Channel { return connectors.CTI }
func (p ctiPolicy) Send(context.Context, *connectors.Outbound) (connectors.Receipt, error) {
	return connectors.Receipt{}, connectors.ErrUnsupported
}
func (p ctiPolicy) MissedCallTicket(source string) bool { return p.callback[source] }
func (p ctiPolicy) RingsAgents(source string) bool      { return source == "ami" }

// The people of the call tests: two support agents, a sales agent named
// as Zammad would name her, and a supervisor.
var callAgents = []session.Agent{
	{ID: "li", Email: "li@example.com", Name: "李明", Teams: []string{"support"}, Capacity: 5, Extension: "8001"},
	{ID: "wang", Email: "wang@example.com", Name: "王芳", Teams: []string{"support"}, Capacity: 5, Extension: "8002"},
	{ID: "emma", Email: "emma@example.com", Name: "Emma Taylor", Teams: []string{"sales"}, Capacity: 5, Extension: "8003"},
	{ID: "sup", Email: "sup@example.com", Name: "Supervisor", Role: session.RoleSupervisor, Teams: []string{"support"}, Capacity: 5},
}

var callTeams = []session.Team{{ID: "support", Name: "Support"}, {ID: "sales", Name: "Sales"}}

// callRouter is a running router on a fresh prefix with the call agents
// online and a CTI connector: source "pbx" opens callback tickets, source
// "quiet" does not, source "ami" reports rings.
func callRouter(t *testing.T) *Router {
	t.Helper()
	agents := slices.Clone(callAgents)
	w := newWorld(t, agents, callTeams, nil)
	dir := session.NewDirectory(w.rdb, w.prefix, quiet())
	pres := session.NewPresences(w.rdb, w.prefix)
	ev := session.NewEvents(w.rdb, w.prefix, quiet())
	reg := connectors.NewRegistry()
	reg.Add(w.ch)
	reg.Add(ctiPolicy{callback: map[string]bool{"pbx": true}})
	r, err := New(w.cfg, Deps{Redis: w.rdb, Registry: reg, Directory: dir, Presences: pres, Events: ev, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	run(t, r, ev)
	onlineAll(t, pres, agents)
	return r
}

// agentEvent is one event on an agent's stream.
type agentEvent struct {
	typ  string
	data json.RawMessage
}

// callEventsOf returns the call events on agent's stream, oldest first.
func callEventsOf(t *testing.T, r *Router, agent string) []agentEvent {
	t.Helper()
	xs, err := r.rdb.XRange(context.Background(), r.sk.AgentEvents(agent), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []agentEvent
	for _, x := range xs {
		typ, _ := x.Values["t"].(string)
		if typ == session.EventScreenPop || typ == EventCallUpdated {
			d, _ := x.Values["d"].(string)
			out = append(out, agentEvent{typ: typ, data: json.RawMessage(d)})
		}
	}
	return out
}

// pops returns the screen-pops on each agent's stream.
func pops(t *testing.T, r *Router) map[string][]CallView {
	t.Helper()
	out := map[string][]CallView{}
	for _, a := range callAgents {
		for _, e := range callEventsOf(t, r, a.ID) {
			if e.typ != session.EventScreenPop {
				continue
			}
			var v CallView
			if err := json.Unmarshal(e.data, &v); err != nil {
				t.Fatalf("pop %s: %v", e.data, err)
			}
			out[a.ID] = append(out[a.ID], v)
		}
	}
	return out
}

// updates returns the call.updated events of agent.
func updates(t *testing.T, r *Router, agent string) []Call {
	t.Helper()
	var out []Call
	for _, e := range callEventsOf(t, r, agent) {
		if e.typ != EventCallUpdated {
			continue
		}
		var u callUpdate
		if err := json.Unmarshal(e.data, &u); err != nil {
			t.Fatal(err)
		}
		out = append(out, u.Call)
	}
	return out
}

func whoGot(m map[string][]CallView) []string {
	var ids []string
	for id, v := range m {
		if len(v) > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

var t0 = time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)

// call is a call event of source pbx with its numbers normalized as the
// connector does.
func call(typ connectors.CallEventType, id string, at time.Duration, users ...string) connectors.CallEvent {
	return connectors.CallEvent{Source: "pbx", Type: typ, CallID: id, Direction: connectors.CallInbound,
		From: "13800138000", To: "4008001234", FromE164: "+8613800138000", ToE164: "+864008001234",
		Users: users, At: t0.Add(at)}
}

func callT(t *testing.T, r *Router, ev connectors.CallEvent) {
	t.Helper()
	if err := r.CallEvent(context.Background(), ev); err != nil {
		t.Fatalf("call event %s %s: %v", ev.Type, ev.CallID, err)
	}
}

func loadCallT(t *testing.T, r *Router, source, pbxID string) Call {
	t.Helper()
	c, err := r.loadCall(context.Background(), callID(source, pbxID))
	if err != nil {
		t.Fatalf("call %s/%s: %v", source, pbxID, err)
	}
	return c
}

// knownCaller makes +8613800138000 a customer named 张三 with a web-chat
// conversation, and returns the customer id.
func knownCaller(t *testing.T, r *Router) (customer, conv string) {
	t.Helper()
	acc := ingestT(t, r, &connectors.Message{Channel: connectors.WebChat, Account: "site", ExternalID: "m1",
		From: connectors.Identity{Type: "phone", Value: "+8613800138000", Name: "张三"}, Kind: connectors.KindText,
		Text: "我的订单还没到"})
	return acc.CustomerID, acc.ConversationID
}

// A new call pops up on the screens of exactly the agents it rings for,
// with the caller's record; later rings add agents; answer and hangup
// update the same agents; repeats change nothing.
func TestCallPopReachesRungAgentsOnly(t *testing.T) {
	r := callRouter(t)
	cust, conv := knownCaller(t, r)
	if _, err := r.rdb.HSet(context.Background(), r.k.customer(cust), "level", "vip").Result(); err != nil {
		t.Fatal(err)
	}

	callT(t, r, call(connectors.CallNew, "c1", 0, "8001"))
	got := pops(t, r)
	if who := whoGot(got); !slices.Equal(who, []string{"li"}) {
		t.Fatalf("the pop reached %v, want only [li]", who)
	}
	v := got["li"][0]
	switch {
	case !v.Known || v.Customer == nil:
		t.Fatalf("pop of a known caller says unknown: %+v", v)
	case v.Customer.ID != cust || v.Customer.Name != "张三" || v.Customer.Level != "vip":
		t.Errorf("pop customer %+v, want %s 张三 vip", v.Customer, cust)
	case len(v.RecentConversations) != 1 || v.RecentConversations[0].ID != conv:
		t.Errorf("pop recent conversations %+v, want [%s]", v.RecentConversations, conv)
	case v.Call.State != CallRinging || v.Call.Number != "+8613800138000" || v.Call.ID != callID("pbx", "c1"):
		t.Errorf("pop call %+v", v.Call)
	case v.LastCall != nil:
		t.Errorf("first call has a last call: %+v", v.LastCall)
	}
	if len(v.Customer.Identities) == 0 || v.Customer.Identities[0].Value != "+8613800138000" {
		t.Errorf("pop identities %+v", v.Customer.Identities)
	}

	// A repeated newCall pops nothing up again; a ring adds wang.
	callT(t, r, call(connectors.CallNew, "c1", 0, "8001"))
	callT(t, r, call(connectors.CallRing, "c1", time.Second, "8002"))
	callT(t, r, call(connectors.CallRing, "c1", time.Second, "8002"))
	got = pops(t, r)
	if who := whoGot(got); !slices.Equal(who, []string{"li", "wang"}) || len(got["wang"]) != 1 || len(got["li"]) != 1 {
		t.Fatalf("after a ring for 8002 the pops are %v (li %d, wang %d), want li and wang once", who, len(got["li"]), len(got["wang"]))
	}

	ans := call(connectors.CallAnswer, "c1", 5*time.Second)
	ans.AnsweredBy = "8001"
	callT(t, r, ans)
	callT(t, r, call(connectors.CallHangup, "c1", 95*time.Second))
	callT(t, r, call(connectors.CallHangup, "c1", 99*time.Second)) // repeat
	for _, a := range []string{"li", "wang"} {
		u := updates(t, r, a)
		if len(u) != 2 || u[0].State != CallAnswered || u[1].State != CallEnded {
			t.Fatalf("updates of %s: %+v, want answered then ended", a, u)
		}
		if u[1].AnsweredAgent != "li" || u[1].Duration != 90 {
			t.Errorf("update of %s: answered by %q after %d s, want li after 90 s", a, u[1].AnsweredAgent, u[1].Duration)
		}
	}
	for _, a := range []string{"emma", "sup"} {
		if e := callEventsOf(t, r, a); len(e) != 0 {
			t.Errorf("%s got call events %v of a call that never rang for them", a, e)
		}
	}
	c := loadCallT(t, r, "pbx", "c1")
	if c.CustomerID != cust || !slices.Equal(c.Agents, []string{"li", "wang"}) || !slices.Equal(c.Users, []string{"8001", "8002"}) {
		t.Errorf("call record %+v", c)
	}
	if ended := c.EndedAt; ended == nil || !ended.Equal(t0.Add(95*time.Second)) {
		t.Errorf("ended at %v, want the first hangup's time", ended)
	}

	// The next call from the number shows this one as the last call.
	callT(t, r, call(connectors.CallNew, "c2", time.Hour, "8002"))
	v2 := pops(t, r)["wang"]
	if last := v2[len(v2)-1].LastCall; last == nil || last.ID != c.ID || last.Duration != 90 {
		t.Errorf("second call's last call: %+v, want %s of 90 s", last, c.ID)
	}
	day := t0.Format(time.DateOnly)
	k, err := r.CallKPIs(context.Background(), day)
	if err != nil {
		t.Fatal(err)
	}
	if k.Inbound != 2 || k.Answered != 1 || k.Missed != 0 || k.TalkSeconds != 90 || k.Talked != 1 {
		t.Errorf("KPIs of %s: %+v, want 2 inbound, 1 answered for 90 s", day, k)
	}
}

// The PBX names agents by extension (also inside a channel or SIP
// address), id, e-mail or name; names that are no agent fall back to the
// call's team.
func TestCallPopResolvesUsers(t *testing.T) {
	r := callRouter(t)
	for i, tc := range []struct {
		name  string
		users []string
		team  string
		want  []string
	}{
		{"extension", []string{"8003"}, "", []string{"emma"}},
		{"channel", []string{"PJSIP/8003"}, "", []string{"emma"}},
		{"sip address", []string{"sip:8003@pbx.example.com"}, "", []string{"emma"}},
		{"agent id", []string{"emma"}, "", []string{"emma"}},
		{"e-mail", []string{"Emma@Example.com"}, "", []string{"emma"}},
		{"display names", []string{"Emma Taylor", "李明"}, "", []string{"emma", "li"}},
		{"nobody known, team sales", []string{"Christopher Miller"}, "sales", []string{"emma"}},
		{"no users, no team: the first team", nil, "", []string{"li", "sup", "wang"}},
		{"unknown team: the first team", nil, "nope", []string{"li", "sup", "wang"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "resolve-" + string(rune('a'+i))
			ev := call(connectors.CallNew, id, 0, tc.users...)
			ev.FromE164, ev.From = "", "anonymous"
			ev.Team = tc.team
			callT(t, r, ev)
			c := loadCallT(t, r, "pbx", id)
			if !slices.Equal(c.Agents, tc.want) {
				t.Errorf("agents %v, want %v", c.Agents, tc.want)
			}
			for _, a := range callAgents {
				n := 0
				for _, e := range callEventsOf(t, r, a.ID) {
					if e.typ == session.EventScreenPop && json.Valid(e.data) && containsCall(e.data, c.ID) {
						n++
					}
				}
				if want := slices.Contains(tc.want, a.ID); (n == 1) != want || n > 1 {
					t.Errorf("%s got %d pops of the call, want %v", a.ID, n, want)
				}
			}
		})
	}
}

// A source that reports rings (AMI) pops a new call up for the agents as
// they are rung, not for the whole team first.
func TestCallPopWaitsForRings(t *testing.T) {
	r := callRouter(t)
	ev := call(connectors.CallNew, "r1", 0)
	ev.Source, ev.Team = "ami", "support"
	callT(t, r, ev)
	if who := whoGot(pops(t, r)); len(who) != 0 {
		t.Fatalf("a newCall that named nobody popped up for %v", who)
	}
	ring := call(connectors.CallRing, "r1", time.Second, "8002")
	ring.Source = "ami"
	callT(t, r, ring)
	if who := whoGot(pops(t, r)); !slices.Equal(who, []string{"wang"}) {
		t.Errorf("after the ring for 8002 the pops are %v, want [wang]", who)
	}
	// A newCall naming users none of whom is an agent still goes to the team.
	ev2 := call(connectors.CallNew, "r2", 0, "Christopher Miller")
	ev2.Source, ev2.Team = "ami", "sales"
	callT(t, r, ev2)
	if c := loadCallT(t, r, "ami", "r2"); !slices.Equal(c.Agents, []string{"emma"}) {
		t.Errorf("agents %v, want the sales team [emma]", c.Agents)
	}
}

func containsCall(data []byte, id string) bool {
	var v CallView
	return json.Unmarshal(data, &v) == nil && v.Call.ID == id && !v.Known
}

// Events out of order: a hangup before its newCall makes a missed call,
// the late newCall pops nobody up; an answer after the hangup is ignored.
func TestCallEventsOutOfOrder(t *testing.T) {
	r := callRouter(t)
	for _, tc := range []struct {
		name   string
		events []connectors.CallEvent
		state  string
	}{
		{"hangup first", []connectors.CallEvent{call(connectors.CallHangup, "o1", 30*time.Second),
			call(connectors.CallNew, "o1", 0, "8001")}, CallMissed},
		{"answer after hangup", []connectors.CallEvent{call(connectors.CallNew, "o2", 0, "8001"),
			call(connectors.CallHangup, "o2", 30*time.Second), call(connectors.CallAnswer, "o2", 40*time.Second)}, CallMissed},
		{"answer before newCall", []connectors.CallEvent{call(connectors.CallAnswer, "o3", 5*time.Second),
			call(connectors.CallNew, "o3", 0, "8001"), call(connectors.CallHangup, "o3", 65*time.Second)}, CallEnded},
		{"outbound hangup first", []connectors.CallEvent{outbound(call(connectors.CallHangup, "o4", 30*time.Second)),
			outbound(call(connectors.CallNew, "o4", 0, "8001"))}, CallEnded},
		{"forwarded", []connectors.CallEvent{call(connectors.CallNew, "o5", 0, "8001"),
			withCause(call(connectors.CallHangup, "o5", 3*time.Second), connectors.CauseForwarded)}, CallEnded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, ev := range tc.events {
				ev.Source = "quiet" // no callback tickets here
				callT(t, r, ev)
			}
			c := loadCallT(t, r, "quiet", tc.events[0].CallID)
			if c.State != tc.state {
				t.Errorf("state %q, want %q", c.State, tc.state)
			}
			if !c.StartedAt.Equal(t0) {
				t.Errorf("started at %v, want the newCall's %v", c.StartedAt, t0)
			}
			if tc.name == "answer after hangup" && c.AnsweredAt != nil {
				t.Errorf("an answer after the hangup was recorded: %v", c.AnsweredAt)
			}
			if tc.name == "answer before newCall" && c.Duration != 60 {
				t.Errorf("duration %d, want 60", c.Duration)
			}
		})
	}
	// Only the calls that were still going on when li was named popped
	// up: o2 and o5 (ringing), o3 (answered before its newCall came).
	var popped []string
	for _, v := range pops(t, r)["li"] {
		if !v.Call.Live() {
			t.Errorf("a pop of a call that was %s", v.Call.State)
		}
		popped = append(popped, v.Call.CallID)
	}
	sort.Strings(popped)
	if want := []string{"o2", "o3", "o5"}; !slices.Equal(popped, want) {
		t.Errorf("li got pops of %v, want %v", popped, want)
	}
}

func outbound(ev connectors.CallEvent) connectors.CallEvent {
	ev.Direction = connectors.CallOutbound
	ev.From, ev.To, ev.FromE164, ev.ToE164 = "8001", ev.From, "", ev.FromE164
	return ev
}

func withCause(ev connectors.CallEvent, cause string) connectors.CallEvent {
	ev.Cause = cause
	return ev
}

// One click makes one ticket, however often it is clicked: a new caller
// becomes a customer with the phone number and the name given, the call
// is the ticket's first message, and the ticket is the clicking agent's.
func TestCreateCallTicketIdempotent(t *testing.T) {
	r := callRouter(t)
	ctx := context.Background()
	ev := call(connectors.CallNew, "t1", 0, "8001")
	ev.Team = "support"
	callT(t, r, ev)
	callT(t, r, call(connectors.CallAnswer, "t1", 4*time.Second))
	id := callID("pbx", "t1")
	li := callAgents[0]

	var wg sync.WaitGroup
	convs := make([]Conversation, 4)
	errs := make([]error, 4)
	for i := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			convs[i], errs[i] = r.CreateCallTicket(ctx, li, id, "王五")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("click %d: %v", i, err)
		}
		if convs[i].ID != convs[0].ID {
			t.Fatalf("clicks made tickets %s and %s", convs[0].ID, convs[i].ID)
		}
	}
	conv := convs[0]
	if conv.Channel != connectors.CTI || conv.Account != "pbx" || conv.Assignee != "li" || conv.TicketID == "" || conv.Team != "support" {
		t.Errorf("ticket %+v, want cti/pbx, li's, numbered, team support", conv)
	}
	msgs, err := r.Messages(ctx, conv.ID, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var calls []Message
	for _, m := range msgs {
		if m.Kind == connectors.KindCall {
			calls = append(calls, m)
		}
	}
	if len(calls) != 1 || calls[0].Fields["call_id"] != "t1" || calls[0].Fields["from"] != "13800138000" ||
		calls[0].Fields["direction"] != "in" || calls[0].Fields["state"] != CallAnswered {
		t.Fatalf("call messages %+v, want one with the call's fields", calls)
	}
	cust, err := r.Customer(ctx, conv.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	if cust.Name != "王五" || len(cust.Identities) != 1 || cust.Identities[0].Value != "+8613800138000" {
		t.Errorf("customer %+v, want 王五 with the phone number", cust)
	}
	c := loadCallT(t, r, "pbx", "t1")
	if c.ConversationID != conv.ID || c.CustomerID != conv.CustomerID || c.TicketID != conv.TicketID {
		t.Errorf("call record %+v does not name ticket %s of customer %s", c, conv.ID, conv.CustomerID)
	}
	again, err := r.CreateCallTicket(ctx, callAgents[3], id, "")
	if err != nil || again.ID != conv.ID {
		t.Errorf("the supervisor's click: %v, %v; want ticket %s", again.ID, err, conv.ID)
	}
	// The pop of the next call knows the caller and their open ticket.
	callT(t, r, call(connectors.CallNew, "t2", time.Hour, "8002"))
	p := pops(t, r)["wang"]
	v := p[len(p)-1]
	if !v.Known || v.Customer.Name != "王五" || len(v.OpenTickets) != 1 || v.OpenTickets[0].Number == 0 {
		t.Errorf("pop of the next call: %+v", v)
	}
	// Its ticket is a new one, for the customer, under the customer's name
	// (a name given now does not rename them).
	second, err := r.CreateCallTicket(ctx, callAgents[1], callID("pbx", "t2"), "someone else")
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == conv.ID || second.CustomerID != conv.CustomerID || second.CustomerName != "王五" || second.Assignee != "wang" {
		t.Errorf("the next call's ticket %+v, want a new ticket of 王五 for wang", second)
	}
}

// Who may make a ticket of a call.
func TestCallTicketPermissions(t *testing.T) {
	r := callRouter(t)
	ev := call(connectors.CallNew, "p1", 0, "8001")
	ev.Team = "support"
	callT(t, r, ev)
	id := callID("pbx", "p1")
	for _, tc := range []struct {
		agent session.Agent
		want  error
	}{
		{callAgents[2], ErrForbidden}, // emma: sales, not rung
		{callAgents[1], nil},          // wang: support, the call's team
		{callAgents[3], nil},          // the supervisor
	} {
		_, err := r.CallView(context.Background(), tc.agent, id)
		if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
			t.Errorf("%s: %v, want %v", tc.agent.ID, err, tc.want)
		}
	}
	if _, err := r.CreateCallTicket(context.Background(), callAgents[2], id, ""); !errors.Is(err, ErrForbidden) {
		t.Errorf("emma's click: %v, want forbidden", err)
	}
	if _, err := r.CallView(context.Background(), callAgents[3], "0123456789abcdef0123"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown call: %v, want not found", err)
	}
}

// A missed inbound call opens a callback ticket, dispatched to the called
// number's team, once; a forwarded one and a source that does not ask
// open none.
func TestMissedCallCallbackTicket(t *testing.T) {
	r := callRouter(t)
	ctx := context.Background()
	ev := call(connectors.CallNew, "m1", 0)
	ev.Team = "sales"
	callT(t, r, ev)
	hang := withCause(call(connectors.CallHangup, "m1", 20*time.Second), connectors.CauseCancel)
	hang.Team = "sales"
	callT(t, r, hang)
	callT(t, r, hang) // a repeat

	c := loadCallT(t, r, "pbx", "m1")
	if c.State != CallMissed || c.CallbackID == "" {
		t.Fatalf("missed call %+v, want missed with a callback ticket", c)
	}
	eventually(t, "the callback ticket in sales, assigned to emma", func() bool {
		conv, err := r.Conversation(ctx, c.CallbackID)
		return err == nil && conv.Team == "sales" && conv.TicketID != "" && conv.Assignee == "emma"
	})
	conv, _ := r.Conversation(ctx, c.CallbackID)
	if conv.Channel != connectors.CTI || conv.Account != "pbx" {
		t.Errorf("callback ticket on %s/%s, want cti/pbx", conv.Channel, conv.Account)
	}
	msgs, _ := r.Messages(ctx, conv.ID, "", "", 0)
	n := 0
	for _, m := range msgs {
		if m.Kind == connectors.KindCall {
			n++
			if m.Fields["state"] != CallMissed || m.Fields["cause"] != connectors.CauseCancel {
				t.Errorf("callback message fields %v", m.Fields)
			}
		}
	}
	if n != 1 {
		t.Errorf("callback ticket has %d call messages, want 1", n)
	}
	// A second missed call of the caller joins the open callback ticket.
	callT(t, r, call(connectors.CallNew, "m2", time.Hour))
	callT(t, r, call(connectors.CallHangup, "m2", time.Hour+10*time.Second))
	if c2 := loadCallT(t, r, "pbx", "m2"); c2.CallbackID != c.CallbackID {
		t.Errorf("second missed call's callback %q, want the open one %q", c2.CallbackID, c.CallbackID)
	}

	for _, tc := range []struct {
		name, source, cause string
	}{
		{"forwarded", "pbx", connectors.CauseForwarded},
		{"source without callbacks", "quiet", connectors.CauseCancel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "x-" + tc.name
			ev := call(connectors.CallNew, id, 0)
			ev.Source, ev.FromE164 = tc.source, "+8613900139000"
			callT(t, r, ev)
			h := withCause(call(connectors.CallHangup, id, time.Second), tc.cause)
			h.Source, h.FromE164 = tc.source, "+8613900139000"
			callT(t, r, h)
			if c := loadCallT(t, r, tc.source, id); c.CallbackID != "" {
				t.Errorf("callback ticket %s opened", c.CallbackID)
			}
			if cust, _ := r.customerByPhone(ctx, "+8613900139000"); cust != "" {
				t.Errorf("the caller became customer %s", cust)
			}
		})
	}
	k, _ := r.CallKPIs(ctx, t0.Format(time.DateOnly))
	if k.Missed != 3 {
		t.Errorf("missed calls %d, want 3 (m1, m2, the quiet source's)", k.Missed)
	}
}

// dispatchIdle waits until dispatch has nothing in hand: every
// conversation ingested so far is assigned or queued, and dispatch writes
// nothing more to it.
func dispatchIdle(t *testing.T, r *Router) {
	t.Helper()
	eventually(t, "dispatch to be idle", func() bool {
		groups, err := r.rdb.XInfoGroups(context.Background(), r.k.dispatch()).Result()
		return err == nil && len(groups) == 1 && groups[0].Pending == 0 && groups[0].Lag == 0
	})
}

// placedConv is a web-chat conversation of a new visitor, once dispatch
// is done with it, handed by the supervisor to agent in team.
func placedConv(t *testing.T, r *Router, visitor, agent, team string) connectors.Accepted {
	t.Helper()
	acc := ingestT(t, r, webchatMsg(visitor, "m-"+visitor, "I will call you"))
	dispatchIdle(t, r)
	conv, err := r.Update(context.Background(), callAgents[3], acc.ConversationID, Patch{Assignee: &agent, Team: &team})
	if err != nil || conv.Assignee != agent || conv.Team != team {
		t.Fatalf("hand %s to %s in %s: %+v, %v", acc.ConversationID, agent, team, conv, err)
	}
	return acc
}

// callMessages counts the call messages of a conversation.
func callMessages(t *testing.T, r *Router, conv string) int {
	t.Helper()
	msgs, err := r.Messages(context.Background(), conv, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if m.Kind == connectors.KindCall {
			n++
		}
	}
	return n
}

// Attaching a call to an existing ticket adds a call message once and
// records the ticket on the call; the caller's number does not become
// the ticket customer's.
func TestAttachCall(t *testing.T) {
	r := callRouter(t)
	ctx := context.Background()
	acc := placedConv(t, r, "visitor-attach-0001", "wang", "support")
	ev := call(connectors.CallNew, "a1", 0, "8001")
	ev.FromE164, ev.From = "+8613700137000", "13700137000"
	callT(t, r, ev)
	id := callID("pbx", "a1")
	li := callAgents[0]

	first, err := r.AttachCall(ctx, li, id, acc.ConversationID)
	if err != nil || first.Duplicate || first.MessageID == "" {
		t.Fatalf("attach: %+v, %v", first, err)
	}
	again, err := r.AttachCall(ctx, li, id, acc.ConversationID)
	if err != nil || !again.Duplicate {
		t.Fatalf("attach again: %+v, %v; want a duplicate", again, err)
	}
	if n := callMessages(t, r, acc.ConversationID); n != 1 {
		t.Errorf("%d call messages, want 1", n)
	}
	c := loadCallT(t, r, "pbx", "a1")
	if c.ConversationID != acc.ConversationID {
		t.Errorf("call names conversation %q, want %s", c.ConversationID, acc.ConversationID)
	}
	// Nothing links the number to the ticket's customer: not the number,
	// not the call, not the customer's calls.
	if cust, _ := r.customerByPhone(ctx, "+8613700137000"); cust != "" {
		t.Errorf("the number belongs to %q after the attach, want nobody", cust)
	}
	if c.CustomerID != "" {
		t.Errorf("the call names customer %q, want none", c.CustomerID)
	}
	cust, err := r.Customer(ctx, acc.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range cust.Identities {
		if x.Type == "phone" {
			t.Errorf("the ticket's customer got identity %+v", x)
		}
	}
	if n, _ := r.rdb.ZCard(ctx, r.k.customerCalls(acc.CustomerID)).Result(); n != 0 {
		t.Errorf("the ticket's customer has %d calls, want 0", n)
	}
	// So the next call from the number pops up as a new caller.
	next := call(connectors.CallNew, "a2", time.Hour, "8001")
	next.FromE164, next.From = "+8613700137000", "13700137000"
	callT(t, r, next)
	if p := pops(t, r)["li"]; len(p) != 2 || p[1].Known {
		t.Errorf("pops of li %+v, want the second call's of an unknown caller", p)
	}

	if _, err := r.AttachCall(ctx, li, id, "NOPE"); !errors.Is(err, ErrInvalid) {
		t.Errorf("attach to a missing conversation: %v, want invalid", err)
	}
	// Creating a ticket now answers the ticket it is attached to.
	conv, err := r.CreateCallTicket(ctx, li, id, "")
	if err != nil || conv.ID != acc.ConversationID {
		t.Errorf("create after attach: %s, %v; want %s", conv.ID, err, acc.ConversationID)
	}
}

// An agent attaches a call only to a conversation they may act on: their
// own, or their team's; supervisors to any. A refused attach writes
// nothing.
func TestAttachCallPermissions(t *testing.T) {
	r := callRouter(t)
	ctx := context.Background()
	sales := placedConv(t, r, "visitor-attach-sales", "emma", "sales")
	mine := placedConv(t, r, "visitor-attach-mine", "li", "sales")
	team := placedConv(t, r, "visitor-attach-team", "wang", "support")
	li, sup := callAgents[0], callAgents[3]
	for i, tc := range []struct {
		name  string
		agent session.Agent
		conv  string
		want  error
	}{
		{"another team's", li, sales.ConversationID, ErrForbidden},
		{"assigned to them in another team", li, mine.ConversationID, nil},
		{"their team's, another agent's", li, team.ConversationID, nil},
		{"the supervisor, another team's", sup, sales.ConversationID, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pbxID := "perm-" + string(rune('a'+i))
			ev := call(connectors.CallNew, pbxID, time.Duration(i)*time.Minute, "8001")
			ev.FromE164, ev.From = "+861370013700"+string(rune('0'+i)), "1370013700"+string(rune('0'+i))
			callT(t, r, ev)
			before := callMessages(t, r, tc.conv)
			_, err := r.AttachCall(ctx, tc.agent, callID("pbx", pbxID), tc.conv)
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("attach: %v, want %v", err, tc.want)
			}
			c := loadCallT(t, r, "pbx", pbxID)
			after := callMessages(t, r, tc.conv)
			if tc.want != nil {
				if after != before || c.ConversationID != "" {
					t.Errorf("a refused attach wrote: %d → %d call messages, call names %q", before, after, c.ConversationID)
				}
				return
			}
			if after != before+1 || c.ConversationID != tc.conv {
				t.Errorf("attach: %d → %d call messages, call names %q; want one more and %s", before, after, c.ConversationID, tc.conv)
			}
			if cust, _ := r.customerByPhone(ctx, ev.FromE164); cust != "" {
				t.Errorf("the number became customer %s's", cust)
			}
		})
	}
}

// A repeated event that names new agents (a PBX sending newCall again
// with more users, a transfer's second answer) adds them and pops the
// call up for them while it goes on; the state and times stay as the
// first event set them, and a true repeat pops nothing up again.
func TestCallRepeatAddsAgents(t *testing.T) {
	r := callRouter(t)
	ctx := context.Background()
	popsOf := func(agent string) int { return len(pops(t, r)[agent]) }

	callT(t, r, call(connectors.CallNew, "rp1", 0, "8001"))
	callT(t, r, call(connectors.CallNew, "rp1", time.Second, "8001", "8003")) // overflow to sales
	if li, emma := popsOf("li"), popsOf("emma"); li != 1 || emma != 1 {
		t.Fatalf("after a newCall naming emma too: li %d pops, emma %d; want 1 and 1", li, emma)
	}
	c := loadCallT(t, r, "pbx", "rp1")
	if !slices.Equal(c.Agents, []string{"emma", "li"}) || !slices.Equal(c.Users, []string{"8001", "8003"}) ||
		!c.StartedAt.Equal(t0) || c.State != CallRinging {
		t.Fatalf("call after the repeat %+v, want agents [emma li], users [8001 8003], started at %v", c, t0)
	}
	if _, err := r.CallView(ctx, callAgents[2], c.ID); err != nil {
		t.Errorf("emma may not see the call she was added to: %v", err)
	}
	// A true repeat pops nothing up again.
	callT(t, r, call(connectors.CallNew, "rp1", 2*time.Second, "8001", "8003"))
	if li, emma := popsOf("li"), popsOf("emma"); li != 1 || emma != 1 {
		t.Errorf("after a true repeat: li %d pops, emma %d; want 1 and 1", li, emma)
	}
	// A repeat naming nobody known does not pop up for a team.
	again := call(connectors.CallNew, "rp1", 3*time.Second, "Christopher Miller")
	again.Team = "support"
	callT(t, r, again)
	if c := loadCallT(t, r, "pbx", "rp1"); !slices.Equal(c.Agents, []string{"emma", "li"}) {
		t.Errorf("a repeat naming nobody known added %v", c.Agents)
	}

	// li answers; the call is transferred to wang, who answers too.
	ans := call(connectors.CallAnswer, "rp1", 5*time.Second)
	ans.AnsweredBy = "8001"
	callT(t, r, ans)
	transfer := call(connectors.CallAnswer, "rp1", 60*time.Second)
	transfer.AnsweredBy = "8002"
	callT(t, r, transfer)
	callT(t, r, transfer)
	p := pops(t, r)["wang"]
	if len(p) != 1 || p[0].Call.State != CallAnswered {
		t.Fatalf("wang's pops %+v, want one of the answered call", p)
	}
	c = loadCallT(t, r, "pbx", "rp1")
	if c.AnsweredAgent != "li" || c.AnsweredAt == nil || !c.AnsweredAt.Equal(t0.Add(5*time.Second)) ||
		!slices.Equal(c.Agents, []string{"emma", "li", "wang"}) {
		t.Errorf("after the transfer %+v, want answered by li at +5s, agents [emma li wang]", c)
	}
	for _, a := range []string{"li", "emma"} {
		if u := updates(t, r, a); len(u) != 1 || u[0].State != CallAnswered || popsOf(a) != 1 {
			t.Errorf("%s: updates %+v, %d pops; want the answer once and no new pop", a, u, popsOf(a))
		}
	}
	if _, err := r.CreateCallTicket(ctx, callAgents[1], c.ID, ""); err != nil {
		t.Errorf("wang's one-click ticket: %v", err)
	}
	callT(t, r, call(connectors.CallHangup, "rp1", 95*time.Second))
	if c := loadCallT(t, r, "pbx", "rp1"); c.State != CallEnded || c.Duration != 90 {
		t.Errorf("ended call %+v, want ended after 90s of talk", c)
	}
	// After the hangup a repeat still adds whom it names, without a pop.
	late := call(connectors.CallAnswer, "rp1", 96*time.Second)
	late.AnsweredBy = "sup"
	callT(t, r, late)
	if c := loadCallT(t, r, "pbx", "rp1"); !slices.Contains(c.Agents, "sup") || c.State != CallEnded {
		t.Errorf("after a late repeat %+v, want sup added, still ended", c)
	}
	if n := popsOf("sup"); n != 0 {
		t.Errorf("sup got %d pops of an ended call", n)
	}

	// A repeat that creates the sets gives them the record's lifetime.
	callT(t, r, call(connectors.CallHangup, "rp2", 0))
	callT(t, r, call(connectors.CallHangup, "rp2", 0, "8001"))
	id := callID("pbx", "rp2")
	for _, k := range []string{r.k.callUsers(id), r.k.callAgents(id)} {
		if ttl, err := r.rdb.TTL(ctx, k).Result(); err != nil || ttl <= 0 {
			t.Errorf("%s: TTL %v, %v; want the record's", k, ttl, err)
		}
	}
}

// A hangup that names who answered is an answered call even when the
// answer event was lost: ended, not missed, no callback ticket, counted
// answered once and left out of the talk time.
func TestMissedCallNotWhenHangupNamesAnswerer(t *testing.T) {
	r := callRouter(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		events []connectors.CallEvent
	}{
		{"answer lost", []connectors.CallEvent{call(connectors.CallNew, "h1", 0, "8001"),
			answeredBy(call(connectors.CallHangup, "h1", 40*time.Second), "8001")}},
		{"hangup first", []connectors.CallEvent{answeredBy(call(connectors.CallHangup, "h2", 40*time.Second), "8001"),
			call(connectors.CallNew, "h2", 0, "8001")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, ev := range tc.events {
				ev.FromE164 = "+8613600136000" // source pbx opens callback tickets
				callT(t, r, ev)
			}
			c := loadCallT(t, r, "pbx", tc.events[0].CallID)
			if c.State != CallEnded || !c.Answered() || c.Duration != 0 || !c.TalkUnknown || c.CallbackID != "" ||
				!c.AnsweredAt.Equal(t0.Add(40*time.Second)) {
				t.Errorf("call %+v, want ended, answered at the hangup, talk unknown, no callback", c)
			}
		})
	}
	if cust, _ := r.customerByPhone(ctx, "+8613600136000"); cust != "" {
		t.Errorf("a callback ticket made the caller customer %s", cust)
	}
	if u := updates(t, r, "li"); len(u) == 0 || u[0].State != CallEnded || u[0].AnsweredAgent != "li" {
		t.Errorf("li's updates %+v, want the call ended, answered by li", u)
	}
	// A call answered as usual, for the talk time.
	callT(t, r, call(connectors.CallNew, "h3", 0, "8001"))
	callT(t, r, answeredBy(call(connectors.CallAnswer, "h3", 10*time.Second), "8001"))
	callT(t, r, call(connectors.CallHangup, "h3", 70*time.Second))
	k, err := r.CallKPIs(ctx, t0.Format(time.DateOnly))
	if err != nil {
		t.Fatal(err)
	}
	if k.Answered != 3 || k.Missed != 0 || k.Talked != 1 || k.TalkSeconds != 60 {
		t.Errorf("KPIs %+v, want 3 answered, 0 missed, 1 talked for 60s", k)
	}
}

func answeredBy(ev connectors.CallEvent, who string) connectors.CallEvent {
	ev.AnsweredBy = who
	return ev
}

// A missed call with a callback ticket makes no second ticket: creating
// one answers the callback ticket, taken by the agent who clicked when it
// waits in the queue, left with its agent otherwise.
func TestMissedCallTicketIsTheCallback(t *testing.T) {
	r := callRouter(t)
	ctx := context.Background()
	// Nobody in sales is online: the callback ticket waits in the queue.
	if _, err := session.NewPresences(r.rdb, r.cfg.Prefix).Set(ctx, "emma", session.Offline); err != nil {
		t.Fatal(err)
	}
	ev := call(connectors.CallNew, "cb1", 0, "8001")
	ev.Team = "sales"
	callT(t, r, ev)
	hang := withCause(call(connectors.CallHangup, "cb1", 20*time.Second), connectors.CauseCancel)
	callT(t, r, hang)
	c := loadCallT(t, r, "pbx", "cb1")
	if c.State != CallMissed || c.CallbackID == "" || c.ConversationID != "" {
		t.Fatalf("missed call %+v, want a callback ticket and no ticket yet", c)
	}
	dispatchIdle(t, r)
	if conv, err := r.Conversation(ctx, c.CallbackID); err != nil || conv.Assignee != "" || conv.Team != "sales" {
		t.Fatalf("callback ticket %+v, %v; want it waiting in sales", conv, err)
	}

	conv, err := r.CreateCallTicket(ctx, callAgents[0], c.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if conv.ID != c.CallbackID || conv.Assignee != "li" || conv.TicketID == "" {
		t.Errorf("li's click answered %+v, want callback ticket %s, numbered, li's", conv, c.CallbackID)
	}
	if n, _ := r.rdb.ZCard(ctx, r.k.customerConversations(conv.CustomerID)).Result(); n != 1 {
		t.Errorf("the caller has %d conversations, want the callback ticket only", n)
	}
	if c := loadCallT(t, r, "pbx", "cb1"); c.ConversationID != conv.ID || c.TicketID != conv.TicketID {
		t.Errorf("call %+v, want it to name ticket %s", c, conv.ID)
	}
	// The supervisor's click answers the same ticket, still li's.
	again, err := r.CreateCallTicket(ctx, callAgents[3], c.ID, "")
	if err != nil || again.ID != conv.ID || again.Assignee != "li" {
		t.Errorf("the supervisor's click: %+v, %v; want %s, li's", again, err, conv.ID)
	}
	if n := callMessages(t, r, conv.ID); n != 1 {
		t.Errorf("the callback ticket has %d call messages, want 1", n)
	}

	// A call an agent made a ticket of while it rang opens no callback
	// ticket when it is missed.
	ev = call(connectors.CallNew, "cb2", time.Hour, "8001")
	ev.FromE164 = "+8613500135000"
	callT(t, r, ev)
	made, err := r.CreateCallTicket(ctx, callAgents[0], callID("pbx", "cb2"), "")
	if err != nil {
		t.Fatal(err)
	}
	hang = withCause(call(connectors.CallHangup, "cb2", time.Hour+20*time.Second), connectors.CauseCancel)
	hang.FromE164 = "+8613500135000"
	callT(t, r, hang)
	if c := loadCallT(t, r, "pbx", "cb2"); c.State != CallMissed || c.CallbackID != "" || c.ConversationID != made.ID {
		t.Errorf("call %+v, want missed, its ticket %s and no callback ticket", c, made.ID)
	}
	if n, _ := r.rdb.ZCard(ctx, r.k.customerConversations(made.CustomerID)).Result(); n != 1 {
		t.Errorf("the caller has %d conversations, want the ticket made of the call only", n)
	}
}

// Invalid events change nothing.
func TestCallEventInvalid(t *testing.T) {
	r := callRouter(t)
	for _, tc := range []struct {
		name string
		ev   connectors.CallEvent
	}{
		{"no call id", connectors.CallEvent{Source: "pbx", Type: connectors.CallNew}},
		{"bad type", connectors.CallEvent{Source: "pbx", Type: "transfer", CallID: "x"}},
		{"bad direction", connectors.CallEvent{Source: "pbx", Type: connectors.CallNew, CallID: "x", Direction: "sideways"}},
		{"bad source", connectors.CallEvent{Source: "p{b}x", Type: connectors.CallNew, CallID: "x"}},
		{"control characters", connectors.CallEvent{Source: "pbx", Type: connectors.CallNew, CallID: "x", From: "1\n2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.CallEvent(context.Background(), tc.ev); !errors.Is(err, ErrInvalid) {
				t.Errorf("got %v, want invalid", err)
			}
		})
	}
	n, err := r.rdb.Exists(context.Background(), r.k.callsRecent()).Result()
	if err != nil || n != 0 {
		t.Errorf("invalid events listed calls (%d, %v)", n, err)
	}
}
