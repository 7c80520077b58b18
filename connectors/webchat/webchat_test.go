package webchat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/redistest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// sitesDecoder is the decode func a config section would give.
func sitesDecoder(sites ...Site) func(v any) error {
	return func(v any) error {
		p, ok := v.(*[]Site)
		if !ok {
			return fmt.Errorf("decode into %T", v)
		}
		*p = append([]Site(nil), sites...)
		return nil
	}
}

// nowhere is a client that is never used: New only needs one to exist.
func nowhere(t *testing.T) redis.UniversalClient {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestNewValidatesConfig(t *testing.T) {
	cases := []struct {
		name  string
		sites []Site
		want  []string // fragments of the error; none means valid
	}{
		{"valid", []Site{{ID: "site", AllowedOrigins: []string{"https://shop.example.com", "http://localhost:8080"}}, {ID: "b-2_x", AllowedOrigins: []string{"*"}}}, nil},
		{"no sites", nil, nil},
		{"empty id", []Site{{ID: ""}}, []string{"[0].id", "not a valid id"}},
		{"id with a space", []Site{{ID: "my site"}}, []string{"[0].id"}},
		{"id starting with a dash", []Site{{ID: "-site"}}, []string{"[0].id"}},
		{"id with a colon", []Site{{ID: "a:b"}}, []string{"[0].id"}},
		{"id with braces", []Site{{ID: "a{b}"}}, []string{"[0].id"}},
		{"id too long", []Site{{ID: strings.Repeat("a", 65)}}, []string{"[0].id"}},
		{"duplicate id", []Site{{ID: "site"}, {ID: "other"}, {ID: "site"}}, []string{"[2].id", "used twice"}},
		{"origin without scheme", []Site{{ID: "site", AllowedOrigins: []string{"shop.example.com"}}}, []string{"[0].allowed_origins[0]"}},
		{"origin with a path", []Site{{ID: "site", AllowedOrigins: []string{"https://ok.example.com", "https://shop.example.com/"}}}, []string{"[0].allowed_origins[1]"}},
		{"origin with a query", []Site{{ID: "site", AllowedOrigins: []string{"https://shop.example.com?x=1"}}}, []string{"[0].allowed_origins[0]"}},
		{"origin of another scheme", []Site{{ID: "site", AllowedOrigins: []string{"ftp://shop.example.com"}}}, []string{"[0].allowed_origins[0]"}},
		{"origin without host", []Site{{ID: "site", AllowedOrigins: []string{"https://"}}}, []string{"[0].allowed_origins[0]"}},
		{"origin with a space", []Site{{ID: "site", AllowedOrigins: []string{"https://shop example.com"}}}, []string{"[0].allowed_origins[0]"}},
		{"wildcard subdomain", []Site{{ID: "site", AllowedOrigins: []string{"*.example.com"}}}, []string{"[0].allowed_origins[0]"}},
		{"every error at once", []Site{{ID: "ok"}, {ID: "bad id", AllowedOrigins: []string{"nope"}}, {ID: "ok"}},
			[]string{"[1].id", "[1].allowed_origins[0]", "[2].id"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(connectors.Env{Redis: nowhere(t), Log: quiet()}, sitesDecoder(tc.sites...))
			if len(tc.want) == 0 {
				if err != nil || c == nil {
					t.Fatalf("New: %v, want a connector", err)
				}
				if c.Channel() != connectors.WebChat {
					t.Fatalf("channel %q", c.Channel())
				}
				return
			}
			if err == nil {
				t.Fatalf("New accepted %+v", tc.sites)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("decode error", func(t *testing.T) {
		boom := errors.New("line 3: cannot unmarshal")
		if _, err := New(connectors.Env{Redis: nowhere(t)}, func(any) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("New: %v, want the decoder's error", err)
		}
	})
	t.Run("a logger even when none is given", func(t *testing.T) {
		c, err := New(connectors.Env{Redis: nowhere(t)}, sitesDecoder(Site{ID: "shop"}))
		if err != nil {
			t.Fatal(err)
		}
		if c.(*Connector).env.Log == nil {
			t.Fatal("the connector has no logger: its first warning would panic")
		}
	})
	t.Run("site name defaults to id", func(t *testing.T) {
		c, err := New(connectors.Env{Redis: nowhere(t)}, sitesDecoder(Site{ID: "shop"}))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.(*Connector).sites["shop"].Name; got != "shop" {
			t.Fatalf("name %q, want the id", got)
		}
	})
}

// ingester records what it is given and answers with fresh ids; a message
// it saw (same visitor and client id) gets the first answer again.
type ingester struct {
	mu   sync.Mutex
	msgs []*connectors.Message
	seen map[string]connectors.Accepted
	err  error
}

func (in *ingester) Ingest(_ context.Context, m *connectors.Message) (connectors.Accepted, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.err != nil {
		return connectors.Accepted{}, in.err
	}
	if in.seen == nil {
		in.seen = map[string]connectors.Accepted{}
	}
	key := m.From.Value + "|" + m.ExternalID
	if a, ok := in.seen[key]; ok && m.ExternalID != "" {
		a.Duplicate = true
		return a, nil
	}
	in.msgs = append(in.msgs, m)
	n := len(in.msgs)
	a := connectors.Accepted{MessageID: fmt.Sprintf("msg-%d", n), ConversationID: "conv-" + m.From.Value, CustomerID: "cust-" + m.From.Value}
	in.seen[key] = a
	return a, nil
}

func (in *ingester) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.msgs)
}

// live builds a connector on a real Redis.
func live(t *testing.T, in connectors.Ingester) (*Connector, redis.UniversalClient, string) {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	c, err := New(connectors.Env{In: in, Redis: rdb, Prefix: prefix, Log: quiet(), PublicURL: "https://gw.example.com"},
		sitesDecoder(Site{ID: "site", AllowedOrigins: []string{"https://shop.example.com"}}))
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Connector), rdb, prefix
}

const visitor = "visitor_0123456789abcdef"

func TestSend(t *testing.T) {
	c, rdb, prefix := live(t, &ingester{})
	ctx := context.Background()
	out := func(id string) *connectors.Outbound {
		return &connectors.Outbound{ID: id, ConversationID: "conv", Channel: connectors.WebChat, Account: "site",
			To: connectors.Identity{Type: "visitor", Value: visitor}, Kind: connectors.KindText, Text: "您好", Author: "李明",
			Time: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)}
	}

	refusals := []struct {
		name      string
		change    func(m *connectors.Outbound)
		code      string
		permanent bool
		err       error
	}{
		{"unknown site", func(m *connectors.Outbound) { m.Account = "nosuch" }, "unknown_site", true, nil},
		{"e-mail recipient", func(m *connectors.Outbound) { m.To = connectors.Identity{Type: "email", Value: "a@example.com"} }, "bad_recipient", true, nil},
		{"openid recipient", func(m *connectors.Outbound) { m.To.Type = "openid" }, "bad_recipient", true, nil},
		{"malformed visitor id", func(m *connectors.Outbound) { m.To.Value = "short" }, "bad_recipient", true, nil},
		{"visitor id that escapes the key", func(m *connectors.Outbound) { m.To.Value = "visitor}:x{aaaaaaaaaaaaa" }, "bad_recipient", true, nil},
		{"image", func(m *connectors.Outbound) { m.Kind = connectors.KindImage }, "", false, connectors.ErrUnsupported},
		{"text with an image", func(m *connectors.Outbound) {
			m.Attachments = []connectors.Attachment{{Name: "a.png", ContentType: "image/png", Ref: "0123456789abcdef0123456789abcdef"}}
		}, "attachments_unsupported", true, nil},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			m := out("m-refused")
			tc.change(m)
			_, err := c.Send(ctx, m)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Send: %v, want %v", err, tc.err)
				}
				return
			}
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Temporary || ce.Code != tc.code {
				t.Fatalf("Send: %#v, want a permanent error with code %q", err, tc.code)
			}
		})
	}
	if n, _ := rdb.Keys(ctx, prefix+"*").Result(); len(n) != 0 {
		t.Fatalf("refused sends wrote keys %v", n)
	}

	rc1, err := c.Send(ctx, out("m-1"))
	if err != nil {
		t.Fatal(err)
	}
	rc2, err := c.Send(ctx, out("m-1")) // an outbox retry of the same message
	if err != nil {
		t.Fatal(err)
	}
	if rc1.ExternalID == "" || rc1.ExternalID != rc2.ExternalID {
		t.Fatalf("receipts %q and %q, want the same event id", rc1.ExternalID, rc2.ExternalID)
	}
	if _, err := c.Send(ctx, out("m-2")); err != nil {
		t.Fatal(err)
	}
	evs, err := c.hub.Read(ctx, c.topic("site", visitor), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("thread has %d events, want 2 (m-1 once, m-2): %+v", len(evs), evs)
	}
	v := eventOf(evs[0])
	if v.Type != "message" || v.ID != rc1.ExternalID || v.MessageID != "m-1" || v.Direction != "out" || v.Text != "您好" ||
		v.Author != "李明" || !v.CreatedAt.Equal(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("event %+v", v)
	}
	if eventOf(evs[1]).MessageID != "m-2" {
		t.Fatalf("second event %+v", eventOf(evs[1]))
	}
	ttl, err := rdb.TTL(ctx, c.topic("site", visitor)).Result()
	if err != nil || ttl <= 0 || ttl > threadTTL {
		t.Fatalf("thread TTL %v (%v), want (0, %v]", ttl, err, threadTTL)
	}
}

