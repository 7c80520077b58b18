package wxfake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	appA = App{AppID: "wxaaaaaaaaaaaaaaaa", Secret: "secret-a"}
	appB = App{AppID: "wxbbbbbbbbbbbbbbbb", Secret: "secret-b"}
)

func newFake(t *testing.T) *Server {
	t.Helper()
	s := New(appA, appB)
	t.Cleanup(s.Close)
	return s
}

// answer is the union of the JSON answers the tests look at.
type answer struct {
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	Type        string `json:"type"`
	MediaID     string `json:"media_id"`
	ThumbID     string `json:"thumb_media_id"`
	CreatedAt   int64  `json:"created_at"`
	Subscribe   int    `json:"subscribe"`
	OpenID      string `json:"openid"`
	Nickname    string `json:"nickname"`
	HeadImgURL  string `json:"headimgurl"`
	UnionID     string `json:"unionid"`
}

// call makes one request; it is safe in any goroutine.
func call(req *http.Request) (answer, *http.Response, []byte, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, nil, nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, nil, nil, fmt.Errorf("reading answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return answer{}, nil, nil, fmt.Errorf("%s %s: status %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	var a answer
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &a); err != nil {
			return answer{}, nil, nil, fmt.Errorf("decoding %q: %w", body, err)
		}
	}
	return a, resp, body, nil
}

func do(t *testing.T, req *http.Request) (answer, *http.Response, []byte) {
	t.Helper()
	a, resp, body, err := call(req)
	if err != nil {
		t.Fatal(err)
	}
	return a, resp, body
}

func get(t *testing.T, s *Server, path string, q url.Values) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL()+path+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := do(t, req)
	return a
}

func post(t *testing.T, s *Server, path string, q url.Values, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL()+path+"?"+q.Encode(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	a, _, _ := do(t, req)
	return a
}

func fetchToken(t *testing.T, s *Server, app App) string {
	t.Helper()
	a := get(t, s, "/cgi-bin/token", url.Values{
		"grant_type": {"client_credential"}, "appid": {app.AppID}, "secret": {app.Secret},
	})
	if a.ErrCode != 0 || a.AccessToken == "" {
		t.Fatalf("token for %s: %+v", app.AppID, a)
	}
	return a.AccessToken
}

func stableToken(t *testing.T, s *Server, app App, force bool) string {
	t.Helper()
	a := post(t, s, "/cgi-bin/stable_token", nil, fmt.Sprintf(
		`{"grant_type":"client_credential","appid":%q,"secret":%q,"force_refresh":%t}`,
		app.AppID, app.Secret, force))
	if a.ErrCode != 0 || a.AccessToken == "" {
		t.Fatalf("stable_token for %s: %+v", app.AppID, a)
	}
	return a.AccessToken
}

func sendText(t *testing.T, s *Server, tok, to, text string) answer {
	t.Helper()
	return post(t, s, "/cgi-bin/message/custom/send", url.Values{"access_token": {tok}},
		fmt.Sprintf(`{"touser":%q,"msgtype":"text","text":{"content":%q}}`, to, text))
}

func TestTokenEndpoint(t *testing.T) {
	s := newFake(t)
	tests := []struct {
		name    string
		method  string
		query   url.Values
		errcode int
		errmsg  string
	}{
		{"ok", http.MethodGet, url.Values{"grant_type": {"client_credential"}, "appid": {appA.AppID}, "secret": {appA.Secret}}, 0, ""},
		{"unknown appid", http.MethodGet, url.Values{"grant_type": {"client_credential"}, "appid": {"wxnope"}, "secret": {appA.Secret}}, 40013, "invalid appid"},
		{"wrong secret", http.MethodGet, url.Values{"grant_type": {"client_credential"}, "appid": {appA.AppID}, "secret": {appB.Secret}}, 40125, "invalid appsecret"},
		{"missing appid", http.MethodGet, url.Values{"grant_type": {"client_credential"}, "secret": {appA.Secret}}, 41002, "appid missing"},
		{"missing secret", http.MethodGet, url.Values{"grant_type": {"client_credential"}, "appid": {appA.AppID}}, 41004, "appsecret missing"},
		{"bad grant_type", http.MethodGet, url.Values{"grant_type": {"password"}, "appid": {appA.AppID}, "secret": {appA.Secret}}, 40002, "invalid grant_type"},
		{"POST", http.MethodPost, url.Values{"grant_type": {"client_credential"}, "appid": {appA.AppID}, "secret": {appA.Secret}}, 43001, "require GET method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, s.URL()+"/cgi-bin/token?"+tc.query.Encode(), nil)
			if err != nil {
				t.Fatal(err)
			}
			a, resp, _ := do(t, req)
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if a.ErrCode != tc.errcode || a.ErrMsg != tc.errmsg {
				t.Fatalf("got %d %q, want %d %q", a.ErrCode, a.ErrMsg, tc.errcode, tc.errmsg)
			}
			if tc.errcode == 0 && (len(a.AccessToken) < 32 || a.ExpiresIn != 7200) {
				t.Fatalf("token answer %+v", a)
			}
		})
	}
	// "ok", "wrong secret", "missing secret" and "bad grant_type" named app A.
	if got := s.TokenFetches(appA.AppID); got != 4 {
		t.Errorf("TokenFetches(A) = %d, want 4", got)
	}
	if got := s.TokensIssued(appA.AppID); got != 1 {
		t.Errorf("TokensIssued(A) = %d, want 1", got)
	}
}

