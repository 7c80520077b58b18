package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/silenceper/wechat/v2/util"

	"switchboard/connectors"
)

// recorder is an Ingester that keeps what it is given, deduplicating as
// the router does (by channel, account, sender and external id).
type recorder struct {
	mu   sync.Mutex
	msgs []connectors.Message
	seen map[string]bool
	ids  map[string]string // dedup key -> message id
	fail error
}

func (r *recorder) Ingest(_ context.Context, m *connectors.Message) (connectors.Accepted, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return connectors.Accepted{}, r.fail
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	if r.ids == nil {
		r.ids = map[string]string{}
	}
	k := string(m.Channel) + "|" + m.Account + "|" + m.From.String() + "|" + m.ExternalID
	if id, ok := r.ids[k]; ok && m.ExternalID != "" {
		// As the router does: a duplicate answers the first delivery's ids.
		return connectors.Accepted{MessageID: id, ConversationID: "c", CustomerID: "u", Duplicate: true}, nil
	}
	first := !r.seen[m.From.String()]
	r.seen[m.From.String()] = true
	r.msgs = append(r.msgs, *m)
	r.ids[k] = "m" + strconv.Itoa(len(r.msgs))
	return connectors.Accepted{MessageID: r.ids[k], ConversationID: "c", CustomerID: "u", NewConversation: first}, nil
}

// busy is a recorder whose agents are all taken.
type busy struct{ recorder }

func (*busy) AgentFree(context.Context) (bool, error) { return false, nil }

func (r *recorder) all() []connectors.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]connectors.Message(nil), r.msgs...)
}

const (
	testToken = "spamtest"
	testAppID = "wx2c2769f8efd9abc2"
)

