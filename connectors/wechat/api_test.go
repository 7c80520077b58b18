package wechat

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/connectors"
	"switchboard/connectors/wechat/wxfake"
	"switchboard/internal/blob"
	"switchboard/internal/redistest"
)

// replica is one gateway process's WeChat connector, on a shared Redis and
// a shared fake of WeChat's API.
func replica(t *testing.T, fake *wxfake.Server, env connectors.Env, edit ...func(*App)) *Connector {
	t.Helper()
	a := App{ID: "main", AppID: testAppID, AppSecret: "secret", Token: testToken, EncodingAESKey: a43, APIBase: fake.URL()}
	for _, e := range edit {
		e(&a)
	}
	env.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	env.HTTP = &http.Client{Timeout: 5 * time.Second}
	c, err := build(connectors.WeChatOA, env, func(v any) error {
		*(v.(*[]App)) = []App{a}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func outbound(id, text string) *connectors.Outbound {
	return &connectors.Outbound{ID: id, Channel: connectors.WeChatOA, Account: "main",
		To: connectors.Identity{Type: "openid", Value: "oUser12345"}, Kind: connectors.KindText, Text: text}
}

// Many concurrent sends on two replicas fetch the access token once, from
// one replica, and all go out.
func TestTokenFetchedOnceAcrossReplicas(t *testing.T) {
	for _, stable := range []bool{false, true} {
		rdb, prefix := redistest.Client(t)
		fake := wxfake.New(wxfake.App{AppID: testAppID, Secret: "secret"})
		defer fake.Close()
		fake.SetDelay(50 * time.Millisecond) // a slow token endpoint widens the race
		env := connectors.Env{Redis: rdb, Prefix: prefix}
		set := func(a *App) { a.StableToken = stable }
		reps := []*Connector{replica(t, fake, env, set), replica(t, fake, env, set)}
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, err := reps[i%2].Send(context.Background(), outbound("o"+string(rune('A'+i)), "你好"))
				errs <- err
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("stable=%v: send: %v", stable, err)
			}
		}
		if n := fake.TokenFetches(testAppID); n != 1 {
			t.Errorf("stable=%v: %d token fetches for 40 sends on two replicas, want 1", stable, n)
		}
		if n := len(fake.Sent()); n != 40 {
			t.Errorf("stable=%v: %d sent", stable, n)
		}
	}
}

// An expired or invalidated token is refreshed once and the send retried;
// the other replica then uses the new token without fetching its own.
func TestRejectedTokenRefreshedOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reject func(*wxfake.Server)
	}{
		{"expired 42001", func(f *wxfake.Server) { f.ExpireTokens(testAppID) }},
		{"invalid 40001", func(f *wxfake.Server) { f.InvalidateTokens(testAppID) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb, prefix := redistest.Client(t)
			fake := wxfake.New(wxfake.App{AppID: testAppID, Secret: "secret"})
			defer fake.Close()
			env := connectors.Env{Redis: rdb, Prefix: prefix}
			a, b := replica(t, fake, env), replica(t, fake, env)
			if _, err := a.Send(context.Background(), outbound("o1", "one")); err != nil {
				t.Fatal(err)
			}
			tc.reject(fake)
			if _, err := a.Send(context.Background(), outbound("o2", "two")); err != nil {
				t.Fatalf("send after the token was rejected: %v", err)
			}
			if _, err := b.Send(context.Background(), outbound("o3", "three")); err != nil {
				t.Fatal(err)
			}
			if n := fake.TokenFetches(testAppID); n != 2 {
				t.Errorf("%d token fetches, want 2 (the first, one refresh)", n)
			}
			if n := len(fake.Sent()); n != 3 {
				t.Errorf("%d delivered", n)
			}
		})
	}
}

// WeChat's refusals reach the outbox with the errcode, a reason, and
// whether to retry.
func TestSendErrors(t *testing.T) {
	cases := []struct {
		code      int
		msg       string
		temporary bool
		reason    string
	}{
		{45015, "response out of time limit or subscription is canceled rid: 1-2", false, "48"},
		{45047, "out of response count limit", false, "limit"},
		{40003, "invalid openid", false, "openid"},
		{-1, "system error", true, "busy"},
	}
	for _, tc := range cases {
		rdb, prefix := redistest.Client(t)
		fake := wxfake.New(wxfake.App{AppID: testAppID, Secret: "secret"})
		c := replica(t, fake, connectors.Env{Redis: rdb, Prefix: prefix})
		fake.FailNextSend(tc.code, tc.msg)
		_, err := c.Send(context.Background(), outbound("o1", "hi"))
		var ce *connectors.Error
		if !errors.As(err, &ce) {
			t.Fatalf("%d: error %v is not a *connectors.Error", tc.code, err)
		}
		if ce.Code != itoa(int64(tc.code)) || ce.Temporary != tc.temporary || !strings.Contains(ce.Msg, tc.reason) {
			t.Errorf("%d: %+v", tc.code, ce)
		}
		if strings.Contains(ce.Error(), "rid:") || strings.Contains(ce.Error(), "access_token=") {
			t.Errorf("%d: error leaks a request id or token: %s", tc.code, ce.Error())
		}
		fake.Close()
	}
}

