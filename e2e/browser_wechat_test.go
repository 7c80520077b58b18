package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/connectors/wechat/wxfake"
)

// TestWeChatInInbox follows WeChat messages into the agent inbox in
// Chromium: an official account's safe-mode text push (with markup that
// would run if it were parsed) and an image push appear live with the
// channel's badge and the reply window; the text is shown as text, the
// picture is fetched through the blob route and shown from a blob: URL (a
// data: URL while the page's img-src does not allow blob:); voice,
// location, link and event pushes get their own rendering, and only an
// http(s) URL becomes a link; the agent's reply typed in the page reaches
// the (fake) WeChat API for the follower's openid, and so does a picture
// attached with the file dialog (a pasted one is removed again) and sent
// with text; logging out revokes the object URLs.
func TestWeChatInInbox(t *testing.T) {
	requireE2E(t)
	fake := wxfake.New(wxfake.App{AppID: wxAppID, Secret: "oasecret"}, wxfake.App{AppID: wxMPID, Secret: "mpsecret"})
	defer fake.Close()
	c := startClusterWith(t, 1, wxChannels(fake.URL()))
	sb := c.replicas[0]
	br := startBrowser(t)
	defer br.finish()
	inbox := br.newTab("inbox")

	// The page's policy decides where an image may come from: blob: URLs
	// when img-src lists blob:, data: URLs otherwise.
	ctx, cancel := context.WithTimeout(inbox.ctx, waitTimeout)
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(sb.URL+"/"))
	cancel()
	if err != nil {
		t.Fatalf("load the inbox: %v", err)
	}
	csp := header(resp.Headers, "Content-Security-Policy")
	imgScheme := "blob:"
	if !cspListsSource(csp, "img-src", "blob:") {
		imgScheme = "data:"
	}
	loginInbox(t, inbox)

	// Anything made from the customer's text would show here: an element
	// with an inline handler or the <img src=x>, or a call of alert.
	eval[chromedp.Void](t, inbox, `(() => {
		window.__alerts = 0;
		window.alert = () => { window.__alerts++; };
		window.__injected = [];
		window.__revoked = [];
		const revoke = URL.revokeObjectURL.bind(URL);
		URL.revokeObjectURL = (u) => { window.__revoked.push(u); revoke(u); };
		new MutationObserver((ms) => {
			for (const m of ms) for (const n of m.addedNodes) {
				if (n.nodeType !== 1) continue;
				for (const el of [n, ...n.querySelectorAll('*')]) {
					if (el.hasAttribute('onerror') || (el.tagName === 'IMG' && el.getAttribute('src') === 'x')) {
						window.__injected.push(el.outerHTML.slice(0, 200));
					}
				}
			}
		}).observe(document.body, { childList: true, subtree: true });
	})()`)

	// The follower writes; the push is encrypted (safe mode) and signed.
	text := `订单 #3003 还没到 <img src=x onerror=alert(1)> 谢谢`
	postPush(t, sb, "text", sealPush(t, wxAppID, oaText("7003000000000000001", text), false))

	item := `document.querySelector('#conversation-list .conversation-item')`
	inbox.waitJS(t, "the WeChat conversation in the list, live", item+` && `+item+`.querySelector('.conversation-preview').textContent.includes('订单 #3003')`,
		`document.getElementById('conversation-list').innerText`)
	conv := eval[string](t, inbox, item+`.dataset.id`)
	wantBadge := eval[string](t, inbox, `SwitchboardI18n[document.documentElement.lang.startsWith('zh') ? 'zh' : 'en']['channel.wechat_oa']`)
	if wantBadge != "微信公众号" && wantBadge != "WeChat OA" {
		t.Errorf("the dictionary names wechat_oa %q", wantBadge)
	}
	if got := eval[[]string](t, inbox, `(() => { const b = `+item+`.querySelector('.badge[data-channel="wechat_oa"]');
		return b ? [b.textContent, b.title] : ['no badge', `+item+`.innerHTML]; })()`); len(got) != 2 || got[0] != wantBadge || !strings.Contains(got[1], wantBadge) {
		t.Errorf("list row badge (text, title): %q, want the text %q", got, wantBadge)
	}
	inbox.waitJS(t, "the conversation assigned to the agent", item+`.querySelector('.ci-assignee').textContent === `+js(agentName),
		item+`.innerText`)

	inbox.click(t, "open the conversation", `#conversation-list .conversation-item[data-id="`+conv+`"]`)
	inbox.waitJS(t, "the thread header with the WeChat badge",
		`!document.getElementById('thread-header').hidden && document.getElementById('th-channel').dataset.channel === 'wechat_oa' && document.getElementById('th-channel').textContent === `+js(wantBadge),
		`document.getElementById('th-channel').outerHTML`)
	// WeChat takes replies for 48 hours after the customer's message.
	inbox.waitJS(t, "the reply window's time left",
		`(() => { const w = document.getElementById('reply-window'); return !w.hidden && w.dataset.state === 'open' && w.textContent.trim() !== ''; })()`,
		`document.getElementById('reply-window').outerHTML`)
	inbox.waitJS(t, "the WeChat badge in the customer panel", `document.querySelector('#customer-panel .badge[data-channel="wechat_oa"]')`,
		`document.getElementById('customer-panel').innerText`)

	textEl := `document.querySelector('#thread .message-in[data-kind="text"] .message-text')`
	inbox.waitJS(t, "the customer's text in the thread", textEl, `document.getElementById('thread').innerText`)
	if got := eval[string](t, inbox, textEl+`.textContent`); got != text {
		t.Errorf("the thread shows %q, want %q", got, text)
	}
	if n := eval[int](t, inbox, textEl+`.childElementCount`); n != 0 {
		t.Errorf("the text message has %d child elements, want plain text", n)
	}

	// A picture: WeChat has the file under a media id, which the gateway
	// fetches into its blob store after acknowledging the push.
	pic := tinyPNG(t, 3, 2)
	fake.AddMedia(wxAppID, "e2eMediaImage0001", "image/png", pic)
	postPush(t, sb, "image", sealPush(t, wxAppID, oaImage("7003000000000000002", "e2eMediaImage0001"), false))
	img := `document.querySelector('#thread .message-in[data-kind="image"] img.media-img')`
	inbox.waitJS(t, "the picture, loaded from a "+imgScheme+" URL",
		img+` && `+img+`.src.startsWith(`+js(imgScheme)+`) && `+img+`.complete && `+img+`.naturalWidth > 0`,
		`(() => { const m = document.querySelector('#thread .message-in[data-kind="image"]');
			if (!m) return 'no image message: ' + document.getElementById('thread').innerText;
			const i = m.querySelector('img');
			return m.innerText + ' | ' + (i ? i.src.slice(0, 40) + ' complete=' + i.complete + ' w=' + i.naturalWidth : 'no img'); })()`)
	if w := eval[int](t, inbox, img+`.naturalWidth`); w != 3 {
		t.Errorf("the picture is %d pixels wide, want 3", w)
	}
	// Full size in the viewer, which closes again.
	inbox.click(t, "open the viewer", `#thread .message-in[data-kind="image"] .media-thumb`)
	inbox.waitJS(t, "the picture in the viewer",
		`(() => { const d = document.getElementById('lightbox'); const i = d && d.querySelector('img'); return d && d.open && i && i.complete && i.naturalWidth === 3; })()`,
		`(document.getElementById('lightbox') || {outerHTML: 'no viewer'}).outerHTML.slice(0, 300)`)
	inbox.do(t, "close the viewer", chromedp.Click(chromedp.CSS(`#lightbox .lightbox-close`)))
	inbox.waitJS(t, "the viewer closed", `!document.getElementById('lightbox').open`, `'open'`)

	// Voice (AMR, which browsers cannot play: a download and WeChat's
	// recognition), a location, shared links and a menu event.
	fake.AddMedia(wxAppID, "e2eMediaVoice0001", "audio/amr", append([]byte("#!AMR\n"), make([]byte, 64)...))
	postPush(t, sb, "voice", sealPush(t, wxAppID, oaPush("7003000000000000003", "voice",
		"<MediaId><![CDATA[e2eMediaVoice0001]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[我想退货]]></Recognition>"), false))
	postPush(t, sb, "location", sealPush(t, wxAppID, oaPush("7003000000000000004", "location",
		"<Location_X>31.2304</Location_X><Location_Y>121.4737</Location_Y><Scale>15</Scale><Label><![CDATA[上海市黄浦区人民广场]]></Label>"), false))
	postPush(t, sb, "link", sealPush(t, wxAppID, oaPush("7003000000000000005", "link",
		"<Title><![CDATA[退货说明 <i>new</i>]]></Title><Description><![CDATA[七天无理由]]></Description><Url><![CDATA[https://shop.example.com/returns?a=1&b=2]]></Url>"), false))
	postPush(t, sb, "hostile link", sealPush(t, wxAppID, oaPush("7003000000000000006", "link",
		"<Title><![CDATA[点我]]></Title><Url><![CDATA[javascript:alert(1)]]></Url>"), false))
	postPush(t, sb, "menu event", sealPush(t, wxAppID, oaPush("", "event",
		"<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[MENU_ORDERS]]></EventKey>"), false))
	msg := func(kind, sel string) string {
		return `[...document.querySelectorAll('#thread .message[data-kind="` + kind + `"]')].map(m => ` + sel + `)`
	}
	inbox.waitJS(t, "the voice message's download and recognition",
		msg("voice", `m.querySelector('a.media-download[download]') && m.querySelector('a.media-download').href.startsWith('blob:') && m.querySelector('.voice-text').textContent.includes('我想退货')`)+`.includes(true)`,
		`document.getElementById('thread').innerText`)
	inbox.waitJS(t, "the location", msg("location", `m.querySelector('.loc-label').textContent + '|' + m.querySelector('.loc-coords').textContent`)+
		`.some(s => s.startsWith('上海市黄浦区人民广场|31.2304, 121.4737'))`, `document.getElementById('thread').innerText`)
	inbox.waitJS(t, "both links", msg("link", `m.innerText`)+`.length === 2`, `document.getElementById('thread').innerText`)
	links := eval[[]string](t, inbox, msg("link", `[...m.querySelectorAll('a')].map(a => a.getAttribute('href')).join(' ') + '|' + m.querySelector('.card-title').textContent`))
	if want := []string{"https://shop.example.com/returns?a=1&b=2|退货说明 <i>new</i>", "|点我"}; !slices.Equal(links, want) {
		t.Errorf("link cards (hrefs|title): %q, want %q (only an https URL becomes a link)", links, want)
	}
	inbox.waitJS(t, "the menu click as a centred line",
		`[...document.querySelectorAll('#thread .message-event .message-text')].some(e => e.textContent.includes('clicked a menu'))`,
		`document.getElementById('thread').innerText`)

	if got := eval[[]string](t, inbox, `window.__injected`); len(got) != 0 {
		t.Errorf("elements made from the customer's text: %q", got)
	}
	if n := eval[int](t, inbox, `window.__alerts`); n != 0 {
		t.Errorf("alert was called %d times: the customer's text ran", n)
	}
	if got := eval[[]string](t, inbox, `[...document.querySelectorAll('#thread img, #conversation-list img')].map(i => i.className)`); len(got) != 1 || got[0] != "media-img" {
		t.Errorf("images in the thread and the list: %q, want only the picture's thumbnail", got)
	}

	// The agent answers in the page; WeChat gets it for the follower.
	reply := `您好，已为您加急 <b>处理</b>。`
	inbox.do(t, "reply",
		chromedp.SetValue(chromedp.ID("reply-text"), reply),
		chromedp.Click(chromedp.ID("reply-send")),
	)
	wctx, wcancel := context.WithTimeout(context.Background(), waitTimeout)
	defer wcancel()
	sent, err := fake.WaitSent(wctx, 1)
	if err != nil {
		t.Fatalf("the reply never reached the WeChat API: %v", err)
	}
	if len(sent) != 1 || sent[0].AppID != wxAppID || sent[0].ToUser != wxOpenID || sent[0].MsgType != "text" || sent[0].Content != reply {
		t.Errorf("WeChat got %+v, want one text %q to %s on %s", sent, reply, wxOpenID, wxAppID)
	}
	inbox.waitJS(t, "the reply shown as sent",
		`[...document.querySelectorAll('#thread .message-out')].some(m => m.querySelector('.message-text').textContent === `+js(reply)+
			` && m.querySelector('.message-delivery').dataset.status === 'sent')`,
		`document.getElementById('thread').innerText`)

	// A picture with text: chosen in the file dialog (and a pasted one,
	// removed again), uploaded at once and shown as a chip with its
	// thumbnail, sent with the reply; WeChat gets the same bytes as media,
	// the image by its media_id, then the text, and the thread shows the
	// picture like a customer's.
	inbox.waitJS(t, "the attach button on a WeChat conversation", `!document.getElementById('reply-attach').hidden`,
		`document.getElementById('composer').outerHTML.slice(0, 400)`)
	shot := tinyPNG(t, 5, 4)
	file := filepath.Join(t.TempDir(), "截图.png")
	if err := os.WriteFile(file, shot, 0o600); err != nil {
		t.Fatal(err)
	}
	inbox.do(t, "choose the picture", chromedp.SetUploadFiles(chromedp.ID("reply-file"), []string{file}))
	chip := `document.querySelector('#reply-attachments .att-chip[data-state="ready"]')`
	inbox.waitJS(t, "the picture uploaded, as a chip with its thumbnail",
		chip+` && `+chip+`.querySelector('img.att-thumb').complete && `+chip+`.querySelector('img.att-thumb').naturalWidth === 5`,
		`document.getElementById('reply-attachments').innerText`)
	eval[chromedp.Void](t, inbox, `(() => {
		const dt = new DataTransfer();
		dt.items.add(new File([Uint8Array.from(atob(`+js(base64.StdEncoding.EncodeToString(tinyPNG(t, 2, 2)))+`), c => c.charCodeAt(0))], 'image.png', { type: 'image/png' }));
		document.getElementById('reply-text').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
	})()`)
	inbox.waitJS(t, "the pasted picture uploaded too", `document.querySelectorAll('#reply-attachments .att-chip[data-state="ready"]').length === 2`,
		`document.getElementById('reply-attachments').innerText`)
	inbox.do(t, "remove the pasted picture", chromedp.Click(chromedp.CSS(`#reply-attachments .att-chip:nth-child(2) .att-remove`)))
	inbox.waitJS(t, "one chip left", `document.querySelectorAll('#reply-attachments .att-chip').length === 1`,
		`document.getElementById('reply-attachments').innerText`)
	caption := "附上截图，请查收。"
	inbox.do(t, "send the picture with text",
		chromedp.SetValue(chromedp.ID("reply-text"), caption),
		chromedp.Click(chromedp.ID("reply-send")),
	)
	if sent, err = fake.WaitSent(wctx, 3); err != nil {
		t.Fatalf("the picture never reached the WeChat API: %v", err)
	}
	ups := fake.Uploads()
	if len(ups) != 1 || !bytes.Equal(ups[0].Data, shot) || ups[0].Filename != "image.png" { // an ASCII name for WeChat
		t.Fatalf("WeChat's media uploads %+v, want the chosen file", ups)
	}
	if sent[1].MsgType != "image" || sent[1].MediaID != ups[0].MediaID || sent[2].MsgType != "text" || sent[2].Content != caption {
		t.Errorf("WeChat got %+v then %+v, want the image by media_id %s then %q", sent[1], sent[2], ups[0].MediaID, caption)
	}
	outImg := `[...document.querySelectorAll('#thread .message-out')].find(m => m.querySelector('.message-text') && m.querySelector('.message-text').textContent === ` + js(caption) + `)`
	inbox.waitJS(t, "the reply with its picture in the thread, sent",
		`(() => { const m = `+outImg+`; const i = m && m.querySelector('img.media-img');
			return !!i && i.complete && i.naturalWidth === 5 && m.querySelector('.message-delivery').dataset.status === 'sent'; })()`,
		`(() => { const m = `+outImg+`; return m ? m.innerText + ' | ' + m.innerHTML.slice(0, 300) : document.getElementById('thread').innerText; })()`)
	if n := eval[int](t, inbox, `document.querySelectorAll('#reply-attachments .att-chip').length`); n != 0 {
		t.Errorf("%d chips left after sending, want none", n)
	}

	// Leaving (here: logging out) revokes the thread's object URLs.
	voiceURL := eval[string](t, inbox, `document.querySelector('#thread .message[data-kind="voice"] a.media-download').href`)
	inbox.do(t, "log out", chromedp.Click(chromedp.ID("logout")))
	inbox.waitJS(t, "the login form after logging out", `!document.getElementById('login-screen').hidden`, `document.body.innerText.slice(0, 200)`)
	if got := eval[[]string](t, inbox, `window.__revoked`); !slices.Contains(got, voiceURL) {
		t.Errorf("after logging out the revoked object URLs are %q, without the voice download %q", got, voiceURL)
	}

	for _, l := range inbox.consoleLines() {
		if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Refused to") {
			t.Errorf("console: %s", l)
		}
	}
}

