package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchboard/internal/fanout"
)

// TestTwoReplicas runs two replicas, A and B, on one Redis: the customer
// talks to A, the agent to B, and everything must cross over through
// Redis. Then the agent's socket drops and resumes, and finally A is
// killed with SIGKILL while the customer is sending.
func TestTwoReplicas(t *testing.T) {
	c := startCluster(t, 2)
	a, b := c.replicas[0], c.replicas[1]
	visitor := "e2e-visitor-" + randomID(20)

	custA := newClient(a.URL)
	custA.origin = shopOrigin
	custB := newClient(b.URL)
	custB.origin = shopOrigin

	agent := login(t, b.URL, agentEmail, agentPassword) // li, on B
	var conv string                                     // the customer's conversation
	var sock *wsStream[agentFrame]                      // li's socket on B

	ok := t.Run("CustomerOnA_AgentOnB", func(t *testing.T) {
		// Origins not in allowed_origins are refused on every replica.
		for _, r := range c.replicas {
			evil := newClient(r.URL)
			evil.origin = "http://evil.e2e.test"
			if _, err := evil.postVisitor(visitor, "evil-1", "hi"); !isStatus(err, http.StatusForbidden) {
				t.Fatalf("replica %s: POST from a foreign origin: %v, want 403", r.name, err)
			}
		}

		// The customer writes first, before any agent is online: once on
		// A's socket, once through A's HTTP API.
		cust := dialVisitor(t, "customer socket on A", a.URL, visitor, shopOrigin, "")
		first := "你好，我的订单 #1001 还没到。Hello from A's socket"
		cust.send(t, map[string]string{"type": "message", "client_id": "ws-1", "text": first})
		got := cust.waitUntil(t, "the ack of ws-1", func(fs []visitorFrame) bool {
			return findVisitor(fs, func(f visitorFrame) bool { return f.Type == "ack" && f.ClientID == "ws-1" }) >= 0
		})
		ack := got[findVisitor(got, func(f visitorFrame) bool { return f.Type == "ack" })]
		if ack.ConversationID == "" || ack.MessageID == "" {
			t.Fatalf("ack without ids: %+v", ack)
		}
		conv = ack.ConversationID
		second := "订单号是 1001 (HTTP via A)"
		res, err := custA.postVisitor(visitor, "http-2", second)
		if err != nil {
			t.Fatal(err)
		}
		if res.ConversationID != conv {
			t.Fatalf("second message went to conversation %s, want %s", res.ConversationID, conv)
		}

		// The agent (logged in on B) connects its socket on B, then goes
		// online: the waiting conversation is assigned to them.
		sock = dialAgent(t, "agent socket on B", agent, "", "")
		sock.waitUntil(t, "hello", func(fs []agentFrame) bool {
			return findAgent(fs, func(f agentFrame) bool { return f.Type == "hello" }) >= 0
		})
		agent.setPresence(t, "online")
		sock.waitUntil(t, "conversation.assigned (agent stream) and conversation.updated (inbox stream) for "+conv,
			func(fs []agentFrame) bool {
				assigned := findAgent(fs, func(f agentFrame) bool {
					d := f.data()
					return f.Stream == "agent" && f.Type == "conversation.assigned" &&
						d.Conversation.ID == conv && d.Conversation.Assignee == agentID
				})
				updated := findAgent(fs, func(f agentFrame) bool {
					d := f.data()
					return f.Stream == "inbox" && f.Type == "conversation.updated" &&
						d.Conversation.ID == conv && d.Conversation.Assignee == agentID
				})
				return assigned >= 0 && updated >= 0
			})

		// A new customer message through A reaches the agent on B live.
		third := "还在吗？Are you there? <b>not bold</b>"
		if _, err := custA.postVisitor(visitor, "http-3", third); err != nil {
			t.Fatal(err)
		}
		sock.startMark()
		sock.waitUntil(t, "message.new of the third message", func(fs []agentFrame) bool {
			return findAgent(fs, isMessageNew(conv, third)) >= 0
		})

		// The agent replies on B; the customer's socket on A gets it.
		reply := "您好，我是李明，马上为您查询。"
		var m messageJSON
		body := map[string]any{"text": reply, "idempotency_key": "e2e-reply-1"}
		agent.must(t, "POST", "/api/v1/conversations/"+conv+"/messages", body, &m, http.StatusAccepted)
		if m.ID == "" || m.Direction != "out" || m.Delivery == nil || m.Delivery.Status != "queued" {
			t.Fatalf("reply answer: %+v, want an out message with delivery queued", m)
		}
		// A retried request (same key) makes no second message.
		var again messageJSON
		agent.must(t, "POST", "/api/v1/conversations/"+conv+"/messages", body, &again, http.StatusAccepted)
		if again.ID != m.ID {
			t.Errorf("retried reply: message %s, want the first one, %s", again.ID, m.ID)
		}
		cust.startMark()
		got = cust.waitUntil(t, "the agent's reply on A's customer socket", func(fs []visitorFrame) bool {
			return findVisitor(fs, func(f visitorFrame) bool { return f.Type == "message" && f.Direction == "out" }) >= 0
		})
		out := got[findVisitor(got, func(f visitorFrame) bool { return f.Direction == "out" })]
		if out.Text != reply || out.Author != agentName || out.MessageID != m.ID || out.ID == "" {
			t.Errorf("reply on the customer socket: %+v, want text %q, author %q, message_id %s, an event id",
				out, reply, agentName, m.ID)
		}
		sock.waitUntil(t, "message.delivery sent for the reply", func(fs []agentFrame) bool {
			return findAgent(fs, func(f agentFrame) bool {
				d := f.data()
				return f.Stream == "agent" && f.Type == "message.delivery" && d.MessageID == m.ID &&
					d.Delivery != nil && d.Delivery.Status == "sent"
			}) >= 0
		})

		// The customer's thread, read through B, has everything once, in order.
		var thread struct {
			Items []visitorFrame `json:"items"`
		}
		custB.must(t, "GET", "/channels/webchat/"+site+"/messages?visitor_id="+url.QueryEscape(visitor), nil, &thread, http.StatusOK)
		var lines []string
		for _, e := range thread.Items {
			lines = append(lines, e.Direction+":"+e.Text)
		}
		want := []string{"in:" + first, "in:" + second, "in:" + third, "out:" + reply}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("customer thread via B:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
		// So does the transcript the agent reads through B.
		lines = lines[:0]
		for _, msg := range agent.messages(t, conv) {
			if msg.Direction == "in" || msg.Direction == "out" {
				lines = append(lines, msg.Direction+":"+msg.Text)
			}
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("transcript via B:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
	})
	if !ok {
		t.Fatal("the first part failed; the others build on it")
	}

	t.Run("AgentSocketResume", func(t *testing.T) {
		if sock == nil {
			t.Skip("needs CustomerOnA_AgentOnB")
		}
		// Drop the socket; what the client received is its history.
		sock.close()
		last := map[string]string{}
		checkStreamOrder(t, "first socket", sock.history, nil)
		for _, f := range sock.history {
			if f.ID != "" && (f.Stream == "agent" || f.Stream == "inbox") {
				last[f.Stream] = f.ID
			}
		}
		if last["agent"] == "" {
			t.Fatal("the first socket saw no agent-stream event id")
		}

		missed := []string{"漏掉的第一条 missed 1", "漏掉的第二条 missed 2", "漏掉的第三条 missed 3"}
		for i, text := range missed {
			if _, err := custA.postVisitor(visitor, fmt.Sprintf("missed-%d", i+1), text); err != nil {
				t.Fatal(err)
			}
		}

		sock2 := dialAgent(t, "resumed agent socket on B", agent, last["agent"], last["inbox"])
		sock2.waitUntil(t, "the three missed message.new events", func(fs []agentFrame) bool {
			for _, text := range missed {
				if findAgent(fs, isMessageNew(conv, text)) < 0 {
					return false
				}
			}
			return true
		})
		// A barrier: once a later message arrives, anything that was going
		// to be replayed (twice, or out of order) has arrived before it.
		barrier := "barrier 屏障"
		if _, err := custA.postVisitor(visitor, "barrier", barrier); err != nil {
			t.Fatal(err)
		}
		got := sock2.waitUntil(t, "message.new of the barrier", func(fs []agentFrame) bool {
			return findAgent(fs, isMessageNew(conv, barrier)) >= 0
		})

		checkStreamOrder(t, "resumed socket", got, last)
		var texts []string
		for _, f := range got {
			if f.Type == "message.new" {
				if d := f.data(); d.ConversationID == conv && d.Message != nil {
					texts = append(texts, d.Message.Text)
				}
			}
		}
		want := append(append([]string{}, missed...), barrier)
		if strings.Join(texts, "|") != strings.Join(want, "|") {
			t.Errorf("message.new after resume: %q, want exactly %q (in order, once)", texts, want)
		}
		sock2.close()
	})

	t.Run("KillReplicaMidStream", func(t *testing.T) {
		// A second customer sends 50 messages one after the other through
		// A; after the 20th is accepted, A is killed (SIGKILL), racing the
		// 21st. A send that fails on A is retried on B with the same
		// client_id, so the server may count it once.
		const total, killAfter = 50, 20
		visitor2 := "e2e-visitor-" + randomID(20)
		run := randomID(8)
		custA.hc = &http.Client{Timeout: 3 * time.Second}
		// The customer's widget is connected to A too; it dies with A.
		widgetA := dialVisitor(t, "customer socket on A (killed)", a.URL, visitor2, shopOrigin, "")
		killNow, killed := make(chan struct{}), make(chan struct{})
		go func() {
			<-killNow
			a.kill(t)
			close(killed)
		}()
		killStarted := false
		defer func() { // never leave the killer running past the test
			if killStarted {
				<-killed
			}
		}()

		type sent struct {
			res postResult
			via string
			err error // A's failure, for a message retried on B
		}
		results := make([]sent, total+1)
		for i := 1; i <= total; i++ {
			if i == killAfter+1 {
				close(killNow)
				killStarted = true
			}
			text, cid := killText(i), fmt.Sprintf("kill-%s-%02d", run, i)
			res, err := custA.postVisitor(visitor2, cid, text)
			via, errA := "A", err
			if err != nil {
				if !isNetErr(err) && !isStatus5xx(err) {
					t.Fatalf("message %d on A: %v", i, err)
				}
				via = "B"
				for attempt := 1; ; attempt++ {
					if res, err = custB.postVisitor(visitor2, cid, text); err == nil {
						break
					}
					if attempt == 20 || (!isNetErr(err) && !isStatus5xx(err)) {
						t.Fatalf("message %d: A failed, and B too after %d attempts: %v", i, attempt, err)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			results[i] = sent{res, via, errA}
		}
		select {
		case <-killed:
		case <-time.After(waitTimeout):
			t.Fatal("replica A did not die")
		}

		conv2 := results[1].res.ConversationID
		firstB := 0
		for i := 1; i <= total; i++ {
			if results[i].res.ConversationID != conv2 {
				t.Errorf("message %d went to conversation %s, want %s", i, results[i].res.ConversationID, conv2)
			}
			if results[i].via == "B" && firstB == 0 {
				firstB = i
			}
			if firstB > 0 && results[i].via == "A" {
				t.Errorf("message %d was accepted by A after A was killed", i)
			}
		}
		if firstB == 0 || firstB <= killAfter {
			t.Fatalf("the kill did not land mid-stream: first message on B is %d (kill after %d)", firstB, killAfter)
		}
		t.Logf("A was killed while sending message %d (A's error: %v); messages %d–%d went to B",
			firstB, results[firstB].err, firstB, total)

		// The transcript, read through B: exactly 50, in order, once each.
		var texts, ext []string
		ids := map[string]bool{}
		for _, m := range agent.messages(t, conv2) {
			if m.Direction != "in" {
				continue
			}
			if ids[m.ID] {
				t.Errorf("message id %s appears twice", m.ID)
			}
			ids[m.ID] = true
			texts = append(texts, m.Text)
			ext = append(ext, m.ExternalID)
		}
		var want []string
		for i := 1; i <= total; i++ {
			want = append(want, killText(i))
		}
		if strings.Join(texts, "|") != strings.Join(want, "|") {
			t.Errorf("transcript has %d customer messages:\n%s\nwant %d:\n%s",
				len(texts), strings.Join(texts, "\n"), total, strings.Join(want, "\n"))
		}
		for i, e := range ext {
			if w := fmt.Sprintf("kill-%s-%02d", run, i+1); e != w {
				t.Errorf("message %d has external id %q, want %q", i+1, e, w)
				break
			}
		}
		// The widget's socket died with A; it resumes on B after the last
		// event it saw, and then has the whole thread, in order, once.
		widgetA.close()
		before, lastSeen := widgetA.history, ""
		for _, f := range before {
			if f.Type == "message" && f.ID != "" {
				lastSeen = f.ID
			}
		}
		widgetB := dialVisitor(t, "customer socket resumed on B", b.URL, visitor2, shopOrigin, lastSeen)
		after := widgetB.waitUntil(t, "the rest of the thread after resuming on B", func(fs []visitorFrame) bool {
			return findVisitor(fs, func(f visitorFrame) bool { return f.Type == "message" && f.Text == killText(total) }) >= 0
		})
		texts = texts[:0]
		seenIDs := map[string]bool{}
		for i, f := range append(append([]visitorFrame{}, before...), after...) {
			if f.Type != "message" {
				continue
			}
			if i >= len(before) && lastSeen != "" && !fanout.After(f.ID, lastSeen) {
				t.Errorf("resumed customer socket replayed event %s (not after %s)", f.ID, lastSeen)
			}
			if seenIDs[f.MessageID] {
				t.Errorf("customer socket: message %s (%q) arrived twice", f.MessageID, f.Text)
			}
			seenIDs[f.MessageID] = true
			texts = append(texts, f.Text)
		}
		if strings.Join(texts, "|") != strings.Join(want, "|") {
			t.Errorf("customer sockets (A, then B from %s) got %d messages:\n%s\nwant %d",
				lastSeen, len(texts), strings.Join(texts, "\n"), total)
		}
		t.Logf("the customer socket on A saw %d events before the kill; %d more after resuming on B",
			len(before), len(after))

		// The customer's own thread (what the widget shows) has them once too.
		var thread struct {
			Items []visitorFrame `json:"items"`
		}
		custB.must(t, "GET", "/channels/webchat/"+site+"/messages?visitor_id="+url.QueryEscape(visitor2), nil, &thread, http.StatusOK)
		texts = texts[:0]
		for _, e := range thread.Items {
			texts = append(texts, e.Text)
		}
		if strings.Join(texts, "|") != strings.Join(want, "|") {
			t.Errorf("customer thread has %d events:\n%s\nwant %d:\n%s",
				len(texts), strings.Join(texts, "\n"), total, strings.Join(want, "\n"))
		}
	})

	t.Run("GracefulShutdownWithOpenSockets", func(t *testing.T) {
		// B gets SIGTERM while an agent and a customer are connected: it
		// closes their sockets (they would resume on another replica) and
		// exits cleanly.
		sockB := dialAgent(t, "agent socket on B at shutdown", agent, "", "")
		sockB.waitUntil(t, "hello", func(fs []agentFrame) bool {
			return findAgent(fs, func(f agentFrame) bool { return f.Type == "hello" }) >= 0
		})
		custSock := dialVisitor(t, "customer socket on B at shutdown", b.URL, "e2e-visitor-"+randomID(20), shopOrigin, "")
		custSock.send(t, map[string]string{"type": "ping"})
		custSock.waitUntil(t, "pong", func(fs []visitorFrame) bool {
			return findVisitor(fs, func(f visitorFrame) bool { return f.Type == "pong" }) >= 0
		})
		b.terminate(t)
		for _, ended := range []<-chan struct{}{sockB.closed, custSock.closed} {
			select {
			case <-ended:
			case <-time.After(waitTimeout):
				t.Fatal("a socket stayed open after its replica exited")
			}
		}
	})
}

func killText(i int) string { return fmt.Sprintf("第 %02d 条消息 message %02d", i, i) }

func findAgent(fs []agentFrame, pred func(agentFrame) bool) int {
	for i, f := range fs {
		if pred(f) {
			return i
		}
	}
	return -1
}

func findVisitor(fs []visitorFrame, pred func(visitorFrame) bool) int {
	for i, f := range fs {
		if pred(f) {
			return i
		}
	}
	return -1
}

func isMessageNew(conv, text string) func(agentFrame) bool {
	return func(f agentFrame) bool {
		d := f.data()
		return f.Type == "message.new" && d.ConversationID == conv && d.Message != nil &&
			d.Message.Direction == "in" && d.Message.Text == text
	}
}

// checkStreamOrder checks that the event ids of each stream strictly
// increase and come after the ids in after.
func checkStreamOrder(t *testing.T, what string, fs []agentFrame, after map[string]string) {
	t.Helper()
	prev := map[string]string{}
	for k, v := range after {
		prev[k] = v
	}
	for _, f := range fs {
		if f.ID == "" {
			continue
		}
		if p := prev[f.Stream]; p != "" && !fanout.After(f.ID, p) {
			t.Errorf("%s: %s event %s (%s) does not come after %s: replayed or out of order", what, f.Stream, f.ID, f.Type, p)
		}
		prev[f.Stream] = f.ID
	}
}

func isStatus(err error, status int) bool {
	var se *statusError
	return errors.As(err, &se) && se.status == status
}

func isStatus5xx(err error) bool {
	var se *statusError
	return errors.As(err, &se) && se.status >= 500
}