// A retried outbound message does not send again what already went out.
func TestSendIsIdempotentPerPart(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	fake := wxfake.New(wxfake.App{AppID: testAppID, Secret: "secret"})
	defer fake.Close()
	c := replica(t, fake, connectors.Env{Redis: rdb, Prefix: prefix})
	for i := 0; i < 3; i++ {
		if _, err := c.Send(context.Background(), outbound("same-id", "once")); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(fake.Sent()); n != 1 {
		t.Errorf("%d sends for one outbound id", n)
	}
}

// An image reply is uploaded as temporary media and sent by its media id.
func TestSendImage(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	fake := wxfake.New(wxfake.App{AppID: testAppID, Secret: "secret"})
	defer fake.Close()
	store, err := blob.Open(t.TempDir(), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	png := []byte("\x89PNG\r\n\x1a\nfake image bytes")
	id := blob.NewID()
	if _, err := store.Put(context.Background(), id, bytes.NewReader(png), "shot.png", "image/png"); err != nil {
		t.Fatal(err)
	}
	c := replica(t, fake, connectors.Env{Redis: rdb, Prefix: prefix, Blobs: store})
	m := outbound("img1", "看图")
	m.Attachments = []connectors.Attachment{{Name: "shot.png", ContentType: "image/png", Ref: id}}
	if _, err := c.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	ups := fake.Uploads()
	if len(ups) != 1 || !bytes.Equal(ups[0].Data, png) {
		t.Fatalf("uploads %+v", ups)
	}
	sent := fake.Sent()
	if len(sent) != 2 || sent[0].MsgType != "image" || sent[0].MediaID != ups[0].MediaID || sent[1].Content != "看图" {
		t.Errorf("sent %+v", sent)
	}

	// Replies may carry images on a configured app with a blob store only.
	if !c.CanAttach("main") || c.CanAttach("nosuch") {
		t.Errorf("CanAttach(main) = %v, CanAttach(nosuch) = %v; want true, false", c.CanAttach("main"), c.CanAttach("nosuch"))
	}
	if bare := replica(t, fake, connectors.Env{Redis: rdb, Prefix: prefix}); bare.CanAttach("main") {
		t.Error("CanAttach without a blob store")
	}
}

// recorderProfiles is an Ingester that also keeps profiles.
type recorderProfiles struct {
	recorder
	mu       sync.Mutex
	profiles map[string]connectors.Profile
}

func (r *recorderProfiles) UpdateProfile(_ context.Context, customer string, p connectors.Profile) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.profiles == nil {
		r.profiles = map[string]connectors.Profile{}
	}
	r.profiles[customer] = p
	return nil
}

// After the acknowledgement, the push's media lands in the blob store under
// the id its message names, and the follower's profile reaches the router.
func TestAfterAckJobs(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	fake := wxfake.New(wxfake.App{AppID: testAppID, Secret: "secret"})
	defer fake.Close()
	jpeg := []byte("\xff\xd8\xff\xe0 a customer's photo")
	fake.AddMedia(testAppID, "MEDIA1", "image/jpeg", jpeg)
	fake.AddUser(testAppID, wxfake.User{OpenID: "oUser12345", Nickname: "小王", HeadImgURL: "http://wx.qlogo.cn/x", UnionID: "oUnion999"})
	store, _ := blob.Open(t.TempDir(), blob.Options{})
	in := &recorderProfiles{}
	c := replica(t, fake, connectors.Env{In: in, Redis: rdb, Prefix: prefix, Blobs: store, Now: testClock})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	body := xmlPush("image", "<PicUrl><![CDATA[http://mmbiz/x]]></PicUrl><MediaId><![CDATA[MEDIA1]]></MediaId><MsgId>77</MsgId>")
	if _, err := c.receive(ctx, request(t, safe, body, false)); err != nil {
		t.Fatal(err)
	}
	msgs := in.all()
	if len(msgs) != 1 || len(msgs[0].Attachments) != 1 {
		t.Fatalf("messages %+v", msgs)
	}
	ref := msgs[0].Attachments[0].Ref
	deadline := time.Now().Add(10 * time.Second)
	for !store.Exists(ref) || in.profile("u").Name == "" {
		if time.Now().After(deadline) {
			t.Fatalf("media stored %v, profile %+v", store.Exists(ref), in.profile("u"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	f, meta, err := store.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, jpeg) || meta.ContentType != "image/jpeg" {
		t.Errorf("stored %q as %s", got, meta.ContentType)
	}
	p := in.profile("u")
	if p.Name != "小王" || p.Avatar != "http://wx.qlogo.cn/x" || len(p.Also) != 1 || p.Also[0] != (connectors.Identity{Type: "unionid", Value: "oUnion999"}) {
		t.Errorf("profile %+v", p)
	}
}

func (r *recorderProfiles) profile(id string) connectors.Profile {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.profiles[id]
}

// A mini-program takes no passive text: its greeting goes out through the
// API after the acknowledgement, once however often WeChat retries.
func TestMiniProgramGreetingThroughTheAPI(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	fake := wxfake.New(wxfake.App{AppID: testAppID, Secret: "secret"})
	defer fake.Close()
	a := App{ID: "main", AppID: testAppID, AppSecret: "secret", Token: testToken, EncodingAESKey: a43, APIBase: fake.URL(),
		Greeting: "您好，有什么可以帮您？"}
	c, err := build(connectors.WeChatMP, connectors.Env{In: &recorder{}, Redis: rdb, Prefix: prefix, Now: testClock,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), HTTP: &http.Client{Timeout: 5 * time.Second}},
		func(v any) error { *(v.(*[]App)) = []App{a}; return nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	push := `{"ToUserName":"gh","FromUserName":"oUser12345","CreateTime":1700000000,"MsgType":"event","Event":"user_enter_tempsession","SessionFrom":"x"}`
	for i := 0; i < 3; i++ {
		resp, err := c.receive(ctx, request(t, safe, push, true))
		if err != nil || string(resp.Body) != "success" {
			t.Fatalf("push %d: %v %v", i, resp, err)
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	sent, err := fake.WaitSent(wctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if sent[0].ToUser != "oUser12345" || sent[0].Content != "您好，有什么可以帮您？" {
		t.Errorf("sent %+v", sent[0])
	}
	time.Sleep(300 * time.Millisecond) // a second greeting would have had time to go out
	if n := len(fake.Sent()); n != 1 {
		t.Errorf("%d greetings for one entry delivered three times", n)
	}
}

// A push that carries a UnionId links the customer without an API call.
func TestUnionIDFromPush(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	fake := wxfake.New(wxfake.App{AppID: testAppID, Secret: "secret"})
	defer fake.Close()
	in := &recorderProfiles{}
	c := replica(t, fake, connectors.Env{In: in, Redis: rdb, Prefix: prefix, Now: testClock}, func(a *App) { no := false; a.FetchProfile, a.AllowPlaintext = &no, true })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	body := xmlPush("text", "<Content>hi</Content><MsgId>5</MsgId><UnionId><![CDATA[oUnionFromPush1]]></UnionId>")
	if _, err := c.receive(ctx, request(t, plain, body, false)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(in.profile("u").Also) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the push's unionid never reached the router")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p := in.profile("u"); p.Also[0] != (connectors.Identity{Type: "unionid", Value: "oUnionFromPush1"}) {
		t.Errorf("profile %+v", p)
	}
	if n := fake.TokenFetches(testAppID); n != 0 {
		t.Errorf("%d token fetches: the unionid came with the push, no API call was needed", n)
	}
}

// In plaintext mode a signature (timestamp and nonce) is bound to the body
// it first came with: WeChat's retry of the same body passes, another body
// under the same signature is refused.
func TestPlaintextSignatureBoundToBody(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	fake := wxfake.New(wxfake.App{AppID: testAppID, Secret: "secret"})
	defer fake.Close()
	in := &recorder{}
	c := replica(t, fake, connectors.Env{In: in, Redis: rdb, Prefix: prefix, Now: func() time.Time { return time.Unix(1700000000, 0) }},
		func(a *App) { a.EncodingAESKey = "" })
	first := request(t, plain, xmlPush("text", "<Content>real</Content><MsgId>1</MsgId>"), false)
	for i := 0; i < 2; i++ {
		if _, err := c.receive(context.Background(), first); err != nil {
			t.Fatalf("delivery %d of the real push: %v", i, err)
		}
	}
	forged := request(t, plain, xmlPush("text", "<Content>forged</Content><MsgId>2</MsgId>"), false)
	_, err := c.receive(context.Background(), forged)
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Status != 401 {
		t.Fatalf("another body under the same signature: %v, want 401", err)
	}
	if msgs := in.all(); len(msgs) != 1 || msgs[0].Text != "real" {
		t.Errorf("stored %+v", msgs)
	}
}
