package wxfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestQRCreate(t *testing.T) {
	s := newFake(t)
	tok := fetchToken(t, s, appA)
	create := func(token, body string) map[string]any {
		t.Helper()
		resp, err := http.Post(s.URL()+"/cgi-bin/qrcode/create?"+url.Values{"access_token": {token}}.Encode(), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("answer %q: %v", raw, err)
		}
		return out
	}
	strScene := func(action, scene string) string {
		return `{"action_name":"` + action + `","action_info":{"scene":{"scene_str":"` + scene + `"}}}`
	}
	perm := create(tok, strScene("QR_LIMIT_STR_SCENE", "k3m9x7q2w8r4"))
	if perm["ticket"] != SceneTicket(appA.AppID, "k3m9x7q2w8r4") || perm["url"] != SceneURL(appA.AppID, "k3m9x7q2w8r4") || perm["expire_seconds"] != nil {
		t.Errorf("permanent code: %v", perm)
	}
	temp := create(tok, `{"action_name":"QR_SCENE","expire_seconds":60,"action_info":{"scene":{"scene_id":7}}}`)
	if temp["ticket"] != SceneTicket(appA.AppID, "7") || temp["expire_seconds"] != float64(60) {
		t.Errorf("temporary code: %v", temp)
	}
	cases := []struct {
		name, token, body string
		errcode           float64
	}{
		{"no token", "", strScene("QR_LIMIT_STR_SCENE", "x"), 41001},
		{"unknown token", "nope", strScene("QR_LIMIT_STR_SCENE", "x"), 40001},
		{"empty scene", tok, strScene("QR_LIMIT_STR_SCENE", ""), 40097},
		{"long scene", tok, strScene("QR_LIMIT_STR_SCENE", strings.Repeat("x", 65)), 40097},
		{"permanent id too large", tok, `{"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id":100001}}}`, 40097},
		{"unknown action", tok, strScene("QR_FOREVER", "x"), 40097},
		{"not JSON", tok, "{", 47001},
	}
	for _, tc := range cases {
		if got := create(tc.token, tc.body); got["errcode"] != tc.errcode {
			t.Errorf("%s: %v, want errcode %v", tc.name, got, tc.errcode)
		}
	}
}