func testConnector(t *testing.T, ch connectors.Channel, in connectors.Ingester, edit ...func(*App)) *Connector {
	t.Helper()
	a := App{ID: "main", AppID: testAppID, AppSecret: "secret", Token: testToken, EncodingAESKey: a43, Greeting: "欢迎关注 · Welcome",
		AllowPlaintext: true}
	for _, e := range edit {
		e(&a)
	}
	c, err := build(ch, connectors.Env{In: in, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return time.Unix(1700000000, 0) }}, func(v any) error {
		*(v.(*[]App)) = []App{a}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mode is how a test push is wrapped.
type mode string

const (
	plain  mode = "plaintext"
	compat mode = "compatible"
	safe   mode = "safe"
)

// request signs (and in compatible and safe mode encrypts) body the way
// WeChat does.
func request(t *testing.T, m mode, body string, asJSON bool) *connectors.Request {
	t.Helper()
	ts, nonce := "1700000000", "123456"
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {util.Signature(testToken, ts, nonce)}, "openid": {"oUser12345"}}
	out := body
	if m != plain {
		enc, err := util.EncryptMsg([]byte("0123456789abcdef"), []byte(body), testAppID, a43)
		if err != nil {
			t.Fatal(err)
		}
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", util.Signature(testToken, ts, nonce, string(enc)))
		switch {
		case asJSON:
			b, _ := json.Marshal(map[string]string{"ToUserName": "gh_test", "Encrypt": string(enc)})
			out = string(b)
		case m == safe:
			out = "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[" + string(enc) + "]]></Encrypt></xml>"
		default: // compatible: the plaintext fields and the ciphertext together
			out = strings.Replace(body, "</xml>", "<Encrypt><![CDATA["+string(enc)+"]]></Encrypt></xml>", 1)
		}
	}
	ct := "text/xml"
	if asJSON {
		ct = "application/json"
	}
	return &connectors.Request{Method: "POST", Params: map[string]string{"app": "main"}, Query: q,
		Header: http.Header{"Content-Type": {ct}}, Body: []byte(out)}
}

func xmlPush(typ, inner string) string {
	return "<xml><ToUserName><![CDATA[gh_test]]></ToUserName>\n<FromUserName><![CDATA[oUser12345]]></FromUserName>\n" +
		"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[" + typ + "]]></MsgType>" + inner + "</xml>"
}

// Every kind, in every mode, becomes the right message.
func TestOfficialAccountKinds(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		kind   connectors.Kind
		text   string
		ext    string
		fields map[string]string
	}{
		{"text", xmlPush("text", "<Content><![CDATA[你好，订单 <b>&amp;</b>]]></Content><MsgId>6074130599188426998</MsgId>"),
			connectors.KindText, "你好，订单 <b>&amp;</b>", "6074130599188426998", nil},
		{"image", xmlPush("image", "<PicUrl><![CDATA[http://mmbiz/x]]></PicUrl><MediaId><![CDATA[MEDIA1]]></MediaId><MsgId>1</MsgId>"),
			connectors.KindImage, "[图片 image]", "1", map[string]string{"media_id": "MEDIA1", "pic_url": "http://mmbiz/x"}},
		{"voice with recognition", xmlPush("voice", "<MediaId><![CDATA[V1]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[我要退货]]></Recognition><MsgId>2</MsgId>"),
			connectors.KindVoice, "我要退货", "2", map[string]string{"media_id": "V1", "format": "amr", "recognition": "我要退货"}},
		{"voice without", xmlPush("voice", "<MediaId><![CDATA[V2]]></MediaId><Format><![CDATA[speex]]></Format><MsgId>3</MsgId>"),
			connectors.KindVoice, "[语音 voice]", "3", map[string]string{"format": "speex"}},
		{"video", xmlPush("video", "<MediaId><![CDATA[VID]]></MediaId><ThumbMediaId><![CDATA[TH]]></ThumbMediaId><MsgId>4</MsgId>"),
			connectors.KindVideo, "[视频 video]", "4", map[string]string{"media_id": "VID", "thumb_media_id": "TH"}},
		{"shortvideo", xmlPush("shortvideo", "<MediaId><![CDATA[SV]]></MediaId><MsgId>5</MsgId>"),
			connectors.KindVideo, "[视频 video]", "5", map[string]string{"media_id": "SV"}},
		{"location", xmlPush("location", "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label><MsgId>6</MsgId>"),
			connectors.KindLocation, "位置信息 (23.134521, 113.358803)", "6", map[string]string{"latitude": "23.134521", "longitude": "113.358803", "scale": "20"}},
		{"link", xmlPush("link", "<Title><![CDATA[公众平台官网链接]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[https://mp.weixin.qq.com]]></Url><MsgId>7</MsgId>"),
			connectors.KindLink, "公众平台官网链接\nhttps://mp.weixin.qq.com", "7", map[string]string{"url": "https://mp.weixin.qq.com", "title": "公众平台官网链接"}},
		{"subscribe", xmlPush("event", "<Event><![CDATA[subscribe]]></Event>"),
			connectors.KindEvent, "关注了公众号 · followed the account", "ev:1700000000:subscribe:", map[string]string{"event": "subscribe"}},
		{"subscribe by QR", xmlPush("event", "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_store-42]]></EventKey><Ticket><![CDATA[TK]]></Ticket>"),
			connectors.KindEvent, "关注了公众号 · followed the account (store-42)", "ev:1700000000:subscribe:qrscene_store-42",
			map[string]string{"scene": "store-42", "source": "qr", "ticket": "TK", "event_key": "qrscene_store-42"}},
		{"unsubscribe", xmlPush("event", "<Event><![CDATA[unsubscribe]]></Event>"),
			connectors.KindEvent, "取消关注 · unfollowed the account", "ev:1700000000:unsubscribe:", nil},
		{"SCAN", xmlPush("event", "<Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[123123]]></EventKey><Ticket><![CDATA[TK]]></Ticket>"),
			connectors.KindEvent, "扫描了二维码 · scanned a QR code (123123)", "ev:1700000000:SCAN:123123", map[string]string{"scene": "123123", "source": "qr"}},
		{"CLICK", xmlPush("event", "<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[MENU_AFTER_SALES]]></EventKey>"),
			connectors.KindEvent, "点击了菜单 · clicked a menu", "ev:1700000000:CLICK:MENU_AFTER_SALES", map[string]string{"event_key": "MENU_AFTER_SALES"}},
		{"VIEW", xmlPush("event", "<Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[www.qq.com]]></EventKey><MenuId>MENUID</MenuId>"),
			connectors.KindEvent, "打开了菜单链接 · opened a menu link", "ev:1700000000:VIEW:www.qq.com", map[string]string{"url": "www.qq.com"}},
	}
	for _, m := range []mode{plain, compat, safe} {
		for _, tc := range cases {
			t.Run(string(m)+"/"+tc.name, func(t *testing.T) {
				rec := &recorder{}
				c := testConnector(t, connectors.WeChatOA, rec)
				resp, err := c.receive(context.Background(), request(t, m, tc.body, false))
				if err != nil {
					t.Fatalf("receive: %v", err)
				}
				msgs := rec.all()
				if len(msgs) != 1 {
					t.Fatalf("%d messages ingested", len(msgs))
				}
				got := msgs[0]
				if got.Channel != connectors.WeChatOA || got.Account != "main" || got.From != (connectors.Identity{Type: "openid", Value: "oUser12345"}) {
					t.Errorf("routing fields %+v", got)
				}
				if got.Kind != tc.kind || got.Text != tc.text || got.ExternalID != tc.ext {
					t.Errorf("kind %q text %q ext %q, want %q %q %q", got.Kind, got.Text, got.ExternalID, tc.kind, tc.text, tc.ext)
				}
				for k, v := range tc.fields {
					if got.Fields[k] != v {
						t.Errorf("field %s = %q, want %q", k, got.Fields[k], v)
					}
				}
				if !got.Time.Equal(time.Unix(1700000000, 0)) {
					t.Errorf("time %v", got.Time)
				}
				if strings.Contains(string(got.Raw), "<Encrypt>") {
					t.Error("the stored raw push is the ciphertext, not the plaintext")
				}
				if tc.name == "subscribe" || tc.name == "subscribe by QR" {
					// The greeting is a passive reply, encrypted when the push was.
					if m == safe || m == compat {
						if !strings.Contains(string(resp.Body), "<Encrypt>") || strings.Contains(string(resp.Body), "欢迎") {
							t.Errorf("greeting in %s mode not encrypted: %s", m, resp.Body)
						}
					} else if !strings.Contains(string(resp.Body), "<Content><![CDATA[欢迎关注 · Welcome]]></Content>") ||
						!strings.Contains(string(resp.Body), "<ToUserName><![CDATA[oUser12345]]></ToUserName>") {
						t.Errorf("greeting reply %s", resp.Body)
					}
				} else if string(resp.Body) != "success" {
					t.Errorf("ack %q, want success", resp.Body)
				}
			})
		}
	}
}

