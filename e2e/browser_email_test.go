package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-smtp"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// relayMail is one mail the test's SMTP relay took.
type relayMail struct {
	from string
	to   []string
	data []byte
}

// smtpRelay is a loopback SMTP server standing in for the mailbox's
// smtp_relay: it keeps what it is given.
type smtpRelay struct {
	addr string
	got  chan relayMail
}

func startRelay(t *testing.T) *smtpRelay {
	t.Helper()
	r := &smtpRelay{got: make(chan relayMail, 16)}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }))
	s.Domain = "relay.e2e.test"
	s.ReadTimeout, s.WriteTimeout = 30*time.Second, 30*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return r
}

type relaySession struct {
	r    *smtpRelay
	from string
	to   []string
}

func (s *relaySession) Reset()        { s.from, s.to = "", nil }
func (s *relaySession) Logout() error { return nil }
func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.got <- relayMail{from: s.from, to: s.to, data: b}
	return nil
}

// handOver gives a mail to an SMTP listener as an MTA would.
func handOver(t *testing.T, addr, from, to string, raw []byte) {
	t.Helper()
	cl, err := smtp.Dial(addr)
	if err != nil {
		t.Fatalf("SMTP %s: %v", addr, err)
	}
	defer cl.Close()
	if err := cl.Hello("mx.e2e.test"); err != nil {
		t.Fatal(err)
	}
	if err := cl.SendMail(from, []string{to}, bytes.NewReader(raw)); err != nil {
		t.Fatalf("SMTP %s: %v", addr, err)
	}
}

// gbk encodes s in GBK, as Chinese mail clients do.
func gbk(t *testing.T, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gbkHeader is s as an RFC 2047 encoded-word in GBK.
func gbkHeader(t *testing.T, s string) string {
	return "=?GBK?B?" + base64.StdEncoding.EncodeToString(gbk(t, s)) + "?="
}

// base64Lines is b in base64, in lines of 76.
func base64Lines(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	return out.String() + s + "\r\n"
}

// plainText returns the first text/plain part of a mail or a MIME part
// with header h, its transfer encoding undone (the charset must be UTF-8).
func plainText(h textproto.MIMEHeader, body io.Reader) (string, error) {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return "", fmt.Errorf("no text/plain part: %w", err)
			}
			if s, err := plainText(p.Header, p); err == nil {
				return s, nil
			}
		}
	}
	if mt != "text/plain" {
		return "", fmt.Errorf("a %s part", mt)
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	return string(b), err
}