func TestTokenLifecycle(t *testing.T) {
	tests := []struct {
		name string
		// run returns the token to send with and the errcode expected.
		run func(t *testing.T, s *Server) (tok string, errcode int)
	}{
		{"fresh token works", func(t *testing.T, s *Server) (string, int) {
			return fetchToken(t, s, appA), 0
		}},
		{"previous token invalid at once", func(t *testing.T, s *Server) (string, int) {
			old := fetchToken(t, s, appA)
			fetchToken(t, s, appA)
			return old, 40001
		}},
		{"new token valid after refresh", func(t *testing.T, s *Server) (string, int) {
			fetchToken(t, s, appA)
			return fetchToken(t, s, appA), 0
		}},
		{"previous token valid within grace", func(t *testing.T, s *Server) (string, int) {
			s.SetGrace(time.Hour)
			old := fetchToken(t, s, appA)
			fetchToken(t, s, appA)
			return old, 0
		}},
		{"previous token invalid after grace", func(t *testing.T, s *Server) (string, int) {
			s.SetGrace(30 * time.Millisecond)
			old := fetchToken(t, s, appA)
			fetchToken(t, s, appA)
			time.Sleep(50 * time.Millisecond)
			return old, 40001
		}},
		{"other app's refresh does not matter", func(t *testing.T, s *Server) (string, int) {
			tok := fetchToken(t, s, appA)
			fetchToken(t, s, appB)
			return tok, 0
		}},
		{"ExpireTokens", func(t *testing.T, s *Server) (string, int) {
			tok := fetchToken(t, s, appA)
			s.ExpireTokens(appA.AppID)
			return tok, 42001
		}},
		{"ExpireTokens then refetch", func(t *testing.T, s *Server) (string, int) {
			fetchToken(t, s, appA)
			s.ExpireTokens(appA.AppID)
			return fetchToken(t, s, appA), 0
		}},
		{"InvalidateTokens", func(t *testing.T, s *Server) (string, int) {
			tok := fetchToken(t, s, appA)
			s.InvalidateTokens(appA.AppID)
			return tok, 40001
		}},
		{"TTL runs out", func(t *testing.T, s *Server) (string, int) {
			s.SetTokenTTL(20 * time.Millisecond)
			a := get(t, s, "/cgi-bin/token", url.Values{
				"grant_type": {"client_credential"}, "appid": {appA.AppID}, "secret": {appA.Secret},
			})
			if a.ExpiresIn != 1 {
				t.Errorf("expires_in = %d, want 1", a.ExpiresIn)
			}
			time.Sleep(40 * time.Millisecond)
			return a.AccessToken, 42001
		}},
		{"unknown token", func(*testing.T, *Server) (string, int) {
			return strings.Repeat("x", 64), 40001
		}},
		{"malformed token", func(*testing.T, *Server) (string, int) {
			return "not a token!", 40014
		}},
		{"missing token", func(*testing.T, *Server) (string, int) {
			return "", 41001
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newFake(t)
			tok, want := tc.run(t, s)
			a := sendText(t, s, tok, "openid-1", "hello")
			if a.ErrCode != want {
				t.Fatalf("send: errcode %d (%s), want %d", a.ErrCode, a.ErrMsg, want)
			}
			switch want {
			case 40001:
				if !strings.HasPrefix(a.ErrMsg, "invalid credential, access_token is invalid or not latest rid: ") {
					t.Errorf("errmsg %q", a.ErrMsg)
				}
			case 42001:
				if !strings.HasPrefix(a.ErrMsg, "access_token expired rid: ") {
					t.Errorf("errmsg %q", a.ErrMsg)
				}
			case 40014:
				if a.ErrMsg != "invalid access_token" {
					t.Errorf("errmsg %q", a.ErrMsg)
				}
			}
		})
	}
}