// Mini-program pushes in XML and JSON, in every mode.
func TestMiniProgramKinds(t *testing.T) {
	big := "6074130599188426998" // does not survive a float64
	cases := []struct {
		name, body string
		json       bool
		kind       connectors.Kind
		text, ext  string
		fields     map[string]string
	}{
		{"json text", `{"ToUserName":"gh_test","FromUserName":"oUser12345","CreateTime":1700000000,"MsgType":"text","Content":"小程序你好","MsgId":` + big + `}`,
			true, connectors.KindText, "小程序你好", big, nil},
		{"json image", `{"ToUserName":"gh_test","FromUserName":"oUser12345","CreateTime":1700000000,"MsgType":"image","PicUrl":"http://p","MediaId":"M9","MsgId":9}`,
			true, connectors.KindImage, "[图片 image]", "9", map[string]string{"media_id": "M9"}},
		{"json page", `{"ToUserName":"gh_test","FromUserName":"oUser12345","CreateTime":1700000000,"MsgType":"miniprogrampage","MsgId":10,"Title":"订单详情","AppId":"wxapp","PagePath":"pages/order?id=1","ThumbUrl":"","ThumbMediaId":""}`,
			true, connectors.KindLink, "[小程序 mini-program] 订单详情 pages/order?id=1", "10", map[string]string{"pagepath": "pages/order?id=1", "appid": "wxapp"}},
		{"json enter session", `{"ToUserName":"gh_test","FromUserName":"oUser12345","CreateTime":1700000000,"MsgType":"event","Event":"user_enter_tempsession","SessionFrom":"order-77"}`,
			true, connectors.KindEvent, "进入了客服会话 · opened customer service", "ev:1700000000:user_enter_tempsession:", map[string]string{"session_from": "order-77"}},
		{"xml text", xmlPush("text", "<Content><![CDATA[xml hi]]></Content><MsgId>11</MsgId>"), false, connectors.KindText, "xml hi", "11", nil},
		{"xml page", xmlPush("miniprogrampage", "<MsgId>12</MsgId><Title><![CDATA[T]]></Title><AppId><![CDATA[A]]></AppId><PagePath><![CDATA[P]]></PagePath>"),
			false, connectors.KindLink, "[小程序 mini-program] T P", "12", nil},
		{"xml enter session", xmlPush("event", "<Event><![CDATA[user_enter_tempsession]]></Event><SessionFrom><![CDATA[sf]]></SessionFrom>"),
			false, connectors.KindEvent, "进入了客服会话 · opened customer service", "ev:1700000000:user_enter_tempsession:", map[string]string{"session_from": "sf"}},
	}
	for _, m := range []mode{plain, safe} {
		for _, tc := range cases {
			t.Run(string(m)+"/"+tc.name, func(t *testing.T) {
				rec := &recorder{}
				c := testConnector(t, connectors.WeChatMP, rec)
				resp, err := c.receive(context.Background(), request(t, m, tc.body, tc.json))
				if err != nil {
					t.Fatalf("receive: %v", err)
				}
				if string(resp.Body) != "success" {
					t.Errorf("ack %q", resp.Body)
				}
				msgs := rec.all()
				if len(msgs) != 1 {
					t.Fatalf("%d messages", len(msgs))
				}
				got := msgs[0]
				if got.Channel != connectors.WeChatMP || got.Kind != tc.kind || got.Text != tc.text || got.ExternalID != tc.ext {
					t.Errorf("got %s %q %q %q", got.Channel, got.Kind, got.Text, got.ExternalID)
				}
				for k, v := range tc.fields {
					if got.Fields[k] != v {
						t.Errorf("field %s = %q, want %q", k, got.Fields[k], v)
					}
				}
			})
		}
	}
}

