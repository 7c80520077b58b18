package wechat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
	"time"

	"switchboard/connectors"
)

// app finds the app a request is for; an unknown one is a 404.
func (c *Connector) app(r *connectors.Request) (*App, error) {
	a := c.apps[r.Params["app"]]
	if a == nil {
		c.m.rejected.WithLabelValues(string(c.ch), "unknown_app").Inc()
		return nil, connectors.Refuse(http.StatusNotFound, "no such WeChat app")
	}
	return a, nil
}

// refuse counts a refused push and returns the error the sender sees. The
// request itself is never logged: its query holds signatures.
func (c *Connector) refuse(status int, reason, msg string) error {
	c.m.rejected.WithLabelValues(string(c.ch), reason).Inc()
	return connectors.Refuse(status, msg)
}

// verifyURL answers WeChat's URL check: echostr back when the signature of
// token, timestamp and nonce holds.
func (c *Connector) verifyURL(_ context.Context, r *connectors.Request) (*connectors.Response, error) {
	a, err := c.app(r)
	if err != nil {
		return nil, err
	}
	q := r.Query
	if !signed(q.Get("signature"), a.Token, q.Get("timestamp"), q.Get("nonce")) {
		return nil, c.refuse(http.StatusUnauthorized, "signature", "signature does not match the configured token")
	}
	echo := q.Get("echostr")
	if echo == "" || len(echo) > 128 {
		return nil, c.refuse(http.StatusBadRequest, "malformed", "echostr is missing")
	}
	return &connectors.Response{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte(echo)}, nil
}

// receive takes a push: verify, decrypt, normalize, store, acknowledge.
// The acknowledgement ("success", or a passive reply) goes out only after
// Redis holds the message; media and profile fetches are queued for
// afterwards, never done before it.
func (c *Connector) receive(ctx context.Context, r *connectors.Request) (*connectors.Response, error) {
	a, err := c.app(r)
	if err != nil {
		return nil, err
	}
	q := r.Query
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	if !signed(q.Get("signature"), a.Token, ts, nonce) {
		return nil, c.refuse(http.StatusUnauthorized, "signature", "signature does not match the configured token")
	}
	if len(r.Body) > maxPushBytes {
		return nil, c.refuse(http.StatusRequestEntityTooLarge, "too_large", "push is larger than 256 KiB")
	}
	asJSON := c.ch == connectors.WeChatMP && isJSON(r.Header.Get("Content-Type"), r.Body)
	p, err := parsePush(r.Body, asJSON)
	if err != nil {
		return nil, c.refuse(http.StatusBadRequest, "malformed", err.Error())
	}
	if !fresh(ts, c.env.Now()) {
		return nil, c.refuse(http.StatusUnauthorized, "signature", "timestamp is more than 5 minutes away from now")
	}
	raw := r.Body
	sealKey := "" // set when the push was encrypted: replies are too
	switch q.Get("encrypt_type") {
	case "", "raw":
		if p.Encrypt != "" && p.FromUserName == "" {
			// A safe-mode body without the parameters that authenticate it.
			return nil, c.refuse(http.StatusUnauthorized, "signature", "encrypted push without encrypt_type=aes and msg_signature")
		}
		if len(a.keys()) > 0 && !a.AllowPlaintext {
			// The plaintext signature does not cover the body: with a key
			// configured, only encrypted pushes are believed.
			return nil, c.refuse(http.StatusUnauthorized, "signature", "plaintext push to an app with an encoding_aes_key (set allow_plaintext to accept them)")
		}
		if err := c.bindNonce(ctx, a, ts, nonce, r.Body); err != nil {
			return nil, err
		}
	case "aes":
		if len(a.keys()) == 0 {
			return nil, c.refuse(http.StatusUnauthorized, "decrypt", "encrypted push but no encoding_aes_key is configured")
		}
		if p.Encrypt == "" {
			return nil, c.refuse(http.StatusBadRequest, "malformed", "encrypt_type=aes but the body has no Encrypt")
		}
		if !signed(q.Get("msg_signature"), a.Token, ts, nonce, p.Encrypt) {
			return nil, c.refuse(http.StatusUnauthorized, "signature", "msg_signature does not match")
		}
		plain, key, err := a.decrypt(p.Encrypt)
		if err != nil {
			return nil, c.refuse(http.StatusUnauthorized, "decrypt", err.Error())
		}
		if p, err = parsePush(plain, asJSON && isJSON("", plain)); err != nil {
			return nil, c.refuse(http.StatusBadRequest, "malformed", "decrypted push: "+err.Error())
		}
		raw, sealKey = plain, key
	default:
		return nil, c.refuse(http.StatusBadRequest, "malformed", "encrypt_type must be aes or raw")
	}
	n, err := normalize(c.ch, a, p, raw, c.env.Now(), c.env.Blobs != nil)
	if err != nil {
		return nil, c.refuse(http.StatusBadRequest, "malformed", err.Error())
	}
	c.m.pushes.WithLabelValues(string(c.ch), pushLabel(p)).Inc()
	if n.ignore {
		return success(), nil
	}
	c.addSceneFields(ctx, a, &n.msg)
	acc, err := c.env.In.Ingest(ctx, &n.msg)
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) {
			return nil, err
		}
		// Not stored: say so, and WeChat will try again.
		return nil, &connectors.Error{Status: http.StatusServiceUnavailable, Msg: "not stored, retry", Err: err}
	}
	if err := c.queueAfterAck(ctx, a, n, acc); err != nil {
		return nil, err
	}
	if text := c.autoReply(ctx, a, p, acc); text != "" {
		if c.ch == connectors.WeChatOA {
			return c.replyXML(a, &textReply{ToUserName: cdata(p.FromUserName), FromUserName: cdata(p.ToUserName),
				CreateTime: c.env.Now().Unix(), MsgType: "text", Content: cdata(text)}, sealKey)
		}
		// Mini-programs take no passive text: say it through the API, after
		// the acknowledgement.
		if err := c.queueSay(ctx, a, p.FromUserName, acc.MessageID, text); err != nil {
			return nil, err
		}
	}
	return success(), nil
}

