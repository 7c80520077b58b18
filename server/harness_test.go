package server

// The harness builds the whole gateway in one process on a real Redis
// under a unique key prefix: agent directory, auth, presence and events,
// the router (running its consumers), the real web-chat connector, and a
// recording fake connector for a second channel. Requests go through
// Fiber's in-process App().Test; sockets go through a real listener.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"switchboard/connectors"
	"switchboard/connectors/webchat"
	"switchboard/internal/redistest"
	"switchboard/router"
	"switchboard/session"
)

const (
	publicURL     = "https://gw.example.com"
	allowedOrigin = "https://shop.example.com"
	testBodyLimit = 8 << 10
	waitFor       = 20 * time.Second
)

// fakeChannel is a second channel (e-mail) that records what it sends.
// It carries images with replies once attach is set.
type fakeChannel struct {
	mu     sync.Mutex
	sent   []*connectors.Outbound
	attach atomic.Bool
}

func (f *fakeChannel) Channel() connectors.Channel { return connectors.Email }

func (f *fakeChannel) CanAttach(string) bool { return f.attach.Load() }

func (f *fakeChannel) Send(_ context.Context, m *connectors.Outbound) (connectors.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, m)
	return connectors.Receipt{ExternalID: "ext-" + m.ID}, nil
}

func (f *fakeChannel) Sent() []*connectors.Outbound {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// pwHash is a cheap bcrypt hash of "pw", so seeding agents is fast.
var pwHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// The seeded agents.
var (
	agentLi   = session.Agent{ID: "a1", Email: "li@example.com", Name: "李明", Role: session.RoleAgent, Teams: []string{"support"}, Skills: []string{"general"}, Capacity: 5}
	agentWang = session.Agent{ID: "a2", Email: "wang@example.com", Name: "王芳", Role: session.RoleAgent, Teams: []string{"support"}, Skills: []string{"general"}, Capacity: 5}
	agentSup  = session.Agent{ID: "sup", Email: "sup@example.com", Name: "Supervisor", Role: session.RoleSupervisor, Teams: []string{"support"}, Capacity: 5}
	agentAdm  = session.Agent{ID: "adm", Email: "admin@example.com", Name: "Admin", Role: session.RoleAdmin, Teams: []string{"support"}, Capacity: 5}
)

func testAgents() []session.Agent {
	out := []session.Agent{agentLi, agentWang, agentSup, agentAdm}
	for i := range out {
		out[i].Password = pwHash
	}
	return out
}

var testTeams = []session.Team{{ID: "support", Name: "Support"}, {ID: "sales", Name: "Sales"}}

// testSites are the web-chat sites: one with an origin list, one open to
// any origin.
func testSites() []webchat.Site {
	return []webchat.Site{
		{ID: "site", Name: "Shop", AllowedOrigins: []string{allowedOrigin}},
		{ID: "open", Name: "Open", AllowedOrigins: []string{"*"}},
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// stack is the whole gateway on one Redis prefix.
type stack struct {
	t      *testing.T
	rdb    redis.UniversalClient
	prefix string
	srv    *Server
	rt     *router.Router
	dir    *session.Directory
	pres   *session.Presences
	events *session.Events
	fake   *fakeChannel
	base   string // http://127.0.0.1:port once listen ran
}

func newStack(t *testing.T) *stack {
	t.Helper()
	c, prefix := redistest.Client(t)
	ctx := context.Background()
	log := quiet()
	dir := session.NewDirectory(c, prefix, log)
	if err := dir.Seed(ctx, testAgents()); err != nil {
		t.Fatal(err)
	}
	pres := session.NewPresences(c, prefix)
	events := session.NewEvents(c, prefix, log)
	reg := connectors.NewRegistry()
	fake := &fakeChannel{}
	reg.Add(fake)
	metrics := router.NewMetrics()
	rt, err := router.New(router.Config{Prefix: prefix, Teams: testTeams},
		router.Deps{Redis: c, Registry: reg, Directory: dir, Presences: pres, Events: events, Metrics: metrics, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	env := connectors.Env{In: rt, Redis: c, Prefix: prefix, HTTP: http.DefaultClient, Log: log,
		PublicURL: publicURL, Now: time.Now}
	wc, err := webchat.New(env, func(v any) error {
		sites, ok := v.(*[]webchat.Site)
		if !ok {
			return fmt.Errorf("decode into %T", v)
		}
		*sites = testSites()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reg.Add(wc)
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(rt.Collector())
	if err := metrics.Register(promReg); err != nil {
		t.Fatal(err)
	}
	sockets := &session.Sockets{Events: events, Presences: pres, Log: log, LiveChannel: rt.LiveChannel}
	srv := New(Options{PublicURL: publicURL, BodyLimit: testBodyLimit, ShutdownTimeout: 5 * time.Second},
		Deps{Router: rt, Auth: session.NewAuth(dir), Directory: dir, Presences: pres, Sockets: sockets,
			Registry: reg, Redis: c, Metrics: promReg, Log: log})

	bg, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{rt.Run, events.Run, wc.(connectors.Runner).Run} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(bg) }()
	}
	t.Cleanup(func() { stop(); wg.Wait(); rt.Close() }) // after listen's cleanup: LIFO
	return &stack{t: t, rdb: c, prefix: prefix, srv: srv, rt: rt, dir: dir, pres: pres, events: events, fake: fake}
}

// listen serves the stack on a loopback port until the test ends, for
// sockets.
func (s *stack) listen() string {
	s.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.srv.Serve(ctx, ln) }()
	s.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				s.t.Errorf("serve: %v", err)
			}
		case <-time.After(waitFor):
			s.t.Errorf("the server did not shut down within %v", waitFor)
		}
	})
	s.base = "http://" + ln.Addr().String()
	return s.base
}

