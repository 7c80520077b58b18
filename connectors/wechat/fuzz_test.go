package wechat

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/silenceper/wechat/v2/util"

	"switchboard/connectors"
)

// Any body, XML or JSON: parsing and normalizing never panic, and what
// comes out is a message the router can store.
func FuzzParsePush(f *testing.F) {
	for _, s := range []string{
		xmlPush("text", "<Content><![CDATA[你好]]></Content><MsgId>6074130599188426998</MsgId>"),
		xmlPush("event", "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_1]]></EventKey>"),
		xmlPush("location", "<Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Label>x</Label><MsgId>6</MsgId>"),
		`{"ToUserName":"gh","FromUserName":"oUser12345","CreateTime":1700000000,"MsgType":"text","Content":"hi","MsgId":1}`,
		`{"FromUserName":"oUser12345","MsgType":"event","Event":"user_enter_tempsession","CreateTime":"17"}`,
		"<xml><Encrypt>abc</Encrypt></xml>", "<!DOCTYPE x><xml/>", "", "{", "<xml>",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	app := &App{ID: "main", AppID: testAppID, AppSecret: "s", Token: testToken}
	app.check()
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		p, err := parsePush(body, asJSON)
		if err != nil {
			return
		}
		for _, ch := range []connectors.Channel{connectors.WeChatOA, connectors.WeChatMP} {
			n, err := normalize(ch, app, p, body, time.Unix(1700000000, 0), true)
			if err != nil {
				continue
			}
			m := n.msg
			if !m.From.Valid() || m.Kind == "" || !utf8.ValidString(m.Text) || utf8.RuneCountInString(m.Text) > maxText {
				t.Fatalf("unusable message %+v", m)
			}
			if m.Kind == connectors.KindEvent && m.ExternalID == "" {
				t.Fatal("an event without a deduplication key")
			}
			if n.media != "" && (len(m.Attachments) != 1 || m.Attachments[0].Ref != n.blobID) {
				t.Fatalf("media %q without its attachment", n.media)
			}
		}
	})
}

// Any Encrypt value: decryption fails cleanly or yields what was sealed
// for this AppID; it never panics.
func FuzzDecrypt(f *testing.F) {
	app := &App{ID: "main", AppID: testAppID, AppSecret: "s", Token: testToken, EncodingAESKey: a43}
	app.check()
	good, _ := util.EncryptMsg([]byte("0123456789abcdef"), []byte("<xml/>"), testAppID, a43)
	f.Add(string(good))
	f.Add("")
	f.Add("AAAA")
	f.Add(string(good[:len(good)-4]))
	f.Fuzz(func(t *testing.T, enc string) {
		_, _, _ = app.decrypt(enc)
	})
}

// Any signed request, whatever its query and body: the handler answers
// with an ack or a 4xx refusal, never a panic or a 5xx.
func FuzzReceive(f *testing.F) {
	f.Add([]byte(xmlPush("text", "<Content>x</Content><MsgId>1</MsgId>")), "", "")
	f.Add([]byte("<xml><ToUserName>gh</ToUserName><Encrypt>AAAA</Encrypt></xml>"), "aes", "0000")
	f.Add([]byte(`{"Encrypt":"AAAA"}`), "aes", "")
	f.Fuzz(func(t *testing.T, body []byte, encType, msgSig string) {
		c := testConnector(t, connectors.WeChatMP, &recorder{})
		r := request(t, plain, "", false)
		r.Body = body
		if encType != "" {
			r.Query.Set("encrypt_type", encType)
		}
		if msgSig != "" {
			r.Query.Set("msg_signature", msgSig)
		}
		resp, err := c.receive(context.Background(), r)
		var ce *connectors.Error
		switch {
		case err == nil:
			if resp == nil || resp.Status != http.StatusOK {
				t.Fatalf("answer %+v", resp)
			}
		case errors.As(err, &ce):
			if ce.Status < 400 || ce.Status >= 500 {
				t.Fatalf("status %d for bad input", ce.Status)
			}
		default:
			t.Fatalf("unclassified error %v", err)
		}
	})
}
