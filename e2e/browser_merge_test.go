package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// customerJSON is a customer view (the fields the test reads).
type customerJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Identities []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"identities"`
	Conversations []struct {
		ID string `json:"id"`
	} `json:"conversations"`
}

// visitorCustomer has a visitor write once on the shop's web chat and
// returns the conversation and its customer.
func visitorCustomer(t *testing.T, sb *replica, li *apiClient, visitor, text string) (conv, cust string) {
	t.Helper()
	shop := newClient(sb.URL)
	shop.origin = shopOrigin
	res, err := shop.postVisitor(visitor, "c-"+visitor[:8], text)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		CustomerID string `json:"customer_id"`
	}
	li.must(t, "GET", "/api/v1/conversations/"+res.ConversationID, nil, &c, http.StatusOK)
	return res.ConversationID, c.CustomerID
}

const panelText = `document.getElementById('customer-panel').innerText`

// asks is a JavaScript condition: the button el (an expression) asks to
// be clicked again, in English or Chinese.
func asks(el, en, zh string) string {
	return `(b => !!b && (b.textContent === ` + js(en) + ` || b.textContent === ` + js(zh) + `))(` + el + `)`
}

// setField types value into the element sel, as the agent would.
func setField(t *testing.T, tb *tab, sel, value string) {
	t.Helper()
	eval[chromedp.Void](t, tb, `(() => { const f = document.querySelector(`+js(sel)+`);
		f.focus(); f.value = `+js(value)+`; f.dispatchEvent(new Event('input', {bubbles: true})); })()`)
}

// openConv opens a conversation of the list in the thread and waits for
// its customer in the panel.
func openConv(t *testing.T, tb *tab, conv, custName string) {
	t.Helper()
	tb.click(t, "conversation "+conv+" in the list", `#conversation-list .conversation-item[data-id="`+conv+`"]`)
	tb.waitJS(t, "the customer "+custName+" in the panel",
		`document.querySelector('#customer-panel .cp-name') && document.querySelector('#customer-panel .cp-name').textContent === `+js(custName),
		panelText)
}