// reply is an HTTP answer, read whole.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.Status, r.Body) }

// decode unmarshals the body into v, failing the test when it cannot.
func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("answer %s is not the JSON expected (%T): %v", r, v, err)
	}
}

// errorCode is the code of a JSON error body, or "" when there is none.
func (r reply) errorCode() string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(r.Body, &e) != nil {
		return ""
	}
	return e.Error.Code
}

// req describes one request for the in-process server.
type req struct {
	method, path string
	token        string
	body         any // string and []byte go as is; anything else as JSON
	header       map[string]string
	// net sends the request over the listener (see listen) instead of
	// App().Test, which cannot report a body over the limit.
	net bool
}

// with returns the stack for use in subtest t.
func (s *stack) with(t *testing.T) *stack {
	c := *s
	c.t = t
	return &c
}

func (s *stack) send(q req) reply {
	s.t.Helper()
	var body io.Reader
	ct := ""
	switch b := q.body.(type) {
	case nil:
	case string:
		body, ct = strings.NewReader(b), "application/json"
	case []byte:
		body, ct = bytes.NewReader(b), "application/json"
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		body, ct = bytes.NewReader(raw), "application/json"
	}
	r := httptest.NewRequest(q.method, q.path, body)
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if q.token != "" {
		r.Header.Set("Authorization", "Bearer "+q.token)
	}
	for k, v := range q.header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	var resp *http.Response
	var err error
	if q.net {
		if s.base == "" {
			s.t.Fatal("a request over the network before listen")
		}
		r.RequestURI = ""
		r.URL, err = url.Parse(s.base + q.path)
		if err != nil {
			s.t.Fatal(err)
		}
		r.Host = r.URL.Host
		resp, err = http.DefaultClient.Do(r)
	} else {
		resp, err = s.srv.App().Test(r, -1)
	}
	if err != nil {
		s.t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read answer: %v", q.method, q.path, err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

func (s *stack) get(path, token string) reply {
	s.t.Helper()
	return s.send(req{method: "GET", path: path, token: token})
}

// must sends q and fails the test unless the status is want.
func (s *stack) must(want int, q req) reply {
	s.t.Helper()
	r := s.send(q)
	if r.Status != want {
		s.t.Fatalf("%s %s: got %s, want status %d", q.method, q.path, r, want)
	}
	return r
}

// login returns a bearer token for an agent's address.
func (s *stack) login(email string) string {
	s.t.Helper()
	r := s.must(200, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": email, "password": "pw"}})
	var out struct {
		Token string `json:"token"`
	}
	r.decode(s.t, &out)
	if out.Token == "" {
		s.t.Fatalf("login of %s gave no token: %s", email, r)
	}
	return out.Token
}

// visitorID returns a valid visitor id unique to the test.
func visitorID(name string) string {
	id := "visitor_" + name + strings.Repeat("x", 16)
	return id[:max(16, min(len(id), 64))]
}

// customerWrites posts a web-chat message as a visitor and returns the
// message and conversation ids.
func (s *stack) customerWrites(site, visitor, text string) (msgID, convID string) {
	s.t.Helper()
	r := s.must(202, req{method: "POST", path: "/channels/webchat/" + site + "/messages",
		body: map[string]string{"visitor_id": visitor, "text": text}})
	var out struct {
		MessageID      string `json:"message_id"`
		ConversationID string `json:"conversation_id"`
	}
	r.decode(s.t, &out)
	if out.MessageID == "" || out.ConversationID == "" {
		s.t.Fatalf("web-chat post answered without ids: %s", r)
	}
	return out.MessageID, out.ConversationID
}

// conversation is the API's conversation shape, as far as tests look.
type conversation struct {
	ID         string `json:"id"`
	Channel    string `json:"channel"`
	Account    string `json:"account"`
	Status     string `json:"status"`
	Assignee   string `json:"assignee"`
	Team       string `json:"team"`
	Priority   string `json:"priority"`
	CustomerID string `json:"customer_id"`
	TicketID   string `json:"ticket_id"`
	Preview    string `json:"preview"`
}

type message struct {
	ID         string `json:"id"`
	Direction  string `json:"direction"`
	Kind       string `json:"kind"`
	Text       string `json:"text"`
	Author     string `json:"author"`
	AuthorName string `json:"author_name"`
	Cursor     string `json:"cursor"`
	Delivery   *struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"delivery"`
}

type visitorEvent struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	MessageID string `json:"message_id"`
	Direction string `json:"direction"`
	Text      string `json:"text"`
	Author    string `json:"author"`
}

func (s *stack) conversation(id, token string) conversation {
	s.t.Helper()
	var c conversation
	s.must(200, req{method: "GET", path: "/api/v1/conversations/" + id, token: token}).decode(s.t, &c)
	return c
}

// dispatched waits until the router has given a conversation its ticket
// and finished dispatching it (assigned or queued). Acting on it earlier
// races with the dispatcher's own write of the assignee.
func (s *stack) dispatched(id, token string) conversation {
	s.t.Helper()
	eventually(s.t, "conversation "+id+" to get a ticket", func() bool {
		c := s.conversation(id, token)
		return c.TicketID != "" && c.Team != ""
	})
	s.settle()
	return s.conversation(id, token)
}

func (s *stack) messages(id, token string) []message {
	s.t.Helper()
	var out struct {
		Items []message `json:"items"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/conversations/" + id + "/messages", token: token}).decode(s.t, &out)
	return out.Items
}

// thread is a visitor's web-chat thread as the widget polls it.
func (s *stack) thread(site, visitor, after string) []visitorEvent {
	s.t.Helper()
	q := url.Values{"visitor_id": {visitor}}
	if after != "" {
		q.Set("after", after)
	}
	var out struct {
		Items  []visitorEvent `json:"items"`
		LastID string         `json:"last_id"`
	}
	s.must(200, req{method: "GET", path: "/channels/webchat/" + site + "/messages?" + q.Encode()}).decode(s.t, &out)
	return out.Items
}

// settle waits until the router's dispatch and outbox consumers have
// nothing in hand, so a snapshot of Redis taken next stays still.
func (s *stack) settle() {
	s.t.Helper()
	ctx := context.Background()
	eventually(s.t, "the router's work streams to drain", func() bool {
		for _, stream := range []string{s.prefix + "{d}:dispatch", s.prefix + "{o}:outbox"} {
			groups, err := s.rdb.XInfoGroups(ctx, stream).Result()
			if err != nil || len(groups) != 1 || groups[0].Pending != 0 || groups[0].Lag != 0 {
				return false
			}
		}
		n, err := s.rdb.ZCard(ctx, s.prefix+"{o}:retry").Result()
		return err == nil && n == 0
	})
}

// snapshot renders every key under the prefix with its full content
// (not stream consumer-group bookkeeping, which moves on its own).
func (s *stack) snapshot() map[string]string {
	s.t.Helper()
	ctx := context.Background()
	keys, err := s.rdb.Keys(ctx, s.prefix+"*").Result()
	if err != nil {
		s.t.Fatal(err)
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		typ, err := s.rdb.Type(ctx, k).Result()
		if err != nil {
			s.t.Fatal(err)
		}
		var v any
		switch typ {
		case "string":
			v, err = s.rdb.Get(ctx, k).Result()
		case "hash":
			v, err = s.rdb.HGetAll(ctx, k).Result()
		case "set":
			var m []string
			m, err = s.rdb.SMembers(ctx, k).Result()
			sort.Strings(m)
			v = m
		case "zset":
			v, err = s.rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "list":
			v, err = s.rdb.LRange(ctx, k, 0, -1).Result()
		case "stream":
			v, err = s.rdb.XRange(ctx, k, "-", "+").Result()
		case "none": // expired meanwhile
			continue
		}
		if err != nil && err != redis.Nil {
			s.t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		out[k] = typ + " " + string(b)
	}
	return out
}

// diff describes how two snapshots differ, or "" when they are equal.
func diff(before, after map[string]string) string {
	var out []string
	for k, v := range after {
		if w, ok := before[k]; !ok {
			out = append(out, "added "+k+" = "+clip(v))
		} else if w != v {
			out = append(out, "changed "+k+": "+clip(w)+" -> "+clip(v))
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, "removed "+k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// eventually polls cond until it holds, or fails the test after waitFor.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", waitFor, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------- sockets

// wsConn is a WebSocket client with bounded reads.
type wsConn struct {
	t *testing.T
	c *websocket.Conn
}

// dial opens a socket to path on the listening stack, failing the test
// when the handshake fails.
func (s *stack) dial(path string) *wsConn {
	s.t.Helper()
	c, resp, err := s.tryDial(path)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		s.t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	w := &wsConn{t: s.t, c: c}
	s.t.Cleanup(func() { _ = c.Close() })
	return w
}

// tryDial opens a socket and returns the handshake answer as is.
func (s *stack) tryDial(path string) (*websocket.Conn, *http.Response, error) {
	return s.dialer().Dial(s.wsURL(path), nil)
}

func (s *stack) dialer() *websocket.Dialer { return &websocket.Dialer{HandshakeTimeout: waitFor} }

// wsURL is the ws:// address of path on the listening stack.
func (s *stack) wsURL(path string) string {
	if s.base == "" {
		s.t.Fatal("a socket before listen")
	}
	return "ws" + strings.TrimPrefix(s.base, "http") + path
}

// frame is a socket frame of either protocol, as far as tests look.
type frame struct {
	Stream         string          `json:"stream"`
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	Data           json.RawMessage `json:"data"`
	ClientID       string          `json:"client_id"`
	MessageID      string          `json:"message_id"`
	ConversationID string          `json:"conversation_id"`
	Direction      string          `json:"direction"`
	Text           string          `json:"text"`
	Author         string          `json:"author"`
	Code           string          `json:"code"`
}

func (w *wsConn) write(v any) {
	w.t.Helper()
	if err := w.c.WriteJSON(v); err != nil {
		w.t.Fatalf("socket write: %v", err)
	}
}

// next reads one frame, failing the test if none comes within waitFor.
func (w *wsConn) next(what string) frame {
	w.t.Helper()
	_ = w.c.SetReadDeadline(time.Now().Add(waitFor))
	_, data, err := w.c.ReadMessage()
	if err != nil {
		w.t.Fatalf("socket: waiting for %s: %v", what, err)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		w.t.Fatalf("socket: frame %s is not JSON: %v", data, err)
	}
	return f
}

// until reads frames until match accepts one, and returns it with the
// frames skipped on the way.
func (w *wsConn) until(what string, match func(frame) bool) (frame, []frame) {
	w.t.Helper()
	var skipped []frame
	for i := 0; i < 200; i++ {
		f := w.next(what)
		if match(f) {
			return f, skipped
		}
		skipped = append(skipped, f)
	}
	w.t.Fatalf("socket: no %s among 200 frames", what)
	return frame{}, nil
}

// agentMessage is the data of a message.new agent event.
type agentMessage struct {
	ConversationID string  `json:"conversation_id"`
	Message        message `json:"message"`
}

func (f frame) agentMessage(t *testing.T) agentMessage {
	t.Helper()
	var m agentMessage
	if err := json.Unmarshal(f.Data, &m); err != nil {
		t.Fatalf("message.new data %s: %v", f.Data, err)
	}
	return m
}
