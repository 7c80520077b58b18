package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/internal/redistest"
)

const chromiumPath = "/usr/bin/chromium"

// browser is one headless Chromium for one test.
type browser struct {
	t     *testing.T
	ctx   context.Context // the first tab; the browser lives as long as it
	shots string          // where screenshots go
	tabs  []*tab
}

// tab is one page of the browser, with its console.
type tab struct {
	name string
	ctx  context.Context

	mu      sync.Mutex
	console []string
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	requireE2E(t)
	_, err := os.Stat(chromiumPath)
	redistest.Require(t, err == nil, chromiumPath)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return &browser{t: t, ctx: ctx, shots: t.TempDir()}
}

// newTab opens a tab (the first call uses the browser's first tab). Its
// console is recorded for failure reports.
func (b *browser) newTab(name string) *tab {
	t := b.t
	t.Helper()
	ctx := b.ctx
	if len(b.tabs) > 0 {
		var cancel context.CancelFunc
		ctx, cancel = chromedp.NewContext(b.ctx)
		t.Cleanup(cancel)
		if err := chromedp.Do(ctx); err != nil {
			t.Fatalf("open tab %s: %v", name, err)
		}
	}
	tb := &tab{name: name, ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, fmt.Sprintf("%s:%d %s", m.URL, m.Line+1, m))
			tb.mu.Unlock()
		}
	}()
	b.tabs = append(b.tabs, tb)
	return tb
}

func (tb *tab) consoleLines() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.console...)
}

// finish takes a screenshot of every tab and, when the test failed,
// reports where they are (kept after the test) and what the consoles said.
func (b *browser) finish() {
	t := b.t
	dir, kept := b.shots, false
	if d := os.Getenv("SWITCHBOARD_E2E_SHOTS"); d != "" {
		dir, kept = d, true // for a human to look at
	} else if t.Failed() {
		if d, err := os.MkdirTemp("", "switchboard-e2e-shots-"); err == nil {
			dir, kept = d, true // t.TempDir is removed when the test ends
		}
	}
	for _, tb := range b.tabs {
		ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		cancel()
		if err != nil {
			t.Logf("screenshot of tab %s: %v", tb.name, err)
			continue
		}
		path := filepath.Join(dir, t.Name()+"-"+tb.name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Logf("screenshot of tab %s: %v", tb.name, err)
			continue
		}
		if kept {
			t.Logf("screenshot of tab %s: %s", tb.name, path)
		}
	}
	if t.Failed() {
		for _, tb := range b.tabs {
			t.Logf("---- console of tab %s ----\n%s", tb.name, strings.Join(tb.consoleLines(), "\n"))
		}
	}
}

// do runs steps with a bound.
func (tb *tab) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("tab %s: %s: %v", tb.name, what, err)
	}
}

// eval evaluates a JavaScript expression and decodes its value.
func eval[T any](t *testing.T, tb *tab, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("tab %s: evaluate %s: %v", tb.name, js, err)
	}
	return v
}

// waitJS polls a JavaScript condition until it is true. On timeout it
// fails the test with the value of diag, a JavaScript expression that
// describes the state.
func (tb *tab) waitJS(t *testing.T, what, cond, diag string) {
	t.Helper()
	waitLong(t, tb, what, cond, diag, waitTimeout)
}

// click clicks the first element that matches the CSS selector sel, as
// soon as there is one, in a single script turn: lists and threads that
// re-render on live updates replace their nodes, so a node found in one
// DevTools call may be gone by the next.
func (tb *tab) click(t *testing.T, what, sel string) {
	t.Helper()
	tb.waitJS(t, what, `(e => e ? (e.click(), true) : false)(document.querySelector(`+js(sel)+`))`,
		`document.body.innerText.slice(0, 2000)`)
}

// js renders a Go string as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// The widget lives in an open shadow root, which CSS selectors of the
// DevTools protocol do not enter: it is driven with JavaScript.
const widget = `document.querySelector('#switchboard-webchat').shadowRoot`

// widgetTexts is a JavaScript expression: the texts of the widget's
// elements that match sel, as an array.
func widgetTexts(sel string) string {
	return `[...` + widget + `.querySelectorAll(` + js(sel) + `)].map(e => e.textContent)`
}

// diagTexts is widgetTexts as one string, for failure messages.
func diagTexts(sel string) string { return `JSON.stringify(` + widgetTexts(sel) + `)` }

