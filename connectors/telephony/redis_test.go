package telephony_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"switchboard/config"
	"switchboard/connectors"
	"switchboard/connectors/telephony"
	"switchboard/internal/redistest"
	"switchboard/router"
	"switchboard/session"
)

// gateway is the router on a real Redis with the CTI connector in front.
type gateway struct {
	t      *testing.T
	rt     *router.Router
	hook   connectors.HandlerFunc
	keys   func() []string
	stream func(agent string) []string // event types on an agent's stream
}

const token = "integration-token-0123456789"

func newGateway(t *testing.T) *gateway {
	t.Helper()
	c, prefix := redistest.Client(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	dir := session.NewDirectory(c, prefix, log)
	if err := dir.Seed(ctx, []session.Agent{
		{ID: "li", Email: "li@example.com", Name: "李明", Teams: []string{"support"}, Capacity: 5, Extension: "8001", Password: string(hash)},
		{ID: "wang", Email: "wang@example.com", Name: "王芳", Teams: []string{"support"}, Capacity: 5, Extension: "8002", Password: string(hash)},
	}); err != nil {
		t.Fatal(err)
	}
	events := session.NewEvents(c, prefix, log)
	reg := connectors.NewRegistry()
	rt, err := router.New(router.Config{Prefix: prefix, Teams: []session.Team{{ID: "support"}}},
		router.Deps{Redis: c, Registry: reg, Directory: dir, Presences: session.NewPresences(c, prefix), Events: events, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(`[{id: pbx, secret: "`+token+`", team: support}]`), &node); err != nil {
		t.Fatal(err)
	}
	conn, err := telephony.New(connectors.Env{In: rt, Redis: c, Prefix: prefix, Log: log, Region: "CN", Now: time.Now},
		func(v any) error { return config.Decode(&node, v, "channels.cti") })
	if err != nil {
		t.Fatal(err)
	}
	reg.Add(conn)
	return &gateway{t: t, rt: rt, hook: conn.(connectors.HTTP).Endpoints()[0].Handle,
		keys: func() []string {
			ks, err := c.Keys(ctx, prefix+"*").Result()
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(ks)
			return ks
		},
		stream: func(agent string) []string {
			xs, err := c.XRange(ctx, session.Keys{P: prefix}.AgentEvents(agent), "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, x := range xs {
				out = append(out, x.Values["t"].(string))
			}
			return out
		}}
}

// post sends a form event with the token given.
func (g *gateway) post(tok string, fields url.Values) int {
	g.t.Helper()
	resp, err := g.hook(context.Background(), &connectors.Request{Method: "POST", Params: map[string]string{"source": "pbx"},
		Query: url.Values{"token": {tok}}, Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		Body: []byte(fields.Encode())})
	if err != nil {
		g.t.Fatal(err)
	}
	return resp.Status
}

func event(typ, id string, extra ...string) url.Values {
	v := url.Values{"event": {typ}, "from": {"13800138000"}, "to": {"4008001234"}, "direction": {"in"}, "callId": {id}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Add(extra[i], extra[i+1])
	}
	return v
}

func supervisor() session.Agent { return session.Agent{ID: "boss", Role: session.RoleSupervisor} }

// Through the webhook into Redis: a wrong token writes nothing; a repeated
// event is stored once and pops up once; a hangup before its newCall is
// a missed call all the same.
func TestWebhookIntoRedis(t *testing.T) {
	g := newGateway(t)
	ctx := context.Background()
	before := g.keys()
	if st := g.post("wrong-token-0123456789", event("newCall", "i-1", "user", "8001")); st != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", st)
	}
	if after := g.keys(); len(after) != len(before) {
		t.Fatalf("a refused event wrote keys: %v → %v", before, after)
	}

	for range 2 {
		if st := g.post(token, event("newCall", "i-1", "user", "8001")); st != http.StatusOK {
			t.Fatalf("newCall: %d", st)
		}
	}
	calls, err := g.rt.Calls(ctx, supervisor(), router.CallFilter{})
	if err != nil || len(calls) != 1 {
		t.Fatalf("calls after a repeated newCall: %v, %v; want one", calls, err)
	}
	pops := 0
	for _, typ := range g.stream("li") {
		if typ == session.EventScreenPop {
			pops++
		}
	}
	if pops != 1 || len(g.stream("wang")) != 0 { // a repeat naming nobody new pops nothing up
		t.Errorf("li got %d pops, wang %d events; want 1 and 0", pops, len(g.stream("wang")))
	}
	if st := g.post(token, event("answer", "i-1", "answeringNumber", "8001")); st != http.StatusOK {
		t.Fatalf("answer: %d", st)
	}
	if st := g.post(token, event("hangup", "i-1", "cause", "normalClearing")); st != http.StatusOK {
		t.Fatalf("hangup: %d", st)
	}
	if st := g.post(token, event("answer", "i-1", "answeringNumber", "8002")); st != http.StatusOK {
		t.Fatalf("answer again: %d", st)
	}

	// Out of order.
	for _, ev := range []url.Values{event("hangup", "i-2", "cause", "cancel"), event("newCall", "i-2", "user", "8002")} {
		if st := g.post(token, ev); st != http.StatusOK {
			t.Fatalf("%s: %d", ev.Get("event"), st)
		}
	}
	calls, err = g.rt.Calls(ctx, supervisor(), router.CallFilter{})
	if err != nil || len(calls) != 2 {
		t.Fatalf("calls: %v, %v", calls, err)
	}
	byID := map[string]router.Call{}
	for _, c := range calls {
		byID[c.CallID] = c
	}
	if c := byID["i-1"]; c.State != router.CallEnded || c.AnsweredAgent != "li" || c.FromE164 != "+8613800138000" {
		b, _ := json.Marshal(c)
		t.Errorf("call i-1: %s; want ended, answered by li", b)
	}
	if c := byID["i-2"]; c.State != router.CallMissed || c.Cause != "cancel" {
		t.Errorf("call i-2: %+v; want missed", c)
	}
	for _, typ := range g.stream("wang") {
		if typ == session.EventScreenPop {
			t.Errorf("wang got a pop of a call that had ended before its newCall")
		}
	}
}
