package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"switchboard/internal/redistest"
)

// binary is the switchboard binary TestMain built.
var binary string

// Bounds on waiting. Nothing in this package sleeps for a fixed time: it
// polls until a condition holds, for at most these.
const (
	readyTimeout = 20 * time.Second
	waitTimeout  = 15 * time.Second
	stopTimeout  = 25 * time.Second // the server gives requests in flight 20 s
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test skips itself
	}
	dir, err := os.MkdirTemp("", "switchboard-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "switchboard")
	args := []string{"build", "-o", binary}
	if os.Getenv("SWITCHBOARD_E2E_RACE") == "1" {
		// A race report makes the process exit with status 66, which
		// fails the test at SIGTERM.
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "switchboard/cmd/switchboard")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build switchboard/cmd/switchboard:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireE2E skips a test under -short.
func requireE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: skipped with -short (starts processes, Redis and a browser)")
	}
	if binary == "" {
		t.Fatal("e2e: the switchboard binary was not built")
	}
}

// The configured people and site. Plain-text passwords are fine in tests:
// the server hashes them at start-up (with a warning).
const (
	site = "shop"

	agentID       = "li"
	agentEmail    = "li@example.com"
	agentPassword = "e2e-li-password"
	agentName     = "李明"

	otherID       = "wang"
	otherEmail    = "wang@example.com"
	otherPassword = "e2e-wang-password"

	// A supervisor (never online in the tests, so never assigned).
	supervisorID       = "zhao"
	supervisorEmail    = "zhao@example.com"
	supervisorPassword = "e2e-zhao-password"

	// shopOrigin is a customer web site embedding the widget.
	shopOrigin = "http://shop.e2e.test"
)

// replica is one `switchboard serve` process.
type replica struct {
	name string
	URL  string // http://127.0.0.1:PORT, also its public_url
	addr string
	cmd  *exec.Cmd
	logs *logBuffer
	done chan struct{} // closed when the process has exited
	err  error         // the exit status, once done is closed
}

// cluster is a Redis and the replicas that share it.
type cluster struct {
	t        *testing.T
	redis    *redistest.Server
	replicas []*replica
	// channels is YAML added under `channels:` (indented two spaces).
	channels string
	blobs    string // the replicas' shared blob directory
}

// blobDir is the directory all replicas keep blobs in, as a shared volume
// would be.
func (c *cluster) blobDir() string {
	if c.blobs == "" {
		c.blobs = c.t.TempDir()
	}
	return c.blobs
}

// startCluster starts a redis-server of the test's own and n replicas on
// it (named A, B, …), and waits until each is ready. They stop when the
// test ends: SIGTERM, then a wait.
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	return startClusterWith(t, n, "")
}

// startClusterWith is startCluster with more channels configured: YAML
// entries that go under `channels:`, indented two spaces.
func startClusterWith(t *testing.T, n int, channels string) *cluster {
	t.Helper()
	requireE2E(t)
	rs := redistest.Start(t)
	c := &cluster{t: t, redis: rs, channels: channels}
	addrs := make([]string, n)
	origins := []string{shopOrigin}
	for i := range addrs {
		addrs[i] = freeAddr(t)
		origins = append(origins, "http://"+addrs[i])
	}
	for i, addr := range addrs {
		name := string(rune('A' + i))
		c.replicas = append(c.replicas, c.start(name, addr, origins))
	}
	for _, r := range c.replicas {
		r.waitReady(t)
	}
	return c
}

// startClusterConfig is startClusterWith with top-level YAML added to each
// replica's configuration (sla_policies:, surveys:, bot:, …, each key at
// the start of a line): it follows the channels' entries.
func startClusterConfig(t *testing.T, n int, channels, extra string) *cluster {
	t.Helper()
	return startClusterWith(t, n, channels+extra)
}

