package server

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/connectors"
	"switchboard/session"
)

type page struct {
	Items      []conversation `json:"items"`
	NextBefore string         `json:"next_before"`
}

func (s *stack) list(token string, q url.Values) page {
	s.t.Helper()
	var p page
	s.must(200, req{method: "GET", path: "/api/v1/conversations?" + q.Encode(), token: token}).decode(s.t, &p)
	return p
}

func ids(cs []conversation) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// sameSet reports whether a and b hold the same ids, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// waitSent waits until an outbound message's delivery is "sent".
func (s *stack) waitSent(conv, msgID, token string) {
	s.t.Helper()
	eventually(s.t, "message "+msgID+" to be sent", func() bool {
		for _, m := range s.messages(conv, token) {
			if m.ID == msgID {
				if m.Delivery != nil && m.Delivery.Status == "failed" {
					s.t.Fatalf("message %s failed: %+v", msgID, *m.Delivery)
				}
				return m.Delivery != nil && m.Delivery.Status == "sent"
			}
		}
		return false
	})
}

func (s *stack) replyAs(token, conv string, body any, header map[string]string) message {
	s.t.Helper()
	var m message
	s.must(202, req{method: "POST", path: "/api/v1/conversations/" + conv + "/messages", token: token, body: body, header: header}).decode(s.t, &m)
	return m
}