// WeChat retries a push three times when it hears nothing in five
// seconds: the retries are acknowledged and stored once.
func TestRetriedPushIsStoredOnce(t *testing.T) {
	for _, body := range []string{
		xmlPush("text", "<Content><![CDATA[retry me]]></Content><MsgId>42</MsgId>"),
		xmlPush("event", "<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[K]]></EventKey>"),
	} {
		rec := &recorder{}
		c := testConnector(t, connectors.WeChatOA, rec)
		for i := 0; i < 4; i++ {
			resp, err := c.receive(context.Background(), request(t, safe, body, false))
			if err != nil || string(resp.Body) != "success" {
				t.Fatalf("try %d: %v %v", i, resp, err)
			}
		}
		if n := len(rec.all()); n != 1 {
			t.Errorf("%d messages stored from four deliveries", n)
		}
	}
}

// Refusals: the right status, nothing ingested.
func TestRefusals(t *testing.T) {
	text := xmlPush("text", "<Content><![CDATA[x]]></Content><MsgId>1</MsgId>")
	cases := []struct {
		name   string
		req    func(t *testing.T) *connectors.Request
		status int
	}{
		{"no signature", func(t *testing.T) *connectors.Request {
			r := request(t, plain, text, false)
			r.Query.Del("signature")
			return r
		}, 401},
		{"wrong signature", func(t *testing.T) *connectors.Request {
			r := request(t, plain, text, false)
			r.Query.Set("nonce", "999")
			return r
		}, 401},
		{"wrong msg_signature", func(t *testing.T) *connectors.Request {
			r := request(t, safe, text, false)
			r.Query.Set("msg_signature", strings.Repeat("0", 40))
			return r
		}, 401},
		{"missing msg_signature", func(t *testing.T) *connectors.Request {
			r := request(t, safe, text, false)
			r.Query.Del("msg_signature")
			return r
		}, 401},
		{"ciphertext without encrypt_type", func(t *testing.T) *connectors.Request {
			r := request(t, safe, text, false)
			r.Query.Del("encrypt_type")
			return r
		}, 401},
		{"truncated ciphertext", func(t *testing.T) *connectors.Request {
			r := request(t, safe, text, false)
			enc := "AAAA" + strings.Repeat("B", 40)
			r.Body = []byte("<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
			r.Query.Set("msg_signature", util.Signature(testToken, r.Query.Get("timestamp"), r.Query.Get("nonce"), enc))
			return r
		}, 401},
		{"wrong AppID inside", func(t *testing.T) *connectors.Request {
			r := request(t, safe, text, false)
			enc, _ := util.EncryptMsg([]byte("0123456789abcdef"), []byte(text), "wx0000000000000000", a43)
			r.Body = []byte("<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[" + string(enc) + "]]></Encrypt></xml>")
			r.Query.Set("msg_signature", util.Signature(testToken, r.Query.Get("timestamp"), r.Query.Get("nonce"), string(enc)))
			return r
		}, 401},
		{"unknown app", func(t *testing.T) *connectors.Request {
			r := request(t, plain, text, false)
			r.Params["app"] = "other"
			return r
		}, 404},
		{"oversized", func(t *testing.T) *connectors.Request {
			return request(t, plain, xmlPush("text", "<Content>"+strings.Repeat("x", maxPushBytes)+"</Content>"), false)
		}, 413},
		{"not XML", func(t *testing.T) *connectors.Request { return request(t, plain, "hello", false) }, 400},
		{"DOCTYPE", func(t *testing.T) *connectors.Request {
			return request(t, plain, `<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>`+text, false)
		}, 400},
		{"wrong root", func(t *testing.T) *connectors.Request {
			return request(t, plain, strings.ReplaceAll(text, "xml>", "msg>"), false)
		}, 400},
		{"no sender", func(t *testing.T) *connectors.Request {
			return request(t, plain, strings.Replace(text, "oUser12345", "", 1), false)
		}, 400},
		{"MsgId not a number", func(t *testing.T) *connectors.Request {
			return request(t, plain, strings.Replace(text, "<MsgId>1</MsgId>", "<MsgId>1e3</MsgId>", 1), false)
		}, 400},
		{"stale timestamp", func(t *testing.T) *connectors.Request {
			r := request(t, safe, text, false)
			old := "1699999000" // 1,000 s before the test clock
			r.Query.Set("timestamp", old)
			r.Query.Set("signature", util.Signature(testToken, old, r.Query.Get("nonce")))
			return r
		}, 401},
		{"bad encrypt_type", func(t *testing.T) *connectors.Request {
			r := request(t, plain, text, false)
			r.Query.Set("encrypt_type", "des")
			return r
		}, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			c := testConnector(t, connectors.WeChatOA, rec)
			_, err := c.receive(context.Background(), tc.req(t))
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Status != tc.status {
				t.Fatalf("error %v, want status %d", err, tc.status)
			}
			counted := 0.0
			for _, reason := range []string{"signature", "decrypt", "malformed", "unknown_app", "too_large"} {
				var m dto.Metric
				_ = c.m.rejected.WithLabelValues(string(connectors.WeChatOA), reason).Write(&m)
				counted += m.GetCounter().GetValue()
			}
			if counted != 1 {
				t.Errorf("%v refusals counted, want 1", counted)
			}
			if n := len(rec.all()); n != 0 {
				t.Errorf("%d messages ingested from a refused push", n)
			}
		})
	}
}

