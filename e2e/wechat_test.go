package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"switchboard/connectors/wechat/wxfake"
)

const (
	wxAppID  = "wx2c2769f8efd9abc2"
	wxMPID   = "wxb11529c136998cb6"
	wxToken  = "e2etoken"
	wxAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	wxOpenID = "oE2eFollower00001"
)

// wxChannels configures an official account and a mini-program whose API
// is the fake.
func wxChannels(apiBase string) string {
	return fmt.Sprintf(`  wechat_oa:
    - {id: main, app_id: %s, app_secret: oasecret, token: %s, encoding_aes_key: %s, api_base: %q, greeting: "欢迎关注 Welcome", allow_plaintext: true}
  wechat_mp:
    - {id: shop, app_id: %s, app_secret: mpsecret, token: %s, encoding_aes_key: %s, api_base: %q, allow_plaintext: true}
`, wxAppID, wxToken, wxAESKey, apiBase, wxMPID, wxToken, wxAESKey, apiBase)
}

// wxPush is a push as WeChat sends it in safe mode: the body encrypted for
// appID, the query signed with the token.
type wxPush struct {
	query url.Values
	body  []byte
	ctype string
}

func sealPush(t *testing.T, appID, plain string, asJSON bool) wxPush {
	t.Helper()
	enc, err := util.EncryptMsg([]byte(randomID(16)), []byte(plain), appID, wxAESKey)
	if err != nil {
		t.Fatal(err)
	}
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), strconv.Itoa(int(time.Now().UnixNano()%1e9))
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {util.Signature(wxToken, ts, nonce)},
		"encrypt_type": {"aes"}, "msg_signature": {util.Signature(wxToken, ts, nonce, string(enc))}, "openid": {wxOpenID}}
	if asJSON {
		b, _ := json.Marshal(map[string]string{"ToUserName": "gh_e2e", "Encrypt": string(enc)})
		return wxPush{q, b, "application/json"}
	}
	return wxPush{q, []byte("<xml><ToUserName><![CDATA[gh_e2e]]></ToUserName><Encrypt><![CDATA[" + string(enc) + "]]></Encrypt></xml>"), "text/xml"}
}