// loginInbox signs the agent in on a tab showing the inbox's login form,
// waits for the first list and the socket, and goes online, so new
// conversations are assigned to them.
func loginInbox(t *testing.T, tb *tab) {
	t.Helper()
	tb.waitJS(t, "the login form", `document.getElementById('login-screen') && !document.getElementById('login-screen').hidden`,
		`document.body.innerText.slice(0, 300)`)
	tb.do(t, "log in",
		chromedp.SetValue(chromedp.ID("login-email"), agentEmail),
		chromedp.SetValue(chromedp.ID("login-password"), agentPassword),
		chromedp.Click(chromedp.ID("login-submit")),
	)
	tb.waitJS(t, "body ready after login", `document.body.dataset.ready === "1"`,
		`document.getElementById('login-error').textContent + ' | ' + document.getElementById('error-text').textContent`)
	tb.waitJS(t, "a connected agent socket", `document.getElementById('conn-status').dataset.state === 'connected'`,
		`document.getElementById('conn-status').dataset.state`)
	eval[chromedp.Void](t, tb, `(() => { const s = document.getElementById('presence-select');
		s.value = 'online'; s.dispatchEvent(new Event('change', {bubbles: true})); })()`)
	tb.waitJS(t, "presence online", `document.getElementById('presence-select').dataset.status === 'online'`,
		`document.getElementById('presence-select').dataset.status + ' | ' + document.getElementById('error-text').textContent`)
}