func TestStableToken(t *testing.T) {
	t.Run("normal mode returns the current token", func(t *testing.T) {
		s := newFake(t)
		t1 := stableToken(t, s, appA, false)
		t2 := stableToken(t, s, appA, false)
		if t1 != t2 {
			t.Fatalf("tokens differ: %q %q", t1, t2)
		}
		if got := s.TokensIssued(appA.AppID); got != 1 {
			t.Errorf("TokensIssued = %d, want 1", got)
		}
		if got := s.TokenFetches(appA.AppID); got != 2 {
			t.Errorf("TokenFetches = %d, want 2", got)
		}
	})
	t.Run("force_refresh issues a new token", func(t *testing.T) {
		s := newFake(t)
		t1 := stableToken(t, s, appA, false)
		t2 := stableToken(t, s, appA, true)
		if t1 == t2 {
			t.Fatal("force_refresh returned the same token")
		}
		if a := sendText(t, s, t1, "o", "x"); a.ErrCode != 40001 {
			t.Errorf("old token: errcode %d", a.ErrCode)
		}
		if a := sendText(t, s, t2, "o", "x"); a.ErrCode != 0 {
			t.Errorf("new token: errcode %d", a.ErrCode)
		}
		if t3 := stableToken(t, s, appA, false); t3 != t2 {
			t.Error("normal mode after force did not return the forced token")
		}
	})
	t.Run("force_refresh with grace", func(t *testing.T) {
		s := newFake(t)
		s.SetGrace(time.Hour)
		t1 := stableToken(t, s, appA, false)
		stableToken(t, s, appA, true)
		if a := sendText(t, s, t1, "o", "x"); a.ErrCode != 0 {
			t.Errorf("old token within grace: errcode %d", a.ErrCode)
		}
	})
	t.Run("separate from /cgi-bin/token", func(t *testing.T) {
		s := newFake(t)
		st := stableToken(t, s, appA, false)
		fetchToken(t, s, appA)
		if a := sendText(t, s, st, "o", "x"); a.ErrCode != 0 {
			t.Errorf("stable token after /token: errcode %d", a.ErrCode)
		}
		if got := s.TokenFetches(appA.AppID); got != 2 {
			t.Errorf("TokenFetches = %d, want 2", got)
		}
	})
	t.Run("expired token is replaced in normal mode", func(t *testing.T) {
		s := newFake(t)
		t1 := stableToken(t, s, appA, false)
		s.ExpireTokens(appA.AppID)
		t2 := stableToken(t, s, appA, false)
		if t1 == t2 {
			t.Fatal("got the expired token again")
		}
		if a := sendText(t, s, t1, "o", "x"); a.ErrCode != 42001 {
			t.Errorf("expired token: errcode %d", a.ErrCode)
		}
	})
	t.Run("invalidated token is replaced in normal mode", func(t *testing.T) {
		s := newFake(t)
		t1 := stableToken(t, s, appA, false)
		s.InvalidateTokens(appA.AppID)
		if t2 := stableToken(t, s, appA, false); t1 == t2 {
			t.Fatal("got the invalidated token again")
		}
	})

	errs := []struct {
		name    string
		body    string
		errcode int
	}{
		{"not JSON", `grant_type=client_credential`, 47001},
		{"empty", ``, 44002},
		{"wrong secret", `{"grant_type":"client_credential","appid":"` + appA.AppID + `","secret":"x"}`, 40125},
		{"unknown app", `{"grant_type":"client_credential","appid":"wxnope","secret":"x"}`, 40013},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			s := newFake(t)
			if a := post(t, s, "/cgi-bin/stable_token", nil, tc.body); a.ErrCode != tc.errcode {
				t.Fatalf("errcode %d (%s), want %d", a.ErrCode, a.ErrMsg, tc.errcode)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		s := newFake(t)
		if a := get(t, s, "/cgi-bin/stable_token", nil); a.ErrCode != 43002 {
			t.Fatalf("errcode %d, want 43002", a.ErrCode)
		}
	})
}

