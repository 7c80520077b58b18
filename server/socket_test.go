package server

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"testing"

	"switchboard/internal/fanout"
	"switchboard/session"
)

// A socket refused before the upgrade gets a plain HTTP status and the
// JSON error body.
func TestSocketsRefusedBeforeUpgrade(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.listen()
	li := s.login(agentLi.Email)
	v := visitorID("refused")
	cases := []struct {
		name   string
		path   string
		status int
		code   string
	}{
		{"agent: no token", "/api/v1/inbox/ws", 401, "unauthorized"},
		{"agent: garbage token", "/api/v1/inbox/ws?access_token=nope", 401, "unauthorized"},
		{"agent: bad last_event_id", "/api/v1/inbox/ws?access_token=" + li + "&last_event_id=yesterday", 400, "bad_request"},
		{"agent: bad last_inbox_id", "/api/v1/inbox/ws?access_token=" + li + "&last_inbox_id=1-2-3", 400, "bad_request"},
		{"webchat: unknown site", "/channels/webchat/nosuch/ws?visitor_id=" + v, 404, "not_found"},
		{"webchat: bad visitor", "/channels/webchat/site/ws?visitor_id=short", 400, "bad_request"},
		{"webchat: no visitor", "/channels/webchat/site/ws", 400, "bad_request"},
		{"webchat: bad after", "/channels/webchat/site/ws?visitor_id=" + v + "&after=x", 400, "bad_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := s.with(t)
			c, resp, err := s.tryDial(tc.path)
			if err == nil {
				c.Close()
				t.Fatalf("the socket was opened, want %d", tc.status)
			}
			if resp == nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			r := reply{Status: resp.StatusCode, Header: resp.Header, Body: body}
			if r.Status != tc.status || r.errorCode() != tc.code {
				t.Fatalf("got %s, want %d %s", r, tc.status, tc.code)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
	// An origin the site does not list cannot open the widget's socket.
	d := s.dialer()
	hdr := map[string][]string{"Origin": {"https://evil.example.com"}}
	c, resp, err := d.Dial(s.wsURL("/channels/webchat/site/ws?visitor_id="+v), hdr)
	if err == nil {
		c.Close()
		t.Fatal("a disallowed origin opened the widget socket")
	}
	if resp == nil || resp.StatusCode != 403 {
		t.Fatalf("disallowed origin: %v %v, want 403", resp, err)
	}
}

// The agent socket: hello, live message.new, ping, resume after a
// disconnect, and the shared inbox stream.
func TestAgentSocket(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.listen()
	li, wang, sup := s.login(agentLi.Email), s.login(agentWang.Email), s.login(agentSup.Email)
	v := visitorID("agentsock")
	_, conv := s.customerWrites("site", v, "first")
	s.dispatched(conv, sup)
	s.must(200, req{method: "PATCH", path: "/api/v1/conversations/" + conv, token: li, body: map[string]string{"assignee": agentLi.ID}})
	s.settle()

	ws := s.dial("/api/v1/inbox/ws?access_token=" + url.QueryEscape(li))
	hello := ws.next("hello")
	if hello.Type != "hello" {
		t.Fatalf("first frame %+v, want hello", hello)
	}
	var hd struct {
		Agent    session.Agent    `json:"agent"`
		Presence session.Presence `json:"presence"`
	}
	if err := json.Unmarshal(hello.Data, &hd); err != nil || hd.Agent.ID != agentLi.ID || hd.Presence.Capacity != agentLi.Capacity {
		t.Fatalf("hello data %s (%v)", hello.Data, err)
	}

	isNew := func(id string) func(frame) bool {
		return func(f frame) bool {
			return f.Stream == "agent" && f.Type == "message.new" && f.agentMessage(t).Message.ID == id
		}
	}
	m2, _ := s.customerWrites("site", v, "second")
	f, _ := ws.until("message.new of the second message", isNew(m2))
	if am := f.agentMessage(t); am.ConversationID != conv || am.Message.Text != "second" || am.Message.Direction != "in" || !fanout.ValidID(f.ID) {
		t.Fatalf("message.new %+v / %+v", f, am)
	}
	last := f.ID

	ws.write(map[string]string{"type": "ping"})
	ws.until("pong", func(f frame) bool { return f.Type == "pong" })
	ws.write(map[string]string{"type": "presence", "status": "away"})
	ws.until("presence", func(f frame) bool { return f.Type == "presence" })
	if pr, err := s.pres.Get(context.Background(), agentLi.ID); err != nil || pr.Status != session.Away {
		t.Fatalf("presence after the socket set it: %+v %v", pr, err)
	}

	// Disconnect; two messages arrive meanwhile; resume from the last id.
	_ = ws.c.Close()
	m3, _ := s.customerWrites("site", v, "third")
	m4, _ := s.customerWrites("site", v, "fourth")
	ws = s.dial("/api/v1/inbox/ws?access_token=" + url.QueryEscape(li) + "&last_event_id=" + last)
	var got []string
	prev := last
	for len(got) < 2 {
		f := ws.next("the missed message.new events")
		if f.Stream != "agent" {
			continue
		}
		if !fanout.After(f.ID, prev) {
			t.Fatalf("agent event %s does not come after %s", f.ID, prev)
		}
		prev = f.ID
		if f.Type == "message.new" {
			got = append(got, f.agentMessage(t).Message.ID)
		}
	}
	if got[0] != m3 || got[1] != m4 {
		t.Fatalf("resumed with %v, want [%s %s] (third, fourth)", got, m3, m4)
	}
	m5, _ := s.customerWrites("site", v, "fifth")
	ws.until("live message.new after the resume", isNew(m5))

	// A message in a conversation waiting for an agent reaches everyone on
	// the inbox stream.
	ww := s.dial("/api/v1/inbox/ws?access_token=" + url.QueryEscape(wang))
	ww.until("hello", func(f frame) bool { return f.Type == "hello" })
	w := visitorID("waiting")
	_, waiting := s.customerWrites("site", w, "is anyone there")
	ww.until("conversation.updated of the new conversation", func(f frame) bool {
		if f.Stream != "inbox" || f.Type != "conversation.updated" {
			return false
		}
		var d struct {
			Conversation conversation `json:"conversation"`
		}
		return json.Unmarshal(f.Data, &d) == nil && d.Conversation.ID == waiting
	})
	mw, _ := s.customerWrites("site", w, "hello??")
	in, _ := ww.until("inbox message.new", func(f frame) bool {
		return f.Stream == "inbox" && f.Type == "message.new" && f.agentMessage(t).Message.ID == mw
	})
	if !fanout.ValidID(in.ID) {
		t.Fatalf("inbox event without a resumable id: %+v", in)
	}
}

// The widget's socket: ack, echo, errors, live replies, resume, and
// release of its subscription when it closes.
func TestWebchatSocket(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.listen()
	sup := s.login(agentSup.Email)
	v := visitorID("wsock")
	path := "/channels/webchat/site/ws?visitor_id=" + v

	ws := s.dial(path)
	ws.write(map[string]string{"type": "message", "client_id": "c1", "text": "  hello from the socket  "})
	ack, skipped := ws.until("ack", func(f frame) bool { return f.Type == "ack" })
	if ack.ClientID != "c1" || ack.MessageID == "" || ack.ConversationID == "" {
		t.Fatalf("ack %+v", ack)
	}
	isEcho := func(f frame) bool { return f.Type == "message" && f.MessageID == ack.MessageID }
	if !containsFrame(skipped, isEcho) {
		echo, _ := ws.until("the echo of the message", isEcho)
		skipped = append(skipped, echo)
	}
	for _, f := range skipped {
		if isEcho(f) && (f.Direction != "in" || f.Text != "hello from the socket" || f.ID == "") {
			t.Fatalf("echo %+v", f)
		}
	}

	// The same client_id again is the same message, not a second one.
	ws.write(map[string]string{"type": "message", "client_id": "c1", "text": "hello from the socket"})
	ack2, _ := ws.until("second ack", func(f frame) bool { return f.Type == "ack" })
	if ack2.MessageID != ack.MessageID {
		t.Fatalf("retried client_id got message %s, want %s", ack2.MessageID, ack.MessageID)
	}

	// Errors are frames, and the socket stays open.
	ws.write("not an object")
	if f, _ := ws.until("error frame", func(f frame) bool { return f.Type == "error" }); f.Code != "bad_request" {
		t.Fatalf("error frame %+v", f)
	}
	ws.write(map[string]string{"type": "message", "client_id": "c2", "text": "   "})
	if f, _ := ws.until("error frame", func(f frame) bool { return f.Type == "error" }); f.Code != "bad_request" || f.ClientID != "c2" {
		t.Fatalf("error frame for empty text %+v", f)
	}
	ws.write(map[string]string{"type": "ping"})
	ws.until("pong", func(f frame) bool { return f.Type == "pong" })

	// An agent's reply arrives live, with the agent's name.
	s.dispatched(ack.ConversationID, sup)
	r1 := s.replyAs(sup, ack.ConversationID, map[string]string{"text": "Hi, how can I help?"}, nil)
	live, _ := ws.until("the live reply", func(f frame) bool { return f.Type == "message" && f.MessageID == r1.ID })
	if live.Direction != "out" || live.Text != "Hi, how can I help?" || live.Author != agentSup.Name || !fanout.ValidID(live.ID) {
		t.Fatalf("live reply %+v", live)
	}

	// Closed meanwhile, the widget resumes after the last event it saw.
	_ = ws.c.Close()
	// (One after the other: the outbox sends in parallel, so two replies
	// queued together may reach the thread in either order.)
	r2 := s.replyAs(sup, ack.ConversationID, map[string]string{"text": "Are you there?"}, nil)
	s.waitSent(ack.ConversationID, r2.ID, sup)
	r3 := s.replyAs(sup, ack.ConversationID, map[string]string{"text": "I'll close this for now."}, nil)
	s.waitSent(ack.ConversationID, r3.ID, sup)
	ws = s.dial(path + "&after=" + live.ID)
	var got []string
	for len(got) < 2 {
		f := ws.next("the missed replies")
		if f.Type == "message" {
			got = append(got, f.MessageID)
		}
	}
	if got[0] != r2.ID || got[1] != r3.ID {
		t.Fatalf("resumed with %v, want [%s %s]", got, r2.ID, r3.ID)
	}

	// When the widget goes, its subscription goes too.
	topic := s.prefix + "{w:site:" + v + "}:events"
	_ = ws.c.Close()
	eventually(t, "the closed widget socket to release its subscription", func() bool {
		n, err := s.rdb.PubSubNumSub(context.Background(), topic).Result()
		return err == nil && n[topic] == 0
	})
}

func containsFrame(fs []frame, match func(frame) bool) bool {
	for _, f := range fs {
		if match(f) {
			return true
		}
	}
	return false
}
