package e2e

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/mail"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"switchboard/session"
)

// The QR admin, written straight into the directory: the shared config
// has no admin, and the QR code API is for admins.
const (
	qrAdminEmail    = "qradmin@example.com"
	qrAdminPassword = "e2e-qr-admin-password"
)

// qrAdmin adds an admin to the cluster's directory and signs them in on
// base, waiting for the replica's directory cache to see them.
func qrAdmin(t *testing.T, c *cluster, base string) *apiClient {
	t.Helper()
	opts, err := redis.ParseURL(c.redis.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := session.NewDirectory(rdb, "sb:", nil).Put(ctx, &session.Agent{ID: "qradmin", Email: qrAdminEmail,
		Name: "二维码管理员", Role: session.RoleAdmin, Teams: []string{"support"}, Password: qrAdminPassword}); err != nil {
		t.Fatal(err)
	}
	cl := newClient(base)
	deadline := time.Now().Add(waitTimeout)
	for {
		var out struct {
			Token string `json:"token"`
		}
		err := cl.do("POST", "/api/v1/auth/login", map[string]string{"email": qrAdminEmail, "password": qrAdminPassword}, &out, http.StatusOK)
		if err == nil && out.Token != "" {
			cl.token = out.Token
			return cl
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new admin cannot sign in: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// phoneSized emulates a phone's screen: 390×844 CSS pixels at 3×, mobile
// layout, touch, portrait.
var phoneSized = chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile,
	chromedp.EmulateTouch, chromedp.EmulatePortrait)

// noScripts switches JavaScript off in a tab's pages.
var noScripts = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	return err
})

// TestQRSelfServiceOnAPhone: an admin makes a code; a customer opens its
// form on a phone with JavaScript off, fills it in, attaches a photo and
// sends it; the ticket reaches an agent with the asset and the photo; the
// agent replies; the reply shows on the tracking page, live in a tab with
// JavaScript and after a reload in the one without, and the address the
// customer left gets a notice with the page's link (notify_mailbox).
func TestQRSelfServiceOnAPhone(t *testing.T) {
	relay := startRelay(t)
	c := startClusterWith(t, 1, fmt.Sprintf("  qr: {notify_mailbox: support}\n  email:\n    - {id: support, address: support@example.com, "+
		"name: 售后支持, smtp_listen: %q, smtp_relay: {addr: %q, security: none}}\n", freeAddr(t), relay.addr))
	sb := c.replicas[0]
	admin := qrAdmin(t, c, sb.URL)
	var code struct {
		Code string `json:"code"`
		URL  string `json:"url"`
	}
	admin.must(t, "POST", "/api/v1/qr/codes", map[string]any{
		"asset": map[string]string{"name": "3号电梯", "serial": "EL-2231", "category": "elevator", "site": "浦东仓库"},
		"team":  "support",
		"fields": []map[string]any{{"key": "floor", "label": map[string]string{"zh": "所在楼层", "en": "Floor"},
			"type": "select", "options": []string{"1F", "2F", "3F"}, "required": true}},
	}, &code, http.StatusCreated)
	if code.URL != sb.URL+"/s/"+code.Code {
		t.Fatalf("the code's URL %q, want %s/s/%s", code.URL, sb.URL, code.Code)
	}
	agent := login(t, sb.URL, agentEmail, agentPassword)
	agent.setPresence(t, "online")

	photo := filepath.Join(t.TempDir(), "现场照片.png")
	if err := os.WriteFile(photo, tinyPNG(t, 40, 30), 0o600); err != nil {
		t.Fatal(err)
	}
	br := startBrowser(t)
	defer br.finish()
	phone := br.newTab("phone-no-js")
	phone.do(t, "open the form on a phone without JavaScript", noScripts, phoneSized,
		chromedp.Navigate(code.URL+"?lang=zh"), chromedp.WaitVisible(chromedp.ID("in-description")))
	if w := eval[int](t, phone, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the form is %dpx wide on a 390px screen: it scrolls sideways", w)
	}
	for _, want := range []string{"3号电梯", "EL-2231", "浦东仓库", "所在楼层"} {
		if !strings.Contains(eval[string](t, phone, `document.body.innerText`), want) {
			t.Errorf("the form does not show %q", want)
		}
	}
	const problem = "电梯停在 2 楼，门打不开 <b>急</b>"
	phone.do(t, "fill in the form",
		chromedp.SendKeys(chromedp.ID("in-description"), problem),
		chromedp.SetValue(chromedp.ID("in-floor"), "2F"),
		chromedp.SendKeys(chromedp.ID("in-phone"), "138 0013 8000"),
		chromedp.SendKeys(chromedp.ID("in-email"), "wang.xs@example.cn"),
		chromedp.SendKeys(chromedp.ID("in-name"), "王先生"),
		chromedp.SetUploadFiles(chromedp.ID("in-photos"), []string{photo}),
	)
	sendCtx, cancel := context.WithTimeout(phone.ctx, waitTimeout)
	resp, err := chromedp.RunResponse(sendCtx, chromedp.Click(chromedp.ID("submit")))
	cancel()
	if err != nil || resp.Status != http.StatusOK || !strings.Contains(resp.URL, "/s/t/") {
		t.Fatalf("sending the form: %+v %v, want the tracking page", resp, err)
	}
	phone.waitJS(t, "the tracking page with the report",
		`location.pathname.startsWith('/s/t/') && document.getElementById('thread') && document.getElementById('thread').innerText.includes(`+js(problem)+`)`,
		`location.href + ' | ' + document.body.innerText.slice(0, 400)`)
	if n := eval[int](t, phone, `document.querySelectorAll('#thread b').length`); n != 0 {
		t.Error("the customer's text was parsed as HTML")
	}
	trackURL := eval[string](t, phone, `location.href`)

	// The agent gets the ticket with the asset and the photo.
	var conv conversationJSON
	deadline := time.Now().Add(waitTimeout)
	for conv.ID == "" {
		var list struct {
			Items []conversationJSON `json:"items"`
		}
		agent.must(t, "GET", "/api/v1/conversations?channel=qr", nil, &list, http.StatusOK)
		for _, it := range list.Items {
			if it.Assignee == agentID {
				conv = it
			}
		}
		if conv.ID == "" && time.Now().After(deadline) {
			t.Fatalf("no QR conversation assigned to %s: %+v", agentID, list.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var msgs struct {
		Items []struct {
			Text        string            `json:"text"`
			Kind        string            `json:"kind"`
			Fields      map[string]string `json:"fields"`
			Attachments []struct {
				Ref         string `json:"ref"`
				ContentType string `json:"content_type"`
			} `json:"attachments"`
		} `json:"items"`
	}
	agent.must(t, "GET", "/api/v1/conversations/"+url.PathEscape(conv.ID)+"/messages", nil, &msgs, http.StatusOK)
	if len(msgs.Items) == 0 {
		t.Fatal("the conversation has no messages")
	}
	first := msgs.Items[0]
	if first.Kind != "form" || first.Text != problem || first.Fields["asset_name"] != "3号电梯" || first.Fields["asset"] != "elevator" ||
		first.Fields["field.floor"] != "2F" || first.Fields["contact_phone"] != "+8613800138000" ||
		first.Fields["contact_email"] != "wang.xs@example.cn" {
		t.Errorf("the agent sees %+v", first)
	}
	if len(first.Attachments) != 1 || first.Attachments[0].ContentType != "image/png" {
		t.Fatalf("attachments %+v, want the photo", first.Attachments)
	}
	photoResp, err := agent.hc.Do(authGet(t, agent, "/api/v1/blobs/"+first.Attachments[0].Ref))
	if err != nil || photoResp.StatusCode != http.StatusOK {
		t.Fatalf("the photo: %v %v", photoResp, err)
	}
	photoResp.Body.Close()

	// In the inbox the report shows its asset, the answers and the contacts
	// (marked unverified) as a table above the description, all as text.
	inbox := br.newTab("inbox")
	inbox.do(t, "load the inbox", chromedp.Navigate(sb.URL+"/"))
	loginInbox(t, inbox)
	inbox.waitJS(t, "the report in the list", `!!document.querySelector('#conversation-list .conversation-item[data-id="`+conv.ID+`"]')`,
		`document.getElementById('conversation-list').innerText`)
	inbox.click(t, "open the report", `#conversation-list .conversation-item[data-id="`+conv.ID+`"]`)
	inbox.waitJS(t, "the report's table", `!!document.querySelector('#thread .message[data-kind="form"] table.form-fields')`,
		`document.getElementById('thread').innerText`)
	table := eval[string](t, inbox, `document.querySelector('#thread .message[data-kind="form"] table.form-fields').innerText`)
	for _, want := range []string{"3号电梯", "floor", "2F", "+8613800138000", "wang.xs@example.cn"} {
		if !strings.Contains(table, want) {
			t.Errorf("the report's table %q lacks %q", table, want)
		}
	}
	if !strings.Contains(table, "unverified") && !strings.Contains(table, "未验证") {
		t.Errorf("the report's table %q does not mark the contacts unverified", table)
	}
	if got := eval[string](t, inbox, `document.querySelector('#thread .message[data-kind="form"] .message-text').innerText`); got != problem {
		t.Errorf("the report's text %q, want %q", got, problem)
	}

	// A second phone tab, with JavaScript, watches the tracking page live.
	live := br.newTab("phone-live")
	live.do(t, "open the tracking page", phoneSized, chromedp.Navigate(trackURL), chromedp.WaitVisible(chromedp.ID("thread")))
	const answer = "您好，维修人员 30 分钟内到达。"
	agent.must(t, "POST", "/api/v1/conversations/"+url.PathEscape(conv.ID)+"/messages", map[string]string{"text": answer}, nil, http.StatusAccepted)
	live.waitJS(t, "the reply, live", `document.getElementById('thread').innerText.includes(`+js(answer)+`)`,
		`document.getElementById('thread').innerText`)
	phone.do(t, "reload the page without JavaScript", chromedp.Reload())
	phone.waitJS(t, "the reply after a reload", `document.getElementById('thread').innerText.includes(`+js(answer)+`)`,
		`document.getElementById('thread').innerText`)
	if got := eval[string](t, phone, `document.getElementById('ticket-number').innerText`); !strings.HasPrefix(got, "#1") {
		t.Errorf("the ticket number shows %q", got)
	}

	// The address the customer left is told, once, with the page's link.
	var out relayMail
	select {
	case out = <-relay.got:
	case <-time.After(waitTimeout):
		t.Fatalf("no notice reached the relay; replica log:\n%s", sb.logs)
	}
	m, err := mail.ReadMessage(bytes.NewReader(out.data))
	if err != nil {
		t.Fatalf("the notice does not parse: %v\n%s", err, out.data)
	}
	if len(out.to) != 1 || out.to[0] != "wang.xs@example.cn" || m.Header.Get("Auto-Submitted") != "auto-generated" ||
		m.Header.Get("In-Reply-To") != "" {
		t.Errorf("notice to %v, Auto-Submitted %q, In-Reply-To %q", out.to, m.Header.Get("Auto-Submitted"), m.Header.Get("In-Reply-To"))
	}
	if subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil ||
		!strings.HasPrefix(subject, "您的报修有新回复：3号电梯 [#1") {
		t.Errorf("notice subject %q (%v)", subject, err)
	}
	tu, _ := url.Parse(trackURL)
	body, err := plainText(textproto.MIMEHeader(m.Header), m.Body)
	if err != nil || !strings.Contains(body, "> "+answer) || !strings.Contains(body, sb.URL+tu.Path) {
		t.Errorf("notice text %q (%v), want the reply and %s", body, err, sb.URL+tu.Path)
	}
	select {
	case extra := <-relay.got:
		t.Errorf("a second mail reached the relay:\n%s", extra.data)
	default:
	}
}

// authGet is a GET with an agent's token.
func authGet(t *testing.T, c *apiClient, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	return req
}