// The whole working day of an agent, through the API.
func TestHappyPath(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()

	// Log in; /me; the directory.
	var lr struct {
		Token     string        `json:"token"`
		ExpiresAt time.Time     `json:"expires_at"`
		Agent     session.Agent `json:"agent"`
	}
	r := s.must(200, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "li@example.com", "password": "pw"}})
	r.decode(t, &lr)
	if lr.Token == "" || lr.Agent.ID != agentLi.ID || !lr.ExpiresAt.After(time.Now()) {
		t.Fatalf("login answer %s", r)
	}
	if strings.Contains(strings.ToLower(string(r.Body)), "password") || strings.Contains(string(r.Body), "$2a$") {
		t.Fatalf("login answer shows the password hash: %s", r)
	}
	li, sup := lr.Token, s.login(agentSup.Email)
	var me struct {
		Agent    session.Agent    `json:"agent"`
		Presence session.Presence `json:"presence"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/me", token: li}).decode(t, &me)
	if me.Agent.ID != agentLi.ID || me.Agent.Name != agentLi.Name || me.Presence.Status != session.Offline || me.Presence.Capacity != 5 {
		t.Fatalf("/me = %+v", me)
	}
	var pres session.Presence
	s.must(200, req{method: "PUT", path: "/api/v1/me/presence", token: li, body: `{"status":"away"}`}).decode(t, &pres)
	if pres.Status != session.Away {
		t.Fatalf("presence after PUT away: %+v", pres)
	}
	var teams struct {
		Items []session.Team `json:"items"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/teams", token: li}).decode(t, &teams)
	if len(teams.Items) != 2 || teams.Items[0].ID != "support" {
		t.Fatalf("teams %+v", teams.Items)
	}

	// Three visitors on web chat (one from the shop's page, with CORS) and
	// one customer by e-mail. Nobody is online: all wait in the queue.
	vA, vB, vC := visitorID("alice"), visitorID("bob"), visitorID("carol")
	r = s.must(202, req{method: "POST", path: "/channels/webchat/site/messages", header: map[string]string{"Origin": allowedOrigin},
		body: map[string]string{"visitor_id": vA, "text": "你好，我的订单还没到", "client_id": "c-1", "name": "Alice"}})
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != allowedOrigin {
		t.Fatalf("Access-Control-Allow-Origin = %q, want %q", got, allowedOrigin)
	}
	var acc struct {
		MessageID      string `json:"message_id"`
		ConversationID string `json:"conversation_id"`
	}
	r.decode(t, &acc)
	mA, convA := acc.MessageID, acc.ConversationID
	// The same client_id again (a retried send) counts once.
	var again struct {
		MessageID string `json:"message_id"`
	}
	s.must(202, req{method: "POST", path: "/channels/webchat/site/messages",
		body: map[string]string{"visitor_id": vA, "text": "你好，我的订单还没到", "client_id": "c-1"}}).decode(t, &again)
	if again.MessageID != mA {
		t.Fatalf("a retried send got message %s, want %s", again.MessageID, mA)
	}
	time.Sleep(3 * time.Millisecond) // distinct activity times, so list order is defined
	_, convB := s.customerWrites("site", vB, "Do you ship to Shanghai?")
	time.Sleep(3 * time.Millisecond)
	_, convC := s.customerWrites("open", vC, "Hello?")
	time.Sleep(3 * time.Millisecond)
	accE, err := s.rt.Ingest(ctx, &connectors.Message{Channel: connectors.Email, Account: "support", ExternalID: "<m1@example.com>",
		From: connectors.Identity{Type: "email", Value: "dave@example.com", Name: "Dave"}, Kind: connectors.KindText, Text: "Invoice question"})
	if err != nil {
		t.Fatal(err)
	}
	convE := accE.ConversationID
	all := []string{convE, convC, convB, convA} // most recent first
	for _, id := range all {
		if c := s.dispatched(id, li); c.Status != "new" || c.Assignee != "" || c.Team != "support" {
			t.Fatalf("conversation %s after dispatch: %+v, want new, unassigned, support", id, c)
		}
	}

	// Lists: views, filters, pagination.
	listCases := []struct {
		name string
		q    url.Values
		want []string
	}{
		{"all", url.Values{}, all},
		{"all by name", url.Values{"view": {"all"}}, all},
		{"unassigned", url.Values{"view": {"unassigned"}}, all},
		{"mine", url.Values{"view": {"mine"}}, nil},
		{"webchat", url.Values{"channel": {"webchat"}}, []string{convC, convB, convA}},
		{"email", url.Values{"channel": {"email"}}, []string{convE}},
		{"status new", url.Values{"status": {"new"}}, all},
		{"status open", url.Values{"status": {"open"}}, nil},
		{"assignee", url.Values{"assignee": {"a2"}}, nil},
	}
	for _, lc := range listCases {
		if got := ids(s.list(li, lc.q).Items); !slices.Equal(got, lc.want) && !(len(got) == 0 && len(lc.want) == 0) {
			t.Errorf("list %s: got %v, want %v", lc.name, got, lc.want)
		}
	}
	var paged []string
	q := url.Values{"limit": {"3"}}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatalf("pagination does not end: %v", paged)
		}
		p := s.list(li, q)
		if len(p.Items) > 3 {
			t.Fatalf("page of %d items with limit 3", len(p.Items))
		}
		paged = append(paged, ids(p.Items)...)
		if p.NextBefore == "" {
			break
		}
		q.Set("before", p.NextBefore)
	}
	if !slices.Equal(paged, all) {
		t.Fatalf("pages gave %v, want %v", paged, all)
	}

	// Li takes Alice's conversation.
	var c conversation
	s.must(200, req{method: "PATCH", path: "/api/v1/conversations/" + convA, token: li, body: map[string]string{"assignee": agentLi.ID}}).decode(t, &c)
	if c.Assignee != agentLi.ID || c.Status != "open" {
		t.Fatalf("after the take: %+v", c)
	}
	if got := ids(s.list(li, url.Values{"view": {"mine"}}).Items); !slices.Equal(got, []string{convA}) {
		t.Fatalf("mine after the take: %v", got)
	}
	if got := ids(s.list(li, url.Values{"view": {"unassigned"}}).Items); !sameSet(got, []string{convE, convC, convB}) {
		t.Fatalf("unassigned after the take: %v", got)
	}
	if got := ids(s.list(li, url.Values{"status": {"open"}, "channel": {"webchat"}}).Items); !slices.Equal(got, []string{convA}) {
		t.Fatalf("open web chats after the take: %v", got)
	}

	// The transcript: Alice's message (once), then the assignment.
	msgs := s.messages(convA, li)
	if len(msgs) == 0 || msgs[0].ID != mA || msgs[0].Direction != "in" || msgs[0].Text != "你好，我的订单还没到" {
		t.Fatalf("transcript %+v: want Alice's message first", msgs)
	}
	for _, m := range msgs[1:] {
		if m.Direction == "in" {
			t.Fatalf("transcript %+v: the retried send was stored twice", msgs)
		}
	}

	// A reply: queued, then sent, then on Alice's thread with Li's name.
	reply := s.replyAs(li, convA, map[string]any{"text": "您好，我来查一下"}, nil)
	if reply.Direction != "out" || reply.Delivery == nil || reply.Delivery.Status != "queued" || reply.Author != agentLi.ID || reply.AuthorName != agentLi.Name {
		t.Fatalf("reply %+v: want out, queued, by %s", reply, agentLi.Name)
	}
	s.waitSent(convA, reply.ID, li)
	th := s.thread("site", vA, "")
	if len(th) != 2 || th[0].MessageID != mA || th[0].Direction != "in" || th[1].MessageID != reply.ID ||
		th[1].Direction != "out" || th[1].Text != "您好，我来查一下" || th[1].Author != agentLi.Name || th[1].ID == "" {
		t.Fatalf("Alice's thread %+v: want her message, then the reply by %s", th, agentLi.Name)
	}
	// Polling after the last id gives nothing new.
	if more := s.thread("site", vA, th[1].ID); len(more) != 0 {
		t.Fatalf("thread after %s: %+v, want nothing", th[1].ID, more)
	}

	// An internal note stays inside: the next reply reaches the thread,
	// the note never does.
	note := s.replyAs(li, convA, map[string]any{"text": "内部备注：老客户", "internal": true}, nil)
	if note.Direction != "note" || note.Delivery != nil {
		t.Fatalf("note %+v", note)
	}
	barrier := s.replyAs(li, convA, map[string]any{"text": "查到了，明天送达"}, nil)
	s.waitSent(convA, barrier.ID, li)

	// Idempotency: the same key twice, in the body and in the header.
	k1a := s.replyAs(li, convA, map[string]any{"text": "订单号是多少？", "idempotency_key": "idem-1"}, nil)
	k1b := s.replyAs(li, convA, map[string]any{"text": "订单号是多少？", "idempotency_key": "idem-1"}, nil)
	k2a := s.replyAs(li, convA, map[string]any{"text": "请稍等"}, map[string]string{"Idempotency-Key": "idem-2"})
	k2b := s.replyAs(li, convA, map[string]any{"text": "请稍等"}, map[string]string{"Idempotency-Key": "idem-2"})
	if k1a.ID != k1b.ID || k2a.ID != k2b.ID || k1a.ID == k2a.ID {
		t.Fatalf("idempotent replies: %s/%s and %s/%s, want two pairs of equal ids", k1a.ID, k1b.ID, k2a.ID, k2b.ID)
	}
	s.waitSent(convA, k1a.ID, li)
	s.waitSent(convA, k2a.ID, li)
	s.settle()
	count := map[string]int{}
	for _, m := range s.messages(convA, li) {
		count[m.Text]++
	}
	for _, text := range []string{"订单号是多少？", "请稍等", "内部备注：老客户", "查到了，明天送达"} {
		if count[text] != 1 {
			t.Errorf("transcript has %q %d times, want once", text, count[text])
		}
	}
	onThread := map[string]int{}
	for _, ev := range s.thread("site", vA, "") {
		onThread[ev.MessageID]++
		if ev.Text == note.Text || strings.Contains(ev.Text, "内部备注") {
			t.Errorf("the internal note reached the visitor: %+v", ev)
		}
	}
	for _, id := range []string{mA, reply.ID, barrier.ID, k1a.ID, k2a.ID} {
		if onThread[id] != 1 {
			t.Errorf("message %s is on the visitor's thread %d times, want once", id, onThread[id])
		}
	}
	if len(onThread) != 5 {
		t.Errorf("visitor thread holds %d messages, want 5: %v", len(onThread), onThread)
	}

	// The ticket: read, change, history.
	c = s.conversation(convA, li)
	type ticket struct {
		ID             string `json:"id"`
		Number         int64  `json:"number"`
		ConversationID string `json:"conversation_id"`
		CustomerID     string `json:"customer_id"`
		Status         string `json:"status"`
		Priority       string `json:"priority"`
		Assignee       string `json:"assignee"`
		History        []struct {
			Actor, Field, From, To string
		} `json:"history"`
	}
	var tk ticket
	s.must(200, req{method: "GET", path: "/api/v1/tickets/" + c.TicketID, token: li}).decode(t, &tk)
	if tk.ID != c.TicketID || tk.ConversationID != convA || tk.Status != "open" || tk.Assignee != agentLi.ID || tk.CustomerID != c.CustomerID {
		t.Fatalf("ticket %+v for conversation %+v", tk, c)
	}
	s.must(200, req{method: "PATCH", path: "/api/v1/tickets/" + c.TicketID, token: li, body: `{"priority":"high","status":"pending"}`}).decode(t, &tk)
	if tk.Priority != "high" || tk.Status != "pending" {
		t.Fatalf("ticket after PATCH: %+v", tk)
	}
	hasChange := func(actor, field, from, to string) bool {
		for _, h := range tk.History {
			if h.Actor == actor && h.Field == field && h.From == from && h.To == to {
				return true
			}
		}
		return false
	}
	for _, want := range [][4]string{
		{agentLi.ID, "assignee", "", agentLi.ID},
		{agentLi.ID, "status", "new", "open"},
		{agentLi.ID, "priority", "normal", "high"},
		{agentLi.ID, "status", "open", "pending"},
	} {
		if !hasChange(want[0], want[1], want[2], want[3]) {
			t.Errorf("ticket history lacks %v: %+v", want, tk.History)
		}
	}

	// The customer 360° view.
	type customer struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		Level      string `json:"level"`
		Region     string `json:"region"`
		Identities []struct {
			Type, Value, Channel, Account string
		} `json:"identities"`
		Tickets       []ticket       `json:"tickets"`
		Conversations []conversation `json:"conversations"`
	}
	var cust customer
	s.must(200, req{method: "GET", path: "/api/v1/customers/" + c.CustomerID, token: li}).decode(t, &cust)
	if cust.ID != c.CustomerID || cust.Name != "Alice" || len(cust.Identities) != 1 || cust.Identities[0].Value != vA ||
		cust.Identities[0].Type != "visitor" || cust.Identities[0].Channel != "webchat" || cust.Identities[0].Account != "site" ||
		len(cust.Tickets) != 1 || cust.Tickets[0].ID != c.TicketID || len(cust.Conversations) != 1 || cust.Conversations[0].ID != convA {
		t.Fatalf("customer %+v", cust)
	}
	s.must(200, req{method: "PATCH", path: "/api/v1/customers/" + c.CustomerID, token: li,
		body: `{"name":"Alice Wang","level":"vip","region":"CN-31"}`}).decode(t, &cust)
	if cust.Name != "Alice Wang" || cust.Level != "vip" || cust.Region != "CN-31" {
		t.Fatalf("customer after PATCH: %+v", cust)
	}
	cust = customer{}
	s.must(200, req{method: "GET", path: "/api/v1/customers/" + c.CustomerID, token: sup}).decode(t, &cust)
	if cust.Level != "vip" || cust.Region != "CN-31" {
		t.Fatalf("customer read back: %+v", cust)
	}

	// A reply on the other channel goes through its connector.
	em := s.replyAs(sup, convE, map[string]any{"text": "Your invoice is attached."}, nil)
	s.waitSent(convE, em.ID, sup)
	sent := s.fake.Sent()
	if len(sent) != 1 || sent[0].ID != em.ID || sent[0].To.Value != "dave@example.com" || sent[0].Author != agentSup.Name {
		t.Fatalf("e-mail connector sent %+v", sent)
	}

	// Log out: the token is dead.
	s.must(204, req{method: "POST", path: "/api/v1/auth/logout", token: li})
	s.must(401, req{method: "GET", path: "/api/v1/me", token: li})
}