// A refused post never reaches the ingester; an accepted one does, with
// the text trimmed, and is echoed on the visitor's thread once.
func TestPost(t *testing.T) {
	in := &ingester{}
	c, _, _ := live(t, in)
	ctx := context.Background()
	post := func(body string, hdr map[string]string, site string) (*connectors.Response, error) {
		r := &connectors.Request{Method: "POST", Params: map[string]string{"site": site}, Header: http.Header{}, Body: []byte(body), Query: url.Values{}}
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		return c.post(ctx, r)
	}
	refusals := []struct {
		name   string
		body   string
		hdr    map[string]string
		site   string
		status int
	}{
		{"unknown site", `{"visitor_id":"` + visitor + `","text":"hi"}`, nil, "nosuch", 404},
		{"disallowed origin", `{"visitor_id":"` + visitor + `","text":"hi"}`, map[string]string{"Origin": "https://evil.example.com"}, "site", 403},
		{"null origin", `{"visitor_id":"` + visitor + `","text":"hi"}`, map[string]string{"Origin": "null"}, "site", 403},
		{"form post", `visitor_id=` + visitor + `&text=hi`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "site", 415},
		{"text/plain", `{"visitor_id":"` + visitor + `","text":"hi"}`, map[string]string{"Content-Type": "text/plain"}, "site", 415},
		{"malformed", `{"visitor_id":`, nil, "site", 400},
		{"array", `[]`, nil, "site", 400},
		{"two values", `{"visitor_id":"` + visitor + `","text":"hi"}{}`, nil, "site", 400},
		{"unknown field", `{"visitor_id":"` + visitor + `","text":"hi","x":1}`, nil, "site", 400},
		{"empty text", `{"visitor_id":"` + visitor + `","text":"\u00a0\n"}`, nil, "site", 400},
		{"text too long", `{"visitor_id":"` + visitor + `","text":"` + strings.Repeat("字", MaxTextRunes+1) + `"}`, nil, "site", 413},
		{"visitor id too long", `{"visitor_id":"` + strings.Repeat("v", 65) + `","text":"hi"}`, nil, "site", 400},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			_, err := post(tc.body, tc.hdr, tc.site)
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Status != tc.status {
				t.Fatalf("post: %v, want a refusal with status %d", err, tc.status)
			}
		})
	}
	if n := in.count(); n != 0 {
		t.Fatalf("refused posts reached the ingester %d times", n)
	}

	body := `{"visitor_id":"` + visitor + `","text":"  ` + strings.Repeat("字", MaxTextRunes) + `  ","client_id":"c-1","name":" Alice "}`
	resp, err := post(body, map[string]string{"Origin": "https://shop.example.com", "Content-Type": "application/json; charset=utf-8"}, "site")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusAccepted || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" {
		t.Fatalf("answer %d %v", resp.Status, resp.Header)
	}
	var acc map[string]string
	if err := json.Unmarshal(resp.Body, &acc); err != nil || acc["message_id"] != "msg-1" || acc["conversation_id"] != "conv-"+visitor {
		t.Fatalf("answer body %s (%v)", resp.Body, err)
	}
	m := in.msgs[0]
	if m.Channel != connectors.WebChat || m.Account != "site" || m.ExternalID != "c-1" || m.From.Type != "visitor" ||
		m.From.Value != visitor || m.From.Name != "Alice" || m.Text != strings.Repeat("字", MaxTextRunes) || string(m.Raw) != body {
		t.Fatalf("ingested %+v", m)
	}
	// The retry of the same client id: same answer, no second echo. The
	// echo of a later message is the barrier: echoes go out in order.
	resp, err = post(body, nil, "site")
	if err != nil || !strings.Contains(string(resp.Body), `"msg-1"`) {
		t.Fatalf("retry: %v %+v", err, resp)
	}
	if _, err := post(`{"visitor_id":"`+visitor+`","text":"next"}`, nil, "site"); err != nil {
		t.Fatal(err)
	}
	var evs []visitorEvent
	deadline := time.Now().Add(20 * time.Second)
	for len(evs) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("thread %+v: gave up waiting for the echoes of msg-1 and msg-2", evs)
		}
		time.Sleep(10 * time.Millisecond)
		raw, err := c.hub.Read(ctx, c.topic("site", visitor), "", 100)
		if err != nil {
			t.Fatal(err)
		}
		evs = evs[:0]
		for _, ev := range raw {
			evs = append(evs, eventOf(ev))
		}
	}
	if len(evs) != 2 || evs[0].MessageID != "msg-1" || evs[0].Direction != "in" || evs[0].Text != strings.Repeat("字", MaxTextRunes) ||
		evs[1].MessageID != "msg-2" {
		t.Fatalf("thread %+v, want one echo of msg-1, then msg-2", evs)
	}
}

