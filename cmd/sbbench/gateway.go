package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
	"golang.org/x/crypto/bcrypt"
)

// gateway is a running `switchboard serve` with agents connected.
type gateway struct {
	cmd  *exec.Cmd
	base string
	http *fasthttp.Client
	o    options

	window  atomic.Pointer[[2]int64] // send-time window of counted messages (ns)
	mu      sync.Mutex
	e2e     []time.Duration
	sockets []*websocket.Conn
	smtp    string // the e-mail listener's address
	roots   []string
}

func startGateway(ctx context.Context, o options) (*gateway, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sbbench")
	if err != nil {
		return nil, err
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("bench"), bcrypt.MinCost)
	var b strings.Builder
	fmt.Fprintf(&b, "listen: \"127.0.0.1:%d\"\npublic_url: \"http://127.0.0.1:%d\"\nredis_prefix: \"sbbench:\"\nlog_level: warn\n", port, port)
	b.WriteString("teams: [{id: support, name: Support}]\nagents:\n")
	for i := 0; i < o.agents; i++ {
		fmt.Fprintf(&b, "  - {id: a%03d, email: a%03d@bench.local, password: '%s', teams: [support], capacity: %d}\n",
			i, i, hash, o.visitors/o.agents*3+1)
	}
	smtpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	smtpAddr := fmt.Sprintf("127.0.0.1:%d", smtpPort)
	b.WriteString("channels:\n  webchat: [{id: bench, allowed_origins: [\"*\"]}]\n" + wechatConfig + emailConfig(smtpAddr))
	fmt.Fprintf(&b, "blobs: {dir: %q}\n", filepath.Join(dir, "blobs"))
	cfg := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(o.gateway, "serve", "--config", cfg)
	cmd.Env = append(os.Environ(), "SWITCHBOARD_REDIS_URL="+o.redis)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start gateway: %w", err)
	}
	g := &gateway{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), o: o, smtp: smtpAddr,
		http: &fasthttp.Client{MaxConnsPerHost: o.senders * 2, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}}
	for deadline := time.Now().Add(20 * time.Second); ; {
		if st, _, err := g.http.Get(nil, g.base+"/readyz"); err == nil && st == 200 {
			break
		}
		if time.Now().After(deadline) {
			g.stop()
			return nil, fmt.Errorf("gateway did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return g, nil
}

func (g *gateway) stop() {
	for _, s := range g.sockets {
		s.Close()
	}
	if g.cmd.Process != nil {
		_ = g.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = g.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = g.cmd.Process.Kill()
		}
	}
}

// post sends body (JSON bytes as they are, anything else marshalled).
func (g *gateway) post(path string, body any, token string) (int, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(g.base + path)
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	b, ok := body.([]byte)
	if !ok {
		b, _ = json.Marshal(body)
	}
	req.SetBody(b)
	if err := g.http.Do(req, resp); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode(), bytes.Clone(resp.Body()), nil
}

// connectAgents logs every agent in, puts them online and opens their
// sockets; each socket counts the message.new events of the window.
func (g *gateway) connectAgents(ctx context.Context) error {
	for i := 0; i < g.o.agents; i++ {
		st, body, err := g.post("/api/v1/auth/login", map[string]string{"email": fmt.Sprintf("a%03d@bench.local", i), "password": "bench"}, "")
		if err != nil || st != 200 {
			return fmt.Errorf("login a%03d: %d %s %v", i, st, body, err)
		}
		var lr struct{ Token string }
		_ = json.Unmarshal(body, &lr)
		req := fasthttp.AcquireRequest()
		req.SetRequestURI(g.base + "/api/v1/me/presence")
		req.Header.SetMethod("PUT")
		req.Header.SetContentType("application/json")
		req.Header.Set("Authorization", "Bearer "+lr.Token)
		req.SetBodyString(`{"status":"online"}`)
		err = g.http.Do(req, nil)
		fasthttp.ReleaseRequest(req)
		if err != nil {
			return err
		}
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(g.base, "http")+"/api/v1/inbox/ws?access_token="+lr.Token, nil)
		if err != nil {
			return fmt.Errorf("agent socket: %w", err)
		}
		g.sockets = append(g.sockets, ws)
		go g.read(ws)
		go func() {
			for range time.Tick(20 * time.Second) {
				if ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)) != nil {
					return
				}
			}
		}()
	}
	return nil
}