// TestWidgetToInboxAndBack follows one message from the customer widget to
// the agent inbox and the reply back, in two tabs of one browser, with
// text that would run as script if either side parsed it as HTML.
func TestWidgetToInboxAndBack(t *testing.T) {
	c := startCluster(t, 1)
	sb := c.replicas[0]
	br := startBrowser(t)
	defer br.finish()
	inbox := br.newTab("inbox")
	customer := br.newTab("widget")

	message := `你好，请问订单 #2048 发货了吗？<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> 谢谢！`
	reply := `您好！已经发货了 <b>& "quoted" 'text'</b> 😀`

	// The agent logs in, waits for the first list, and goes online so
	// the conversation is assigned to them.
	inbox.do(t, "open the inbox", chromedp.Navigate(sb.URL+"/"))
	inbox.waitJS(t, "the login form", `document.getElementById('login-screen') && !document.getElementById('login-screen').hidden`,
		`document.body.innerText.slice(0, 300)`)
	inbox.do(t, "log in",
		chromedp.SetValue(chromedp.ID("login-email"), agentEmail),
		chromedp.SetValue(chromedp.ID("login-password"), agentPassword),
		chromedp.Click(chromedp.ID("login-submit")),
	)
	inbox.waitJS(t, "body ready after login", `document.body.dataset.ready === "1"`,
		`document.getElementById('login-error').textContent + ' | ' + document.getElementById('error-text').textContent`)
	inbox.waitJS(t, "a connected agent socket", `document.getElementById('conn-status').dataset.state === 'connected'`,
		`document.getElementById('conn-status').dataset.state`)
	if n := eval[int](t, inbox, `document.querySelectorAll('#conversation-list .conversation-item').length`); n != 0 {
		t.Fatalf("a fresh Redis shows %d conversations", n)
	}
	eval[chromedp.Void](t, inbox, `(() => { const s = document.getElementById('presence-select');
		s.value = 'online'; s.dispatchEvent(new Event('change', {bubbles: true})); })()`)
	inbox.waitJS(t, "presence online", `document.getElementById('presence-select').dataset.status === 'online'`,
		`document.getElementById('presence-select').dataset.status + ' | ' + document.getElementById('error-text').textContent`)

	// The customer opens the demo page and the widget, and writes.
	customer.do(t, "open the demo page", chromedp.Navigate(sb.URL+"/webchat/"+site+"/demo"))
	customer.waitJS(t, "the widget", `window.SwitchboardWebchat && document.querySelector('#switchboard-webchat') &&
		`+widget+`.querySelector('.sb-launcher')`, `document.body.innerText.slice(0, 200)`)
	eval[chromedp.Void](t, customer, widget+`.querySelector('.sb-launcher').click()`)
	customer.waitJS(t, "the open, connected widget",
		widget+`.querySelector('.sb-panel').dataset.open === 'true' && `+widget+`.querySelector('.sb-status').dataset.state === 'connected'`,
		widget+`.querySelector('.sb-panel').dataset.open + ' ' + `+widget+`.querySelector('.sb-status').dataset.state`)
	visitor := eval[string](t, customer, `window.SwitchboardWebchat.visitorId`)
	if got := eval[string](t, customer, `(() => { const i = `+widget+`.querySelector('.sb-input');
		i.value = `+js(message)+`; i.dispatchEvent(new Event('input', {bubbles: true}));
		const b = `+widget+`.querySelector('.sb-send'); if (b.disabled) return 'send disabled'; b.click(); return 'sent'; })()`); got != "sent" {
		t.Fatalf("widget: %s", got)
	}
	customer.waitJS(t, "the message acknowledged in the widget",
		widget+`.querySelector('.sb-msg.sb-in[data-state="sent"][data-id]')`, diagTexts(".sb-msg"))

	// It appears in the inbox without a reload.
	item := `document.querySelector('#conversation-list .conversation-item')`
	inbox.waitJS(t, "the conversation in the list", item+` && `+item+`.querySelector('.conversation-preview').textContent.includes('订单 #2048')`,
		`document.getElementById('conversation-list').innerText`)
	conv := eval[string](t, inbox, item+`.dataset.id`)
	inbox.waitJS(t, "the conversation assigned to the agent", item+`.querySelector('.ci-assignee').textContent === `+js(agentName),
		item+`.innerText`)
	inbox.click(t, "open the conversation", `#conversation-list .conversation-item[data-id="`+conv+`"]`)
	inbox.waitJS(t, "the customer's message in the thread", `document.querySelector('#thread .message.message-in .message-text')`,
		`document.getElementById('thread').innerText`)

	// Rendered literally, on both sides, and nothing ran.
	if got := eval[string](t, inbox, `document.querySelector('#thread .message.message-in .message-text').textContent`); got != message {
		t.Errorf("inbox shows %q, want %q", got, message)
	}
	if got := eval[[]string](t, customer, widgetTexts(".sb-msg.sb-in .sb-text")); !slices.Equal(got, []string{message}) {
		t.Errorf("widget shows %q, want [%q]", got, message)
	}
	noInjection := func(when string) {
		t.Helper()
		if n := eval[int](t, inbox, `document.querySelectorAll('#thread img, #thread script, #conversation-list img').length`); n != 0 {
			t.Errorf("%s: inbox thread has %d img/script elements", when, n)
		}
		if n := eval[int](t, customer, widget+`.querySelectorAll('.sb-messages img, .sb-messages script').length`); n != 0 {
			t.Errorf("%s: widget has %d img/script elements", when, n)
		}
		for _, tb := range []*tab{inbox, customer} {
			if v := eval[string](t, tb, `typeof window.__xss`); v != "undefined" {
				t.Errorf("%s: tab %s: window.__xss is %s: customer text ran as script", when, tb.name, v)
			}
		}
	}
	noInjection("after the customer's message")

	// The agent replies; the widget shows it without a reload.
	inbox.do(t, "reply",
		chromedp.SetValue(chromedp.ID("reply-text"), reply),
		chromedp.Click(chromedp.ID("reply-send")),
	)
	inbox.waitJS(t, "the reply in the thread, delivered",
		`[...document.querySelectorAll('#thread .message.message-out')].some(m =>
			m.querySelector('.message-text').textContent === `+js(reply)+` &&
			m.querySelector('.message-delivery').dataset.status === 'sent')`,
		`document.getElementById('thread').innerText + ' | ' + document.getElementById('error-text').textContent`)
	customer.waitJS(t, "the reply in the widget",
		`[...`+widget+`.querySelectorAll('.sb-msg.sb-out .sb-text')].some(e => e.textContent === `+js(reply)+`)`,
		diagTexts(".sb-msg"))
	// Each message shows once, however many ways it arrived (the POST
	// answer, the agent stream, the watched conversation; the ack and the
	// echo in the widget), and the list has one row.
	if got := eval[[]string](t, inbox, `[...document.querySelectorAll('#thread .message-in .message-text, #thread .message-out .message-text')].map(e => e.textContent)`); !slices.Equal(got, []string{message, reply}) {
		t.Errorf("inbox thread: %q, want %q", got, []string{message, reply})
	}
	if n := eval[int](t, inbox, `document.querySelectorAll('#conversation-list .conversation-item').length`); n != 1 {
		t.Errorf("inbox list has %d rows, want 1", n)
	}
	if got := eval[[]string](t, customer, widgetTexts(".sb-msg.sb-in .sb-text, .sb-msg.sb-out .sb-text")); !slices.Equal(got, []string{message, reply}) {
		t.Errorf("widget: %q, want %q", got, []string{message, reply})
	}
	if got := eval[[]string](t, customer, widgetTexts(".sb-msg.sb-out .sb-author")); !slices.Equal(got, []string{agentName}) {
		t.Errorf("reply author in the widget: %q, want [%q]", got, agentName)
	}
	noInjection("after the reply")

	// After a reload the widget shows the history: same visitor, both
	// messages, once each.
	customer.do(t, "reload the demo page", chromedp.Reload())
	customer.waitJS(t, "the history after the reload, and the socket connected (it resumes after the history)",
		`window.SwitchboardWebchat && `+widget+`.querySelectorAll('.sb-msg.sb-in, .sb-msg.sb-out').length >= 2 && `+
			widget+`.querySelector('.sb-status').dataset.state === 'connected'`,
		`window.SwitchboardWebchat ? `+diagTexts(".sb-msg")+` + ' ' + `+widget+`.querySelector('.sb-status').dataset.state : 'no widget'`)
	if got := eval[string](t, customer, `window.SwitchboardWebchat.visitorId`); got != visitor {
		t.Errorf("visitor id after the reload: %q, want %q (from localStorage)", got, visitor)
	}
	if got, want := eval[[]string](t, customer, widgetTexts(".sb-msg.sb-in .sb-text, .sb-msg.sb-out .sb-text")),
		[]string{message, reply}; !slices.Equal(got, want) {
		t.Errorf("widget history after the reload: %q, want %q", got, want)
	}
	noInjection("after the reload")
	eval[chromedp.Void](t, customer, `window.SwitchboardWebchat.open()`) // for the screenshot
}

