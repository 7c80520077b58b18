package wechat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"

	"switchboard/connectors"
	"switchboard/internal/blob"
)

// sentTTL is how long a sent part of an outbound message is remembered, so
// an outbox retry does not send it twice.
const sentTTL = 24 * time.Hour

// Send delivers an agent's reply through the customer-service message API:
// its images (uploaded as temporary media) and then its text. Each part is
// remembered once WeChat took it, so a retried send skips what already went
// out.
func (c *Connector) Send(ctx context.Context, m *connectors.Outbound) (connectors.Receipt, error) {
	a := c.apps[m.Account]
	if a == nil {
		return connectors.Receipt{}, connectors.Permanent("", fmt.Errorf("wechat: no app %q is configured", m.Account))
	}
	if m.To.Type != "openid" || m.To.Value == "" {
		return connectors.Receipt{}, connectors.Permanent("", fmt.Errorf("wechat: %q is not an openid", m.To.String()))
	}
	if err := unsendable(m.Attachments); err != nil {
		return connectors.Receipt{}, err
	}
	cl := c.clients[a.ID]
	part := 0
	for _, att := range m.Attachments {
		part++
		if err := c.once(ctx, a, m.ID, part, func() error {
			data, err := c.readBlob(att.Ref)
			if err != nil {
				return err
			}
			id, err := cl.uploadImage(ctx, att.Name, att.ContentType, data)
			if err != nil {
				return err
			}
			return cl.sendCustom(ctx, map[string]any{"touser": m.To.Value, "msgtype": "image", "image": map[string]string{"media_id": id}})
		}); err != nil {
			return connectors.Receipt{}, sendError(err)
		}
	}
	if text := strings.TrimSpace(m.Text); text != "" {
		part++
		if err := c.once(ctx, a, m.ID, part, func() error {
			return cl.sendCustom(ctx, map[string]any{"touser": m.To.Value, "msgtype": "text", "text": map[string]string{"content": text}})
		}); err != nil {
			return connectors.Receipt{}, sendError(err)
		}
	}
	if part == 0 {
		return connectors.Receipt{}, connectors.Permanent("", errors.New("wechat: nothing to send"))
	}
	return connectors.Receipt{}, nil
}

// imageTypes are the media types WeChat takes as image media (PNG, JPEG
// and GIF; "image/jpg" and "image/pjpeg" are JPEG under names some
// clients use).
var imageTypes = map[string]bool{"image/jpeg": true, "image/jpg": true, "image/pjpeg": true, "image/png": true, "image/gif": true}

// unsendable refuses, before any part goes out, a reply with a file WeChat
// cannot carry: customer-service messages send images only, so a document
// (a PDF an agent uploaded for an e-mail customer) fails the reply for good
// with a reason the agent can act on.
func unsendable(atts []connectors.Attachment) error {
	for _, a := range atts {
		mt, _, err := mime.ParseMediaType(a.ContentType)
		if err == nil && imageTypes[mt] {
			continue
		}
		name := a.Name
		if r := []rune(name); len(r) > 60 {
			name = string(r[:60]) + "…"
		}
		if len(a.ContentType) <= 100 {
			name += " (" + a.ContentType + ")"
		}
		return &connectors.Error{Code: "attachments_unsupported",
			Msg: "微信只能发送 JPEG、PNG 或 GIF 图片，不能发送 " + name +
				" · WeChat can send only JPEG, PNG or GIF images, not " + name}
	}
	return nil
}

// once runs send unless part of message id went out before. It first
// takes a lease on the part (so two workers never send it at once), then
// records it as sent; a failed send gives the lease back.
func (c *Connector) once(ctx context.Context, a *App, id string, part int, send func() error) error {
	if id == "" || c.env.Redis == nil {
		return send()
	}
	key := c.env.Prefix + "{wx:" + a.AppID + "}:sent:" + id + ":" + strconv.Itoa(part)
	ok, err := c.env.Redis.SetNX(ctx, key, "sending", time.Minute).Result()
	if err != nil {
		return connectors.Temporary("", fmt.Errorf("wechat: send lease: %w", err))
	}
	if !ok {
		if v, _ := c.env.Redis.Get(ctx, key).Result(); v == "sent" {
			return nil
		}
		return connectors.Temporary("", errors.New("wechat: this part is being sent by another worker"))
	}
	if err := send(); err != nil {
		c.env.Redis.Del(context.WithoutCancel(ctx), key)
		return err
	}
	if err := c.env.Redis.Set(ctx, key, "sent", sentTTL).Err(); err != nil {
		c.env.Log.Warn("wechat: cannot record a sent part; a retry may send it again", "app", a.ID, "err", err)
	}
	return nil
}

func (c *Connector) readBlob(ref string) ([]byte, error) {
	if c.env.Blobs == nil {
		return nil, connectors.Permanent("", errors.New("wechat: no blob store is configured"))
	}
	f, _, err := c.env.Blobs.Open(ref)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, connectors.Permanent("", fmt.Errorf("wechat: attachment: %w", err))
	}
	if err != nil {
		return nil, connectors.Temporary("", fmt.Errorf("wechat: attachment: %w", err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 10<<20+1))
	if err != nil {
		return nil, connectors.Temporary("", fmt.Errorf("wechat: attachment: %w", err))
	}
	if len(data) > 10<<20 {
		return nil, connectors.Permanent("", errors.New("wechat: images over 10 MB cannot be sent"))
	}
	return data, nil
}

// sendError classifies a failure for the outbox: WeChat's errcode as the
// code, retried only when it may pass later.
func sendError(err error) error {
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return err
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		return connectors.Temporary("", err)
	}
	code := strconv.Itoa(ae.Code)
	var msg string
	switch ae.Code {
	case -1, 45009, 45011:
		// System busy, API frequency limits: later.
		return &connectors.Error{Code: code, Temporary: true, Msg: fmt.Sprintf("WeChat is busy (%d %s)", ae.Code, ae.Msg), Err: err}
	case 40001, 40014, 42001:
		return &connectors.Error{Code: code, Temporary: true, Msg: fmt.Sprintf("WeChat rejected the access token twice (%d %s)", ae.Code, ae.Msg), Err: err}
	case 45015:
		msg = "客户48小时内未互动，微信拒绝了客服消息 · the customer has not written for 48 hours (or unfollowed); WeChat refused the message"
	case 45047:
		msg = "客服消息条数已达上限，请等待客户再次发消息 · WeChat's limit of messages per customer reply was reached; wait for the customer to write"
	case 40003:
		msg = "openid 无效（客户可能已取消关注） · WeChat does not know this customer (invalid openid)"
	case 48001:
		msg = "公众号未获得客服消息接口权限 · the account is not authorized for customer-service messages"
	case 40013, 40125, 40164:
		msg = "AppID、AppSecret 或 IP 白名单配置有误 · AppID, AppSecret or the IP allow-list is wrong"
	}
	if msg == "" {
		msg = "WeChat refused the message"
	}
	return &connectors.Error{Code: code, Msg: fmt.Sprintf("%s (%d %s)", msg, ae.Code, ae.Msg), Err: err}
}