// With an EncodingAESKey configured, a plaintext push (whose signature
// does not cover the body) is refused unless allow_plaintext says so.
func TestPlaintextRefusedWhenEncrypted(t *testing.T) {
	body := xmlPush("text", "<Content>forged</Content><MsgId>1</MsgId>")
	rec := &recorder{}
	c := testConnector(t, connectors.WeChatOA, rec, func(a *App) { a.AllowPlaintext = false })
	_, err := c.receive(context.Background(), request(t, plain, body, false))
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized {
		t.Fatalf("plaintext push: %v, want 401", err)
	}
	if _, err := c.receive(context.Background(), request(t, safe, body, false)); err != nil {
		t.Fatalf("the same push encrypted: %v", err)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("%d stored, want only the encrypted one", n)
	}
	// An app without a key is plaintext by nature.
	c2 := testConnector(t, connectors.WeChatOA, &recorder{}, func(a *App) { a.EncodingAESKey, a.AllowPlaintext = "", false })
	if _, err := c2.receive(context.Background(), request(t, plain, body, false)); err != nil {
		t.Errorf("plaintext app: %v", err)
	}
}

// A push that Redis could not take is not acknowledged: WeChat retries.
func TestNotStoredIsNotAcknowledged(t *testing.T) {
	rec := &recorder{fail: errors.New("redis: connection refused")}
	c := testConnector(t, connectors.WeChatOA, rec)
	_, err := c.receive(context.Background(), request(t, plain, xmlPush("text", "<Content>x</Content><MsgId>1</MsgId>"), false))
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusServiceUnavailable {
		t.Fatalf("error %v, want 503", err)
	}
}