func TestFailNextToken(t *testing.T) {
	s := newFake(t)
	s.FailNextToken(-1, "system error")
	s.FailNextToken(45009, "reach max api daily quota limit")
	q := url.Values{"grant_type": {"client_credential"}, "appid": {appA.AppID}, "secret": {appA.Secret}}
	for _, want := range []int{-1, 45009, 0} {
		if a := get(t, s, "/cgi-bin/token", q); a.ErrCode != want {
			t.Fatalf("errcode %d, want %d", a.ErrCode, want)
		}
	}
	if got := s.TokensIssued(appA.AppID); got != 1 {
		t.Errorf("TokensIssued = %d, want 1", got)
	}
	if got := s.TokenFetches(appA.AppID); got != 3 {
		t.Errorf("TokenFetches = %d, want 3", got)
	}
}

func TestSend(t *testing.T) {
	s := newFake(t)
	tokA := fetchToken(t, s, appA)
	tokB := fetchToken(t, s, appB)
	s.AddMedia(appA.AppID, "img-a", "image/jpeg", []byte("jpeg"))
	s.AddMedia("", "img-any", "image/png", []byte("png"))
	s.AddMedia(appA.AppID, "voice-a", "audio/amr", []byte("amr"))

	tests := []struct {
		name    string
		tok     string
		body    string
		errcode int
		errmsg  string
	}{
		{"text", tokA, `{"touser":"o1","msgtype":"text","text":{"content":"你好 <b>"}}`, 0, "ok"},
		{"image", tokA, `{"touser":"o1","msgtype":"image","image":{"media_id":"img-a"}}`, 0, "ok"},
		{"image visible to all apps", tokB, `{"touser":"o1","msgtype":"image","image":{"media_id":"img-any"}}`, 0, "ok"},
		{"voice", tokA, `{"touser":"o1","msgtype":"voice","voice":{"media_id":"voice-a"}}`, 0, "ok"},
		{"news", tokA, `{"touser":"o1","msgtype":"news","news":{"articles":[{"title":"t"}]}}`, 0, "ok"},
		{"image of other app", tokB, `{"touser":"o1","msgtype":"image","image":{"media_id":"img-a"}}`, 40007, "invalid media_id"},
		{"unknown media", tokA, `{"touser":"o1","msgtype":"image","image":{"media_id":"nope"}}`, 40007, "invalid media_id"},
		{"voice id as image", tokA, `{"touser":"o1","msgtype":"image","image":{"media_id":"voice-a"}}`, 40007, "invalid media_id"},
		{"unknown msgtype", tokA, `{"touser":"o1","msgtype":"hologram"}`, 40008, "invalid message type"},
		{"not JSON", tokA, `touser=o1`, 47001, "data format error"},
		{"wrong JSON types", tokA, `{"touser":"o1","msgtype":"text","text":"hi"}`, 47001, "data format error"},
		{"empty body", tokA, ``, 44002, "empty post data"},
		{"no touser", tokA, `{"msgtype":"text","text":{"content":"hi"}}`, 40003, "invalid openid"},
		{"empty text", tokA, `{"touser":"o1","msgtype":"text","text":{"content":""}}`, 44004, "empty content"},
		{"bad token", "x!", `{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`, 40014, "invalid access_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, s, "/cgi-bin/message/custom/send", url.Values{"access_token": {tc.tok}}, tc.body)
			if a.ErrCode != tc.errcode || a.ErrMsg != tc.errmsg {
				t.Fatalf("got %d %q, want %d %q", a.ErrCode, a.ErrMsg, tc.errcode, tc.errmsg)
			}
		})
	}

	attempts := s.Attempts()
	if len(attempts) != len(tests) {
		t.Fatalf("%d attempts recorded, want %d", len(attempts), len(tests))
	}
	for i, tc := range tests {
		if attempts[i].ErrCode != tc.errcode || !bytes.Equal(attempts[i].Raw, []byte(tc.body)) {
			t.Errorf("attempt %d = %+v, want errcode %d body %s", i, attempts[i], tc.errcode, tc.body)
		}
	}
	if got := attempts[len(attempts)-1].AppID; got != "" {
		t.Errorf("AppID of bad-token attempt = %q", got)
	}

	sent := s.Sent()
	if len(sent) != 5 {
		t.Fatalf("%d sent, want 5", len(sent))
	}
	first := sent[0]
	if first.AppID != appA.AppID || first.Token != tokA || first.ToUser != "o1" ||
		first.MsgType != "text" || first.Content != "你好 <b>" || first.At.IsZero() {
		t.Errorf("first send = %+v", first)
	}
	if text, _ := first.Body["text"].(map[string]any); text["content"] != "你好 <b>" {
		t.Errorf("Body = %v", first.Body)
	}
	first.Body["touser"] = "changed"
	if s.Sent()[0].Body["touser"] != "o1" {
		t.Error("Sent shares Body between calls")
	}
	if sent[1].MediaID != "img-a" || sent[2].AppID != appB.AppID {
		t.Errorf("image sends = %+v, %+v", sent[1], sent[2])
	}
}