func (c *cluster) start(name, addr string, origins []string) *replica {
	t := c.t
	t.Helper()
	r := &replica{name: name, URL: "http://" + addr, addr: addr, logs: &logBuffer{}, done: make(chan struct{})}
	cfg := filepath.Join(t.TempDir(), "switchboard-"+name+".yaml")
	if err := os.WriteFile(cfg, []byte(configYAML(r.URL, addr, origins)+c.channels+
		fmt.Sprintf("blobs: {dir: %q}\n", filepath.Join(c.blobDir(), "blobs"))), 0o600); err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(binary, "serve", "--config", cfg)
	// The environment overrides the file: the file names a Redis nobody
	// listens on, so a broken override shows as a replica never ready.
	r.cmd.Env = append(os.Environ(), "SWITCHBOARD_REDIS_URL="+c.redis.URL(), "SWITCHBOARD_LISTEN="+addr)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start replica %s: %v", name, err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// configYAML is one replica's configuration: two teams, two agents and a
// supervisor, one web-chat site with a demo page.
func configYAML(publicURL, addr string, origins []string) string {
	quoted := make([]string, len(origins))
	for i, o := range origins {
		quoted[i] = fmt.Sprintf("%q", o)
	}
	return fmt.Sprintf(`# written by the e2e tests
listen: %q
public_url: %q
redis_url: "redis://127.0.0.1:9/0" # overridden by SWITCHBOARD_REDIS_URL
log_level: info
teams:
  - {id: support, name: 售后支持, skills: [general]}
  - {id: sales, name: 销售咨询, skills: [general, sales]}
agents:
  - {id: %s, email: %s, password: %q, name: %s, teams: [support, sales],
     skills: [general, sales], capacity: 5, extension: "8001", role: agent}
  - {id: %s, email: %s, password: %q, name: 王芳, teams: [support],
     skills: [general], capacity: 5, extension: "8002", role: agent}
  - {id: %s, email: %s, password: %q, name: 赵主管, teams: [support],
     skills: [general], capacity: 5, role: supervisor}
channels:
  webchat:
    - {id: %s, name: 示例商店 Example Shop, allowed_origins: [%s], demo: true}
`, addr, publicURL, agentID, agentEmail, agentPassword, agentName,
		otherID, otherEmail, otherPassword, supervisorID, supervisorEmail, supervisorPassword, site, strings.Join(quoted, ", "))
}

func (r *replica) waitReady(t *testing.T) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			t.Fatalf("replica %s exited before it was ready (%v); its log:\n%s", r.name, r.err, r.logs)
		default:
		}
		resp, err := hc.Get(r.URL + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "ready" {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("replica %s not ready at %s/readyz after %v; its log:\n%s", r.name, r.URL, readyTimeout, r.logs)
}

// kill ends the process with SIGKILL, like a crash, and waits for it.
func (r *replica) kill(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
		return
	default:
	}
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Errorf("kill replica %s: %v", r.name, err)
	}
	<-r.done
}

