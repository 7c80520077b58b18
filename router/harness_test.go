package router

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"switchboard/connectors"
	"switchboard/internal/redistest"
	"switchboard/session"
)

// fakeChannel is a connector that records what it is asked to send and
// fails as told.
type fakeChannel struct {
	mu   sync.Mutex
	sent []*connectors.Outbound
	errs []error // returned by successive Send calls, then nil
}

func (f *fakeChannel) Channel() connectors.Channel { return connectors.WebChat }

func (f *fakeChannel) Send(_ context.Context, m *connectors.Outbound) (connectors.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return connectors.Receipt{}, err
	}
	f.sent = append(f.sent, m)
	return connectors.Receipt{ExternalID: "ext-" + m.ID}, nil
}

func (f *fakeChannel) Sent() []*connectors.Outbound {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*connectors.Outbound(nil), f.sent...)
}

// world is a Redis with agents and teams, shared by one or more routers
// (replicas).
type world struct {
	t      *testing.T
	rdb    redis.UniversalClient
	prefix string
	cfg    Config
	agents []session.Agent
	ch     *fakeChannel
	faq    FAQ // the FAQ bot's knowledge base, if any
}

func newWorld(t *testing.T, agents []session.Agent, teams []session.Team, rules []Rule) *world {
	t.Helper()
	c, prefix := redistest.Client(t)
	if teams == nil {
		teams = []session.Team{{ID: "support", Name: "Support"}}
	}
	w := &world{t: t, rdb: c, prefix: prefix, agents: agents, ch: &fakeChannel{},
		cfg: Config{Prefix: prefix, Teams: teams, Rules: rules, Grace: time.Minute}}
	dir := session.NewDirectory(c, prefix, quiet())
	for i := range agents {
		if agents[i].Password == "" {
			agents[i].Password = testHash
		}
	}
	if err := dir.Seed(context.Background(), agents); err != nil {
		t.Fatal(err)
	}
	return w
}

// testHash is a cheap bcrypt hash of "pw", so seeding agents is fast.
var testHash = func() string {
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	return string(h)
}()

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// replica builds a router on the world's Redis, like one more process.
func (w *world) replica() (*Router, *session.Presences, *session.Events) {
	w.t.Helper()
	dir := session.NewDirectory(w.rdb, w.prefix, quiet())
	pres := session.NewPresences(w.rdb, w.prefix)
	ev := session.NewEvents(w.rdb, w.prefix, quiet())
	reg := connectors.NewRegistry()
	reg.Add(w.ch)
	r, err := New(w.cfg, Deps{Redis: w.rdb, Registry: reg, Directory: dir, Presences: pres, Events: ev, Log: quiet(), FAQ: w.faq})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(r.Close)
	return r, pres, ev
}

// run starts a replica's background work until the test ends.
func run(t *testing.T, r *Router, ev *session.Events) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = r.Run(ctx) }()
	go func() { defer wg.Done(); _ = ev.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func webchatMsg(visitor, ext, text string) *connectors.Message {
	return &connectors.Message{Channel: connectors.WebChat, Account: "site", ExternalID: ext,
		From: connectors.Identity{Type: "visitor", Value: visitor}, Kind: connectors.KindText, Text: text}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func agentsN(n, capacity int, team string) []session.Agent {
	out := make([]session.Agent, n)
	for i := range out {
		out[i] = session.Agent{ID: fmt.Sprintf("a%02d", i), Email: fmt.Sprintf("a%02d@example.com", i),
			Name: fmt.Sprintf("Agent %d", i), Teams: []string{team}, Skills: []string{"general"}, Capacity: capacity}
	}
	return out
}

// assigned is a running replica whose agents are online, and one
// conversation already assigned to the first of them.
type assigned struct {
	w      *world
	r      *Router
	agents []session.Agent
	conv   string
}

// withAssigned builds a world with agents (all online), ingests one
// message from visitor and waits until the first agent has it.
func withAssigned(t *testing.T, agents []session.Agent, visitor string) assigned {
	t.Helper()
	w := newWorld(t, agents, nil, nil)
	r, pres, ev := w.replica()
	run(t, r, ev)
	var online []session.Agent
	for _, a := range agents {
		if a.Role != session.RoleSupervisor {
			online = append(online, a)
		}
	}
	onlineAll(t, pres, online)
	ctx := context.Background()
	acc, err := r.Ingest(ctx, webchatMsg(visitor, "first", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "assignment", func() bool {
		c, _ := r.Conversation(ctx, acc.ConversationID)
		return c.Assignee == agents[0].ID
	})
	return assigned{w: w, r: r, agents: agents, conv: acc.ConversationID}
}