func TestFailNextSend(t *testing.T) {
	s := newFake(t)
	tok := fetchToken(t, s, appA)
	s.FailNextSend(45015, "response out of time limit or subscription is canceled")
	s.FailNextSend(45047, "out of response count limit")

	if a := sendText(t, s, "", "o1", "skipped"); a.ErrCode != 41001 {
		t.Fatalf("missing token: errcode %d", a.ErrCode)
	}
	for i, want := range []struct {
		code int
		msg  string
	}{
		{45015, "response out of time limit or subscription is canceled"},
		{45047, "out of response count limit"},
		{0, "ok"},
	} {
		a := sendText(t, s, tok, "o1", fmt.Sprint("m", i))
		if a.ErrCode != want.code || a.ErrMsg != want.msg {
			t.Fatalf("send %d: %d %q, want %d %q", i, a.ErrCode, a.ErrMsg, want.code, want.msg)
		}
	}
	if sent := s.Sent(); len(sent) != 1 || sent[0].Content != "m2" {
		t.Fatalf("Sent = %+v", sent)
	}
	if got := len(s.Attempts()); got != 4 {
		t.Fatalf("%d attempts, want 4", got)
	}
}

func TestWaitSent(t *testing.T) {
	s := newFake(t)
	tok := fetchToken(t, s, appA)
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		for i := range 3 {
			time.Sleep(5 * time.Millisecond)
			q := url.Values{"access_token": {tok}}
			body := fmt.Sprintf(`{"touser":"o1","msgtype":"text","text":{"content":"%d"}}`, i)
			req, _ := http.NewRequest(http.MethodPost, s.URL()+"/cgi-bin/message/custom/send?"+q.Encode(), strings.NewReader(body))
			if _, _, _, err := call(req); err != nil {
				t.Error(err)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sent, err := s.WaitSent(ctx, 3)
	if err != nil || len(sent) != 3 {
		t.Fatalf("WaitSent = %d, %v", len(sent), err)
	}

	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	sent, err = s.WaitSent(short, 4)
	if !errors.Is(err, context.DeadlineExceeded) || len(sent) != 3 {
		t.Fatalf("WaitSent past deadline = %d, %v", len(sent), err)
	}
}

func upload(t *testing.T, s *Server, tok, kind, field, filename, ct string, data []byte) answer {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, filename))
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	pw, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = pw.Write(data)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"access_token": {tok}, "type": {kind}}
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/cgi-bin/media/upload?"+q.Encode(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	a, _, _ := do(t, req)
	return a
}

