package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestSurveyInTheWidget: on a phone-sized screen, the customer writes in
// the widget; when the agent resolves the ticket through the API, the
// widget shows the question with five star buttons (labelled, a finger's
// size); a tap on ★5 sends "5", which is recorded as CSAT 5 without
// reopening the ticket, and the buttons then show the choice, disabled;
// after a reload too.
func TestSurveyInTheWidget(t *testing.T) {
	c := startClusterConfig(t, 1, "", surveysOn)
	sb := c.replicas[0]
	agent := login(t, sb.URL, agentEmail, agentPassword)
	agent.setPresence(t, "online")
	br := startBrowser(t)
	defer br.finish()
	customer := br.newTab("widget-phone")

	customer.do(t, "open the demo page on a phone", phoneSized, chromedp.Navigate(sb.URL+"/webchat/"+site+"/demo"))
	customer.waitJS(t, "the widget", `window.SwitchboardWebchat && document.querySelector('#switchboard-webchat') &&
		`+widget+`.querySelector('.sb-launcher')`, `document.body.innerText.slice(0, 200)`)
	eval[chromedp.Void](t, customer, `window.SwitchboardWebchat.open()`)
	customer.waitJS(t, "the connected widget", widget+`.querySelector('.sb-status').dataset.state === 'connected'`,
		widget+`.querySelector('.sb-status').dataset.state`)
	if got := eval[string](t, customer, `(() => { const i = `+widget+`.querySelector('.sb-input');
		i.value = '我的订单还没到'; i.dispatchEvent(new Event('input', {bubbles: true}));
		const b = `+widget+`.querySelector('.sb-send'); if (b.disabled) return 'send disabled'; b.click(); return 'sent'; })()`); got != "sent" {
		t.Fatalf("widget: %s", got)
	}
	customer.waitJS(t, "the message acknowledged", widget+`.querySelector('.sb-msg.sb-in[data-state="sent"][data-id]')`, diagTexts(".sb-msg"))

	conv := assignedConversation(t, agent, "webchat")
	n := ticketNumber(t, agent, conv)
	resolve(t, agent, conv)

	buttons := `[...` + widget + `.querySelectorAll('.sb-scores .sb-score')]`
	customer.waitJS(t, "the survey's five stars", buttons+`.length === 5`, diagTexts(".sb-msg"))
	if q := eval[string](t, customer, widget+`.querySelector('.sb-scores').closest('.sb-text').firstChild.textContent`); !strings.Contains(q, "满意") {
		t.Errorf("the survey's question %q, want the Chinese CSAT question", q)
	}
	if got := eval[[]string](t, customer, buttons+`.map(b => b.textContent)`); !slices.Equal(got, []string{"★", "★", "★", "★", "★"}) {
		t.Errorf("the buttons show %q, want five stars", got)
	}
	labels := eval[[]string](t, customer, buttons+`.map(b => b.getAttribute('aria-label'))`)
	if len(labels) != 5 || !strings.HasPrefix(labels[0], "1 star") || !strings.HasPrefix(labels[4], "5 stars") ||
		!strings.Contains(labels[4], "satisfied") {
		t.Errorf("the buttons' labels %q", labels)
	}
	if small := eval[[]string](t, customer, buttons+`.map(b => b.getBoundingClientRect()).filter(r => r.height < 44 || r.width < 40).map(r => r.width + 'x' + r.height)`); len(small) > 0 {
		t.Errorf("buttons smaller than a finger (44px tall, 40px wide) on a phone: %q", small)
	}
	if n := eval[int](t, customer, buttons+`.filter(b => b.disabled).length`); n != 0 {
		t.Errorf("%d buttons disabled before an answer", n)
	}

	// ★5: the score goes as the customer's message "5".
	eval[chromedp.Void](t, customer, buttons+`[4].click()`)
	answered := buttons + `.every(b => b.disabled) && ` + buttons + `[4].getAttribute('aria-pressed') === 'true' && ` +
		buttons + `.filter(b => b.getAttribute('aria-pressed') === 'true').length === 1 && ` +
		buttons + `.filter(b => b.classList.contains('sb-on')).length === 5`
	customer.waitJS(t, "the buttons disabled with ★5 chosen", answered, `JSON.stringify(`+buttons+`.map(b => [b.disabled, b.getAttribute('aria-pressed'), b.className]))`)
	if got := eval[string](t, customer, widget+`.querySelector('.sb-chosen').textContent`); got != "Your score: 5 / 5" {
		t.Errorf("the choice reads %q", got)
	}
	customer.waitJS(t, "the score sent as a message", `[...`+widget+`.querySelectorAll('.sb-msg.sb-in[data-state="sent"] .sb-text')].some(e => e.textContent === '5')`,
		diagTexts(".sb-msg"))
	tk := waitTicket(t, agent, n, "csat 5", func(tk ticketJSON) bool { return len(tk.historyOf("csat")) > 0 })
	if got := tk.historyOf("csat"); !slices.Equal(got, []string{"5"}) || tk.Status != "resolved" {
		t.Errorf("csat %q, status %s; want [5] and still resolved", got, tk.Status)
	}
	// The invitation to comment follows, as a message.
	customer.waitJS(t, "the comment prompt", widget+`.querySelectorAll('.sb-msg.sb-out').length >= 2`, diagTexts(".sb-msg"))

	// After a reload, the history shows the survey answered.
	customer.do(t, "reload", chromedp.Reload())
	customer.waitJS(t, "the survey in the history", `window.SwitchboardWebchat && `+buttons+`.length === 5`,
		`window.SwitchboardWebchat ? `+diagTexts(".sb-msg")+` : 'no widget'`)
	eval[chromedp.Void](t, customer, `window.SwitchboardWebchat.open()`)
	customer.waitJS(t, "the survey answered after the reload", answered,
		`JSON.stringify(`+buttons+`.map(b => [b.disabled, b.getAttribute('aria-pressed'), b.className]))`)
	if n := eval[int](t, customer, widget+`.querySelectorAll('.sb-messages img, .sb-messages script').length`); n != 0 {
		t.Errorf("the widget has %d img/script elements", n)
	}
}