// pushLabel names a push's type for the metric, from a fixed set: a
// forged or new type must not create series without bound.
func pushLabel(p push) string {
	t := p.MsgType
	if t == "event" {
		t = "event:" + p.Event
	}
	if !knownTypes[t] {
		return "other"
	}
	return t
}

var knownTypes = map[string]bool{"text": true, "image": true, "voice": true, "video": true, "shortvideo": true,
	"location": true, "link": true, "miniprogrampage": true, "event:subscribe": true, "event:unsubscribe": true,
	"event:SCAN": true, "event:CLICK": true, "event:VIEW": true, "event:LOCATION": true, "event:user_enter_tempsession": true}

// maxSkew is how far a push's timestamp may be from this clock.
const maxSkew = 5 * time.Minute

// fresh reports whether a push's timestamp (Unix seconds) is within
// maxSkew of now: a captured signature cannot be replayed later.
func fresh(ts string, now time.Time) bool {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	d := now.Sub(time.Unix(sec, 0))
	return d < maxSkew && d > -maxSkew
}

// bindNonce ties a plaintext push's timestamp and nonce to its body: the
// plaintext signature does not cover the body, so within the timestamp's
// window the same signature must not carry another body. WeChat's own
// retries repeat the body and pass.
func (c *Connector) bindNonce(ctx context.Context, a *App, ts, nonce string, body []byte) error {
	if c.env.Redis == nil {
		return nil
	}
	sum := sha256.Sum256(body)
	key := c.env.Prefix + "{wx:" + a.AppID + "}:nonce:" + ts + ":" + nonce
	ok, err := c.env.Redis.SetNX(ctx, key, hex.EncodeToString(sum[:]), 2*maxSkew).Result()
	if err != nil {
		return &connectors.Error{Status: http.StatusServiceUnavailable, Msg: "not stored, retry", Err: err}
	}
	if ok {
		return nil
	}
	prev, err := c.env.Redis.Get(ctx, key).Result()
	if err != nil {
		return &connectors.Error{Status: http.StatusServiceUnavailable, Msg: "not stored, retry", Err: err}
	}
	if prev != hex.EncodeToString(sum[:]) {
		return c.refuse(http.StatusUnauthorized, "signature", "this signature was already used for another push")
	}
	return nil
}

// success is the acknowledgement WeChat recommends: the bare word, in
// every mode.
func success() *connectors.Response {
	return &connectors.Response{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("success")}
}

// textReply is a passive reply (被动回复) carrying text.
type textReply struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   cdata    `xml:"ToUserName"`
	FromUserName cdata    `xml:"FromUserName"`
	CreateTime   int64    `xml:"CreateTime"`
	MsgType      cdata    `xml:"MsgType"`
	Content      cdata    `xml:"Content"`
}

// autoReply is the automatic answer to a push, if any: the greeting to a
// new follower (or to a customer entering a mini-program's customer
// service), or the queue message when a customer's message opened a
// conversation and no agent is free.
func (c *Connector) autoReply(ctx context.Context, a *App, p push, acc connectors.Accepted) string {
	switch {
	case p.MsgType == "event" && (p.Event == "subscribe" || p.Event == "user_enter_tempsession"):
		// A retry greets again: passively because WeChat did not hear the
		// first answer, through the API at most once per message id.
		return a.Greeting
	case p.MsgType == "event", a.QueueMessage == "", !acc.NewConversation:
		return ""
	}
	av, ok := c.env.In.(connectors.Availability)
	if !ok {
		return ""
	}
	free, err := av.AgentFree(ctx)
	if err != nil || free {
		return ""
	}
	return a.QueueMessage
}

// replyXML renders a passive reply, encrypted with key when the push was
// (key is empty for a plaintext push).
func (c *Connector) replyXML(a *App, reply *textReply, key string) (*connectors.Response, error) {
	body, err := xml.Marshal(reply)
	if err != nil {
		return success(), nil
	}
	if key != "" {
		if body, err = a.seal(body, key, c.env.Now().Unix()); err != nil {
			c.env.Log.Warn("wechat: cannot encrypt the passive reply; acknowledging without it", "app", a.ID, "err", err)
			return success(), nil
		}
	}
	return &connectors.Response{Status: http.StatusOK, ContentType: "application/xml; charset=utf-8", Body: body}, nil
}

// itoa is strconv.FormatInt for the job fields.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