// TestInboxPagesRender loads the inbox page and its script in the browser
// and checks the security headers and the bilingual 404 page.
func TestInboxPagesRender(t *testing.T) {
	c := startCluster(t, 1)
	sb := c.replicas[0]
	br := startBrowser(t)
	defer br.finish()
	page := br.newTab("inbox")

	ctx, cancel := context.WithTimeout(page.ctx, waitTimeout)
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(sb.URL+"/"))
	cancel()
	if err != nil {
		t.Fatalf("load /: %v", err)
	}
	csp := header(resp.Headers, "Content-Security-Policy")
	if resp.Status != http.StatusOK || !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "object-src 'none'") {
		t.Errorf("GET /: status %d, Content-Security-Policy %q; want 200 and a strict policy", resp.Status, csp)
	}
	if v := header(resp.Headers, "X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("GET /: X-Content-Type-Options %q, want nosniff", v)
	}
	// The scripts ran under that policy: the login form has its labels.
	page.waitJS(t, "the login form, translated", `!document.getElementById('login-screen').hidden &&
		document.getElementById('login-submit').textContent.trim() !== ''`, `document.body.innerText.slice(0, 300)`)
	for _, l := range page.consoleLines() {
		if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "exception") || strings.Contains(l, "error:") {
			t.Errorf("console of the inbox page: %s", l)
		}
	}

	ctx, cancel = context.WithTimeout(page.ctx, waitTimeout)
	resp, err = chromedp.Run(ctx, chromedp.NavigateResponse(sb.URL+"/inbox/app.js"))
	cancel()
	if err != nil {
		t.Fatalf("load /inbox/app.js: %v", err)
	}
	if ct := header(resp.Headers, "Content-Type"); resp.Status != http.StatusOK || !strings.Contains(ct, "javascript") {
		t.Errorf("GET /inbox/app.js: status %d, Content-Type %q; want 200 and JavaScript", resp.Status, ct)
	}
	if body := eval[string](t, page, `document.body.innerText`); !strings.Contains(body, "textContent") {
		t.Errorf("GET /inbox/app.js: the body does not look like the inbox script: %.200q", body)
	}

	// A browser asking for a page that does not exist gets a page, in
	// both languages.
	ctx, cancel = context.WithTimeout(page.ctx, waitTimeout)
	resp, err = chromedp.Run(ctx, chromedp.NavigateResponse(sb.URL+"/nope"))
	cancel()
	if err != nil {
		t.Fatalf("load /nope: %v", err)
	}
	if resp.Status != http.StatusNotFound || !strings.HasPrefix(header(resp.Headers, "Content-Type"), "text/html") {
		t.Errorf("GET /nope in a browser: status %d, Content-Type %q; want 404 and HTML", resp.Status, header(resp.Headers, "Content-Type"))
	}
	body := eval[string](t, page, `document.body.innerText`)
	for _, want := range []string{"页面不存在", "Page not found"} {
		if !strings.Contains(body, want) {
			t.Errorf("the 404 page lacks %q: %q", want, body)
		}
	}
	if v := eval[string](t, page, `document.querySelector('a[href="/"]') ? 'link' : 'none'`); v != "link" {
		t.Errorf("the 404 page has no link back to the inbox")
	}

	// The same with a plain HTTP client: Accept decides.
	for _, tc := range []struct {
		accept, wantType, wantBody string
	}{
		{"text/html,application/xhtml+xml;q=0.9", "text/html", "Page not found"},
		{"application/json", "application/json", `"code":"not_found"`},
	} {
		req, _ := http.NewRequest("GET", sb.URL+"/nope", nil)
		req.Header.Set("Accept", tc.accept)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound || !strings.HasPrefix(r.Header.Get("Content-Type"), tc.wantType) ||
			!strings.Contains(string(b), tc.wantBody) {
			t.Errorf("GET /nope, Accept %s: %d %s %q; want 404 %s with %q", tc.accept, r.StatusCode,
				r.Header.Get("Content-Type"), b, tc.wantType, tc.wantBody)
		}
	}
}

// header reads a response header of the DevTools protocol (names are
// case-insensitive).
func header(h map[string]any, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}