// conn is a socket whose client sends frames and then leaves.
type conn struct {
	mu     sync.Mutex
	in     [][]byte
	out    [][]byte
	closed bool
}

func (c *conn) ReadMessage() (int, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.in) == 0 || c.closed {
		return 0, nil, io.EOF
	}
	f := c.in[0]
	c.in = c.in[1:]
	return connectors.TextMessage, f, nil
}

func (c *conn) WriteMessage(_ int, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, data)
	return nil
}

func (c *conn) SetReadDeadline(time.Time) error { return nil }

func (c *conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

// When the widget goes away, the socket handler returns (and releases its
// subscription) without waiting for anything else to happen.
func TestSocketReturnsWhenClientLeaves(t *testing.T) {
	in := &ingester{}
	c, rdb, _ := live(t, in)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx) }()
	r := &connectors.Request{Params: map[string]string{"site": "site"}, Query: url.Values{"visitor_id": {visitor}}, Header: http.Header{}}
	cn := &conn{in: [][]byte{[]byte(`{"type":"ping"}`)}}
	done := make(chan error, 1)
	go func() { done <- c.socket(ctx, r, cn) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("socket: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the socket handler is still running 20 s after its client left")
	}
	topic := c.topic("site", visitor)
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := rdb.PubSubNumSub(context.Background(), topic).Result()
		if err == nil && n[topic] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the thread still has subscribers 20 s after the socket ended: %v (%v)", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------- fuzz