// Ignored events are acknowledged and not stored.
func TestIgnoredEvents(t *testing.T) {
	rec := &recorder{}
	c := testConnector(t, connectors.WeChatOA, rec)
	body := xmlPush("event", "<Event><![CDATA[LOCATION]]></Event><Latitude>23.1</Latitude><Longitude>113.3</Longitude><Precision>119</Precision>")
	resp, err := c.receive(context.Background(), request(t, plain, body, false))
	if err != nil || string(resp.Body) != "success" {
		t.Fatalf("%v %v", resp, err)
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("LOCATION report stored (%d)", n)
	}
}

// The URL check answers echostr only to a correct signature (the official
// example, token AAAAA).
func TestVerifyURL(t *testing.T) {
	c := testConnector(t, connectors.WeChatOA, &recorder{}, func(a *App) { a.Token = "AAAAA" })
	q := url.Values{"signature": {"f464b24fc39322e44b38aa78f5edd27bd1441696"}, "echostr": {"4375120948345356249"},
		"timestamp": {"1714036504"}, "nonce": {"1514711492"}}
	resp, err := c.verifyURL(context.Background(), &connectors.Request{Params: map[string]string{"app": "main"}, Query: q})
	if err != nil || string(resp.Body) != "4375120948345356249" {
		t.Fatalf("%v %v", resp, err)
	}
	q.Set("nonce", "1514711493")
	_, err = c.verifyURL(context.Background(), &connectors.Request{Params: map[string]string{"app": "main"}, Query: q})
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Status != 401 {
		t.Fatalf("wrong signature: %v", err)
	}
}

// The queue message answers a conversation's first message when no agent
// is free, and only then.
func TestQueueMessage(t *testing.T) {
	queued := func(a *App) { a.QueueMessage = "客服忙，请稍候 · all agents are busy" }
	first := xmlPush("text", "<Content>hi</Content><MsgId>1</MsgId>")
	second := xmlPush("text", "<Content>again</Content><MsgId>2</MsgId>")
	cases := []struct {
		name string
		in   connectors.Ingester
		edit []func(*App)
		want []bool // per push: queue message expected
	}{
		{"all busy", &busy{}, []func(*App){queued}, []bool{true, false}},
		{"an agent free", &recorder{}, []func(*App){queued}, []bool{false, false}},
		{"not configured", &busy{}, nil, []bool{false, false}},
	}
	for _, tc := range cases {
		for _, m := range []mode{plain, safe} {
			c := testConnector(t, connectors.WeChatOA, tc.in, tc.edit...)
			for i, body := range []string{first, second} {
				resp, err := c.receive(context.Background(), request(t, m, body, false))
				if err != nil {
					t.Fatal(err)
				}
				got := string(resp.Body) != "success"
				if got != tc.want[i] {
					t.Errorf("%s/%s push %d: reply %q", tc.name, m, i, resp.Body)
				}
				if got && m == plain && !strings.Contains(string(resp.Body), "客服忙") {
					t.Errorf("%s: reply %s", tc.name, resp.Body)
				}
			}
			tc.in = &busy{}
			if tc.name == "an agent free" {
				tc.in = &recorder{}
			}
		}
	}
}

func ExampleApp() {
	fmt.Println(ReplyWindow)
	// Output: 48h0m0s
}

// testClock is the clock of the tests' pushes (request signs 1700000000).
func testClock() time.Time { return time.Unix(1700000000, 0) }