// TestSurveyPageInChromium: the survey page a mail links to, on a
// phone-sized screen, in Chinese and English: its inline style applies
// under the page's strict CSP (nothing refused), the score choices are a
// finger's size, a tap only marks one, a score link's page posts its score
// by itself and the comment form posts.
func TestSurveyPageInChromium(t *testing.T) {
	c := startClusterConfig(t, 1, "", surveysOn)
	sb := c.replicas[0]
	agent := login(t, sb.URL, agentEmail, agentPassword)
	agent.setPresence(t, "online")
	customer := newClient(sb.URL)
	customer.origin = shopOrigin
	if _, err := customer.postVisitor("e2e-survey-"+randomID(20), "c-1", "我的订单还没到"); err != nil {
		t.Fatal(err)
	}
	conv := assignedConversation(t, agent, "webchat")
	n := ticketNumber(t, agent, conv)
	resolve(t, agent, conv)
	page := surveyURL(t, c, agent, conv, sb.URL)

	br := startBrowser(t)
	defer br.finish()
	phone := br.newTab("survey-page")
	open := func(u string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(phone.ctx, waitTimeout)
		defer cancel()
		if err := chromedp.Do(ctx, phoneSized); err != nil {
			t.Fatal(err)
		}
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
		if err != nil {
			t.Fatalf("load %s: %v", u, err)
		}
		if csp := header(resp.Headers, "Content-Security-Policy"); resp.Status != http.StatusOK ||
			!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "style-src 'sha256-") {
			t.Fatalf("GET %s: %d, CSP %q", u, resp.Status, csp)
		}
	}
	styled := func(lang string) {
		t.Helper()
		// The style block applied: the CSP's hash is that of the block.
		if got := eval[string](t, phone, `getComputedStyle(document.querySelector('.scores')).display`); got != "flex" {
			t.Errorf("%s: the score row's display is %q, want flex: the inline style was refused", lang, got)
		}
		heights := eval[[]float64](t, phone, `[...document.querySelectorAll('.scores label span')].map(a => a.getBoundingClientRect().height)`)
		if len(heights) != 5 {
			t.Fatalf("%s: %d score choices, want 5", lang, len(heights))
		}
		for i, h := range heights {
			if h < 44 {
				t.Errorf("%s: score choice %d is %.1fpx tall, want at least 44 on a phone", lang, i+1, h)
			}
		}
		if w := eval[int](t, phone, `document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("%s: the page is %dpx wide on a 390px screen", lang, w)
		}
	}

	open(page)
	if got := eval[string](t, phone, `document.documentElement.lang + ' | ' + document.querySelector('h1').textContent`); !strings.HasPrefix(got, "zh-CN | 满意度调查") {
		t.Errorf("the page in Chinese: %q", got)
	}
	styled("zh")
	open(page + "?lang=en")
	if got := eval[string](t, phone, `document.documentElement.lang + ' | ' + document.querySelector('h1').textContent + ' | ' + document.body.innerText`); !strings.HasPrefix(got, "en | Satisfaction survey") ||
		!strings.Contains(got, "How satisfied") {
		t.Errorf("the page in English: %q", got)
	}
	styled("en")

	// A tap on a choice marks it, and nothing is sent until the button.
	eval[chromedp.Void](t, phone, `document.querySelectorAll('.scores label span')[1].click()`)
	if got := eval[string](t, phone, `document.querySelector('.scores input:checked').value + ' ' + getComputedStyle(document.querySelector('.scores input:checked + span')).color`); got != "2 rgb(255, 255, 255)" {
		t.Errorf("after a tap on 2: %q, want 2 chosen and shown", got)
	}
	// The mail's ★4 link: the page posts the choice by itself (its script
	// runs under the CSP), and then asks for a comment.
	navigate := func(what string, click chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(phone.ctx, waitTimeout)
		defer cancel()
		if resp, err := chromedp.RunResponse(ctx, click); err != nil || resp.Status != http.StatusOK {
			t.Fatalf("%s: %+v %v", what, resp, err)
		}
	}
	phone.do(t, "follow the ★4 link", chromedp.Navigate(page+"?score=4&lang=en"))
	phone.waitJS(t, "the score and the comment form", `document.body.innerText.includes('Your score: 4') && !!document.querySelector('textarea[name=comment]')`,
		`document.body.innerText`)
	phone.do(t, "comment", chromedp.SendKeys(chromedp.CSS(`textarea[name=comment]`), "Fast and friendly"))
	navigate("send the comment", chromedp.Click(chromedp.CSS(`form button[type=submit]`)))
	phone.waitJS(t, "the thanks", `document.body.innerText.includes('Thank you for your feedback')`, `document.body.innerText`)
	tk := waitTicket(t, agent, n, "the score and the comment", func(tk ticketJSON) bool { return len(tk.historyOf("survey_comment")) > 0 })
	if !slices.Equal(tk.historyOf("csat"), []string{"4"}) || !slices.Equal(tk.historyOf("survey_comment"), []string{"Fast and friendly"}) {
		t.Errorf("csat %q, comment %q", tk.historyOf("csat"), tk.historyOf("survey_comment"))
	}
	for _, l := range phone.consoleLines() {
		if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Refused") {
			t.Errorf("the survey page broke its CSP: %s", l)
		}
	}
}