func mediaGet(t *testing.T, s *Server, tok, id string) (answer, *http.Response, []byte) {
	t.Helper()
	q := url.Values{"access_token": {tok}, "media_id": {id}}
	req, err := http.NewRequest(http.MethodGet, s.URL()+"/cgi-bin/media/get?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func TestUploadAndGet(t *testing.T) {
	s := newFake(t)
	tokA := fetchToken(t, s, appA)
	tokB := fetchToken(t, s, appB)
	png := []byte("\x89PNG\r\n\x1a\n fake png")

	before := time.Now().Unix()
	a := upload(t, s, tokA, "image", "media", "pic.png", "image/png", png)
	if a.ErrCode != 0 || a.Type != "image" || a.MediaID == "" || a.CreatedAt < before {
		t.Fatalf("upload answer %+v", a)
	}
	ups := s.Uploads()
	if len(ups) != 1 {
		t.Fatalf("%d uploads", len(ups))
	}
	if u := ups[0]; u.AppID != appA.AppID || u.Type != "image" || u.MediaID != a.MediaID ||
		u.Filename != "pic.png" || u.ContentType != "image/png" || !bytes.Equal(u.Data, png) {
		t.Fatalf("upload record %+v", u)
	}

	_, resp, body := mediaGet(t, s, tokA, a.MediaID)
	if !bytes.Equal(body, png) || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("media/get: %q %q", resp.Header.Get("Content-Type"), body)
	}
	if cd, want := resp.Header.Get("Content-Disposition"), `attachment; filename="`+a.MediaID+`.png"`; cd != want {
		t.Errorf("Content-Disposition %q, want %q", cd, want)
	}
	if r := sendImage(t, s, tokA, a.MediaID); r.ErrCode != 0 {
		t.Errorf("send uploaded image: %+v", r)
	}

	// Inbound media a test pretends a customer sent.
	s.AddMedia(appA.AppID, "inbound-1", "image/jpeg", []byte("jpeg bytes"))
	_, resp, body = mediaGet(t, s, tokA, "inbound-1")
	if string(body) != "jpeg bytes" || resp.Header.Get("Content-Type") != "image/jpeg" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="inbound-1.jpg"` {
		t.Fatalf("inbound media: %v %q", resp.Header, body)
	}

	errs := []struct {
		name string
		tok  string
		id   string
		code int
	}{
		{"unknown id", tokA, "nope", 40007},
		{"missing id", tokA, "", 40007},
		{"other app's media", tokB, "inbound-1", 40007},
		{"expired-looking token", strings.Repeat("z", 64), "inbound-1", 40001},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			a, resp, _ := mediaGet(t, s, tc.tok, tc.id)
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if a.ErrCode != tc.code {
				t.Fatalf("errcode %d (%s), want %d", a.ErrCode, a.ErrMsg, tc.code)
			}
		})
	}

	uploadErrs := []struct {
		name, kind, field string
		data              []byte
		code              int
	}{
		{"bad type", "pdf", "media", png, 40004},
		{"wrong field", "image", "file", png, 41005},
		{"empty file", "image", "media", nil, 41005},
		{"thumb too big", "thumb", "media", make([]byte, 65<<10), 40012},
	}
	for _, tc := range uploadErrs {
		t.Run(tc.name, func(t *testing.T) {
			if a := upload(t, s, tokA, tc.kind, tc.field, "f", "", tc.data); a.ErrCode != tc.code {
				t.Fatalf("errcode %d (%s), want %d", a.ErrCode, a.ErrMsg, tc.code)
			}
		})
	}

	t.Run("thumb answers thumb_media_id", func(t *testing.T) {
		a := upload(t, s, tokA, "thumb", "media", "t.jpg", "", []byte("\xff\xd8\xff\xe0 jpeg"))
		if a.ErrCode != 0 || a.ThumbID == "" || a.MediaID != "" {
			t.Fatalf("answer %+v", a)
		}
		_, resp, _ := mediaGet(t, s, tokA, a.ThumbID)
		if ct := resp.Header.Get("Content-Type"); ct != "image/jpeg" {
			t.Errorf("sniffed Content-Type %q", ct)
		}
	})
	if got := len(s.Uploads()); got != 2 {
		t.Errorf("%d uploads recorded, want 2", got)
	}
}

func sendImage(t *testing.T, s *Server, tok, mediaID string) answer {
	t.Helper()
	return post(t, s, "/cgi-bin/message/custom/send", url.Values{"access_token": {tok}},
		fmt.Sprintf(`{"touser":"o1","msgtype":"image","image":{"media_id":%q}}`, mediaID))
}

func TestUserInfo(t *testing.T) {
	s := newFake(t)
	tokA := fetchToken(t, s, appA)
	tokB := fetchToken(t, s, appB)
	s.AddUser(appA.AppID, User{OpenID: "o-full", Nickname: "小明", HeadImgURL: "http://img/1", UnionID: "u1"})
	s.AddUser(appA.AppID, User{OpenID: "o-bare"})
	s.AddUser("", User{OpenID: "o-all", Nickname: "Everyone"})

	tests := []struct {
		name    string
		tok     string
		openid  string
		errcode int
		raw     string // exact answer when non-empty
	}{
		{"full", tokA, "o-full", 0, `{"subscribe":1,"openid":"o-full","nickname":"小明","headimgurl":"http://img/1","unionid":"u1"}`},
		{"fields omitted", tokA, "o-bare", 0, `{"subscribe":1,"openid":"o-bare"}`},
		{"registered for all apps", tokB, "o-all", 0, `{"subscribe":1,"openid":"o-all","nickname":"Everyone"}`},
		{"other app's user", tokB, "o-full", 40003, `{"errcode":40003,"errmsg":"invalid openid"}`},
		{"unknown", tokA, "o-nope", 40003, ""},
		{"missing openid", tokA, "", 40003, ""},
		{"bad token", "bad token", "o-full", 40014, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"access_token": {tc.tok}, "openid": {tc.openid}, "lang": {"zh_CN"}}
			req, err := http.NewRequest(http.MethodGet, s.URL()+"/cgi-bin/user/info?"+q.Encode(), nil)
			if err != nil {
				t.Fatal(err)
			}
			a, _, body := do(t, req)
			if a.ErrCode != tc.errcode {
				t.Fatalf("errcode %d (%s), want %d", a.ErrCode, a.ErrMsg, tc.errcode)
			}
			if tc.raw != "" && strings.TrimSpace(string(body)) != tc.raw {
				t.Fatalf("answer %s, want %s", body, tc.raw)
			}
		})
	}
}

func TestMethods(t *testing.T) {
	s := newFake(t)
	tests := []struct {
		method, path string
		errcode      int
	}{
		{http.MethodGet, "/cgi-bin/message/custom/send", 43002},
		{http.MethodGet, "/cgi-bin/media/upload", 43002},
		{http.MethodPost, "/cgi-bin/media/get", 43001},
		{http.MethodPost, "/cgi-bin/user/info", 43001},
	}
	for _, tc := range tests {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, s.URL()+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if a, _, _ := do(t, req); a.ErrCode != tc.errcode {
				t.Fatalf("errcode %d, want %d", a.ErrCode, tc.errcode)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	s := newFake(t)
	tok := fetchToken(t, s, appA)
	s.SetDelay(time.Hour)

	client := &http.Client{Timeout: 50 * time.Millisecond}
	q := url.Values{"access_token": {tok}}
	resp, err := client.Post(s.URL()+"/cgi-bin/message/custom/send?"+q.Encode(), "application/json",
		strings.NewReader(`{"touser":"o1","msgtype":"text","text":{"content":"late"}}`))
	if err == nil {
		_ = resp.Body.Close()
		t.Fatal("send did not time out")
	}

	s.SetDelay(30 * time.Millisecond)
	start := time.Now()
	if a := sendText(t, s, tok, "o1", "slow"); a.ErrCode != 0 {
		t.Fatalf("delayed send: %+v", a)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("answered after %v, want >= 30ms", d)
	}
	if sent := s.Sent(); len(sent) != 1 || sent[0].Content != "slow" {
		t.Fatalf("Sent = %+v, want only the delayed one", sent)
	}

	// Close must not wait out a pending delay.
	s.SetDelay(time.Hour)
	go func() {
		resp, err := http.Get(s.URL() + "/cgi-bin/token")
		if err == nil {
			_ = resp.Body.Close()
		}
	}()
	time.Sleep(20 * time.Millisecond)
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a delayed request")
	}
}

// TestConcurrent has two "replicas" per app refreshing tokens and many
// goroutines sending; run it with -race.
func TestConcurrent(t *testing.T) {
	s := newFake(t)
	s.SetGrace(time.Hour) // refreshes by one replica must not break the other
	const replicas, senders, perSender = 2, 8, 10

	var wg sync.WaitGroup
	for _, app := range []App{appA, appB} {
		for r := range replicas {
			for g := range senders {
				wg.Go(func() {
					for i := range perSender {
						var req *http.Request
						if (g+i)%2 == 0 {
							q := url.Values{"grant_type": {"client_credential"}, "appid": {app.AppID}, "secret": {app.Secret}}
							req, _ = http.NewRequest(http.MethodGet, s.URL()+"/cgi-bin/token?"+q.Encode(), nil)
						} else {
							body := fmt.Sprintf(`{"grant_type":"client_credential","appid":%q,"secret":%q,"force_refresh":%t}`,
								app.AppID, app.Secret, i%5 == 0)
							req, _ = http.NewRequest(http.MethodPost, s.URL()+"/cgi-bin/stable_token", strings.NewReader(body))
						}
						tok, _, _, err := call(req)
						if err != nil || tok.AccessToken == "" {
							t.Errorf("%s token: %+v %v", app.AppID, tok, err)
							return
						}
						q := url.Values{"access_token": {tok.AccessToken}}
						body := fmt.Sprintf(`{"touser":"o1","msgtype":"text","text":{"content":"%d/%d/%d"}}`, r, g, i)
						req, _ = http.NewRequest(http.MethodPost, s.URL()+"/cgi-bin/message/custom/send?"+q.Encode(), strings.NewReader(body))
						if a, _, _, err := call(req); err != nil || a.ErrCode != 0 {
							t.Errorf("%s send: %+v %v", app.AppID, a, err)
						}
					}
				})
			}
		}
	}
	wg.Go(func() {
		for range 20 {
			s.AddUser("", User{OpenID: "o1"})
			_ = s.Uploads()
			_ = s.TokenFetches(appA.AppID)
		}
	})

	total := 2 * replicas * senders * perSender
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := s.WaitSent(ctx, total); err != nil {
		t.Error(err)
	}
	wg.Wait()

	per := map[string]int{}
	for _, x := range s.Sent() {
		per[x.AppID]++
	}
	for _, app := range []App{appA, appB} {
		if want := replicas * senders * perSender; per[app.AppID] != want || s.TokenFetches(app.AppID) != want {
			t.Errorf("%s: %d sent, %d token fetches, want %d each",
				app.AppID, per[app.AppID], s.TokenFetches(app.AppID), want)
		}
	}
}