// postPush delivers a push to the official account and wants WeChat's
// "success".
func postPush(t *testing.T, r *replica, what string, p wxPush) {
	t.Helper()
	st, body, err := p.post(r.URL, "/channels/wechat/oa/main")
	if err != nil || st != http.StatusOK || string(body) != "success" {
		t.Fatalf("%s push: %d %q %v", what, st, body, err)
	}
}

// oaImage is an official account's image push: the picture's CDN URL and
// its media id.
func oaImage(msgID, mediaID string) string {
	return oaPush(msgID, "image", "<PicUrl><![CDATA[http://mmbiz.qpic.cn/mmbiz_jpg/e2e/0]]></PicUrl><MediaId><![CDATA["+mediaID+"]]></MediaId>")
}

// oaPush is an official account's push of type msgType with the given
// elements; msgID "" leaves MsgId out (events have none).
func oaPush(msgID, msgType, elems string) string {
	id := ""
	if msgID != "" {
		id = "<MsgId>" + msgID + "</MsgId>"
	}
	return "<xml><ToUserName><![CDATA[gh_e2e]]></ToUserName><FromUserName><![CDATA[" + wxOpenID + "]]></FromUserName>" +
		"<CreateTime>" + strconv.FormatInt(time.Now().Unix(), 10) + "</CreateTime><MsgType><![CDATA[" + msgType + "]]></MsgType>" +
		elems + id + "</xml>"
}

// tinyPNG encodes a w×h picture as PNG.
func tinyPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			m.Set(x, y, color.NRGBA{R: uint8(80 * x), G: 120, B: uint8(100 * y), A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cspListsSource reports whether a Content-Security-Policy lists source
// (such as "blob:") for directive, or for default-src when the directive
// is absent. A policy without either allows everything.
func cspListsSource(csp, directive, source string) bool {
	var fallback []string
	for _, part := range strings.Split(csp, ";") {
		f := strings.Fields(strings.ToLower(part))
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case directive:
			return slices.Contains(f[1:], source)
		case "default-src":
			fallback = f[1:]
		}
	}
	return fallback == nil || slices.Contains(fallback, source)
}
