package e2e

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// slaWait bounds the waits for an SLA clock: the test policy warns 30 s
// after the customer's first message and breaches after 60 s, and the
// server records either within about a second.
const slaWait = 75 * time.Second

// waitLong polls the JavaScript condition cond until it holds, for at
// most d (tab.waitJS is it with the usual bound; conditions that come on a
// real clock's time give their own), and otherwise fails the test with
// the value of diag.
func waitLong(t *testing.T, tb *tab, what, cond, diag string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, d+5*time.Second)
	defer cancel()
	deadline := time.Now().Add(d)
	var err error
	for {
		_, err = chromedp.Run(ctx, chromedp.Poll[bool]("!!("+cond+")",
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		// A page that navigates (a form it posts itself) ends the poll in
		// the old document: poll the new one.
		if !navigatedAway(err) || time.Until(deadline) < 200*time.Millisecond {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	state := "(no diagnostics)"
	if diag != "" {
		dctx, dcancel := context.WithTimeout(tb.ctx, 5*time.Second)
		if s, derr := chromedp.Run(dctx, chromedp.Evaluate[string](diag)); derr == nil {
			state = s
		}
		dcancel()
	}
	if errors.Is(err, chromedp.ErrPollingTimeout) {
		t.Fatalf("tab %s: no %s within %v; state: %s", tb.name, what, d, state)
	}
	t.Fatalf("tab %s: waiting for %s: %v; state: %s", tb.name, what, err, state)
}

// navigatedAway says whether a DevTools call failed because the page
// left the document it ran in.
func navigatedAway(err error) bool {
	m := err.Error()
	return strings.Contains(m, "navigated or closed") || strings.Contains(m, "Cannot find context with specified id")
}

// waitFor polls an API condition until it holds, failing the test after
// waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, waitTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ticketOf waits until a conversation has its ticket and returns the
// ticket's number.
func ticketOf(t *testing.T, c *apiClient, conv string) string {
	t.Helper()
	var number string
	waitFor(t, "ticket of "+conv, func() bool {
		var cv struct {
			TicketID string `json:"ticket_id"`
			Assignee string `json:"assignee"`
		}
		c.must(t, "GET", "/api/v1/conversations/"+conv, nil, &cv, http.StatusOK)
		number = cv.TicketID
		return number != "" && cv.Assignee != ""
	})
	return number
}

// rowOf is a JavaScript expression: conversation id's row in the list.
func rowOf(id string) string {
	return `document.querySelector('#conversation-list .conversation-item[data-id=` + js(id) + `]')`
}

// rowBadge is a JavaScript condition: conversation id's row carries the
// SLA badge of state (breached, warning, due).
func rowBadge(id, state string) string {
	return `(r => !!r && !!r.querySelector('.ci-sla .sla-badge[data-sla=` + js(state) + `]'))(` + rowOf(id) + `)`
}

const listState = `JSON.stringify([...document.querySelectorAll('#conversation-list .conversation-item')].map(li => [li.dataset.id, li.innerText]))`

const listOrder = `[...document.querySelectorAll('#conversation-list .conversation-item')].map(li => li.dataset.id)`

const slaState = `(document.getElementById('ticket-sla') ? document.getElementById('ticket-sla').innerText : 'no SLA box') + ' | ' + document.getElementById('error-text').textContent`

// firstLine is a JavaScript expression: the ticket panel's first-response
// line.
const firstLine = `document.querySelector('#ticket-sla .sla-line[data-target="first_response"]')`

// TestSLAInTheInbox: a policy answers first in 1 minute and warns at half
// of it. Two web-chat customers write, B first; the agent's list shows
// both, and sorted by due time B (the earlier due) comes first, with the
// countdown badges and no "load more". The agent opens A's ticket: the
// first-response line says when it is due. At 30 s both rows turn amber
// in the agent's and the supervisor's lists, and the supervisor gets a
// notice naming A's ticket, customer and target; a notice opens its
// conversation. The agent replies to A: the line says met, the row loses
// its mark. B, unanswered, turns red at 60 s and the supervisor is told.
func TestSLAInTheInbox(t *testing.T) {
	const policy = "一分钟响应 One-minute reply"
	c := startClusterConfig(t, 1, "", `sla_policies:
  - {name: "`+policy+`", first_response: 1m, warn_at: [0.5]}
`)
	sb := c.replicas[0]
	li := login(t, sb.URL, agentEmail, agentPassword)
	li.setPresence(t, "online")

	br := startBrowser(t)
	defer br.finish()
	agent := br.newTab("agent")
	sup := br.newTab("supervisor")
	signIn(t, agent, sb.URL, agentEmail, agentPassword)
	signIn(t, sup, sb.URL, supervisorEmail, supervisorPassword)
	for _, tb := range []*tab{agent, sup} {
		eval[chromedp.Void](t, tb, watchInjection)
		eval[chromedp.Void](t, tb, recordNotices)
	}

	// B writes first, then A: B's clock is due first.
	const nameA, nameB = `陈女士 <img src=x onerror="window.__xss=1">`, "刘先生"
	visitorA := "slavisitor_a_" + randomID(16)
	convB, custB := visitorCustomer(t, sb, li, "slavisitor_b_"+randomID(16), "发票什么时候开？")
	convA, custA := visitorCustomer(t, sb, li, visitorA, "我的订单什么时候发货？")
	li.must(t, "PATCH", "/api/v1/customers/"+custA, map[string]string{"name": nameA}, nil, http.StatusOK)
	li.must(t, "PATCH", "/api/v1/customers/"+custB, map[string]string{"name": nameB}, nil, http.StatusOK)
	ticketA, ticketB := ticketOf(t, li, convA), ticketOf(t, li, convB)
	// The lists and SLA events name a conversation's customer as the
	// conversation has it.
	listedName := func(conv string) string {
		var named struct {
			CustomerName string `json:"customer_name"`
		}
		li.must(t, "GET", "/api/v1/conversations/"+conv, nil, &named, http.StatusOK)
		return named.CustomerName
	}

	// The API lists both by due time once their clocks run, B first.
	waitFor(t, "both conversations listed by due time", func() bool {
		var page struct {
			Items []struct {
				ID     string `json:"id"`
				SLADue string `json:"sla_due"`
			} `json:"items"`
			NextBefore string `json:"next_before"`
		}
		li.must(t, "GET", "/api/v1/conversations?sort=due&view=all", nil, &page, http.StatusOK)
		if page.NextBefore != "" {
			t.Fatalf("a due-sorted list has a next page: %q", page.NextBefore)
		}
		var ids []string
		for _, it := range page.Items {
			if it.SLADue != "" {
				ids = append(ids, it.ID)
			}
		}
		return slices.Equal(ids, []string{convB, convA})
	})

	// A writes again: by activity A leads the list.
	shop := newClient(sb.URL)
	shop.origin = shopOrigin
	agent.waitJS(t, "both conversations in the list", rowOf(convA)+` && `+rowOf(convB), listState)
	if _, err := shop.postVisitor(visitorA, "c-"+randomID(8), "还在吗？"); err != nil {
		t.Fatal(err)
	}
	agent.waitJS(t, "A first by activity", listOrder+`[0] === `+js(convA), listState)
	if got := eval[string](t, agent, `document.getElementById('conversation-list').dataset.sort`); got != "recent" {
		t.Errorf("list sort before the toggle: %q, want recent", got)
	}

	// By due: B first, each with its countdown, one page.
	agent.do(t, "sort by due", chromedp.Click(chromedp.ID("sort-due")))
	agent.waitJS(t, "the list by due time, B first", `document.getElementById('conversation-list').dataset.sort === 'due' && `+
		`JSON.stringify(`+listOrder+`) === `+js(`["`+convB+`","`+convA+`"]`), listState)
	if got := eval[string](t, agent, `document.getElementById('sort-due').getAttribute('aria-pressed')`); got != "true" {
		t.Errorf("sort toggle aria-pressed: %q, want true", got)
	}
	if !eval[bool](t, agent, `document.getElementById('load-more').hidden`) {
		t.Error("load more is shown in the due-sorted list")
	}
	for _, id := range []string{convA, convB} {
		agent.waitJS(t, "the countdown badge of "+id, rowBadge(id, "due"), listState)
		badge := eval[[]string](t, agent, `(b => [b.textContent, b.title])(`+rowOf(id)+`.querySelector('.sla-badge'))`)
		if !matchesAny(badge[0], "due in ", "后到期") || badge[1] == "" {
			t.Errorf("countdown badge of %s: text %q, title %q; want due in … with the due time as title", id, badge[0], badge[1])
		}
	}
	agent.do(t, "sort by activity again", chromedp.Click(chromedp.ID("sort-due")))
	agent.waitJS(t, "the list by activity, A first", `document.getElementById('conversation-list').dataset.sort === 'recent' && `+
		listOrder+`.length === 2 && `+listOrder+`[0] === `+js(convA), listState)

	// A's ticket: the policy and the first-response clock, due soon.
	openConv(t, agent, convA, nameA)
	agent.do(t, "open the ticket", chromedp.Click(chromedp.ID("th-ticket")))
	agent.waitJS(t, "the first-response line, running", firstLine+` && `+firstLine+`.dataset.state === 'running'`, slaState)
	line := eval[[]string](t, agent, `[`+firstLine+`.querySelector('.sla-target').textContent, `+firstLine+`.querySelector('.sla-state').textContent, `+
		`document.querySelector('#ticket-sla .sla-policy-name').textContent]`)
	if !matchesAny(line[0], "First response", "首次响应") || !matchesAny(line[1], "due in ", "后到期") || line[2] != policy {
		t.Errorf("first-response line: %q; want the target, due in …, and the policy %q", line, policy)
	}

	// Half-time: amber rows for agent and supervisor, the supervisor's
	// notice names A's ticket, customer and target.
	for _, tb := range []*tab{agent, sup} {
		for _, id := range []string{convA, convB} {
			waitLong(t, tb, "the warning badge of "+id, rowBadge(id, "warning"), listState, slaWait)
		}
	}
	if got := eval[string](t, sup, rowOf(convA)+`.querySelector('.sla-badge').textContent`); !matchesAny(got, "Due soon", "即将超时") {
		t.Errorf("warning badge text: %q", got)
	}
	noticeA := `window.__notices.some(n => n.kind === 'sla.warning' && n.text.includes(` + js("#"+ticketA) + `))`
	waitLong(t, sup, "the supervisor's notice of A's warning", noticeA, `JSON.stringify(window.__notices)`, slaWait)
	text := eval[string](t, sup, `window.__notices.find(n => n.kind === 'sla.warning' && n.text.includes(`+js("#"+ticketA)+`)).text`)
	if name := listedName(convA); !strings.Contains(text, "("+name+")") && !strings.Contains(text, "（"+name+"）") ||
		!matchesAny(text, "First response due soon", "首次响应即将超时") {
		t.Errorf("notice %q: want the customer %q and the target", text, name)
	}
	// The notice shown (A's or B's, whichever came last) opens its
	// conversation.
	shown := eval[string](t, sup, `document.getElementById('notice').hidden ? '' : document.getElementById('notice-body').textContent`)
	want := "#" + ticketB
	if strings.Contains(shown, "#"+ticketA) {
		want = "#" + ticketA
	} else if !strings.Contains(shown, want) {
		t.Fatalf("the supervisor's notice shows %q, neither ticket", shown)
	}
	sup.do(t, "open the conversation from the notice", chromedp.Click(chromedp.ID("notice-body")))
	sup.waitJS(t, "the notice's conversation open", `!document.getElementById('thread-header').hidden && document.getElementById('th-ticket').textContent === `+js(want)+
		` && document.getElementById('notice').hidden`, `document.getElementById('th-ticket').textContent`)

	// The agent answers A in time: the line says met, the history has
	// the warning.
	agent.do(t, "reply", chromedp.SetValue(chromedp.ID("reply-text"), "您好，今天下午发货。"), chromedp.Click(chromedp.ID("reply-send")))
	agent.waitJS(t, "the first-response line, met", firstLine+` && `+firstLine+`.dataset.state === 'met'`, slaState)
	if got := eval[string](t, agent, firstLine+`.querySelector('.sla-state').textContent`); !matchesAny(got, "met", "已达成") {
		t.Errorf("met line: %q", got)
	}
	agent.waitJS(t, "the warning in the history",
		`[...document.querySelectorAll('#customer-panel .hist[data-field="sla"]')].some(li => /50%/.test(li.textContent))`,
		`document.querySelector('#customer-panel .cp-ticket').innerText`)
	agent.waitJS(t, "A's row without a mark", `(r => !!r && !r.querySelector('.sla-badge'))(`+rowOf(convA)+`)`, listState)

	// B breaches: red on the agent's list, the supervisor is told.
	waitLong(t, agent, "the breached badge of B", rowBadge(convB, "breached"), listState, slaWait)
	if got := eval[string](t, agent, rowOf(convB)+`.querySelector('.sla-badge').textContent`); !matchesAny(got, "Overdue", "已超时") {
		t.Errorf("breached badge text: %q", got)
	}
	breached := `window.__notices.some(n => n.kind === 'sla.breached' && n.text.includes(` + js("#"+ticketB) + `))`
	waitLong(t, sup, "the supervisor's notice of B's breach", breached, `JSON.stringify(window.__notices)`, slaWait)
	if got := eval[[]string](t, sup, `window.__notices.filter(n => n.kind === 'sla.breached').map(n => n.text)`); len(got) != 1 ||
		!strings.Contains(got[0], listedName(convB)) || !matchesAny(got[0], "First response overdue", "首次响应已超时") {
		t.Errorf("breach notices %q: want one, for B's first response", got)
	}

	for _, tb := range []*tab{agent, sup} {
		if got := eval[[]string](t, tb, `window.__injected`); len(got) != 0 {
			t.Errorf("tab %s: elements made from a customer's name: %q", tb.name, got)
		}
	}
}

// recordNotices keeps, in the page, every notice shown (kind and text),
// since a later one replaces an earlier one on the screen.
const recordNotices = `(() => {
	window.__notices = [];
	const n = document.getElementById('notice'), body = document.getElementById('notice-body');
	new MutationObserver(() => {
		if (n.hidden) return;
		const e = { kind: n.dataset.kind || '', text: body.textContent };
		const last = window.__notices[window.__notices.length - 1];
		if (!last || last.kind !== e.kind || last.text !== e.text) window.__notices.push(e);
	}).observe(n, { attributes: true, childList: true, subtree: true, characterData: true });
})()`

// matchesAny reports whether s contains one of the texts (the English or
// the Chinese wording).
func matchesAny(s string, texts ...string) bool {
	for _, x := range texts {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// threadMsg is a transcript message with the fields this file reads.
type threadMsg struct {
	ID        string            `json:"id"`
	Direction string            `json:"direction"`
	Kind      string            `json:"kind"`
	Text      string            `json:"text"`
	Author    string            `json:"author"`
	Fields    map[string]string `json:"fields"`
}

// findMsg waits for a message of conv that pred accepts and returns it.
func findMsg(t *testing.T, c *apiClient, conv, what string, pred func(threadMsg) bool) threadMsg {
	t.Helper()
	var found threadMsg
	waitFor(t, what, func() bool {
		var out struct {
			Items []threadMsg `json:"items"`
		}
		c.must(t, "GET", "/api/v1/conversations/"+conv+"/messages?limit=500", nil, &out, http.StatusOK)
		for _, m := range out.Items {
			if pred(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// ticketHistory is a ticket's history entries (field and value).
func ticketHistory(t *testing.T, c *apiClient, number string) [][2]string {
	t.Helper()
	var tk struct {
		History []struct {
			Field string `json:"field"`
			To    string `json:"to"`
		} `json:"history"`
	}
	c.must(t, "GET", "/api/v1/tickets/"+number, nil, &tk, http.StatusOK)
	var out [][2]string
	for _, h := range tk.History {
		out = append(out, [2]string{h.Field, h.To})
	}
	return out
}

// TestSurveyAndBotInTheInbox: the FAQ bot answers a web-chat customer
// from an article, then hands over when asked for a person; the agent
// replies and resolves, and the customer gets a CSAT survey, scores 5 and
// comments (hostile text). In the agent's thread the bot's messages carry
// the bot's label, unlike the agent's reply; the survey is a box of its
// own with its question; the survey's follow-ups are marked automatic.
// The ticket shows the score as its satisfaction and in its history,
// with the comment as text.
func TestSurveyAndBotInTheInbox(t *testing.T) {
	c := startClusterConfig(t, 1, "", "surveys: {enabled: true}\nbot: {channels: [webchat]}\n")
	sb := c.replicas[0]
	li := login(t, sb.URL, agentEmail, agentPassword)
	li.setPresence(t, "online")
	zhao := login(t, sb.URL, supervisorEmail, supervisorPassword)
	const title = "如何申请退货退款"
	zhao.must(t, "POST", "/api/v1/kb/articles", map[string]any{"title": title, "lang": "zh", "tags": []string{"退货", "退款"},
		"body": "签收后 7 天内，在「我的订单」中点击**申请退货**。退款 1–3 个工作日原路退回。"}, nil, http.StatusCreated)

	br := startBrowser(t)
	defer br.finish()
	agent := br.newTab("agent")
	signIn(t, agent, sb.URL, agentEmail, agentPassword)
	eval[chromedp.Void](t, agent, watchInjection)

	// The bot answers the question, and hands over on request.
	visitor := "svvisitor_" + randomID(16)
	shop := newClient(sb.URL)
	shop.origin = shopOrigin
	say := func(text string) string {
		t.Helper()
		res, err := shop.postVisitor(visitor, "c-"+randomID(8), text)
		if err != nil {
			t.Fatal(err)
		}
		return res.ConversationID
	}
	conv := say("请问如何申请退货退款？")
	answer := findMsg(t, li, conv, "the bot's answer", func(m threadMsg) bool { return m.Author == "bot" && m.Fields["bot"] == "answer" })
	if !strings.Contains(answer.Text, title) {
		t.Fatalf("the bot answered %q, not with the article", answer.Text)
	}
	say("转人工")
	findMsg(t, li, conv, "the bot's handover", func(m threadMsg) bool { return m.Author == "bot" && m.Fields["bot"] == "handoff" })
	ticket := ticketOf(t, li, conv)
	var cv struct {
		CustomerID string `json:"customer_id"`
	}
	li.must(t, "GET", "/api/v1/conversations/"+conv, nil, &cv, http.StatusOK)
	const custName = "孙先生"
	li.must(t, "PATCH", "/api/v1/customers/"+cv.CustomerID, map[string]string{"name": custName}, nil, http.StatusOK)

	// The agent answers and resolves: the survey goes out; the customer
	// scores and comments.
	const reply = "您好，已为您登记退货。"
	li.must(t, "POST", "/api/v1/conversations/"+conv+"/messages", map[string]any{"text": reply, "idempotency_key": "sv-" + randomID(12)}, nil, http.StatusAccepted)
	li.must(t, "PATCH", "/api/v1/conversations/"+conv, map[string]string{"status": "resolved"}, nil, http.StatusOK)
	survey := findMsg(t, li, conv, "the survey", func(m threadMsg) bool { return m.Kind == "survey" })
	if survey.Direction != "out" || survey.Author != "system" || survey.Fields["survey"] != "csat" {
		t.Fatalf("survey message: %+v", survey)
	}
	say("5")
	const comment = `很满意 <img src=x onerror="window.__xss=1">`
	waitFor(t, "the score in the history", func() bool {
		return slices.Contains(ticketHistory(t, li, ticket), [2]string{"csat", "5"})
	})
	say(comment)
	waitFor(t, "the comment in the history", func() bool {
		return slices.Contains(ticketHistory(t, li, ticket), [2]string{"survey_comment", comment})
	})

	// The thread.
	openConv(t, agent, conv, custName)
	const thread = `document.getElementById('thread').innerText`
	agent.waitJS(t, "the survey box", `document.querySelector('#thread .message-survey')`, thread)
	bots := eval[[][]string](t, agent, `[...document.querySelectorAll('#thread .message-bot')].map(m =>
		[m.dataset.bot, m.querySelector('.bot-tag') ? m.querySelector('.bot-tag').textContent : '', m.querySelector('.message-text').textContent])`)
	if len(bots) != 2 || bots[0][0] != "answer" || bots[1][0] != "handoff" || !strings.Contains(bots[0][2], title) {
		t.Errorf("bot messages in the thread: %q; want the answer with the article, then the handover", bots)
	}
	for _, b := range bots {
		if !matchesAny(b[1], "Bot", "智能助手") {
			t.Errorf("a bot message without the bot's label: %q", b)
		}
	}
	mine := eval[[]string](t, agent, `[...document.querySelectorAll('#thread .message-out:not(.message-bot):not(.message-auto)')].map(m =>
		(m.querySelector('.bot-tag') ? 'BOT ' : '') + m.querySelector('.message-author').textContent + ': ' + m.querySelector('.message-text').textContent)`)
	if !slices.Equal(mine, []string{agentName + ": " + reply}) {
		t.Errorf("the agent's replies: %q, want only %q, unlabelled", mine, reply)
	}
	box := eval[[]string](t, agent, `(b => [b.dataset.survey, b.querySelector('.survey-label').textContent, b.querySelector('.survey-question').textContent,
		b.classList.contains('message-out') ? 'out' : 'own'])(document.querySelector('#thread .message-survey'))`)
	if box[0] != "csat" || !matchesAny(box[1], "Survey sent", "满意度调查已发送") || box[2] != survey.Text || box[3] != "own" {
		t.Errorf("survey box: %q; want csat, the label, the question %q, not a reply", box, survey.Text)
	}
	agent.waitJS(t, "the survey's follow-ups, marked automatic", `document.querySelectorAll('#thread .message-auto .auto-tag').length >= 2`, thread)

	// The ticket: the satisfaction row and the history.
	agent.do(t, "open the ticket", chromedp.Click(chromedp.ID("th-ticket")))
	const ticketPanel = `document.querySelector('#customer-panel .cp-ticket') ? document.querySelector('#customer-panel .cp-ticket').innerText : 'no ticket'`
	agent.waitJS(t, "the satisfaction row", `(d => !!d && d.textContent === '5 / 5 (CSAT)')(document.querySelector('#customer-panel dd[data-key="ticket.satisfaction"]'))`, ticketPanel)
	hist := eval[map[string]string](t, agent, `Object.fromEntries([...document.querySelectorAll('#customer-panel .hist')].map(li => [li.dataset.field, li.textContent]))`)
	if !strings.Contains(hist["csat"], "5 / 5 (CSAT)") {
		t.Errorf("history line of the score: %q", hist["csat"])
	}
	if !strings.Contains(hist["survey_comment"], comment) {
		t.Errorf("history line of the comment: %q, want the text %q", hist["survey_comment"], comment)
	}
	if !matchesAny(hist["survey"], "Satisfaction survey sent (CSAT)", "已发送满意度调查（CSAT）") {
		t.Errorf("history line of the survey: %q", hist["survey"])
	}
	if got := eval[[]string](t, agent, `window.__injected`); len(got) != 0 {
		t.Errorf("elements made from the customer's comment: %q", got)
	}
	if v := eval[string](t, agent, `typeof window.__xss`); v != "undefined" {
		t.Error("the customer's comment ran as script")
	}
}