// loginAs signs in on a tab showing the login form and waits for the first
// list and the socket; it does not change the presence.
func loginAs(t *testing.T, tb *tab, email, password string) {
	t.Helper()
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

// watchInjection records, in the page, elements made from untrusted text
// (an inline handler, the <img src=x>, any script) and calls of alert.
const watchInjection = `(() => {
	window.__alerts = 0;
	window.alert = () => { window.__alerts++; };
	window.__injected = [];
	new MutationObserver((ms) => {
		for (const m of ms) for (const n of m.addedNodes) {
			if (n.nodeType !== 1) continue;
			for (const el of [n, ...n.querySelectorAll('*')]) {
				if (el.hasAttribute('onerror') || el.tagName === 'SCRIPT' || (el.tagName === 'IMG' && el.getAttribute('src') === 'x')) {
					window.__injected.push(el.outerHTML.slice(0, 200));
				}
			}
		}
	}).observe(document.body, { childList: true, subtree: true });
})()`

// TestEmailInInbox follows a customer's e-mail into the inbox in Chromium
// and the agent's reply out through the mailbox's relay, then the
// quarantine view: a GBK mail with hostile HTML and a PDF arrives over the
// SMTP listener; the agent sees its decoded subject, its text as text
// (nothing of the HTML runs or becomes an element) and the PDF as a
// download; the reply reaches a loopback relay threaded on the customer's
// mail. A mail bomb is quarantined: a supervisor sees it in the quarantine
// view, decoded and as text, downloads the raw mail and dismisses it; the
// agent has no such view and gets 403 from the API.
func TestEmailInInbox(t *testing.T) {
	requireE2E(t)
	relay := startRelay(t)
	smtpAddr := freeAddr(t)
	c := startClusterWith(t, 1, fmt.Sprintf("  email:\n    - {id: support, address: support@example.com, name: 售后支持, "+
		"smtp_listen: %q, smtp_relay: {addr: %q, security: none}}\n", smtpAddr, relay.addr))
	sb := c.replicas[0]
	br := startBrowser(t)
	defer br.finish()
	inbox := br.newTab("agent")
	inbox.do(t, "open the inbox", chromedp.Navigate(sb.URL+"/"))
	loginInbox(t, inbox)
	eval[chromedp.Void](t, inbox, watchInjection)

	// The customer's mail: a GBK subject and name, an HTML body only
	// (markup as text, an image with a handler, a script) and a PDF.
	subject := "发票抬头有误，请重新开具"
	html := `<html><body><p>您好，发票抬头有误 &lt;b&gt;请核对&lt;/b&gt;</p><img src=x onerror=alert(1)>` +
		`<script>alert(2); window.__xss = 1;</script><p>订单号 5005，谢谢！</p></body></html>`
	pdf := []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
	msgID := "e2e-invoice-5005@example.cn"
	raw := "From: " + gbkHeader(t, "王镕") + " <wangrong@example.cn>\r\nTo: support@example.com\r\n" +
		"Subject: " + gbkHeader(t, subject) + "\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <" + msgID + ">\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n" +
		"--mix\r\nContent-Type: text/html; charset=GBK\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64Lines(gbk(t, html)) +
		"--mix\r\nContent-Type: application/pdf; name=\"" + gbkHeader(t, "发票.pdf") + "\"\r\n" +
		"Content-Disposition: attachment; filename=\"" + gbkHeader(t, "发票.pdf") + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64Lines(pdf) + "--mix--\r\n"
	handOver(t, smtpAddr, "wangrong@example.cn", "support@example.com", []byte(raw))

	item := `document.querySelector('#conversation-list .conversation-item')`
	inbox.waitJS(t, "the e-mail conversation in the list, live",
		item+` && `+item+`.querySelector('.conversation-preview').textContent.includes('发票抬头有误')`,
		`document.getElementById('conversation-list').innerText`)
	conv := eval[string](t, inbox, item+`.dataset.id`)
	if got := eval[string](t, inbox, item+`.querySelector('.conversation-customer').textContent`); got != "王镕" {
		t.Errorf("the list names the customer %q, want the decoded 王镕", got)
	}
	inbox.waitJS(t, "the conversation assigned to the agent", item+`.querySelector('.ci-assignee').textContent === `+js(agentName),
		item+`.innerText`)
	inbox.click(t, "open the conversation", `#conversation-list .conversation-item[data-id="`+conv+`"]`)
	in := `document.querySelector('#thread .message-in')`
	inbox.waitJS(t, "the mail in the thread", in+` && `+in+`.querySelector('.message-text')`, `document.getElementById('thread').innerText`)
	if got := eval[string](t, inbox, in+`.querySelector('.message-subject') ? `+in+`.querySelector('.message-subject').textContent : 'no subject'`); got != subject {
		t.Errorf("the subject shows as %q, want %q", got, subject)
	}
	text := eval[string](t, inbox, in+`.querySelector('.message-text').textContent`)
	for _, want := range []string{"您好，发票抬头有误 <b>请核对</b>", "订单号 5005，谢谢！"} {
		if !strings.Contains(text, want) {
			t.Errorf("the text %q lacks %q", text, want)
		}
	}
	if strings.Contains(text, "alert") || strings.Contains(text, "__xss") {
		t.Errorf("the script's text is shown: %q", text)
	}
	if n := eval[int](t, inbox, in+`.querySelector('.message-bubble').querySelectorAll('b, img, script, iframe, [onerror]').length`); n != 0 {
		t.Errorf("the bubble has %d elements made from the mail's markup", n)
	}
	// The PDF: fetched with the agent's token, offered as a download of
	// the same bytes under its decoded name.
	dl := in + `.querySelector('.media-file a.media-download')`
	inbox.waitJS(t, "the PDF's download link", dl+` && `+dl+`.href.startsWith('blob:')`,
		`(`+in+`.querySelector('.media') || {outerHTML: 'no attachment'}).outerHTML.slice(0, 300)`)
	if got := eval[string](t, inbox, dl+`.getAttribute('download')`); got != "发票.pdf" {
		t.Errorf("the attachment downloads as %q, want 发票.pdf", got)
	}
	if got := eval[string](t, inbox, in+`.querySelector('.media-file .media-size').textContent`); got != fmt.Sprintf("%d B", len(pdf)) {
		t.Errorf("the attachment's size shows as %q, want %d B", got, len(pdf))
	}
	// The link's bytes came from the blob route, which holds the PDF.
	agent := login(t, sb.URL, agentEmail, agentPassword)
	var msgs struct {
		Items []struct {
			Attachments []struct {
				Ref         string `json:"ref"`
				Name        string `json:"name"`
				ContentType string `json:"content_type"`
			} `json:"attachments"`
		} `json:"items"`
	}
	agent.must(t, "GET", "/api/v1/conversations/"+conv+"/messages", nil, &msgs, http.StatusOK)
	ref := ""
	for _, m := range msgs.Items {
		for _, a := range m.Attachments {
			if ref != "" || a.ContentType != "application/pdf" || a.Name != "发票.pdf" {
				t.Fatalf("the conversation's attachments: %+v", msgs.Items)
			}
			ref = a.Ref
		}
	}
	req, _ := http.NewRequest("GET", sb.URL+"/api/v1/blobs/"+ref, nil)
	req.Header.Set("Authorization", "Bearer "+agent.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, pdf) {
		t.Errorf("the stored attachment is %q, want the PDF", got)
	}

	// The agent answers; the relay gets it, threaded on the customer's mail.
	reply := "您好，已为您重新开具发票 <i>请查收</i>。"
	inbox.do(t, "reply",
		chromedp.SetValue(chromedp.ID("reply-text"), reply),
		chromedp.Click(chromedp.ID("reply-send")),
	)
	var out relayMail
	select {
	case out = <-relay.got:
	case <-time.After(waitTimeout):
		t.Fatalf("the reply never reached the relay; replica log:\n%s", sb.logs)
	}
	m, err := mail.ReadMessage(bytes.NewReader(out.data))
	if err != nil {
		t.Fatalf("the relayed reply does not parse: %v\n%s", err, out.data)
	}
	if got := m.Header.Get("In-Reply-To"); got != "<"+msgID+">" {
		t.Errorf("In-Reply-To %q, want <%s>", got, msgID)
	}
	if got := m.Header.Get("References"); !strings.Contains(got, "<"+msgID+">") {
		t.Errorf("References %q lack <%s>", got, msgID)
	}
	if len(out.to) != 1 || out.to[0] != "wangrong@example.cn" || out.from != "support@example.com" {
		t.Errorf("envelope from %q to %q", out.from, out.to)
	}
	dec := new(mime.WordDecoder)
	if got, err := dec.DecodeHeader(m.Header.Get("Subject")); err != nil || !strings.Contains(got, subject) || !strings.HasPrefix(got, "Re: ") {
		t.Errorf("reply subject %q (%v), want Re: and %q", got, err, subject)
	}
	body, err := plainText(textproto.MIMEHeader(m.Header), m.Body)
	if err != nil || !strings.Contains(body, reply) {
		t.Errorf("reply body %q (%v), want %q in it", body, err, reply)
	}
	inbox.waitJS(t, "the reply shown as sent",
		`[...document.querySelectorAll('#thread .message-out')].some(m => m.querySelector('.message-text').textContent === `+js(reply)+
			` && m.querySelector('.message-delivery').dataset.status === 'sent')`,
		`document.getElementById('thread').innerText`)

	// A mail bomb with a hostile subject is quarantined.
	bombSubject := `邮件炸弹 <img src=x onerror=alert(1)><script>alert(3)</script>`
	var bomb strings.Builder
	bomb.WriteString("From: " + gbkHeader(t, "王镕") + " <wangrong@example.cn>\r\nTo: support@example.com\r\nSubject: " +
		gbkHeader(t, bombSubject) + "\r\nMIME-Version: 1.0\r\n")
	for i := range 40 {
		fmt.Fprintf(&bomb, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	bomb.WriteString("\r\nx\r\n")
	handOver(t, smtpAddr, "bounces@example.cn", "support@example.com", []byte(bomb.String()))

	// The agent has no quarantine, in the page or the API.
	if v := eval[bool](t, inbox, `document.getElementById('quarantine-toggle').hidden && document.getElementById('quarantine-view').hidden`); !v {
		t.Error("the agent is shown the quarantine")
	}
	if err := agent.do("GET", "/api/v1/email/quarantine", nil, nil, http.StatusForbidden); err != nil {
		t.Errorf("the agent asking for the quarantine: %v", err)
	}

	// The supervisor opens the quarantine view.
	sup := br.newTab("supervisor")
	sup.do(t, "open the inbox", chromedp.Navigate(sb.URL+"/"))
	loginAs(t, sup, supervisorEmail, supervisorPassword)
	eval[chromedp.Void](t, sup, watchInjection+`; (() => {
		window.__blobs = [];
		const make = URL.createObjectURL.bind(URL);
		URL.createObjectURL = (b) => {
			const rec = { type: b.type, size: b.size, text: null };
			window.__blobs.push(rec);
			b.text().then((s) => { rec.text = s; });
			return make(b);
		};
	})()`)
	sup.waitJS(t, "the quarantine button", `!document.getElementById('quarantine-toggle').hidden`,
		`document.querySelector('.topbar').innerText`)
	sup.do(t, "open the quarantine", chromedp.Click(chromedp.ID("quarantine-toggle")))
	row := `document.querySelector('#quarantine-list .q-row')`
	sup.waitJS(t, "the quarantined mail in the list", row+` && `+row+`.querySelector('.q-subject').textContent === `+js(bombSubject),
		`document.getElementById('quarantine-view').innerText`)
	if !eval[bool](t, sup, `document.querySelector('.panes').hidden && !document.getElementById('quarantine-view').hidden`) {
		t.Error("the quarantine view is not shown in place of the conversations")
	}
	cells := eval[[]string](t, sup, `[...`+row+`.querySelectorAll('td')].map(td => td.textContent)`)
	if len(cells) != 7 || cells[1] != "support" || !strings.Contains(cells[2], "王镕 <wangrong@example.cn>") ||
		!strings.Contains(cells[2], "bounces@example.cn") || !strings.Contains(cells[4], "nesting") || !strings.Contains(cells[5], "KB") {
		t.Errorf("row cells %q", cells)
	}
	if n := eval[int](t, sup, `document.querySelectorAll('#quarantine-view img, #quarantine-view script').length`); n != 0 {
		t.Errorf("the quarantine view has %d img/script elements", n)
	}

	// The raw mail, downloaded with the supervisor's token.
	var list struct {
		Items []struct {
			ID     string `json:"id"`
			Kept   int64  `json:"kept"`
			RawURL string `json:"raw_url"`
		} `json:"items"`
	}
	supAPI := login(t, sb.URL, supervisorEmail, supervisorPassword)
	supAPI.must(t, "GET", "/api/v1/email/quarantine", nil, &list, http.StatusOK)
	if len(list.Items) != 1 || list.Items[0].RawURL == "" {
		t.Fatalf("the quarantine API lists %+v, want the bomb", list.Items)
	}
	if got := eval[string](t, sup, row+`.querySelector('a.q-download').getAttribute('href')`); got != list.Items[0].RawURL {
		t.Errorf("the download link is %q, want %q", got, list.Items[0].RawURL)
	}
	sup.do(t, "download the raw mail", chromedp.Click(chromedp.CSS(`#quarantine-list .q-row a.q-download`)))
	sup.waitJS(t, "the raw mail fetched", `window.__blobs.length === 1 && window.__blobs[0].text !== null`, `JSON.stringify(window.__blobs)`)
	if size := eval[int](t, sup, `window.__blobs[0].size`); int64(size) != list.Items[0].Kept {
		t.Errorf("downloaded %d bytes, want %d", size, list.Items[0].Kept)
	}
	if got := eval[string](t, sup, `window.__blobs[0].text`); !strings.Contains(got, "Subject: "+gbkHeader(t, bombSubject)) {
		t.Errorf("the download is not the raw mail: %.300q", got)
	}

	// Dismissed, with a second click to confirm.
	sup.do(t, "dismiss", chromedp.Click(chromedp.CSS(`#quarantine-list .q-row .q-dismiss`)))
	sup.waitJS(t, "the confirmation", row+`.querySelector('.q-dismiss').dataset.confirm === '1'`, row+`.innerText`)
	sup.do(t, "confirm", chromedp.Click(chromedp.CSS(`#quarantine-list .q-row .q-dismiss`)))
	sup.waitJS(t, "the list empty", `!`+row+` && !document.getElementById('quarantine-empty').hidden`,
		`document.getElementById('quarantine-view').innerText`)
	list.Items = nil
	supAPI.must(t, "GET", "/api/v1/email/quarantine", nil, &list, http.StatusOK)
	if len(list.Items) != 0 {
		t.Errorf("after dismissing, the API lists %+v", list.Items)
	}
	sup.do(t, "back to the conversations", chromedp.Click(chromedp.ID("quarantine-close")))
	sup.waitJS(t, "the conversations again", `!document.querySelector('.panes').hidden && document.getElementById('quarantine-view').hidden`,
		`document.body.dataset.view`)

	for _, tb := range []*tab{inbox, sup} {
		if got := eval[[]string](t, tb, `window.__injected`); len(got) != 0 {
			t.Errorf("tab %s: elements made from mail text: %q", tb.name, got)
		}
		if n := eval[int](t, tb, `window.__alerts + (window.__xss ? 100 : 0)`); n != 0 {
			t.Errorf("tab %s: the mail's script ran (%d)", tb.name, n)
		}
		for _, l := range tb.consoleLines() {
			if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Refused to") {
				t.Errorf("tab %s console: %s", tb.name, l)
			}
		}
	}
}