// The web-chat customer API's CORS answers.
func TestWebchatCORS(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	cases := []struct {
		name, site, origin string
		want               string // Access-Control-Allow-Origin
	}{
		{"listed origin", "site", allowedOrigin, allowedOrigin},
		{"listed origin in other case", "site", "https://SHOP.example.com", "https://SHOP.example.com"},
		{"the gateway's own pages", "site", publicURL, publicURL},
		{"any origin on an open site", "open", "https://anything.example.net", "https://anything.example.net"},
		{"no origin (not a browser)", "site", "", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := s.with(t)
			h := map[string]string{"Origin": tc.origin}
			r := s.must(204, req{method: "OPTIONS", path: "/channels/webchat/" + tc.site + "/messages", header: h})
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != tc.want {
				t.Errorf("preflight Access-Control-Allow-Origin %q, want %q", got, tc.want)
			}
			if tc.want != "" && (!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") ||
				!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Content-Type")) {
				t.Errorf("preflight headers %v", r.Header)
			}
			r = s.must(202, req{method: "POST", path: "/channels/webchat/" + tc.site + "/messages", header: h,
				body: map[string]string{"visitor_id": visitorID("cors" + string(rune('a'+i))), "text": "hi"}})
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != tc.want {
				t.Errorf("POST Access-Control-Allow-Origin %q, want %q", got, tc.want)
			}
			if tc.want != "" && !strings.Contains(r.Header.Get("Vary"), "Origin") {
				t.Errorf("POST without Vary: Origin: %v", r.Header)
			}
		})
	}
}
