package server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/connectors"
)

// ringCall records a new inbound call of source pbx and returns its API id.
func (s *stack) ringCall(pbxID, team string, users ...string) string {
	s.t.Helper()
	if err := s.rt.CallEvent(context.Background(), connectors.CallEvent{Source: "pbx", Type: connectors.CallNew,
		CallID: pbxID, Direction: connectors.CallInbound, From: "13800138000", To: "4008001234",
		FromE164: "+8613800138000", ToE164: "+864008001234", Users: users, Team: team, At: time.Now()}); err != nil {
		s.t.Fatalf("call %s: %v", pbxID, err)
	}
	var out struct {
		Items []struct {
			ID     string `json:"id"`
			CallID string `json:"call_id"`
		} `json:"items"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/calls", token: s.login(agentSup.Email)}).decode(s.t, &out)
	for _, c := range out.Items {
		if c.CallID == pbxID {
			return c.ID
		}
	}
	s.t.Fatalf("call %s is not listed", pbxID)
	return ""
}

// Who may do what with calls: agents with the calls that popped up for
// them or rang for their team, supervisors and admins with every call.
// Attaching a call also needs the right to the conversation: the agent's
// own or their team's.
func TestCallAPIPermissions(t *testing.T) {
	s := newStack(t)
	tok := map[string]string{"": ""}
	for _, a := range []string{agentLi.Email, agentWang.Email, agentSup.Email, agentAdm.Email} {
		tok[a] = s.login(a)
	}
	li, wang, sup, adm := agentLi.Email, agentWang.Email, agentSup.Email, agentAdm.Email
	// Rings for li alone, on the sales number (neither li nor wang is in
	// sales); the other rings for nobody known, so for support.
	mine := s.ringCall("c-li", "sales", "a1")
	team := s.ringCall("c-team", "support", "8999")
	_, other := s.customerWrites("site", visitorID("calls"), "I called you")
	s.dispatched(other, tok[sup]) // support's
	// A conversation of the sales team, which nobody here is in.
	_, sales := s.customerWrites("site", visitorID("calls-sales"), "I called sales")
	s.dispatched(sales, tok[sup])
	s.must(200, req{method: "PATCH", path: "/api/v1/conversations/" + sales, token: tok[sup], body: map[string]string{"team": "sales"}})
	s.settle()
	if c := s.conversation(sales, tok[sup]); c.Team != "sales" || c.Assignee != "" {
		t.Fatalf("the sales conversation %+v, want it waiting in sales", c)
	}

	steps := []struct {
		who, method, path string
		body              any
		status            int
	}{
		{"", "GET", "/api/v1/calls", nil, 401},
		{"", "GET", "/api/v1/calls/" + mine, nil, 401},
		{li, "GET", "/api/v1/calls/" + mine, nil, 200},
		{wang, "GET", "/api/v1/calls/" + mine, nil, 403},
		{sup, "GET", "/api/v1/calls/" + mine, nil, 200},
		{adm, "GET", "/api/v1/calls/" + mine, nil, 200},
		{wang, "GET", "/api/v1/calls/" + team, nil, 200},
		{li, "GET", "/api/v1/calls/0123456789abcdef0123", nil, 404},
		{li, "GET", "/api/v1/calls/not-a-call", nil, 404},
		{li, "GET", "/api/v1/calls?limit=0", nil, 400},
		{li, "GET", "/api/v1/calls?customer_id=%7Bx%7D", nil, 400},
		{wang, "POST", "/api/v1/calls/" + mine + "/ticket", nil, 403},
		{wang, "POST", "/api/v1/calls/" + mine + "/attach", map[string]string{"conversation_id": "x"}, 403},
		{li, "POST", "/api/v1/calls/" + mine + "/ticket", `{"name":`, 400},
		{li, "POST", "/api/v1/calls/" + mine + "/ticket", map[string]string{"name": strings.Repeat("名", 65)}, 400},
		{li, "POST", "/api/v1/calls/" + mine + "/ticket", map[string]string{"nickname": "x"}, 400},
		{li, "POST", "/api/v1/calls/" + mine + "/attach", map[string]string{}, 400},
		{li, "POST", "/api/v1/calls/" + mine + "/attach", map[string]string{"conversation_id": "NOPE"}, 400},
		// Before the number is anyone's: attaching must not make it other's.
		{wang, "POST", "/api/v1/calls/" + team + "/attach", map[string]string{"conversation_id": other}, 200},
		{wang, "POST", "/api/v1/calls/" + team + "/attach", map[string]string{"conversation_id": other}, 200},
		{li, "POST", "/api/v1/calls/" + mine + "/ticket", map[string]string{"name": "张三"}, 200},
		{sup, "POST", "/api/v1/calls/" + mine + "/ticket", nil, 200},
		{wang, "POST", "/api/v1/calls/" + team + "/attach", map[string]string{"conversation_id": sales}, 403},
		{li, "POST", "/api/v1/calls/" + team + "/attach", map[string]string{"conversation_id": sales}, 403},
		{sup, "POST", "/api/v1/calls/" + team + "/attach", map[string]string{"conversation_id": sales}, 200},
		{adm, "POST", "/api/v1/calls/" + team + "/attach", map[string]string{"conversation_id": sales}, 200},
	}
	for _, st := range steps {
		r := s.send(req{method: st.method, path: st.path, token: tok[st.who], body: st.body})
		if r.Status != st.status {
			t.Errorf("%s %s %s: %s, want %d", st.who, st.method, st.path, r, st.status)
		}
	}

	// Attaching linked the caller's number to nobody.
	var cust struct {
		Identities []struct {
			Type string `json:"type"`
		} `json:"identities"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/customers/" + s.conversation(other, tok[sup]).CustomerID, token: tok[sup]}).decode(t, &cust)
	for _, x := range cust.Identities {
		if x.Type == "phone" {
			t.Errorf("attaching a call gave the conversation's customer a phone identity: %+v", cust.Identities)
			break
		}
	}

	// One ticket, for li, whoever clicked.
	var first, again conversation
	s.must(200, req{method: "POST", path: "/api/v1/calls/" + mine + "/ticket", token: tok[li]}).decode(t, &first)
	s.must(200, req{method: "POST", path: "/api/v1/calls/" + mine + "/ticket", token: tok[sup]}).decode(t, &again)
	if first.ID == "" || first.ID != again.ID || first.Channel != "cti" || first.Account != "pbx" || first.Assignee != "a1" || first.TicketID == "" {
		t.Errorf("ticket %+v / %+v, want one numbered cti ticket of a1", first, again)
	}
	msgs := s.messages(first.ID, tok[li])
	if len(msgs) == 0 || msgs[0].Kind != "call" {
		t.Errorf("the ticket's first message %+v, want the call", msgs)
	}
	var view struct {
		Known    bool `json:"known"`
		Customer struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"customer"`
		Call struct {
			ConversationID string `json:"conversation_id"`
			TicketID       string `json:"ticket_id"`
		} `json:"call"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/calls/" + mine, token: tok[li]}).decode(t, &view)
	if !view.Known || view.Customer.Name != "张三" || view.Call.ConversationID != first.ID || view.Call.TicketID != first.TicketID {
		t.Errorf("call after the ticket: %+v", view)
	}

	// The lists: wang sees the team's call only; a customer's calls.
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	ids := func(token, q string) []string {
		s.must(200, req{method: "GET", path: "/api/v1/calls" + q, token: token}).decode(t, &list)
		var out []string
		for _, c := range list.Items {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	both := []string{mine, team}
	slices.Sort(both)
	if got := ids(tok[li], ""); !slices.Equal(got, both) {
		t.Errorf("li's calls %v, want %v", got, both)
	}
	if got := ids(tok[wang], ""); !slices.Equal(got, []string{team}) {
		t.Errorf("wang's calls %v, want [%s]", got, team)
	}
	if got := ids(tok[sup], "?customer_id="+view.Customer.ID+"&limit=5"); !slices.Contains(got, mine) {
		t.Errorf("the customer's calls %v lack %s", got, mine)
	}
}