// read counts the message.new events of the window. It looks for the
// send time in the frame's text without decoding the JSON: the driver
// shares the cores with the gateway, and the less it spends the more the
// measurement is of the gateway.
func (g *gateway) read(ws *websocket.Conn) {
	for {
		_, p, err := ws.ReadMessage()
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		if !bytes.Contains(p, []byte(`"type":"message.new"`)) {
			continue
		}
		sent, ok := sentAt(p)
		if w := g.window.Load(); ok && w != nil && sent >= w[0] && sent < w[1] {
			g.mu.Lock()
			g.e2e = append(g.e2e, time.Duration(now-sent))
			g.mu.Unlock()
		}
	}
}

// sentAt finds the send time the driver put at the start of the text:
// "text":"t=<ns> ….
func sentAt(frame []byte) (int64, bool) {
	i := bytes.Index(frame, []byte(`"text":"t=`))
	if i < 0 {
		return 0, false
	}
	s := frame[i+len(`"text":"t=`):]
	j := bytes.IndexByte(s, ' ')
	if j <= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(s[:j]), 10, 64)
	return n, err == nil
}

func visitor(v int) string { return fmt.Sprintf("benchvisitor%08d", v) }

// assignAll sends each visitor's first message and waits until every
// conversation has an agent.
func (g *gateway) assignAll(ctx context.Context, c *redis.Client) error {
	for v := 0; v < g.o.visitors; v++ {
		st, body, err := g.post("/channels/webchat/bench/messages", map[string]string{"visitor_id": visitor(v), "text": "hello"}, "")
		if err != nil || st != 202 {
			return fmt.Errorf("first message: %d %s %v", st, body, err)
		}
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		n, err := c.HLen(ctx, "sbbench:{d}:owner").Result()
		if err == nil && int(n) >= g.o.visitors {
			return nil
		}
	}
	return fmt.Errorf("not every conversation got an agent")
}

// measure drives the gateway for one run. A message counts as delivered
// when its event reaches an agent socket and it was sent inside the
// measured window.
func (g *gateway) measure(ctx context.Context, c *redis.Client) (result, error) {
	var seq atomic.Int64
	g.mu.Lock()
	g.e2e = nil
	g.mu.Unlock()
	g.window.Store(&[2]int64{1<<62 - 1, 1<<62 - 1})
	send := func(ctx context.Context, w int) (time.Duration, error) {
		n := seq.Add(1)
		v := int(n) % g.o.visitors
		t := time.Now()
		body := fmt.Appendf(nil, `{"visitor_id":%q,"text":"t=%d 你好，我的订单还没有到，请帮我查一下 #%d","client_id":"b%s"}`,
			visitor(v), t.UnixNano(), n, strconv.FormatInt(t.UnixNano(), 36))
		st, _, err := g.post("/channels/webchat/bench/messages", body, "")
		if err == nil && st != 202 {
			err = fmt.Errorf("status %d", st)
		}
		return time.Since(t), err
	}
	var from int64
	return drive(ctx, "gateway", c, g.o, send, hooks{
		start: func(t time.Time) { from = t.UnixNano(); g.window.Store(&[2]int64{from, 1<<62 - 1}) },
		end:   func(t time.Time) { g.window.Store(&[2]int64{from, t.UnixNano()}) },
		finish: func(r *result) {
			time.Sleep(2 * time.Second) // deliveries of the last messages
			g.mu.Lock()
			r.e2e = append([]time.Duration(nil), g.e2e...)
			r.delivered = len(g.e2e)
			g.mu.Unlock()
		},
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