func (p wxPush) post(base, path string) (int, []byte, error) {
	resp, err := http.Post(base+path+"?"+p.query.Encode(), p.ctype, bytes.NewReader(p.body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func oaText(msgID, text string) string {
	return "<xml><ToUserName><![CDATA[gh_e2e]]></ToUserName><FromUserName><![CDATA[" + wxOpenID + "]]></FromUserName>" +
		"<CreateTime>" + strconv.FormatInt(time.Now().Unix(), 10) + "</CreateTime><MsgType><![CDATA[text]]></MsgType>" +
		"<Content><![CDATA[" + text + "]]></Content><MsgId>" + msgID + "</MsgId></xml>"
}

// TestWeChatEndToEnd runs two replicas with an official account and a
// mini-program whose API is a loopback fake: safe-mode pushes delivered
// three times across both replicas give one message, the agent on B sees it
// live and replies, the fake receives the reply for the right openid, a
// picture the agent uploads on one replica and sends with text from the
// other reaches WeChat as the same bytes (media upload, then an image by
// its media_id, then the text), a refused send shows WeChat's reason, and
// tokens are fetched once.
func TestWeChatEndToEnd(t *testing.T) {
	requireE2E(t)
	fake := wxfake.New(wxfake.App{AppID: wxAppID, Secret: "oasecret"}, wxfake.App{AppID: wxMPID, Secret: "mpsecret"})
	defer fake.Close()
	c := startClusterWith(t, 2, wxChannels(fake.URL()))
	a, b := c.replicas[0], c.replicas[1]

	agent := login(t, b.URL, agentEmail, agentPassword)
	sock := dialAgent(t, "agent socket on B", agent, "", "")
	sock.waitUntil(t, "hello", func(fs []agentFrame) bool {
		return findAgent(fs, func(f agentFrame) bool { return f.Type == "hello" }) >= 0
	})
	agent.setPresence(t, "online")

	// One push, delivered three times at once to A and B (WeChat's
	// retries, landing on different replicas).
	text := "你好，我的订单 #2002 <b>还没到</b>"
	push := sealPush(t, wxAppID, oaText("6074130599188426998", text), false)
	var wg sync.WaitGroup
	for i, r := range []*replica{a, b, a} {
		wg.Add(1)
		go func(i int, r *replica) {
			defer wg.Done()
			st, body, err := push.post(r.URL, "/channels/wechat/oa/main")
			if err != nil || st != http.StatusOK || string(body) != "success" {
				t.Errorf("delivery %d to %s: %d %q %v", i, r.name, st, body, err)
			}
		}(i, r)
	}
	wg.Wait()
	// The first message of a conversation arrives as its assignment.
	isAssigned := func(channel string) func(f agentFrame) bool {
		return func(f agentFrame) bool {
			return f.Type == "conversation.assigned" && f.data().Conversation.Channel == channel
		}
	}
	got := sock.waitUntil(t, "conversation.assigned for the WeChat text", func(fs []agentFrame) bool {
		return findAgent(fs, isAssigned("wechat_oa")) >= 0
	})
	conv := got[findAgent(got, isAssigned("wechat_oa"))].data().Conversation.ID
	var cv conversationJSON
	agent.must(t, "GET", "/api/v1/conversations/"+conv, nil, &cv, http.StatusOK)
	if cv.Channel != "wechat_oa" || cv.Account != "main" {
		t.Errorf("conversation %+v, want channel wechat_oa account main", cv)
	}
	n := 0
	for _, m := range agent.messages(t, conv) {
		if m.Text == text {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the pushed text is stored %d times, want once", n)
	}

	// An image: acknowledged at once, its media fetched afterwards (by
	// whichever replica takes the job) into the shared blob store, and
	// served to the agent on either replica.
	jpeg := []byte("\xff\xd8\xff\xe0\x00\x10JFIF a customer's photo")
	fake.AddMedia(wxAppID, "MEDIA-E2E-1", "image/jpeg", jpeg)
	img := "<xml><ToUserName><![CDATA[gh_e2e]]></ToUserName><FromUserName><![CDATA[" + wxOpenID + "]]></FromUserName><CreateTime>" +
		strconv.FormatInt(time.Now().Unix(), 10) + "</CreateTime><MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://mmbiz.example/x]]></PicUrl>" +
		"<MediaId><![CDATA[MEDIA-E2E-1]]></MediaId><MsgId>6074130599188427001</MsgId></xml>"
	if st, _, err := sealPush(t, wxAppID, img, false).post(a.URL, "/channels/wechat/oa/main"); err != nil || st != http.StatusOK {
		t.Fatalf("image push: %d %v", st, err)
	}
	got = sock.waitUntil(t, "message.new for the image", func(fs []agentFrame) bool {
		return findAgent(fs, func(f agentFrame) bool {
			return f.Type == "message.new" && strings.Contains(string(f.Data), `"kind":"image"`)
		}) >= 0
	})
	var ev struct {
		Message struct {
			Attachments []struct {
				Ref         string `json:"ref"`
				ContentType string `json:"content_type"`
			} `json:"attachments"`
		} `json:"message"`
	}
	_ = json.Unmarshal(got[findAgent(got, func(f agentFrame) bool { return strings.Contains(string(f.Data), `"kind":"image"`) })].Data, &ev)
	if len(ev.Message.Attachments) != 1 || ev.Message.Attachments[0].Ref == "" {
		t.Fatalf("image message without its attachment: %+v", ev)
	}
	ref := ev.Message.Attachments[0].Ref
	agentA := login(t, a.URL, agentEmail, agentPassword)
	for _, cl := range []*apiClient{agent, agentA} {
		deadline := time.Now().Add(waitTimeout)
		for {
			req, _ := http.NewRequest("GET", cl.base+"/api/v1/blobs/"+ref, nil)
			req.Header.Set("Authorization", "Bearer "+cl.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if !bytes.Equal(body, jpeg) || resp.Header.Get("Content-Type") != "image/jpeg" {
					t.Errorf("blob via %s: %q as %s", cl.base, body, resp.Header.Get("Content-Type"))
				}
				break
			}
			if resp.StatusCode != http.StatusNotFound || time.Now().After(deadline) {
				t.Fatalf("blob via %s: %d %s", cl.base, resp.StatusCode, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// A wrong signature is refused and writes nothing.
	bad := sealPush(t, wxAppID, oaText("1", "forged"), false)
	bad.query.Set("msg_signature", strings.Repeat("0", 40))
	if st, _, _ := bad.post(a.URL, "/channels/wechat/oa/main"); st != http.StatusUnauthorized {
		t.Errorf("forged push: %d, want 401", st)
	}

	// The agent's reply reaches WeChat's API for the follower's openid.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	reply := "您好，已为您查询：明天送达。"
	agent.must(t, "POST", "/api/v1/conversations/"+conv+"/messages", map[string]any{"text": reply, "idempotency_key": "wx-1"}, nil, http.StatusAccepted)
	sent, err := fake.WaitSent(ctx, 1)
	if err != nil {
		t.Fatalf("the reply never reached the WeChat API: %v", err)
	}
	if sent[0].ToUser != wxOpenID || sent[0].MsgType != "text" || sent[0].Content != reply {
		t.Errorf("WeChat got %+v", sent[0])
	}

	// A picture with text: uploaded on A into the shared blob store,
	// replied with on B, one message; whichever replica sends it uploads
	// the same bytes to WeChat as temporary media, sends the image by its
	// media_id, then the text.
	pic := tinyPNG(t, 4, 3)
	up := uploadImage(t, agentA, "发货单.png", "image/png", pic)
	caption := "这是您的发货单截图。"
	var withPic struct {
		ID          string `json:"id"`
		Kind        string `json:"kind"`
		Text        string `json:"text"`
		Attachments []struct {
			Name        string `json:"name"`
			ContentType string `json:"content_type"`
			Size        int64  `json:"size"`
			Ref         string `json:"ref"`
		} `json:"attachments"`
	}
	agent.must(t, "POST", "/api/v1/conversations/"+conv+"/messages", map[string]any{"text": caption, "idempotency_key": "wx-pic",
		"attachments": []map[string]string{{"ref": up}}}, &withPic, http.StatusAccepted)
	if withPic.Kind != "text" || withPic.Text != caption || len(withPic.Attachments) != 1 || withPic.Attachments[0].Ref != up ||
		withPic.Attachments[0].Name != "发货单.png" || withPic.Attachments[0].ContentType != "image/png" || withPic.Attachments[0].Size != int64(len(pic)) {
		t.Fatalf("reply with a picture: %+v", withPic)
	}
	if sent, err = fake.WaitSent(ctx, 3); err != nil {
		t.Fatalf("the picture and its text never reached the WeChat API: %v", err)
	}
	ups := fake.Uploads()
	if len(ups) != 1 || !bytes.Equal(ups[0].Data, pic) || ups[0].Type != "image" || ups[0].AppID != wxAppID ||
		ups[0].ContentType != "image/png" || ups[0].Filename != "image.png" { // WeChat takes no RFC 2231 names
		t.Fatalf("WeChat's media uploads: %+v, want the %d bytes uploaded by the agent", ups, len(pic))
	}
	if sent[1].ToUser != wxOpenID || sent[1].MsgType != "image" || sent[1].MediaID != ups[0].MediaID {
		t.Errorf("WeChat got %+v, want the image by media_id %s", sent[1], ups[0].MediaID)
	}
	if sent[2].ToUser != wxOpenID || sent[2].MsgType != "text" || sent[2].Content != caption {
		t.Errorf("WeChat got %+v, want the caption %q", sent[2], caption)
	}
	sock.waitUntil(t, "message.delivery sent for the picture", func(fs []agentFrame) bool {
		return findAgent(fs, func(f agentFrame) bool {
			return f.Type == "message.delivery" && f.data().MessageID == withPic.ID && f.data().Delivery != nil && f.data().Delivery.Status == "sent"
		}) >= 0
	})

	// A refused send (window closed) shows WeChat's errcode to the agent.
	fake.FailNextSend(45015, "response out of time limit or subscription is canceled rid: 0-0")
	var failed messageJSON
	agent.must(t, "POST", "/api/v1/conversations/"+conv+"/messages", map[string]any{"text": "还在吗？", "idempotency_key": "wx-2"}, &failed, http.StatusAccepted)
	sock.waitUntil(t, "message.delivery failed with 45015", func(fs []agentFrame) bool {
		return findAgent(fs, func(f agentFrame) bool {
			return f.Type == "message.delivery" && f.data().MessageID == failed.ID && f.data().Delivery != nil &&
				f.data().Delivery.Status == "failed" && strings.Contains(string(f.Data), "45015")
		}) >= 0
	})

	// A mini-program JSON push in safe mode lands on the mini-program.
	mp := fmt.Sprintf(`{"ToUserName":"gh_mp","FromUserName":"oMpUser000001","CreateTime":%d,"MsgType":"text","Content":"小程序咨询","MsgId":24317329417345123}`, time.Now().Unix())
	if st, body, err := sealPush(t, wxMPID, mp, true).post(a.URL, "/channels/wechat/mp/shop"); err != nil || st != http.StatusOK {
		t.Fatalf("mini-program push: %d %q %v", st, body, err)
	}
	got = sock.waitUntil(t, "conversation.assigned for the mini-program text", func(fs []agentFrame) bool {
		return findAgent(fs, isAssigned("wechat_mp")) >= 0
	})
	if p := got[findAgent(got, isAssigned("wechat_mp"))].data().Conversation.Preview; p != "小程序咨询" {
		t.Errorf("mini-program conversation preview %q", p)
	}

	// A new follower gets the greeting as an encrypted passive reply.
	sub := "<xml><ToUserName><![CDATA[gh_e2e]]></ToUserName><FromUserName><![CDATA[oNewFollower0001]]></FromUserName><CreateTime>" +
		strconv.FormatInt(time.Now().Unix(), 10) + "</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>" +
		"<EventKey><![CDATA[qrscene_store-7]]></EventKey></xml>"
	st, body, err := sealPush(t, wxAppID, sub, false).post(b.URL, "/channels/wechat/oa/main")
	if err != nil || st != http.StatusOK {
		t.Fatalf("subscribe: %d %v", st, err)
	}
	var env struct {
		Encrypt      string `xml:"Encrypt"`
		MsgSignature string `xml:"MsgSignature"`
		TimeStamp    string `xml:"TimeStamp"`
		Nonce        string `xml:"Nonce"`
	}
	if err := xml.Unmarshal(body, &env); err != nil || env.Encrypt == "" {
		t.Fatalf("greeting reply is not an encrypted envelope: %q %v", body, err)
	}
	if util.Signature(wxToken, env.TimeStamp, env.Nonce, env.Encrypt) != env.MsgSignature {
		t.Error("greeting reply signature does not verify")
	}
	if _, plain, err := util.DecryptMsg(wxAppID, env.Encrypt, wxAESKey); err != nil ||
		!strings.Contains(string(plain), "欢迎关注 Welcome") || !strings.Contains(string(plain), "oNewFollower0001") {
		t.Errorf("greeting reply decrypts to %q (%v)", plain, err)
	}

	// Every send, from whichever replica's outbox, used one token per app.
	if n := fake.TokenFetches(wxAppID); n != 1 {
		t.Errorf("%d token fetches for the official account across two replicas, want 1", n)
	}
}

// uploadImage stores an image through POST /api/v1/blobs (the raw body,
// its name in X-Filename) and returns its blob id.
func uploadImage(t *testing.T, cl *apiClient, name, contentType string, data []byte) string {
	t.Helper()
	req, err := http.NewRequest("POST", cl.base+"/api/v1/blobs", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+cl.token)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Filename", url.PathEscape(name))
	resp, err := cl.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		ContentType string `json:"content_type"`
		Size        int64  `json:"size"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &out) != nil || out.ID == "" {
		t.Fatalf("upload %s: %d %s", name, resp.StatusCode, body)
	}
	if out.Name != name || out.ContentType != contentType || out.Size != int64(len(data)) {
		t.Errorf("upload %s answered %+v", name, out)
	}
	return out.ID
}

// TestWeChatEveryKind posts every kind of push in plaintext, compatible and
// safe mode through the real routes of a running replica, and reads what
// was stored back through the agent API.
func TestWeChatEveryKind(t *testing.T) {
	requireE2E(t)
	fake := wxfake.New(wxfake.App{AppID: wxAppID, Secret: "oasecret"}, wxfake.App{AppID: wxMPID, Secret: "mpsecret"})
	defer fake.Close()
	c := startClusterWith(t, 1, wxChannels(fake.URL()))
	r := c.replicas[0]
	agent := login(t, r.URL, agentEmail, agentPassword)

	type kindCase struct {
		name, inner, msgType string
		kind, text           string
	}
	oa := []kindCase{
		{"text", "<Content><![CDATA[文本 <script>x</script>]]></Content>", "text", "text", "文本 <script>x</script>"},
		{"image", "<PicUrl><![CDATA[http://p]]></PicUrl><MediaId><![CDATA[M1]]></MediaId>", "image", "image", "[图片 image]"},
		{"voice", "<MediaId><![CDATA[V1]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[语音转文字]]></Recognition>", "voice", "voice", "语音转文字"},
		{"video", "<MediaId><![CDATA[VI]]></MediaId><ThumbMediaId><![CDATA[T]]></ThumbMediaId>", "video", "video", "[视频 video]"},
		{"shortvideo", "<MediaId><![CDATA[SV]]></MediaId>", "shortvideo", "video", "[视频 video]"},
		{"location", "<Location_X>31.2304</Location_X><Location_Y>121.4737</Location_Y><Scale>15</Scale><Label><![CDATA[上海市]]></Label>", "location", "location", "上海市 (31.2304, 121.4737)"},
		{"link", "<Title><![CDATA[订单页]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[https://shop.example/o/1]]></Url>", "link", "link", "订单页\nhttps://shop.example/o/1"},
		{"subscribe", "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_asset-9]]></EventKey><Ticket><![CDATA[T]]></Ticket>", "event", "event", "关注了公众号 · followed the account (asset-9)"},
		{"unsubscribe", "<Event><![CDATA[unsubscribe]]></Event>", "event", "event", "取消关注 · unfollowed the account"},
		{"SCAN", "<Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[asset-9]]></EventKey>", "event", "event", "扫描了二维码 · scanned a QR code (asset-9)"},
		{"CLICK", "<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[MENU_HELP]]></EventKey>", "event", "event", "点击了菜单 · clicked a menu"},
		{"VIEW", "<Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[https://shop.example]]></EventKey>", "event", "event", "打开了菜单链接 · opened a menu link"},
	}
	mp := []kindCase{
		{"mp text", "<Content><![CDATA[小程序文本]]></Content>", "text", "text", "小程序文本"},
		{"mp image", "<PicUrl><![CDATA[http://p]]></PicUrl><MediaId><![CDATA[M2]]></MediaId>", "image", "image", "[图片 image]"},
		{"mp page", "<Title><![CDATA[商品]]></Title><AppId><![CDATA[wxapp]]></AppId><PagePath><![CDATA[pages/item?id=3]]></PagePath>", "miniprogrampage", "link", "[小程序 mini-program] 商品 pages/item?id=3"},
		{"mp enter", "<Event><![CDATA[user_enter_tempsession]]></Event><SessionFrom><![CDATA[item-3]]></SessionFrom>", "event", "event", "进入了客服会话 · opened customer service"},
	}
	n := 0
	post := func(t *testing.T, m, path, appID, openid, body string) {
		t.Helper()
		p := sealPush(t, appID, body, false)
		switch m {
		case "plaintext":
			p.query.Del("encrypt_type")
			p.query.Del("msg_signature")
			p.body = []byte(body)
		case "compatible":
			// The plaintext fields and the ciphertext together; the
			// signatures stay those of the ciphertext.
			start := bytes.Index(p.body, []byte("<Encrypt>"))
			p.body = []byte(strings.Replace(body, "</xml>", string(p.body[start:bytes.Index(p.body, []byte("</xml>"))])+"</xml>", 1))
		}
		if st, b, err := p.post(r.URL, path); err != nil || st != http.StatusOK {
			t.Fatalf("%s push: %d %q %v", m, st, b, err)
		}
	}
	for _, m := range []string{"plaintext", "compatible", "safe"} {
		for _, set := range []struct {
			path, appID string
			cases       []kindCase
		}{{"/channels/wechat/oa/main", wxAppID, oa}, {"/channels/wechat/mp/shop", wxMPID, mp}} {
			for _, kc := range set.cases {
				n++
				openid := fmt.Sprintf("oKind%s%04d", m[:4], n)
				msgID := ""
				if kc.msgType != "event" {
					msgID = "<MsgId>" + strconv.Itoa(700000+n) + "</MsgId>"
				}
				body := "<xml><ToUserName><![CDATA[gh_e2e]]></ToUserName><FromUserName><![CDATA[" + openid + "]]></FromUserName><CreateTime>" +
					strconv.FormatInt(time.Now().Unix(), 10) + "</CreateTime><MsgType><![CDATA[" + kc.msgType + "]]></MsgType>" + kc.inner + msgID + "</xml>"
				post(t, m, set.path, set.appID, openid, body)
				// Find the conversation by its customer (named after the openid)
				// and read the message back.
				var list struct {
					Items []struct {
						ID           string `json:"id"`
						CustomerName string `json:"customer_name"`
					} `json:"items"`
				}
				var conv string
				for deadline := time.Now().Add(waitTimeout); conv == "" && time.Now().Before(deadline); {
					agent.must(t, "GET", "/api/v1/conversations?view=all&limit=200", nil, &list, http.StatusOK)
					for _, it := range list.Items {
						if it.CustomerName == openid {
							conv = it.ID
						}
					}
					if conv == "" {
						time.Sleep(20 * time.Millisecond)
					}
				}
				if conv == "" {
					t.Fatalf("%s %s: no conversation for %s", m, kc.name, openid)
				}
				var msgs struct {
					Items []struct {
						Kind string `json:"kind"`
						Text string `json:"text"`
					} `json:"items"`
				}
				agent.must(t, "GET", "/api/v1/conversations/"+conv+"/messages", nil, &msgs, http.StatusOK)
				if len(msgs.Items) != 1 || msgs.Items[0].Kind != kc.kind || msgs.Items[0].Text != kc.text {
					t.Errorf("%s %s: stored %+v, want one %s %q", m, kc.name, msgs.Items, kc.kind, kc.text)
				}
			}
		}
	}
}