// terminate sends SIGTERM and waits; a replica that does not stop in time
// is killed, and a replica that stops with an error fails the test.
func (r *replica) terminate(t *testing.T) {
	t.Helper()
	select {
	case <-r.done: // stopped or killed by the test already, or crashed
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("replica %s: exit after SIGTERM: %v (want a clean exit)", r.name, r.err)
		}
	case <-time.After(stopTimeout):
		t.Errorf("replica %s did not stop within %v of SIGTERM; killing it", r.name, stopTimeout)
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// stop is the cleanup: terminate, and on failure put the log in the test
// log.
func (r *replica) stop(t *testing.T) {
	r.terminate(t)
	if strings.Contains(r.logs.String(), "WARNING: DATA RACE") { // a -race binary, even one killed
		t.Errorf("replica %s reported a data race", r.name)
	}
	if t.Failed() {
		t.Logf("---- replica %s (%s) stderr ----\n%s---- end of replica %s ----", r.name, r.URL, r.logs, r.name)
	}
}

// logBuffer collects a process's output, keeping the last 1 MiB.
type logBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if over := len(l.b) - 1<<20; over > 0 {
		l.b = append([]byte(nil), l.b[over:]...)
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// randomID returns n random characters of [0-9a-f].
func randomID(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// ---------------------------------------------------------------- HTTP

// apiClient calls one replica, as an agent (with a token) or as a
// customer's browser (with an Origin).
type apiClient struct {
	base   string
	token  string
	origin string
	hc     *http.Client
}

func newClient(base string) *apiClient {
	return &apiClient{base: base, hc: &http.Client{Timeout: 5 * time.Second}}
}

// statusError is an answer with an unexpected status.
type statusError struct {
	method, path string
	status       int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.method, e.path, e.status, e.body)
}

// do sends a JSON request and decodes a JSON answer into out (if not nil)
// when the status is want. Any other status is a *statusError.
func (c *apiClient) do(method, path string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return &statusError{method, path, resp.StatusCode, string(data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode %q: %w", method, path, data, err)
		}
	}
	return nil
}

// must is do that fails the test on any error.
func (c *apiClient) must(t *testing.T, method, path string, body, out any, want int) {
	t.Helper()
	if err := c.do(method, path, body, out, want); err != nil {
		t.Fatal(err)
	}
}

// Shapes of the API (only the fields the tests read).

type agentJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type conversationJSON struct {
	ID       string `json:"id"`
	Channel  string `json:"channel"`
	Account  string `json:"account"`
	Status   string `json:"status"`
	Assignee string `json:"assignee"`
	Preview  string `json:"preview"`
}

type messageJSON struct {
	ID             string `json:"id"`
	ConversationID string `json:"conversation_id"`
	Direction      string `json:"direction"`
	Text           string `json:"text"`
	Author         string `json:"author"`
	AuthorName     string `json:"author_name"`
	ExternalID     string `json:"external_id"`
	Delivery       *struct {
		Status string `json:"status"`
	} `json:"delivery"`
}

// login signs an agent in on base and returns a client with its token.
func login(t *testing.T, base, email, password string) *apiClient {
	t.Helper()
	c := newClient(base)
	var out struct {
		Token string    `json:"token"`
		Agent agentJSON `json:"agent"`
	}
	c.must(t, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, &out, http.StatusOK)
	if out.Token == "" {
		t.Fatalf("login %s: no token", email)
	}
	c.token = out.Token
	return c
}

func (c *apiClient) setPresence(t *testing.T, status string) {
	t.Helper()
	var p struct {
		Status string `json:"status"`
	}
	c.must(t, "PUT", "/api/v1/me/presence", map[string]string{"status": status}, &p, http.StatusOK)
	if p.Status != status {
		t.Fatalf("presence after PUT %q: %q", status, p.Status)
	}
}

func (c *apiClient) messages(t *testing.T, conv string) []messageJSON {
	t.Helper()
	var out struct {
		Items []messageJSON `json:"items"`
	}
	c.must(t, "GET", "/api/v1/conversations/"+url.PathEscape(conv)+"/messages?limit=500", nil, &out, http.StatusOK)
	return out.Items
}

// postVisitor sends a customer message over the web-chat HTTP API.
type postResult struct {
	MessageID      string `json:"message_id"`
	ConversationID string `json:"conversation_id"`
}

func (c *apiClient) postVisitor(visitor, clientID, text string) (postResult, error) {
	var out postResult
	err := c.do("POST", "/channels/webchat/"+site+"/messages",
		map[string]string{"visitor_id": visitor, "client_id": clientID, "text": text}, &out, http.StatusAccepted)
	return out, err
}

// ---------------------------------------------------------------- WebSocket

// wsStream reads JSON frames of type T from a WebSocket in the background.
// The test goroutine consumes them with waitUntil; everything consumed is
// kept, so a failure can show what did arrive.
type wsStream[T any] struct {
	name   string
	conn   *websocket.Conn
	frames chan T
	raw    chan string // the raw text of each frame, for failure messages
	closed chan struct{}
	rerr   error

	history []T
	rawSeen []string
	mark    int
}

func dialStream[T any](t *testing.T, name, wsURL string, header http.Header) *wsStream[T] {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := d.DialContext(ctx, wsURL, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("%s: dial %s: %v (status %d)", name, redactToken(wsURL), err, status)
	}
	s := &wsStream[T]{name: name, conn: conn, frames: make(chan T, 4096), raw: make(chan string, 4096), closed: make(chan struct{})}
	go s.read()
	t.Cleanup(func() { _ = s.conn.Close() })
	return s
}

func (s *wsStream[T]) read() {
	defer close(s.closed)
	defer close(s.frames)
	for {
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			s.rerr = err
			return
		}
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			s.rerr = fmt.Errorf("frame %q: %w", data, err)
			return
		}
		s.raw <- string(data)
		s.frames <- v
	}
}

func (s *wsStream[T]) send(t *testing.T, v any) {
	t.Helper()
	if err := s.conn.WriteJSON(v); err != nil {
		t.Fatalf("%s: send: %v", s.name, err)
	}
}