// TestMergeInTheInbox: an agent links an unknown caller's number to an
// existing customer from the screen-pop; in that customer's panel, finds
// another customer by e-mail, and adding that e-mail is refused with an
// offer to merge (nothing merged yet), which the agent takes; a
// supervisor undoes the merge from the audit, and the panels show both
// customers apart again. Customer names are hostile text, shown
// literally.
func TestMergeInTheInbox(t *testing.T) {
	c := startClusterWith(t, 1, ctiChannels)
	sb := c.replicas[0]
	li := login(t, sb.URL, agentEmail, agentPassword)
	zhao := login(t, sb.URL, supervisorEmail, supervisorPassword)
	xName, yName := `张三 <img src=x onerror="window.__xss=1">`, "杨女士"
	const yEmail = "yang@example.cn"

	xConv, x := visitorCustomer(t, sb, li, "visitor_merge_x_0000000001", "我的订单还没到")
	yConv, y := visitorCustomer(t, sb, li, "visitor_merge_y_0000000001", "发票开错了")
	li.must(t, "PATCH", "/api/v1/customers/"+x, map[string]string{"name": xName}, nil, http.StatusOK)
	li.must(t, "PATCH", "/api/v1/customers/"+y, map[string]string{"name": yName}, nil, http.StatusOK)
	li.must(t, "POST", "/api/v1/customers/"+y+"/identities", map[string]string{"type": "email", "value": yEmail}, nil, http.StatusOK)

	br := startBrowser(t)
	defer br.finish()
	a := br.newTab("agent")
	signIn(t, a, sb.URL, agentEmail, agentPassword)

	// An unknown number rings at li's extension: li links it to x.
	ctiEvent(t, sb, newCall("merge-1", "13700137000", "8001"))
	call := apiCall(t, li, "merge-1")
	card := cardOf(call.ID)
	a.waitJS(t, "the pop of the unknown caller", card+` && `+card+`.dataset.known === '0' && `+card+`.querySelector('[data-field="link"]')`, popState)
	setField(t, a, `#call-pop [data-call="`+call.ID+`"] [data-field="link"]`, strings.ToLower(x))
	eval[chromedp.Void](t, a, card+`.querySelector('button[data-act="find"]').click()`)
	a.waitJS(t, "x found from the pop", card+`.querySelector('button[data-act="link"]')`, popState)
	eval[chromedp.Void](t, a, card+`.querySelector('button[data-act="link"]').click()`)
	a.waitJS(t, "the pop showing the caller as x",
		card+`.dataset.known === '1' && `+card+`.querySelector('.call-name').textContent === `+js(xName),
		popState+` + ' | ' + document.getElementById('error-text').textContent`)
	var found struct {
		Items []customerJSON `json:"items"`
	}
	li.must(t, "GET", "/api/v1/customers?phone="+url.QueryEscape("+8613700137000"), nil, &found, http.StatusOK)
	if len(found.Items) != 1 || found.Items[0].ID != x {
		t.Fatalf("the number belongs to %+v, want x %s", found.Items, x)
	}

	// li opens x's conversation and finds y by e-mail; then adds y's
	// e-mail to x, which is refused with an offer to merge y into x, and
	// merges.
	openConv(t, a, xConv, xName)
	setField(t, a, `#customer-panel [data-field="cm-query"]`, "Yang@Example.cn")
	eval[chromedp.Void](t, a, `document.getElementById('cm-find').requestSubmit()`)
	a.waitJS(t, "y found in the panel", `document.querySelector('#customer-panel .cm-found[data-customer="`+y+`"] button[data-cm="merge"]')`, panelText)
	setField(t, a, `#customer-panel [data-field="cm-value"]`, yEmail)
	eval[chromedp.Void](t, a, `(() => { const s = document.querySelector('#customer-panel [data-field="cm-type"]');
		s.value = 'email'; s.dispatchEvent(new Event('change', {bubbles: true}));
		document.getElementById('cm-add').requestSubmit(); })()`)
	merge := `document.querySelector('#customer-panel .cm-add button[data-cm="merge"][data-id="` + y + `"]')`
	a.waitJS(t, "the refusal naming y, with an offer to merge",
		merge+` && document.querySelector('#customer-panel .cm-taken').textContent.includes(`+js(yName)+`)`, panelText)
	var xNow customerJSON
	li.must(t, "GET", "/api/v1/customers/"+x, nil, &xNow, http.StatusOK)
	for _, idn := range xNow.Identities {
		if idn.Value == yEmail {
			t.Fatalf("the refused e-mail was linked to x: %+v", xNow.Identities)
		}
	}
	eval[chromedp.Void](t, a, merge+`.click()`) // asks
	a.waitJS(t, "the merge asking to be confirmed", asks(merge, "Click again to merge", "再点一次确认合并"), panelText)
	eval[chromedp.Void](t, a, merge+`.click()`)
	a.waitJS(t, "y's e-mail and conversation in x's panel",
		`document.getElementById('customer-panel').innerText.includes(`+js(yEmail)+`) && `+
			`document.querySelector('#customer-panel .cp-conv[data-conv="`+yConv+`"]')`, panelText)
	var yView customerJSON
	li.must(t, "GET", "/api/v1/customers/"+y, nil, &yView, http.StatusOK)
	if yView.ID != x || len(yView.Conversations) != 2 {
		t.Fatalf("y's view after the merge: %+v, want x with both conversations", yView)
	}
	var audit struct {
		Items []struct {
			Action  string `json:"action"`
			MergeID string `json:"merge_id"`
		} `json:"items"`
	}
	li.must(t, "GET", "/api/v1/customers/"+x+"/audit", nil, &audit, http.StatusOK)
	if len(audit.Items) == 0 || audit.Items[0].Action != "merge" || audit.Items[0].MergeID == "" {
		t.Fatalf("x's audit %+v, want the merge first", audit.Items)
	}
	mergeID := audit.Items[0].MergeID
	if n := eval[int](t, a, `document.querySelectorAll('#customer-panel button[data-cm="undo"]').length`); n != 0 {
		t.Errorf("an agent sees %d undo buttons", n)
	}

	// The supervisor undoes it from the audit in x's panel.
	b := br.newTab("supervisor")
	signIn(t, b, sb.URL, supervisorEmail, supervisorPassword)
	openConv(t, b, xConv, xName)
	undo := `document.querySelector('#customer-panel button[data-cm="undo"][data-merge="` + mergeID + `"]')`
	b.waitJS(t, "the undo button in the audit", undo, panelText)
	eval[chromedp.Void](t, b, undo+`.click()`)
	b.waitJS(t, "the undo asking to be confirmed", asks(undo, "Click again to undo", "再点一次确认撤销"), panelText)
	eval[chromedp.Void](t, b, undo+`.click()`)
	b.waitJS(t, "x's panel without y's e-mail, the merge marked undone",
		`!document.getElementById('customer-panel').innerText.includes(`+js(yEmail)+`) && `+
			`document.querySelector('#customer-panel .cm-audit-entry[data-action="unmerge"]')`, panelText)

	// Both tabs show the two customers apart again.
	a.waitJS(t, "li's panel of x without y's e-mail (told by the socket)",
		`!document.getElementById('customer-panel').innerText.includes(`+js(yEmail)+`) && `+
			`!document.querySelector('#customer-panel .cp-conv[data-conv="`+yConv+`"]')`, panelText)
	openConv(t, a, yConv, yName)
	a.waitJS(t, "y's e-mail in y's panel", `document.getElementById('customer-panel').innerText.includes(`+js(yEmail)+`)`, panelText)
	li.must(t, "GET", "/api/v1/customers/"+y, nil, &yView, http.StatusOK)
	if yView.ID != y || len(yView.Conversations) != 1 || yView.Conversations[0].ID != yConv {
		t.Errorf("y's view after the undo: %+v", yView)
	}
	var xView customerJSON
	zhao.must(t, "GET", "/api/v1/customers/"+x, nil, &xView, http.StatusOK)
	if xView.ID != x || len(xView.Conversations) != 1 {
		t.Errorf("x's view after the undo: %+v", xView)
	}
	for _, tb := range []*tab{a, b} {
		if n := eval[int](t, tb, `document.querySelectorAll('#customer-panel img:not(.avatar-img), #call-pop img, #customer-panel script').length`); n != 0 {
			t.Errorf("tab %s: %d img/script elements made of customer text", tb.name, n)
		}
		if v := eval[string](t, tb, `typeof window.__xss`); v != "undefined" {
			t.Errorf("tab %s: a customer's name ran as script", tb.name)
		}
	}
}
