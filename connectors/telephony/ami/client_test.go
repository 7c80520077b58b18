package ami

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"switchboard/connectors"
	"switchboard/internal/redistest"
)

// recorder keeps the client's notes, and lets a test wait for them.
type recorder struct {
	mu      sync.Mutex
	counts  map[string]int
	errs    map[string]error
	changed chan struct{}
}

func newRecorder() *recorder {
	return &recorder{counts: map[string]int{}, errs: map[string]error{}, changed: make(chan struct{})}
}

func (r *recorder) note(what string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[what]++
	if err != nil {
		r.errs[what] = err
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// wait waits until what was noted n times and returns its last error.
func (r *recorder) wait(t *testing.T, what string, n int) error {
	t.Helper()
	deadline := time.After(guard)
	for {
		r.mu.Lock()
		if r.counts[what] >= n {
			err := r.errs[what]
			r.mu.Unlock()
			return err
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("waited in vain for %d × %q (have %d)", n, what, r.count(what))
		}
	}
}

func (r *recorder) count(what string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[what]
}

// syncBuffer is a log sink safe for the client's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a client under test with what it handed over.
type harness struct {
	c      *Client
	notes  *recorder
	events chan connectors.CallEvent
	logs   *syncBuffer
	stop   func() // cancels Run and waits for it
}

type testOpts struct {
	source string
	cfg    func(*Config)
	handle func(context.Context, connectors.CallEvent) error
	tune   func(*tuning)
	after  func(*Client) // after New, before Run
}

// start runs a client against addr with fast timings.
func start(t *testing.T, addr string, rdb redis.UniversalClient, prefix string, o testOpts) *harness {
	t.Helper()
	h := &harness{notes: newRecorder(), events: make(chan connectors.CallEvent, 1000), logs: &syncBuffer{}}
	cfg := Config{Addr: addr, User: "switchboard", Secret: "s3cret"}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	handle := o.handle
	if handle == nil {
		handle = func(_ context.Context, ev connectors.CallEvent) error { h.events <- ev; return nil }
	}
	h.c = New(Options{Source: cmp.Or(o.source, "pbx"), Config: cfg, Redis: rdb, Prefix: prefix, Handle: handle,
		Log: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	h.c.tune.lease = 1500 * time.Millisecond
	h.c.tune.backoffMin, h.c.tune.backoffMax = 10*time.Millisecond, 100*time.Millisecond
	h.c.tune.note = h.notes.note
	if o.tune != nil {
		o.tune(&h.c.tune)
	}
	if o.after != nil {
		o.after(h.c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.c.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v, want nil after the context ends", err)
				}
			case <-time.After(guard):
				t.Error("Run did not return after the context ended")
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

// until collects call events up to the sentinel's newCall.
func (h *harness) until(t *testing.T) []connectors.CallEvent {
	t.Helper()
	var got []connectors.CallEvent
	deadline := time.After(guard)
	for {
		select {
		case ev := <-h.events:
			if ev.CallID == "sentinel" {
				return got
			}
			got = append(got, ev)
		case <-deadline:
			t.Fatalf("no sentinel; got %d events: %s", len(got), types(got))
		}
	}
}

// Each fixture, replayed by a fake manager, makes exactly its call events.
func TestClientFixtures(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	for i, tc := range fixtureCases() {
		t.Run(tc.file, func(t *testing.T) {
			f := newFakeAMI(t, nil)
			f.lf.Store(i%2 == 1) // every other one with bare LF
			h := start(t, f.addr(), rdb, prefix+tc.file+":", testOpts{})
			if l := f.waitLogin(t); l.result != "ok" || l.events != "call,agent" {
				t.Fatalf("login %+v", l)
			}
			f.scripts <- script{packets: append(fixture(t, tc.file), sentinel)}
			diffEvents(t, h.until(t), tc.want)
		})
	}
}

// The connection drops in the middle of a call: the client logs in again
// and the call goes on.
func TestClientReconnectsMidCall(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	f := newFakeAMI(t, nil)
	h := start(t, f.addr(), rdb, prefix, testOpts{})
	f.waitLogin(t)
	packets := fixture(t, "inbound_queue.ami")
	const cutAt = 7 // after both AgentCalled
	f.scripts <- script{packets: packets[:cutAt], drop: true}
	if err := h.notes.wait(t, "down", 1); err == nil {
		t.Error("the dropped connection ended without an error")
	}
	if l := f.waitLogin(t); l.result != "ok" {
		t.Fatalf("second login %+v", l)
	}
	h.notes.wait(t, "login", 2)
	f.scripts <- script{packets: append(packets[cutAt:], sentinel)}
	diffEvents(t, h.until(t), fixtureCases()[0].want)
	if h.c.Err() != nil {
		t.Errorf("Err() = %v while logged in", h.c.Err())
	}
}

// Two clients for one source on one Redis: one holds the lease and
// connects; when it stops, the other takes over.
func TestClientLeaseOneAtATime(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	f := newFakeAMI(t, nil)
	a := start(t, f.addr(), rdb, prefix, testOpts{})
	a.notes.wait(t, "lease", 1)
	f.waitLogin(t)
	key := prefix + "{cti:pbx}:ami:lease"
	if tok, err := rdb.Get(context.Background(), key).Result(); err != nil || tok != a.c.token {
		t.Fatalf("lease %s = %q, %v; want a's token", key, tok, err)
	}
	if ttl := rdb.PTTL(context.Background(), key).Val(); ttl <= 0 {
		t.Fatalf("lease TTL %v", ttl)
	}

	b := start(t, f.addr(), rdb, prefix, testOpts{})
	b.notes.wait(t, "busy", 2) // b tried twice and found it taken
	if n := b.notes.count("lease"); n != 0 {
		t.Fatalf("b took the lease too")
	}
	select {
	case l := <-f.logins:
		t.Fatalf("a second login while a holds the lease: %+v", l)
	default:
	}

	a.stop()
	b.notes.wait(t, "lease", 1)
	f.waitLogin(t)
	f.scripts <- script{packets: []string{sentinel}}
	b.until(t)
	if tok := rdb.Get(context.Background(), key).Val(); tok != b.c.token {
		t.Fatalf("lease %q, want b's token", tok)
	}
	select {
	case ev := <-a.events:
		t.Fatalf("a stopped, yet handled %+v", ev)
	default:
	}
}

// A lease taken over by another (say after this replica stalled) ends the
// connection.
func TestClientLeaseLost(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	f := newFakeAMI(t, nil)
	h := start(t, f.addr(), rdb, prefix, testOpts{})
	f.waitLogin(t)
	if err := rdb.Set(context.Background(), prefix+"{cti:pbx}:ami:lease", "someone else", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := h.notes.wait(t, "lost", 1); !errors.Is(err, errLeaseLost) {
		t.Fatalf("lost with %v, want errLeaseLost", err)
	}
	h.notes.wait(t, "busy", 1)
}

// A wrong secret: refused, retried after a backoff, surfaced by Err and
// the log, never logged itself; no events.
func TestClientWrongSecret(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	f := newFakeAMI(t, nil)
	const wrong = "wr0ng-s3cret-value"
	h := start(t, f.addr(), rdb, prefix, testOpts{cfg: func(c *Config) { c.Secret = wrong }})
	for range 2 {
		if l := f.waitLogin(t); l.result != "refused" {
			t.Fatalf("login %+v, want refused", l)
		}
	}
	err := h.notes.wait(t, "down", 2)
	if !errors.Is(err, ErrAuth) || !errors.Is(h.c.Err(), ErrAuth) {
		t.Fatalf("down with %v, Err() = %v; want ErrAuth", err, h.c.Err())
	}
	if !strings.Contains(err.Error(), "Authentication failed") || !strings.Contains(err.Error(), "switchboard") {
		t.Errorf("error %q should say what the manager said and name the user", err)
	}
	if n := h.notes.count("login"); n != 0 {
		t.Errorf("%d logins noted", n)
	}
	h.stop()
	logs := h.logs.String()
	if strings.Contains(logs, wrong) || strings.Contains(err.Error(), wrong) {
		t.Errorf("the secret was logged:\n%s", logs)
	}
	if !strings.Contains(logs, "login refused") {
		t.Errorf("no log line for the refused login:\n%s", logs)
	}
	if len(h.events) != 0 {
		t.Errorf("%d events without a login", len(h.events))
	}
}

// The client pings; a manager that stops answering is dropped and
// connected to again.
func TestClientPing(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	f := newFakeAMI(t, nil)
	h := start(t, f.addr(), rdb, prefix, testOpts{
		tune:  func(tu *tuning) { tu.pingGrace = 300 * time.Millisecond },
		after: func(c *Client) { c.cfg.Ping = 20 * time.Millisecond },
	})
	f.waitLogin(t)
	deadline := time.After(guard)
	for f.pings.Load() < 3 {
		select {
		case <-deadline:
			t.Fatalf("%d pings", f.pings.Load())
		case <-time.After(10 * time.Millisecond):
		}
	}
	f.silent.Store(true)
	err := h.notes.wait(t, "down", 1)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("down with %v, want a timeout", err)
	}
	f.silent.Store(false)
	f.waitLogin(t)
	f.scripts <- script{packets: []string{sentinel}}
	h.until(t)
}

// A slow Handle does not stop the socket from being read; the events come
// in order once it is back.
func TestClientSlowHandle(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	f := newFakeAMI(t, nil)
	release := make(chan struct{})
	events := make(chan connectors.CallEvent, 100)
	h := start(t, f.addr(), rdb, prefix, testOpts{handle: func(ctx context.Context, ev connectors.CallEvent) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		events <- ev
		return nil
	}})
	f.waitLogin(t)
	packets := append(fixture(t, "inbound_queue.ami"), sentinel)
	f.scripts <- script{packets: packets}
	h.notes.wait(t, "event", 1+len(packets)) // FullyBooted and every packet read, Handle still stuck
	close(release)
	h.events = events
	diffEvents(t, h.until(t), fixtureCases()[0].want)
}

// A full queue: reading waits, then drops while it stays full, and the
// events that do get in keep their order.
func TestQueueFull(t *testing.T) {
	c := New(Options{Source: "pbx-queue", Config: Config{Addr: "127.0.0.1:5038", User: "u", Secret: "s", QueueSize: 1,
		QueueWait: 10 * time.Millisecond}, Redis: idleRedis(t), Handle: func(context.Context, connectors.CallEvent) error { return nil },
		Log: slog.New(slog.DiscardHandler)})
	notes := newRecorder()
	c.tune.note = notes.note
	ctx := context.Background()
	ev := func(id string) connectors.CallEvent {
		return connectors.CallEvent{Source: "pbx", CallID: id, Type: connectors.CallNew}
	}
	for _, id := range []string{"1", "2", "3"} {
		if err := c.enqueue(ctx, ev(id)); err != nil {
			t.Fatal(err)
		}
	}
	if notes.count("full") != 1 || notes.count("drop") != 2 {
		t.Fatalf("full %d, drop %d; want 1 wait, then 2 drops", notes.count("full"), notes.count("drop"))
	}
	if v := value(t, c.m.dropped.WithLabelValues("queue_full")); v != 2 {
		t.Errorf("dropped metric %v", v)
	}
	if v := value(t, c.m.waits); v != 1 {
		t.Errorf("queue_full metric %v", v)
	}
	if got := <-c.queue; got.CallID != "1" {
		t.Fatalf("first out %q", got.CallID)
	}
	if err := c.enqueue(ctx, ev("4")); err != nil || c.shedding != 0 {
		t.Fatalf("enqueue with room: %v, shedding %d", err, c.shedding)
	}
	if got := <-c.queue; got.CallID != "4" {
		t.Fatalf("then %q", got.CallID)
	}
	cctx, cancel := context.WithCancel(ctx)
	c.queue <- ev("5")
	cancel()
	c.shedding = 0
	c.cfg.QueueWait = guard
	if err := c.enqueue(cctx, ev("6")); !errors.Is(err, context.Canceled) {
		t.Fatalf("enqueue after the end: %v", err)
	}
}

func value(t *testing.T, m interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// Handle's failures: retried until it works; a permanent refusal or a
// panic is not retried.
func TestDeliver(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    func(n int) error // the n-th call's result
		calls   int
		refused bool
	}{
		{"works", func(int) error { return nil }, 1, false},
		{"transient", func(n int) error {
			if n < 3 {
				return errors.New("redis: connection reset")
			}
			return nil
		}, 3, false},
		{"permanent", func(int) error { return connectors.Refuse(422, "No such call_id") }, 1, true},
		{"temporary connectors.Error", func(n int) error {
			if n < 2 {
				return connectors.Temporary("", errors.New("busy"))
			}
			return nil
		}, 2, false},
		{"panic", func(int) error { panic("boom") }, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			c := New(Options{Source: "pbx-" + tc.name, Config: Config{Addr: "127.0.0.1:5038", User: "u", Secret: "s"}, Redis: idleRedis(t),
				Handle: func(context.Context, connectors.CallEvent) error { n++; return tc.fail(n) }, Log: slog.New(slog.DiscardHandler)})
			notes := newRecorder()
			c.tune.note = notes.note
			c.tune.handleBackoffMax = 10 * time.Millisecond
			c.deliver(context.Background(), connectors.CallEvent{CallID: "1", Type: connectors.CallRing})
			if n != tc.calls || (notes.count("refused") == 1) != tc.refused {
				t.Fatalf("%d calls, refused %d", n, notes.count("refused"))
			}
			want := 1.0
			if tc.refused {
				want = 0
			}
			if v := value(t, c.m.calls.WithLabelValues("ring")); v != want {
				t.Errorf("handled metric %v, want %v", v, want)
			}
		})
	}
}

// AMI over TLS, with the manager's CA from a file.
func TestClientTLS(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	cert, caFile := selfSigned(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeAMI(t, l)
	h := start(t, f.addr(), rdb, prefix, testOpts{cfg: func(c *Config) { c.TLS, c.TLSCA = true, caFile }})
	f.waitLogin(t)
	f.scripts <- script{packets: append(fixture(t, "busy.ami"), sentinel)}
	diffEvents(t, h.until(t), fixtureCases()[2].want)
}

// selfSigned returns a certificate for 127.0.0.1 and a PEM file with it.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}

func TestRunRefusesBadConfig(t *testing.T) {
	handle := func(context.Context, connectors.CallEvent) error { return nil }
	rdb := idleRedis(t)
	for _, o := range []Options{
		{Source: "pbx", Config: Config{Addr: "127.0.0.1:5038", User: "u"}, Redis: rdb, Handle: handle},
		{Source: "", Config: Config{Addr: "127.0.0.1:5038", User: "u", Secret: "s"}, Redis: rdb, Handle: handle},
		{Source: "pbx", Config: Config{Addr: "127.0.0.1:5038", User: "u", Secret: "s"}, Handle: handle},
		{Source: "pbx", Config: Config{Addr: "127.0.0.1:5038", User: "u", Secret: "s"}, Redis: rdb},
		{Source: "pbx", Config: Config{Addr: "127.0.0.1:5038", User: "u", Secret: "s", TLS: true, TLSCA: "/nonexistent/ca.pem"}, Redis: rdb, Handle: handle},
	} {
		if err := New(o).Run(context.Background()); err == nil {
			t.Errorf("Run(%+v) = nil", o.Config)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Addr: "10.0.0.5:5038", User: "switchboard", Secret: "s3cret"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		key string
		set func(*Config)
	}{
		{"ami.addr", func(c *Config) { c.Addr = "" }},
		{"ami.addr", func(c *Config) { c.Addr = "10.0.0.5" }},
		{"ami.addr", func(c *Config) { c.Addr = "10.0.0.5:port" }},
		{"ami.addr", func(c *Config) { c.Addr = ":5038" }},
		{"ami.user", func(c *Config) { c.User = "" }},
		{"ami.user", func(c *Config) { c.User = "a\r\nAction: Originate" }},
		{"ami.secret", func(c *Config) { c.Secret = "" }},
		{"ami.secret", func(c *Config) { c.Secret = "top\nsecret" }},
		{"ami.tls_ca", func(c *Config) { c.TLSCA = "/etc/ca.pem" }},
		{"ami.extensions", func(c *Config) { c.Extensions = "(" }},
		{"ami.inbound_contexts", func(c *Config) { c.InboundContexts = []string{"from-trunk", " "} }},
		{"ami.ping", func(c *Config) { c.Ping = time.Millisecond }},
		{"ami.queue_size", func(c *Config) { c.QueueSize = -1 }},
		{"ami.queue_wait", func(c *Config) { c.QueueWait = -time.Second }},
	} {
		c := ok
		tc.set(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.key) {
			t.Errorf("%+v: %v, want an error naming %s", c, err, tc.key)
			continue
		}
		if strings.Contains(err.Error(), "secret\n") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
}

// The keys as an operator writes them.
func TestConfigYAML(t *testing.T) {
	var c Config
	err := yaml.Unmarshal([]byte(`
addr: "10.0.0.5:5038"
user: switchboard
secret: "s3cret"
tls: true
tls_ca: /etc/switchboard/asterisk-ca.pem
extensions: "^8[0-9]{3}$"
inbound_contexts: [from-trunk, from-pstn]
ping: 15s
queue_size: 100
queue_wait: 2s
`), &c)
	want := Config{Addr: "10.0.0.5:5038", User: "switchboard", Secret: "s3cret", TLS: true, TLSCA: "/etc/switchboard/asterisk-ca.pem",
		Extensions: "^8[0-9]{3}$", InboundContexts: []string{"from-trunk", "from-pstn"}, Ping: 15 * time.Second, QueueSize: 100, QueueWait: 2 * time.Second}
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v, %v", c, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// idleRedis is a client that is never used.
func idleRedis(t *testing.T) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { c.Close() })
	return c
}