// close closes the connection and consumes what had arrived, so the
// history holds everything the client received.
func (s *wsStream[T]) close() {
	_ = s.conn.Close()
	<-s.closed
	for v := range s.frames {
		s.history = append(s.history, v)
		s.rawSeen = append(s.rawSeen, <-s.raw)
	}
}

// since returns the frames consumed since the last call of startMark.
func (s *wsStream[T]) since() []T { return s.history[s.mark:] }

// startMark starts a new window for waitUntil's condition.
func (s *wsStream[T]) startMark() { s.mark = len(s.history) }

// waitUntil consumes frames until cond holds for the frames consumed since
// the mark, and returns them. It fails the test after waitTimeout.
func (s *wsStream[T]) waitUntil(t *testing.T, what string, cond func(got []T) bool) []T {
	t.Helper()
	if cond(s.since()) {
		return s.since()
	}
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case v, ok := <-s.frames:
			if !ok {
				t.Fatalf("%s: connection ended (%v) while waiting for %s; frames since mark:\n%s",
					s.name, s.rerr, what, strings.Join(s.rawSeen[s.mark:], "\n"))
			}
			s.history = append(s.history, v)
			s.rawSeen = append(s.rawSeen, <-s.raw)
			if cond(s.since()) {
				return s.since()
			}
		case <-timer.C:
			t.Fatalf("%s: no %s within %v; frames since mark:\n%s",
				s.name, what, waitTimeout, strings.Join(s.rawSeen[s.mark:], "\n"))
		}
	}
}

// agentFrame is a frame of the agent socket.
type agentFrame struct {
	Stream string          `json:"stream"`
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Data   json.RawMessage `json:"data"`
}

// eventData is the data of message.* and conversation.* events.
type eventData struct {
	ConversationID string           `json:"conversation_id"`
	MessageID      string           `json:"message_id"`
	Message        *messageJSON     `json:"message"`
	Conversation   conversationJSON `json:"conversation"`
	Delivery       *struct {
		Status string `json:"status"`
	} `json:"delivery"`
}

func (f agentFrame) data() eventData {
	var d eventData
	_ = json.Unmarshal(f.Data, &d)
	return d
}

// dialAgent connects the agent socket of a replica, resuming after the
// given event ids ("" for none).
func dialAgent(t *testing.T, name string, c *apiClient, lastEvent, lastInbox string) *wsStream[agentFrame] {
	t.Helper()
	q := url.Values{"access_token": {c.token}}
	if lastEvent != "" {
		q.Set("last_event_id", lastEvent)
	}
	if lastInbox != "" {
		q.Set("last_inbox_id", lastInbox)
	}
	return dialStream[agentFrame](t, name, wsURL(c.base)+"/api/v1/inbox/ws?"+q.Encode(), nil)
}

// visitorFrame is a frame of the customer socket.
type visitorFrame struct {
	Type           string `json:"type"`
	ID             string `json:"id"`
	ClientID       string `json:"client_id"`
	MessageID      string `json:"message_id"`
	ConversationID string `json:"conversation_id"`
	Direction      string `json:"direction"`
	Text           string `json:"text"`
	Author         string `json:"author"`
	Code           string `json:"code"`
}

// dialVisitor connects a customer socket, resuming after the thread event
// id after ("" for none).
func dialVisitor(t *testing.T, name, base, visitor, origin, after string) *wsStream[visitorFrame] {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	q := url.Values{"visitor_id": {visitor}}
	if after != "" {
		q.Set("after", after)
	}
	return dialStream[visitorFrame](t, name, wsURL(base)+"/channels/webchat/"+site+"/ws?"+q.Encode(), h)
}

func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") }

func redactToken(u string) string {
	if i := strings.Index(u, "access_token="); i >= 0 {
		j := strings.IndexByte(u[i:], '&')
		if j < 0 {
			return u[:i] + "access_token=REDACTED"
		}
		return u[:i] + "access_token=REDACTED" + u[i+j:]
	}
	return u
}

// isNetErr reports whether err is a transport failure (as opposed to an
// answer with an unexpected status).
func isNetErr(err error) bool {
	var se *statusError
	return err != nil && !errors.As(err, &se)
}
