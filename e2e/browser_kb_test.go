package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// kbItem is a JavaScript expression: the knowledge-base list item titled
// title, or undefined.
func kbItem(title string) string {
	return `[...document.querySelectorAll('#kb-list .kb-item')].find(li => li.querySelector('.kb-item-title').textContent === ` + js(title) + `)`
}

const kbState = `document.getElementById('kb-view').innerText.slice(0, 600)`

// TestKnowledgeBaseInTheInbox: a supervisor writes an article and a canned
// reply in the knowledge-base view; an agent, who may only read, finds the
// article by a question in Chinese, opens a conversation whose customer
// asked about it, sees it suggested, and inserts its plain text into the
// reply box; then types "/" and the reply's shortcut and gets the reply
// rendered for the customer and the ticket. The article's Markdown holds
// hostile HTML, shown as text.
func TestKnowledgeBaseInTheInbox(t *testing.T) {
	c := startCluster(t, 1)
	sb := c.replicas[0]
	li := login(t, sb.URL, agentEmail, agentPassword)
	li.setPresence(t, "online")

	br := startBrowser(t)
	defer br.finish()
	sup := br.newTab("supervisor")
	agent := br.newTab("agent")

	// The supervisor writes an article and a canned reply.
	signIn(t, sup, sb.URL, supervisorEmail, supervisorPassword)
	eval[chromedp.Void](t, sup, watchInjection)
	sup.waitJS(t, "the knowledge-base button", `!document.getElementById('kb-toggle').hidden`, `document.querySelector('.topbar').innerText`)
	sup.do(t, "open the knowledge base", chromedp.Click(chromedp.ID("kb-toggle")))
	sup.waitJS(t, "the view, writable", `!document.getElementById('kb-view').hidden && !document.getElementById('kb-new').hidden`, kbState)
	const title = "退货退款流程"
	body := "## 如何申请退货\n签收后 7 天内，在「我的订单」中点击**申请退货**。<img src=x onerror=\"window.__xss=1\">\n\n- 退款 1–3 个工作日原路退回"
	sup.do(t, "new article", chromedp.Click(chromedp.ID("kb-new")))
	sup.waitJS(t, "the article form", `document.getElementById('kb-f-title')`, kbState)
	setField(t, sup, "#kb-f-title", title)
	setField(t, sup, "#kb-f-body", body)
	setField(t, sup, "#kb-f-tags", "退货，售后")
	eval[chromedp.Void](t, sup, `(() => { const s = document.getElementById('kb-f-lang'); s.value = 'zh'; s.dispatchEvent(new Event('input', {bubbles: true})); })()`)
	sup.do(t, "save the article", chromedp.Click(chromedp.ID("kb-save")))
	sup.waitJS(t, "the article in the list and shown", kbItem(title)+` && document.querySelector('#kb-detail .kb-detail-title') && `+
		`document.querySelector('#kb-detail .kb-detail-title').textContent === `+js(title), kbState)
	// Drawn from Markdown as elements, the HTML as text.
	if got := eval[string](t, sup, `document.querySelector('#kb-detail .kb-md strong').textContent`); got != "申请退货" {
		t.Errorf("bold text in the article: %q", got)
	}
	if got := eval[string](t, sup, `document.querySelector('#kb-detail .kb-md').textContent`); !strings.Contains(got, `<img src=x onerror="window.__xss=1">`) {
		t.Errorf("the article's HTML is not shown as text: %q", got)
	}

	sup.do(t, "the canned replies", chromedp.Click(chromedp.ID("kb-tab-canned")))
	sup.waitJS(t, "the canned tab", `document.getElementById('kb-tab-canned').classList.contains('on') && document.getElementById('kb-new').textContent !== ''`, kbState)
	sup.do(t, "new canned reply", chromedp.Click(chromedp.ID("kb-new")))
	sup.waitJS(t, "the canned form", `document.getElementById('kb-f-shortcut')`, kbState)
	setField(t, sup, "#kb-f-title", "退货受理")
	setField(t, sup, "#kb-f-shortcut", "/thx")
	setField(t, sup, "#kb-f-body", "{{customer.name|您}}您好，我是{{agent.name}}，工单 #{{ticket.number}} 已为您登记退货。")
	sup.do(t, "save the canned reply", chromedp.Click(chromedp.ID("kb-save")))
	sup.waitJS(t, "the canned reply in the list", kbItem("退货受理"), kbState)

	// A customer asks; the conversation reaches the agent.
	conv, cust := visitorCustomer(t, sb, li, "kbvisitor"+randomID(12), "你好，我想退货怎么弄？")
	li.must(t, "PATCH", "/api/v1/customers/"+cust, map[string]string{"name": "王先生"}, nil, http.StatusOK)
	var ticket string
	deadline := time.Now().Add(waitTimeout)
	for ticket == "" {
		var cv struct {
			TicketID string `json:"ticket_id"`
		}
		li.must(t, "GET", "/api/v1/conversations/"+conv, nil, &cv, http.StatusOK)
		if ticket = cv.TicketID; ticket == "" && time.Now().After(deadline) {
			t.Fatalf("conversation %s got no ticket", conv)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The agent reads the knowledge base: searched in Chinese, read only.
	signIn(t, agent, sb.URL, agentEmail, agentPassword)
	eval[chromedp.Void](t, agent, watchInjection)
	agent.waitJS(t, "the knowledge-base button", `!document.getElementById('kb-toggle').hidden`, `document.querySelector('.topbar').innerText`)
	agent.do(t, "open the knowledge base", chromedp.Click(chromedp.ID("kb-toggle")))
	agent.waitJS(t, "the view, read only", `!document.getElementById('kb-view').hidden && document.getElementById('kb-new').hidden && !document.getElementById('kb-readonly').hidden`, kbState)
	setField(t, agent, "#kb-search", "退货怎么办")
	agent.waitJS(t, "the article found", kbItem(title), kbState)
	eval[chromedp.Void](t, agent, kbItem(title)+`.click()`)
	agent.waitJS(t, "the article shown without edit buttons", `document.querySelector('#kb-detail .kb-md') && !document.getElementById('kb-edit') && !document.getElementById('kb-delete')`, kbState)
	agent.do(t, "back to the conversations", chromedp.Click(chromedp.ID("kb-close")))
	agent.waitJS(t, "the panes back", `document.getElementById('kb-view').hidden && getComputedStyle(document.querySelector('.panes')).display !== 'none'`, kbState)

	// The conversation: the article suggested, inserted as plain text.
	openConv(t, agent, conv, "王先生")
	sugg := `[...document.querySelectorAll('#kb-suggest .kb-sugg-item')].find(li => li.querySelector('.kb-sugg-title').textContent === ` + js(title) + `)`
	agent.waitJS(t, "the article suggested", `!document.getElementById('kb-suggest').hidden && `+sugg,
		`document.getElementById('kb-suggest').innerText + ' | ' + document.getElementById('error-text').textContent`)
	eval[chromedp.Void](t, agent, sugg+`.querySelector('.kb-insert').click()`)
	agent.waitJS(t, "the article's text in the reply box", `document.getElementById('reply-text').value.includes('签收后 7 天内')`,
		`document.getElementById('reply-text').value`)
	inserted := eval[string](t, agent, `document.getElementById('reply-text').value`)
	for _, markup := range []string{"**", "##", "- 退款"} {
		if strings.Contains(inserted, markup) {
			t.Errorf("the inserted text keeps Markdown %q: %q", markup, inserted)
		}
	}

	// The canned reply by its shortcut, rendered for this customer.
	eval[chromedp.Void](t, agent, `(() => { const ta = document.getElementById('reply-text'); ta.value = ''; ta.dispatchEvent(new Event('input', {bubbles: true})); })()`)
	agent.do(t, "type the shortcut", chromedp.SendKeys(chromedp.ID("reply-text"), "/th"))
	pick := `[...document.querySelectorAll('#kb-picker .kb-pick-item')].find(li => li.querySelector('.kb-pick-title').textContent === '退货受理')`
	agent.waitJS(t, "the picker with the reply", `!document.getElementById('kb-picker').hidden && `+pick,
		`document.getElementById('kb-picker').innerText`)
	eval[chromedp.Void](t, agent, pick+`.click()`)
	want := "王先生您好，我是" + agentName + "，工单 #" + ticket + " 已为您登记退货。"
	agent.waitJS(t, "the rendered reply in the box", `document.getElementById('reply-text').value === `+js(want),
		`document.getElementById('reply-text').value + ' | ' + document.getElementById('kb-status').textContent`)
	if !eval[bool](t, agent, `document.getElementById('kb-picker').hidden`) {
		t.Error("the picker stays open after the choice")
	}

	// Nothing of the article's HTML became an element or ran.
	for _, tb := range []*tab{sup, agent} {
		if got := eval[[]string](t, tb, `window.__injected`); len(got) != 0 {
			t.Errorf("tab %s: elements made from the article's text: %q", tb.name, got)
		}
		if v := eval[string](t, tb, `typeof window.__xss`); v != "undefined" {
			t.Errorf("tab %s: the article's HTML ran", tb.name)
		}
	}
}
