package wechat

import (
	"context"
	"errors"
	"fmt"

	"switchboard/connectors"
	"switchboard/connectors/qr/codes"
)

// Switchboard's QR codes as WeChat parametric QR codes: a code with
// wechat_oa set is also offered as a permanent string-scene QR code of
// that official account (scene_str = the code). Scanning it in WeChat
// follows the account (subscribe, EventKey qrscene_<code>) or, for a
// follower, opens it (SCAN, EventKey <code>); either event then carries
// the code's asset, like the code's web form does.

// maxScene is the longest scene_str WeChat takes.
const maxScene = 64

// HasAccount reports whether account is a configured app of this
// connector.
func (c *Connector) HasAccount(account string) bool { return c.apps[account] != nil }

// PermanentSceneQR asks WeChat for the permanent string-scene QR code of
// scene on official account account (qrcode/create with
// QR_LIMIT_STR_SCENE). It returns the ticket (the image is
// https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=…) and the URL the
// QR code encodes. WeChat answers the same code for the same scene, so
// asking twice is harmless; an account may hold 100,000 of them.
func (c *Connector) PermanentSceneQR(ctx context.Context, account, scene string) (ticket, url string, err error) {
	if c.ch != connectors.WeChatOA {
		return "", "", errors.New("wechat: only official accounts make parametric QR codes")
	}
	cl := c.clients[account]
	if cl == nil {
		return "", "", fmt.Errorf("wechat: no official account %q", account)
	}
	if scene == "" || len(scene) > maxScene {
		return "", "", fmt.Errorf("wechat: a scene must have 1–%d bytes", maxScene)
	}
	in := map[string]any{"action_name": "QR_LIMIT_STR_SCENE",
		"action_info": map[string]any{"scene": map[string]string{"scene_str": scene}}}
	var out struct {
		Ticket string `json:"ticket"`
		URL    string `json:"url"`
	}
	if err := cl.postJSON(ctx, "qrcode_create", "/cgi-bin/qrcode/create", in, &out); err != nil {
		return "", "", err
	}
	if out.Ticket == "" || out.URL == "" {
		return "", "", errors.New("wechat: qrcode/create answered without a ticket or url")
	}
	return out.Ticket, out.URL, nil
}

// addSceneFields puts a Switchboard QR code's asset on an official
// account's follow or scan event that came through the code's WeChat QR
// code: the asset's fields (routing matches `asset`, and the code's team
// takes the conversation when no rule does) and its name in the text.
// Only an enabled code bound to this account counts; any other scene is
// left as it is. A failed lookup is logged and the event stored without
// the asset: the push must be acknowledged in time.
func (c *Connector) addSceneFields(ctx context.Context, a *App, m *connectors.Message) {
	scene := m.Fields["scene"]
	if c.ch != connectors.WeChatOA || m.Fields["source"] != "qr" || !codes.Valid(scene) || c.env.Redis == nil {
		return
	}
	code, err := codes.NewStore(c.env.Redis, c.env.Prefix).Get(ctx, scene)
	switch {
	case errors.Is(err, codes.ErrNotFound):
		return
	case err != nil:
		c.env.Log.Warn("wechat: QR code lookup failed; the event is kept without its asset", "app", a.ID, "err", err)
		return
	case code.Disabled || code.WeChatOA != a.ID:
		return
	}
	for k, v := range codes.MessageFields(code) {
		m.Fields[k] = v
	}
	m.Text += " · " + code.Asset.Name
}