// validVisitor is the visitor id rule, written out independently of the
// regular expression the connector uses.
func validVisitor(s string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func validClientID(s string) bool {
	if s == "" {
		return true
	}
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.:-", r)) {
			return false
		}
	}
	return true
}

// checkValidated asserts what validate promises: a refusal is a 400 or
// 413 connector error; an accepted message has a valid visitor id and
// 1–4000 characters of trimmed, valid UTF-8 text.
func checkValidated(t *testing.T, b postBody, text string, err error) {
	t.Helper()
	if err != nil {
		var ce *connectors.Error
		if !errors.As(err, &ce) || (ce.Status != http.StatusBadRequest && ce.Status != http.StatusRequestEntityTooLarge) {
			t.Fatalf("refusal %#v is not a 400/413 connector error", err)
		}
		if ce.Msg == "" {
			t.Fatalf("refusal without a message: %#v", ce)
		}
		return
	}
	n := utf8.RuneCountInString(text)
	switch {
	case !validVisitor(b.VisitorID):
		t.Fatalf("accepted visitor id %q", b.VisitorID)
	case !utf8.ValidString(text):
		t.Fatalf("accepted text that is not UTF-8: %q", text)
	case n < 1 || n > MaxTextRunes:
		t.Fatalf("accepted text of %d characters", n)
	case text != strings.TrimSpace(text) || !strings.Contains(b.Text, text):
		t.Fatalf("text %q is not the trimmed %q", text, b.Text)
	case !validClientID(b.ClientID):
		t.Fatalf("accepted client id %q", b.ClientID)
	case utf8.RuneCountInString(b.Name) > 64:
		t.Fatalf("accepted a name of %d characters", utf8.RuneCountInString(b.Name))
	}
}

