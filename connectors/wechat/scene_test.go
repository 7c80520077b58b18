package wechat

import (
	"context"
	"strings"
	"testing"

	"switchboard/connectors"
	"switchboard/connectors/qr/codes"
	"switchboard/connectors/wechat/wxfake"
	"switchboard/internal/redistest"
)

func TestPermanentSceneQR(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	fake := wxfake.New(wxfake.App{AppID: testAppID, Secret: "secret"})
	defer fake.Close()
	c := replica(t, fake, connectors.Env{Redis: rdb, Prefix: prefix})
	ctx := context.Background()
	scene := codes.New()

	ticket, url, err := c.PermanentSceneQR(ctx, "main", scene)
	if err != nil {
		t.Fatal(err)
	}
	if ticket != wxfake.SceneTicket(testAppID, scene) || url != wxfake.SceneURL(testAppID, scene) {
		t.Errorf("got %q %q, want the fake's ticket and URL of the scene", ticket, url)
	}
	if t2, u2, err := c.PermanentSceneQR(ctx, "main", scene); err != nil || t2 != ticket || u2 != url {
		t.Errorf("asked again: %q %q %v, want the same code", t2, u2, err)
	}
	if !c.HasAccount("main") || c.HasAccount("other") {
		t.Error("HasAccount does not know the configured account")
	}
	cases := []struct {
		name, account, scene string
	}{
		{"unknown account", "other", scene},
		{"empty scene", "main", ""},
		{"scene too long", "main", strings.Repeat("x", maxScene+1)},
	}
	for _, tc := range cases {
		if _, _, err := c.PermanentSceneQR(ctx, tc.account, tc.scene); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	mp, err := build(connectors.WeChatMP, connectors.Env{Redis: rdb, Prefix: prefix}, func(v any) error {
		*(v.(*[]App)) = []App{{ID: "main", AppID: testAppID, AppSecret: "secret", Token: testToken, APIBase: fake.URL()}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := mp.PermanentSceneQR(ctx, "main", scene); err == nil {
		t.Error("a mini-program made a parametric QR code")
	}
}

// A follow or scan through a Switchboard code's WeChat QR code carries
// the code's asset; other scenes and codes of other accounts do not.
func TestSceneCarriesAsset(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	store := codes.NewStore(rdb, prefix)
	mk := func(account string, disabled bool) string {
		c := codes.Code{Asset: codes.Asset{Name: "3号电梯", Serial: "EL-2231", Category: "elevator", Site: "浦东仓库"},
			Team: "lifts", WeChatOA: account, Disabled: disabled}
		if err := codes.Validate(&c); err != nil {
			t.Fatal(err)
		}
		if err := store.Create(ctx, &c); err != nil {
			t.Fatal(err)
		}
		return c.Code
	}
	bound, other, off := mk("main", false), mk("other", false), mk("main", true)
	in := &recorder{}
	fake := wxfake.New(wxfake.App{AppID: testAppID, Secret: "secret"})
	defer fake.Close()
	c := replica(t, fake, connectors.Env{In: in, Redis: rdb, Prefix: prefix, Now: testClock})

	subscribe := func(key string) string {
		return xmlPush("event", "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA["+key+"]]></EventKey><Ticket><![CDATA[TK]]></Ticket>")
	}
	scan := func(key string) string {
		return xmlPush("event", "<Event><![CDATA[SCAN]]></Event><EventKey><![CDATA["+key+"]]></EventKey>")
	}
	cases := []struct {
		name  string
		push  string
		asset bool
	}{
		{"follow through the code", subscribe("qrscene_" + bound), true},
		{"scan of the code", scan(bound), true},
		{"another account's code", scan(other), false},
		{"a disabled code", scan(off), false},
		{"an unknown code", scan("zzzzzzzzzzzz"), false},
		{"another scene", scan("store-42"), false},
		{"a follow without a scene", subscribe(""), false},
	}
	for i, tc := range cases {
		if _, err := c.receive(ctx, request(t, safe, tc.push, false)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		msgs := in.all()
		if len(msgs) != i+1 {
			t.Fatalf("%s: %d messages stored, want %d", tc.name, len(msgs), i+1)
		}
		m := msgs[i]
		if !tc.asset {
			if _, ok := m.Fields["asset"]; ok || m.Fields["qr_code"] != "" {
				t.Errorf("%s: fields %v carry an asset", tc.name, m.Fields)
			}
			continue
		}
		want := map[string]string{"qr_code": bound, "asset": "elevator", "asset_name": "3号电梯", "asset_serial": "EL-2231",
			"asset_site": "浦东仓库", "team": "lifts", "scene": bound, "source": "qr"}
		for k, v := range want {
			if m.Fields[k] != v {
				t.Errorf("%s: field %s = %q, want %q", tc.name, k, m.Fields[k], v)
			}
		}
		if !strings.Contains(m.Text, "3号电梯") {
			t.Errorf("%s: text %q does not name the asset", tc.name, m.Text)
		}
	}
}
