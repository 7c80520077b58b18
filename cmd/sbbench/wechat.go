package main

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/util"
	"github.com/valyala/fasthttp"
)

// The bench official account: pushes in safe mode, as most accounts run.
const (
	wxAppID  = "wx2c2769f8efd9abc2"
	wxToken  = "benchtoken"
	wxAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// wechatConfig is the gateway's `channels.wechat_oa` entry. Its API is
// never called: no reply is sent and profiles are not fetched.
const wechatConfig = "  wechat_oa: [{id: bench, app_id: " + wxAppID + ", app_secret: bench, token: " + wxToken +
	", encoding_aes_key: " + wxAESKey + ", api_base: \"http://127.0.0.1:9\", fetch_profile: false}]\n"

// openWeChat sends each follower's first push and waits until every
// conversation has an agent, so the runs measure ongoing conversations, as
// the web-chat runs do.
func (g *gateway) openWeChat(ctx context.Context, c *redis.Client) error {
	for v := 0; v < g.o.visitors; v++ {
		if _, err := g.pushWeChat(int64(v), int64(v)+1); err != nil {
			return fmt.Errorf("first WeChat push: %w", err)
		}
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		n, err := c.HLen(ctx, "sbbench:{d}:owner").Result()
		if err == nil && int(n) >= 2*g.o.visitors {
			return nil
		}
	}
	return fmt.Errorf("not every WeChat conversation got an agent")
}

// measureWeChat drives safe-mode text pushes through the official-account
// route: each is encrypted and signed here as WeChat would, and counts when
// the gateway answers "success" (after Redis has it).
func (g *gateway) measureWeChat(ctx context.Context, c *redis.Client) (result, error) {
	var seq atomic.Int64
	seq.Store(time.Now().UnixNano() / 1000) // fresh MsgIds every run (above openWeChat's)
	send := func(ctx context.Context, w int) (time.Duration, error) {
		n := seq.Add(1)
		return g.pushWeChat(n%int64(g.o.visitors), n)
	}
	r, err := drive(ctx, "wechat", c, g.o, send, hooks{})
	r.kind = "wechat"
	return r, err
}

// pushWeChat posts one safe-mode text push from follower v with MsgId n and
// returns the time to the acknowledgement.
func (g *gateway) pushWeChat(v, n int64) (time.Duration, error) {
	openid := fmt.Sprintf("oBenchFollower%06d", v)
	now := time.Now()
	plain := "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[" + openid +
		"]]></FromUserName><CreateTime>" + strconv.FormatInt(now.Unix(), 10) +
		"</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，我的订单还没有到，请帮我查一下 #" +
		strconv.FormatInt(n, 10) + "]]></Content><MsgId>" + strconv.FormatInt(n, 10) + "</MsgId></xml>"
	enc, err := util.EncryptMsg([]byte("0123456789abcdef"), []byte(plain), wxAppID, wxAESKey)
	if err != nil {
		return 0, err
	}
	ts, nonce := strconv.FormatInt(now.Unix(), 10), strconv.FormatInt(n, 10)
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {util.Signature(wxToken, ts, nonce)},
		"encrypt_type": {"aes"}, "msg_signature": {util.Signature(wxToken, ts, nonce, string(enc))}, "openid": {openid}}
	body := "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[" + string(enc) + "]]></Encrypt></xml>"
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(g.base + "/channels/wechat/oa/bench?" + q.Encode())
	req.Header.SetMethod("POST")
	req.Header.SetContentType("text/xml")
	req.SetBodyString(body)
	t := time.Now()
	err = g.http.Do(req, resp)
	d := time.Since(t)
	if err == nil && (resp.StatusCode() != 200 || string(resp.Body()) != "success") {
		err = fmt.Errorf("status %d %q", resp.StatusCode(), resp.Body())
	}
	return d, err
}
