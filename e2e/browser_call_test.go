package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// ctiToken is the secret of the e2e PBX (channels.cti[0].secret).
const ctiToken = "e2e-cti-secret-0123456789"

// ctiChannels configures one PBX whose hotline rings for support.
const ctiChannels = `  cti:
    - {id: pbx, secret: "` + ctiToken + `", team: support, numbers: [{number: "4008001234", team: support}]}
`

// ctiEvent posts one call event to the webhook as a PBX script does (a
// form) and wants 200.
func ctiEvent(t *testing.T, r *replica, fields url.Values) {
	t.Helper()
	resp, err := http.PostForm(r.URL+"/channels/cti/pbx/events?token="+url.QueryEscape(ctiToken), fields)
	if err != nil {
		t.Fatalf("cti %s: %v", fields.Get("event"), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cti %s %s: status %d", fields.Get("event"), fields.Get("callId"), resp.StatusCode)
	}
}

func newCall(callID, from, user string) url.Values {
	return url.Values{"event": {"newCall"}, "from": {from}, "to": {"4008001234"}, "direction": {"in"},
		"callId": {callID}, "user": {user}}
}

// callJSON is a call as the API lists it (the fields the test reads).
type callJSON struct {
	ID             string `json:"id"`
	CallID         string `json:"call_id"`
	ConversationID string `json:"conversation_id"`
}

// apiCall finds a call by the PBX's id through the API.
func apiCall(t *testing.T, c *apiClient, pbxID string) callJSON {
	t.Helper()
	var out struct {
		Items []callJSON `json:"items"`
	}
	c.must(t, "GET", "/api/v1/calls", nil, &out, http.StatusOK)
	for _, x := range out.Items {
		if x.CallID == pbxID {
			return x
		}
	}
	t.Fatalf("call %s is not listed: %+v", pbxID, out.Items)
	return callJSON{}
}

// signIn signs an agent in on a tab showing the login form and waits for
// the first list and the socket.
func signIn(t *testing.T, tb *tab, base, email, password string) {
	t.Helper()
	tb.do(t, "open the inbox", chromedp.Navigate(base+"/"))
	tb.waitJS(t, "the login form", `document.getElementById('login-screen') && !document.getElementById('login-screen').hidden`,
		`document.body.innerText.slice(0, 300)`)
	tb.do(t, "log in",
		chromedp.SetValue(chromedp.ID("login-email"), email),
		chromedp.SetValue(chromedp.ID("login-password"), password),
		chromedp.Click(chromedp.ID("login-submit")),
	)
	tb.waitJS(t, "body ready after login", `document.body.dataset.ready === "1"`,
		`document.getElementById('login-error').textContent + ' | ' + document.getElementById('error-text').textContent`)
	tb.waitJS(t, "a connected agent socket", `document.getElementById('conn-status').dataset.state === 'connected'`,
		`document.getElementById('conn-status').dataset.state`)
}

// cardOf is a JavaScript expression: the pop card of the call with API id
// id, or undefined.
func cardOf(id string) string {
	return `[...document.querySelectorAll('#call-pop .call-card')].find(c => c.dataset.call === ` + js(id) + `)`
}

const popState = `JSON.stringify([...document.querySelectorAll('#call-pop .call-card')].map(c => [c.dataset.call, c.innerText]))`

// TestCallScreenPop: two agents in the inbox; a call from a known customer
// to agent A's extension pops up on A's screen with the customer's record,
// and not on B's; A creates a ticket with one click, and the ticket holds
// the call. The customer's name is hostile text, shown literally.
func TestCallScreenPop(t *testing.T) {
	c := startClusterWith(t, 1, ctiChannels)
	sb := c.replicas[0]
	li := login(t, sb.URL, agentEmail, agentPassword)
	name := `张三 <img src=x onerror="window.__xss=1">`

	// Make the caller known: a first call, turned into a ticket with the
	// caller's name.
	ctiEvent(t, sb, newCall("setup-1", "13800138000", "8001"))
	first := apiCall(t, li, "setup-1")
	var setup struct {
		ID       string `json:"id"`
		TicketID string `json:"ticket_id"`
	}
	li.must(t, "POST", "/api/v1/calls/"+first.ID+"/ticket", map[string]string{"name": name}, &setup, http.StatusOK)
	if setup.TicketID == "" {
		t.Fatalf("the first call's ticket has no number: %+v", setup)
	}

	br := startBrowser(t)
	defer br.finish()
	a, b := br.newTab("agent-a"), br.newTab("agent-b")
	signIn(t, a, sb.URL, agentEmail, agentPassword)
	signIn(t, b, sb.URL, otherEmail, otherPassword)

	// The call rings at A's extension.
	ctiEvent(t, sb, newCall("call-2", "+86 138 0013 8000", "8001"))
	call := apiCall(t, li, "call-2")
	card := cardOf(call.ID)
	a.waitJS(t, "the pop of the known caller on A's screen",
		card+` && `+card+`.querySelector('.call-name').textContent === `+js(name)+` && `+card+`.dataset.known === '1'`, popState)
	for _, want := range []string{"#" + setup.TicketID, "13800138000"} {
		if got := eval[string](t, a, card+`.innerText`); !strings.Contains(got, want) {
			t.Errorf("A's pop lacks %q: %q", want, got)
		}
	}
	if n := eval[int](t, a, `document.querySelectorAll('#call-pop img, #call-pop script').length`); n != 0 {
		t.Errorf("the pop made %d img/script elements of the caller's name", n)
	}
	if v := eval[string](t, a, `typeof window.__xss`); v != "undefined" {
		t.Errorf("the caller's name ran as script")
	}

	// B is not rung. A call that rings at B's extension afterwards is a
	// barrier: B's events come in order, so once it shows, a pop of
	// call-2 would have shown before it.
	ctiEvent(t, sb, newCall("call-3", "13900139000", "8002"))
	third := apiCall(t, li, "call-3")
	b.waitJS(t, "B's own call", cardOf(third.ID), popState)
	if got := eval[bool](t, b, `!!`+cardOf(call.ID)); got {
		t.Errorf("the call to A's extension popped up on B's screen too")
	}
	if got := eval[bool](t, b, `!!`+cardOf(third.ID)+` && `+cardOf(third.ID)+`.dataset.known === '0'`); !got {
		t.Errorf("B's pop of an unknown number does not say so: %s", eval[string](t, b, popState))
	}

	// The call is answered; A sees it, then creates the ticket.
	ctiEvent(t, sb, url.Values{"event": {"answer"}, "from": {"13800138000"}, "to": {"4008001234"}, "direction": {"in"},
		"callId": {"call-2"}, "answeringNumber": {"8001"}})
	a.waitJS(t, "the call answered on A's pop", card+`.querySelector('.call-state').dataset.state === 'answered'`, popState)
	eval[chromedp.Void](t, a, card+`.querySelector('button[data-act="ticket"]').click()`)
	a.waitJS(t, "the ticket linked on the pop", card+` && `+card+`.querySelector('.call-linked')`,
		popState+` + ' | ' + document.getElementById('error-text').textContent`)
	a.waitJS(t, "the new ticket open in the thread", `[...document.querySelectorAll('#thread .message')].length > 0`,
		`document.getElementById('thread').innerText`)

	linked := apiCall(t, li, "call-2")
	if linked.ConversationID == "" || linked.ConversationID == setup.ID {
		t.Fatalf("call-2 names ticket %q, want a new one (not %s)", linked.ConversationID, setup.ID)
	}
	var conv conversationJSON
	li.must(t, "GET", "/api/v1/conversations/"+linked.ConversationID, nil, &conv, http.StatusOK)
	if conv.Channel != "cti" || conv.Account != "pbx" || conv.Assignee != agentID {
		t.Errorf("the ticket %+v, want a cti/pbx ticket of %s", conv, agentID)
	}
	var msgs struct {
		Items []struct {
			Kind   string            `json:"kind"`
			Fields map[string]string `json:"fields"`
		} `json:"items"`
	}
	li.must(t, "GET", "/api/v1/conversations/"+linked.ConversationID+"/messages", nil, &msgs, http.StatusOK)
	if len(msgs.Items) == 0 || msgs.Items[0].Kind != "call" || msgs.Items[0].Fields["call_id"] != "call-2" ||
		msgs.Items[0].Fields["state"] != "answered" {
		t.Errorf("the ticket's messages %+v, want the call first", msgs.Items)
	}
	// A second click (another tab, a double click) makes no second ticket.
	var again struct {
		ID string `json:"id"`
	}
	li.must(t, "POST", "/api/v1/calls/"+call.ID+"/ticket", nil, &again, http.StatusOK)
	if again.ID != linked.ConversationID {
		t.Errorf("a second click answered ticket %s, want %s", again.ID, linked.ConversationID)
	}
}