// FuzzDecodePost runs the body of a web-chat POST through decoding and
// validation, as the handler does before it ingests.
func FuzzDecodePost(f *testing.F) {
	for _, seed := range []string{
		`{"visitor_id":"` + visitor + `","text":"你好"}`,
		`{"visitor_id":"` + visitor + `","text":"  hi  ","client_id":"c-1:2.3_x","name":"Alice"}`,
		`{"visitor_id":"` + visitor + `","text":"` + strings.Repeat("a", MaxTextRunes) + `"}`,
		`{"visitor_id":"` + visitor + `","text":"` + strings.Repeat("字", MaxTextRunes+1) + `"}`,
		`{"visitor_id":"` + visitor + `","text":"\u00a0\u3000"}`,
		`{"visitor_id":"` + visitor + `","text":"\ud800"}`,
		"{\"visitor_id\":\"" + visitor + "\",\"text\":\"\xff\xfe\"}",
		`{"visitor_id":"short","text":"hi"}`,
		`{"visitor_id":"` + visitor + `}:x{","text":"hi"}`,
		`{"visitor_id":"` + visitor + `","text":"hi","extra":1}`,
		`{"visitor_id":"` + visitor + `","text":5}`,
		`{"visitor_id":"` + visitor + `","text":"hi"} {}`,
		`{"VISITOR_ID":"` + visitor + `","Text":"case"}`,
		`[]`, `null`, `""`, ``, `{`, `{"text":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var b postBody
		if err := decodeJSON(body, &b); err != nil {
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest {
				t.Fatalf("decode refusal %#v is not a 400 connector error", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("decoded a body that is not JSON: %q", body)
		}
		text, err := validate(b)
		checkValidated(t, b, text, err)
	})
}

// FuzzParseFrame runs a frame from the widget's socket through parsing
// and, for messages, the same validation a post gets.
func FuzzParseFrame(f *testing.F) {
	for _, seed := range []string{
		`{"type":"ping"}`,
		`{"type":"message","client_id":"c1","text":"hello"}`,
		`{"type":"message","client_id":"c1","text":"   "}`,
		`{"type":"message","client_id":"has space","text":"hi"}`,
		`{"type":"message","text":"hi","name":"` + strings.Repeat("名", 65) + `"}`,
		`{"type":"message","text":"` + strings.Repeat("b", MaxTextRunes+1) + `"}`,
		`{"type":"message","text":["x"]}`,
		`{"type":"watch","conversation_id":"x"}`,
		`null`, `"ping"`, `[]`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := parseFrame(data)
		if err != nil {
			// The socket answers with an error frame, which must encode.
			if _, err := json.Marshal(errorFrame("", "bad_request", "frames are JSON objects")); err != nil {
				t.Fatal(err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("parsed a frame that is not JSON: %q", data)
		}
		if fr.Type != "message" {
			return
		}
		b := fr.post(visitor)
		if b.VisitorID != visitor || b.Text != fr.Text || b.ClientID != fr.ClientID || b.Name != fr.Name {
			t.Fatalf("post of frame %+v is %+v", fr, b)
		}
		text, err := validate(b)
		checkValidated(t, b, text, err)
		if err != nil {
			var ce *connectors.Error
			errors.As(err, &ce)
			if _, err := json.Marshal(errorFrame(fr.ClientID, "bad_request", ce.Msg)); err != nil {
				t.Fatal(err)
			}
		}
	})
}
