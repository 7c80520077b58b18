package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"switchboard/internal/redistest"
	"switchboard/internal/wsout"
)

// wait bounds every blocking step so a lost frame fails the test instead of
// hanging it. It is never a timing assertion.
const wait = 15 * time.Second

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cheapHash is a bcrypt hash of "pw" at the lowest cost, so tests that are
// not about hashing stay fast.
var cheapHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

func agent(id string) Agent {
	return Agent{ID: id, Email: id + "@example.com", Name: "Agent " + id, Teams: []string{"support"},
		Skills: []string{"general"}, Capacity: 3, Password: cheapHash}
}

func newDirectory(t *testing.T, agents ...Agent) (*Directory, redis.UniversalClient, string) {
	t.Helper()
	c, p := redistest.Client(t)
	d := NewDirectory(c, p, quiet())
	if err := d.Seed(context.Background(), agents); err != nil {
		t.Fatalf("Seed: %v", err)
	}
	return d, c, p
}

// storedRecord reads an agent's raw record, password hash included.
func storedRecord(t *testing.T, c redis.UniversalClient, p, id string) (record, string) {
	t.Helper()
	raw, err := c.HGet(context.Background(), Keys{p}.Agents(), id).Result()
	if err != nil {
		t.Fatalf("agent %s is not stored: %v", id, err)
	}
	var r record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatal(err)
	}
	return r, raw
}

// ---------------------------------------------------------------- directory

func TestSeedHashesPlainPasswords(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	logs := &lockedBuffer{}
	d := NewDirectory(c, p, slog.New(slog.NewTextHandler(logs, nil)))
	ctx := context.Background()
	plain := Agent{ID: "a1", Email: "  Li@Example.COM ", Password: "s3cret-plain"}
	hashed := agent("a2")
	if err := d.Seed(ctx, []Agent{plain, hashed}); err != nil {
		t.Fatal(err)
	}

	r, raw := storedRecord(t, c, p, "a1")
	if !isBcrypt(r.Hash) || bcrypt.CompareHashAndPassword([]byte(r.Hash), []byte("s3cret-plain")) != nil {
		t.Fatalf("stored hash %q is not a bcrypt hash of the plain password", r.Hash)
	}
	if strings.Contains(raw, "s3cret-plain") {
		t.Fatalf("the plain password is stored: %s", raw)
	}
	if !strings.Contains(logs.String(), "plain text") || !strings.Contains(logs.String(), "agent=a1") {
		t.Fatalf("no warning about a1's plain-text password; log:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "agent=a2") {
		t.Fatalf("a bcrypt hash was warned about as plain text; log:\n%s", logs.String())
	}

	if r2, _ := storedRecord(t, c, p, "a2"); r2.Hash != cheapHash {
		t.Fatalf("a given bcrypt hash was not kept as is: %q", r2.Hash)
	}

	// Normalized on the way in, password never on the way out.
	a, err := d.Get(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Email != "li@example.com" || a.Role != RoleAgent || a.Name != "a1" || a.Teams == nil || a.Skills == nil || a.Password != "" {
		t.Fatalf("Get = %+v", a)
	}
	if owner := c.HGet(ctx, Keys{p}.AgentEmails(), "li@example.com").Val(); owner != "a1" {
		t.Fatalf("e-mail index maps li@example.com to %q", owner)
	}
	if capa := c.HGet(ctx, Keys{p}.Capacity(), "a2").Val(); capa != "3" {
		t.Fatalf("capacity of a2 = %q, want 3", capa)
	}
	list, err := d.List(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "a1" || list[1].ID != "a2" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	for _, a := range list {
		if a.Password != "" {
			t.Fatalf("List returned a password for %s", a.ID)
		}
	}
}

func TestAgentJSONHasNoPassword(t *testing.T) {
	a := agent("a1")
	a.Password = "plain-or-hash"
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k := range m {
		if strings.Contains(strings.ToLower(k), "password") {
			t.Fatalf("Agent JSON has field %q: %s", k, b)
		}
	}
	if strings.Contains(string(b), "plain-or-hash") {
		t.Fatalf("Agent JSON carries the password: %s", b)
	}
	if m["id"] != "a1" || m["email"] != "a1@example.com" {
		t.Fatalf("Agent JSON lost fields: %s", b)
	}
}

func TestPutEmailBelongsToOneAgent(t *testing.T) {
	t.Parallel()
	d, c, p := newDirectory(t, agent("a1"))
	ctx := context.Background()
	k := Keys{p}

	dup := agent("a2")
	dup.Email = " A1@Example.com"
	if err := d.Put(ctx, &dup); err == nil || !strings.Contains(err.Error(), "already belongs to agent a1") {
		t.Fatalf("Put with another agent's e-mail = %v, want a conflict", err)
	}
	if _, err := d.Get(ctx, "a2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused agent was stored (Get = %v)", err)
	}
	if owner := c.HGet(ctx, k.AgentEmails(), "a1@example.com").Val(); owner != "a1" {
		t.Fatalf("the refused Put took over the address (owner %q)", owner)
	}

	// Re-putting an agent with its own address is fine; changing it frees
	// the old one.
	again := agent("a1")
	if err := d.Put(ctx, &again); err != nil {
		t.Fatalf("Put of the same agent again: %v", err)
	}
	moved := agent("a1")
	moved.Email = "new@example.com"
	if err := d.Put(ctx, &moved); err != nil {
		t.Fatal(err)
	}
	if c.HExists(ctx, k.AgentEmails(), "a1@example.com").Val() {
		t.Fatal("the old address still points to a1 after it changed")
	}
	if err := d.Put(ctx, &dup); err != nil {
		t.Fatalf("the freed address could not be reused: %v", err)
	}
	if owner := c.HGet(ctx, k.AgentEmails(), "a1@example.com").Val(); owner != "a2" {
		t.Fatalf("a1@example.com belongs to %q, want a2", owner)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		edit  func(*Agent)
		field string // "" means valid
	}{
		{"valid", func(*Agent) {}, ""},
		{"empty role is the default", func(a *Agent) { a.Role = "" }, ""},
		{"supervisor", func(a *Agent) { a.Role = RoleSupervisor }, ""},
		{"admin", func(a *Agent) { a.Role = RoleAdmin }, ""},
		{"dotted id", func(a *Agent) { a.ID = "li.ming_2-x" }, ""},
		{"64-character id", func(a *Agent) { a.ID = strings.Repeat("a", 64) }, ""},
		{"capacity 0", func(a *Agent) { a.Capacity = 0 }, ""},
		{"capacity 1000", func(a *Agent) { a.Capacity = 1000 }, ""},
		{"empty id", func(a *Agent) { a.ID = "" }, "id"},
		{"id with space", func(a *Agent) { a.ID = "li ming" }, "id"},
		{"id starting with dash", func(a *Agent) { a.ID = "-a1" }, "id"},
		{"id with colon", func(a *Agent) { a.ID = "a:1" }, "id"},
		{"id with brace", func(a *Agent) { a.ID = "a}1" }, "id"},
		{"65-character id", func(a *Agent) { a.ID = strings.Repeat("a", 65) }, "id"},
		{"no e-mail", func(a *Agent) { a.Email = "" }, "email"},
		{"bad e-mail", func(a *Agent) { a.Email = "li.example.com" }, "email"},
		{"bad role", func(a *Agent) { a.Role = "root" }, "role"},
		{"role case", func(a *Agent) { a.Role = "Admin" }, "role"},
		{"negative capacity", func(a *Agent) { a.Capacity = -1 }, "capacity"},
		{"capacity over 1000", func(a *Agent) { a.Capacity = 1001 }, "capacity"},
		{"no password", func(a *Agent) { a.Password = "" }, "password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := agent("a1")
			tt.edit(&a)
			err := a.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", a, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.field+":") {
				t.Fatalf("Validate = %v, want an error on %s", err, tt.field)
			}
		})
	}
	// Every problem is reported, not just the first.
	bad := Agent{ID: "", Email: "x", Role: "root", Capacity: -1}
	err := bad.Validate()
	for _, field := range []string{"id:", "email:", "role:", "capacity:", "password:"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate of an all-wrong agent = %v; missing %s", err, field)
		}
	}
}

func TestPutRefusesInvalidAgent(t *testing.T) {
	t.Parallel()
	d, c, p := newDirectory(t)
	ctx := context.Background()
	a := agent("bad id")
	if err := d.Put(ctx, &a); err == nil {
		t.Fatal("Put stored an invalid agent")
	}
	if n := c.HLen(ctx, Keys{p}.Agents()).Val(); n != 0 {
		t.Fatalf("%d agents stored after a refused Put", n)
	}
	if err := d.Seed(ctx, []Agent{agent("ok"), agent("not ok")}); err == nil {
		t.Fatal("Seed accepted an invalid agent")
	}
}

func TestEligible(t *testing.T) {
	t.Parallel()
	sales := agent("s1")
	sales.Teams, sales.Skills = []string{"sales"}, []string{"general", "zh"}
	d, _, _ := newDirectory(t, agent("a1"), sales)
	for _, tt := range []struct {
		team   string
		skills []string
		want   string
	}{
		{"support", nil, "a1"},
		{"sales", []string{"zh"}, "s1"},
		{"", []string{"general"}, "a1,s1"},
		{"support", []string{"zh"}, ""},
		{"nobody", nil, ""},
	} {
		got, err := d.Eligible(context.Background(), tt.team, tt.skills)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range got {
			ids = append(ids, a.ID)
		}
		if s := strings.Join(ids, ","); s != tt.want {
			t.Errorf("Eligible(%q, %v) = %s, want %s", tt.team, tt.skills, s, tt.want)
		}
	}
}

// ---------------------------------------------------------------- auth

func newAuth(t *testing.T) (*Auth, redis.UniversalClient, string) {
	t.Helper()
	li := agent("a1")
	li.Email = "li@example.com"
	d, c, p := newDirectory(t, li, agent("a2"))
	return NewAuth(d), c, p
}

func TestLoginAndTokens(t *testing.T) {
	t.Parallel()
	auth, c, p := newAuth(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	auth.now = func() time.Time { return now }

	token, expires, a, err := auth.Login(ctx, "li@example.com", "pw")
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if len(token) < 32 || a.ID != "a1" || a.Password != "" {
		t.Fatalf("Login = %q, %+v", token, a)
	}
	if !expires.Equal(now.Add(12 * time.Hour)) {
		t.Fatalf("expires %v, want %v", expires, now.Add(12*time.Hour))
	}
	ttl := c.TTL(ctx, Keys{p}.Token(sum(token))).Val()
	if ttl <= 12*time.Hour-time.Minute || ttl > 12*time.Hour {
		t.Fatalf("token TTL %v, want about 12h", ttl)
	}
	if keys := c.Keys(ctx, p+"token:*").Val(); len(keys) != 1 || strings.Contains(keys[0], token) {
		t.Fatalf("token keys %v: want one, named by the token's hash only", keys)
	}
	got, err := auth.Authenticate(ctx, token)
	if err != nil || got.ID != "a1" {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}

	// Each login has its own token; logging one out leaves the other.
	other, _, _, err := auth.Login(ctx, " LI@Example.com ", "pw")
	if err != nil {
		t.Fatalf("Login with another case of the address: %v", err)
	}
	if other == token {
		t.Fatal("two logins got the same token")
	}
	if err := auth.Logout(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Authenticate(ctx, token); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Authenticate after logout = %v, want ErrUnauthorized", err)
	}
	if got, err := auth.Authenticate(ctx, other); err != nil || got.ID != "a1" {
		t.Fatalf("the other token stopped working: %+v, %v", got, err)
	}

	for _, bad := range []string{"", "nope", token + "x", strings.Repeat("a", 129)} {
		if _, err := auth.Authenticate(ctx, bad); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("Authenticate(%.20q) = %v, want ErrUnauthorized", bad, err)
		}
	}
}

func TestLoginRefusals(t *testing.T) {
	t.Parallel()
	auth, c, p := newAuth(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name, email, password string
	}{
		{"wrong password", "li@example.com", "wrong"},
		{"empty password", "li@example.com", ""},
		{"password with a trailing space", "a2@example.com", "pw "},
		{"unknown address", "nobody@example.com", "pw"},
		{"empty address", "", "pw"},
	} {
		token, _, a, err := auth.Login(ctx, tt.email, tt.password)
		if !errors.Is(err, ErrBadLogin) || token != "" || a.ID != "" {
			t.Errorf("%s: Login = %q, %+v, %v; want ErrBadLogin", tt.name, token, a, err)
		}
	}
	if keys := c.Keys(ctx, p+"token:*").Val(); len(keys) != 0 {
		t.Fatalf("refused logins stored tokens: %v", keys)
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		failAs []string // addresses of the failed attempts, in turn
		then   string   // the address of the final attempt, right password
	}{
		{"same spelling", []string{"li@example.com"}, "li@example.com"},
		// The limit is per account, however the address is typed.
		{"case and spaces", []string{"li@example.com", "LI@EXAMPLE.COM", " Li@Example.com", "li@example.COM "}, "Li@example.com"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			auth, c, p := newAuth(t)
			for i := 0; i < 10; i++ {
				if _, _, _, err := auth.Login(ctx, tt.failAs[i%len(tt.failAs)], "wrong"); !errors.Is(err, ErrBadLogin) {
					t.Fatalf("failed attempt %d = %v, want ErrBadLogin", i+1, err)
				}
			}
			if _, _, _, err := auth.Login(ctx, tt.then, "pw"); !errors.Is(err, ErrRateLimited) {
				t.Fatalf("login with the right password after 10 failures = %v, want ErrRateLimited", err)
			}
			if _, _, _, err := auth.Login(ctx, "a2@example.com", "pw"); err != nil {
				t.Fatalf("another account was limited too: %v", err)
			}
			keys := c.Keys(ctx, p+"loginfail:*").Val()
			if len(keys) != 1 {
				t.Fatalf("failure counters %v, want one for the account", keys)
			}
			if ttl := c.TTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > 5*time.Minute {
				t.Fatalf("failure counter TTL %v, want up to 5m", ttl)
			}
			// The window passing lifts the limit.
			c.Del(ctx, keys[0])
			if _, _, _, err := auth.Login(ctx, tt.then, "pw"); err != nil {
				t.Fatalf("login after the window = %v", err)
			}
		})
	}

	t.Run("a success resets the count", func(t *testing.T) {
		auth, _, _ := newAuth(t)
		for round := 0; round < 2; round++ {
			for i := 0; i < 9; i++ {
				if _, _, _, err := auth.Login(ctx, "li@example.com", "wrong"); !errors.Is(err, ErrBadLogin) {
					t.Fatalf("round %d, attempt %d = %v", round, i+1, err)
				}
			}
			if _, _, _, err := auth.Login(ctx, "li@example.com", "pw"); err != nil {
				t.Fatalf("round %d: login after 9 failures = %v", round, err)
			}
		}
	})

	t.Run("unknown addresses count too", func(t *testing.T) {
		auth, _, _ := newAuth(t)
		for i := 0; i < 10; i++ {
			if _, _, _, err := auth.Login(ctx, "ghost@example.com", "pw"); !errors.Is(err, ErrBadLogin) {
				t.Fatalf("attempt %d = %v", i+1, err)
			}
		}
		if _, _, _, err := auth.Login(ctx, "ghost@example.com", "pw"); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("11th attempt = %v, want ErrRateLimited", err)
		}
	})
}

// ---------------------------------------------------------------- presence

// clock is a settable time source, safe across goroutines.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.Set(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC))
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestPresenceGrace(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	ctx := context.Background()
	grace := 90 * time.Second
	for i, tt := range []struct {
		set   Status
		after time.Duration
		want  Status
	}{
		{Online, 0, Online},
		{Online, grace, Online},
		{Online, grace + time.Millisecond, Offline},
		{Online, time.Hour, Offline},
		{Away, 10 * time.Second, Away},
		{Away, grace, Away},
		{Away, grace + time.Millisecond, Offline},
		{Offline, 0, Offline},
	} {
		pres := NewPresences(c, p)
		clk := newClock()
		pres.now = clk.Now
		id := fmt.Sprintf("a%d", i)
		if _, err := pres.Set(ctx, id, tt.set); err != nil {
			t.Fatal(err)
		}
		clk.Advance(tt.after)
		got, err := pres.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != tt.want {
			t.Errorf("Set(%s), then %v without a heartbeat: %s, want %s", tt.set, tt.after, got.Status, tt.want)
		}
		if want := clk.Now().Add(-tt.after).Truncate(time.Millisecond); !got.LastSeen.Equal(want) {
			t.Errorf("LastSeen %v, want %v", got.LastSeen, want)
		}
	}
}

func TestPresenceHeartbeatKeepsOnline(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	ctx := context.Background()
	pres := NewPresences(c, p)
	pres.Grace = 10 * time.Second
	clk := newClock()
	pres.now = clk.Now

	if got, _ := pres.Get(ctx, "a1"); got.Status != Offline || !got.LastSeen.IsZero() {
		t.Fatalf("an agent never seen = %+v, want offline", got)
	}
	if pr, err := pres.Set(ctx, "a1", Online); err != nil || pr.Status != Online {
		t.Fatalf("Set online = %+v, %v", pr, err)
	}
	for i := 0; i < 5; i++ { // 40 s in all, heartbeats every 8 s
		clk.Advance(8 * time.Second)
		if err := pres.Heartbeat(ctx, "a1"); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(9 * time.Second)
	if got, _ := pres.Get(ctx, "a1"); got.Status != Online {
		t.Fatalf("with heartbeats within the grace: %s, want online", got.Status)
	}
	clk.Advance(2 * time.Second)
	if got, _ := pres.Get(ctx, "a1"); got.Status != Offline {
		t.Fatalf("11 s after the last heartbeat with a 10 s grace: %s, want offline", got.Status)
	}
	// A heartbeat brings back the chosen status.
	if err := pres.Heartbeat(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := pres.Get(ctx, "a1"); got.Status != Online {
		t.Fatalf("after a new heartbeat: %s, want online", got.Status)
	}
	// A heartbeat alone does not make an agent who never chose online.
	if err := pres.Heartbeat(ctx, "a2"); err != nil {
		t.Fatal(err)
	}
	if got, _ := pres.Get(ctx, "a2"); got.Status != Offline {
		t.Fatalf("heartbeat without a chosen status: %s, want offline", got.Status)
	}
}

func TestPresenceOnAvailableAndLoad(t *testing.T) {
	t.Parallel()
	_, c, p := newDirectory(t, agent("a1"), agent("a2"))
	ctx := context.Background()
	pres := NewPresences(c, p)
	var mu sync.Mutex
	var calls []string
	pres.OnAvailable = func(_ context.Context, a string) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, a)
	}
	for _, st := range []Status{Away, Offline, Online, Away, Online} {
		if _, err := pres.Set(ctx, "a1", st); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	got := strings.Join(calls, ",")
	mu.Unlock()
	if got != "a1,a1" {
		t.Fatalf("OnAvailable calls %q, want one per switch to online (a1,a1)", got)
	}

	c.HSet(ctx, Keys{p}.Load(), "a1", 2)
	all, err := pres.All(ctx, "a1", "a2", "ghost")
	if err != nil {
		t.Fatal(err)
	}
	if a := all["a1"]; a.Status != Online || a.Load != 2 || a.Capacity != 3 {
		t.Errorf("a1 = %+v, want online 2/3", a)
	}
	if a := all["a2"]; a.Status != Offline || a.Load != 0 || a.Capacity != 3 {
		t.Errorf("a2 = %+v, want offline 0/3 (seeded offline)", a)
	}
	if a, ok := all["ghost"]; !ok || a.Status != Offline || a.Capacity != 0 {
		t.Errorf("ghost = %+v, %v, want offline", a, ok)
	}
	if m, err := pres.All(ctx); err != nil || len(m) != 0 {
		t.Errorf("All() = %v, %v", m, err)
	}
}

func TestParseStatus(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{{"online", true}, {"away", true}, {"offline", true}, {"", false}, {"Online", false}, {"busy", false}} {
		got, err := ParseStatus(tt.in)
		if (err == nil) != tt.ok || (tt.ok && string(got) != tt.in) {
			t.Errorf("ParseStatus(%q) = %q, %v", tt.in, got, err)
		}
	}
}

// ---------------------------------------------------------------- socket

var errClosed = errors.New("fake conn: closed")

// fakeConn is one side of an agent socket. The test reads what the server
// writes from out and feeds client frames into in. A blocking conn's
// WriteMessage never returns until Close: a client that does not read.
type fakeConn struct {
	in       chan []byte
	out      chan []byte
	closed   chan struct{}
	once     sync.Once
	blocking bool
	badType  atomic.Int32 // a WriteMessage that was not a text frame
}

func newFakeConn(blocking bool) *fakeConn {
	return &fakeConn{in: make(chan []byte, 16), out: make(chan []byte, 4096), closed: make(chan struct{}), blocking: blocking}
}

func (c *fakeConn) ReadMessage() (int, []byte, error) {
	select {
	case <-c.closed:
		return 0, nil, errClosed
	default:
	}
	select {
	case m := <-c.in:
		return wsout.TextMessage, m, nil
	case <-c.closed:
		return 0, nil, errClosed
	}
}

func (c *fakeConn) WriteMessage(mt int, b []byte) error {
	if mt != wsout.TextMessage {
		c.badType.Add(1)
	}
	select {
	case <-c.closed:
		return errClosed
	default:
	}
	if c.blocking {
		<-c.closed
		return errClosed
	}
	select {
	case c.out <- append([]byte(nil), b...):
		return nil
	case <-c.closed:
		return errClosed
	}
}

func (c *fakeConn) SetReadDeadline(time.Time) error { return nil }

func (c *fakeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *fakeConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// socketEnv is one replica's socket server on a real Redis.
type socketEnv struct {
	c     redis.UniversalClient
	p     string
	k     Keys
	ev    *Events
	pres  *Presences
	clk   *clock
	logs  *lockedBuffer
	socks *Sockets
}

func newSocketEnv(t *testing.T) *socketEnv {
	t.Helper()
	c, p := redistest.Client(t)
	e := &socketEnv{c: c, p: p, k: Keys{p}, ev: NewEvents(c, p, quiet()), pres: NewPresences(c, p), clk: newClock(), logs: &lockedBuffer{}}
	e.pres.now = e.clk.Now
	e.socks = &Sockets{Events: e.ev, Presences: e.pres, Log: slog.New(slog.NewTextHandler(e.logs, nil)),
		LiveChannel: func(id string) string { return p + "live:" + id },
		CanWatch:    func(_ context.Context, _ Agent, id string) bool { return id != "secret" },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.ev.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Error("Events.Run did not return after its context ended")
		}
	})
	return e
}

// client is one agent socket being served.
type client struct {
	*fakeConn
	t    *testing.T
	done chan struct{}
	err  error
}

func (e *socketEnv) connect(t *testing.T, a Agent, lastAgent, lastInbox string, blocking bool) *client {
	t.Helper()
	return e.connectCtx(t, context.Background(), a, lastAgent, lastInbox, blocking)
}

func (e *socketEnv) connectCtx(t *testing.T, ctx context.Context, a Agent, lastAgent, lastInbox string, blocking bool) *client {
	t.Helper()
	cl := &client{fakeConn: newFakeConn(blocking), t: t, done: make(chan struct{})}
	go func() {
		defer close(cl.done)
		cl.err = e.socks.Serve(ctx, a, cl.fakeConn, lastAgent, lastInbox)
	}()
	t.Cleanup(func() {
		cl.Close()
		select {
		case <-cl.done:
		case <-time.After(wait):
			t.Errorf("Serve for %s did not return after the client left", a.ID)
		}
		if n := cl.badType.Load(); n > 0 {
			t.Errorf("%d frames were not text frames", n)
		}
	})
	return cl
}

// wait returns Serve's result once it has returned.
func (cl *client) wait() error {
	cl.t.Helper()
	select {
	case <-cl.done:
		return cl.err
	case <-time.After(wait):
		cl.t.Fatalf("Serve did not return within %v", wait)
		return nil
	}
}

// leave disconnects the client and waits for Serve to finish.
func (cl *client) leave() {
	cl.t.Helper()
	cl.Close()
	if err := cl.wait(); err != nil {
		cl.t.Fatalf("Serve = %v after the client left", err)
	}
}

func (cl *client) send(v any) {
	cl.t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			cl.t.Fatal(err)
		}
	}
	select {
	case cl.in <- b:
	case <-time.After(wait):
		cl.t.Fatal("the server does not read client frames")
	}
}

// frame returns the next frame the server wrote.
func (cl *client) frame() Frame {
	cl.t.Helper()
	select {
	case b := <-cl.out:
		var f Frame
		if err := json.Unmarshal(b, &f); err != nil {
			cl.t.Fatalf("frame %q is not JSON: %v", b, err)
		}
		return f
	case <-time.After(wait):
		cl.t.Fatalf("no frame within %v", wait)
		return Frame{}
	}
}

// hello checks that the first frame is the hello and returns its data.
func (cl *client) hello() (hello struct {
	Agent    Agent    `json:"agent"`
	Presence Presence `json:"presence"`
}) {
	cl.t.Helper()
	f := cl.frame()
	if f.Type != "hello" || f.Stream != "" || f.ID != "" {
		cl.t.Fatalf("first frame = %s %s %s %s, want hello", f.Stream, f.ID, f.Type, f.Data)
	}
	if err := json.Unmarshal(f.Data, &hello); err != nil {
		cl.t.Fatal(err)
	}
	return hello
}

// expect reads frames and checks they are the given stream events, in order.
func (cl *client) expect(stream string, want []redis.XMessage) {
	cl.t.Helper()
	for i, m := range want {
		f := cl.frame()
		if f.Stream != stream || f.ID != m.ID || f.Type != m.Values["t"] || string(f.Data) != m.Values["d"] {
			cl.t.Fatalf("frame %d of %d = %s %s %s %s, want %s %s %v %v", i+1, len(want),
				f.Stream, f.ID, f.Type, f.Data, stream, m.ID, m.Values["t"], m.Values["d"])
		}
	}
}

// stream returns the events stored on a stream key.
func (e *socketEnv) stream(t *testing.T, key string) []redis.XMessage {
	t.Helper()
	msgs, err := e.c.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func (e *socketEnv) toAgent(t *testing.T, a, typ string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := e.ev.ToAgent(context.Background(), a, typ, map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *socketEnv) toInbox(t *testing.T, typ string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := e.ev.ToInbox(context.Background(), typ, map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
}

// sentinel publishes one more agent event and checks it is the next frame:
// nothing else (duplicate, stray) is pending before it.
func (e *socketEnv) sentinel(t *testing.T, cl *client, a string) {
	t.Helper()
	e.toAgent(t, a, "sentinel", 0, 1)
	msgs := e.stream(t, e.k.AgentEvents(a))
	cl.expect("agent", msgs[len(msgs)-1:])
}

func TestSocketDeliversAgentAndInboxEvents(t *testing.T) {
	t.Parallel()
	e := newSocketEnv(t)
	a1 := agent("a1")
	cl := e.connect(t, a1, "", "", false)
	hello := cl.hello()
	if hello.Agent.ID != "a1" || hello.Agent.Email != "a1@example.com" || hello.Presence.Status != Offline {
		t.Fatalf("hello = %+v", hello)
	}
	if seen := e.c.HGet(context.Background(), e.k.Seen(), "a1").Val(); seen != fmt.Sprint(e.clk.Now().UnixMilli()) {
		t.Fatalf("connecting did not count as a heartbeat (seen %q)", seen)
	}

	e.toAgent(t, "a2", EventMessageNew, 100, 2) // someone else's
	e.toAgent(t, "a1", EventMessageNew, 0, 3)
	e.toInbox(t, EventConversationUpdated, 0, 3)

	// The two streams interleave freely; each keeps its own order.
	var agentFrames, inboxFrames []Frame
	for i := 0; i < 6; i++ {
		switch f := cl.frame(); f.Stream {
		case "agent":
			agentFrames = append(agentFrames, f)
		case "inbox":
			inboxFrames = append(inboxFrames, f)
		default:
			t.Fatalf("unexpected frame %+v", f)
		}
	}
	for _, c := range []struct {
		name   string
		frames []Frame
		key    string
	}{{"agent", agentFrames, e.k.AgentEvents("a1")}, {"inbox", inboxFrames, e.k.InboxEvents()}} {
		msgs := e.stream(t, c.key)
		if len(c.frames) != len(msgs) || len(msgs) != 3 {
			t.Fatalf("%s: %d frames for %d stored events, want 3", c.name, len(c.frames), len(msgs))
		}
		for i, f := range c.frames {
			if f.ID != msgs[i].ID || f.Type != msgs[i].Values["t"] || string(f.Data) != fmt.Sprintf(`{"n":%d}`, i) {
				t.Fatalf("%s frame %d = %+v (%s), want id %s", c.name, i, f, f.Data, msgs[i].ID)
			}
		}
	}
	e.sentinel(t, cl, "a1")
}

func TestSocketClientFrames(t *testing.T) {
	t.Parallel()
	e := newSocketEnv(t)
	ctx := context.Background()
	cl := e.connect(t, agent("a1"), "", "", false)
	cl.hello()

	// ping: pong, and a heartbeat.
	e.clk.Advance(time.Minute)
	cl.send(map[string]string{"type": "ping"})
	if f := cl.frame(); f.Type != "pong" || f.Stream != "" || f.Data != nil {
		t.Fatalf("answer to ping = %+v", f)
	}
	if seen := e.c.HGet(ctx, e.k.Seen(), "a1").Val(); seen != fmt.Sprint(e.clk.Now().UnixMilli()) {
		t.Fatalf("ping did not record a heartbeat: seen %q, want %d", seen, e.clk.Now().UnixMilli())
	}

	// presence: set and answered.
	cl.send(map[string]string{"type": "presence", "status": "away"})
	f := cl.frame()
	var pr Presence
	if f.Type != "presence" || json.Unmarshal(f.Data, &pr) != nil || pr.Status != Away {
		t.Fatalf("answer to presence = %+v (%s)", f, f.Data)
	}
	if got, _ := e.pres.Get(ctx, "a1"); got.Status != Away {
		t.Fatalf("presence after the frame = %s, want away", got.Status)
	}

	// Not JSON: an error frame, and the socket stays up.
	cl.send([]byte("not json"))
	f = cl.frame()
	var body struct{ Code string }
	if f.Type != "error" || json.Unmarshal(f.Data, &body) != nil || body.Code != "bad_request" {
		t.Fatalf("answer to a bad frame = %+v (%s)", f, f.Data)
	}

	// Unknown types and bad statuses are ignored: the next answer is the pong.
	cl.send(map[string]string{"type": "presence", "status": "busy"})
	cl.send(map[string]string{"type": "dance"})
	cl.send(map[string]string{"type": "ping"})
	if f := cl.frame(); f.Type != "pong" {
		t.Fatalf("after ignored frames got %+v, want pong", f)
	}
	if got, _ := e.pres.Get(ctx, "a1"); got.Status != Away {
		t.Fatalf("a bad status changed presence to %s", got.Status)
	}
	cl.leave()
}

func TestSocketResume(t *testing.T) {
	t.Parallel()
	e := newSocketEnv(t)
	a1 := agent("a1")
	key := e.k.AgentEvents("a1")

	cl := e.connect(t, a1, "", "", false)
	cl.hello()
	e.toAgent(t, "a1", EventMessageNew, 0, 3)
	cl.expect("agent", e.stream(t, key))
	last := e.stream(t, key)[2].ID
	cl.leave()

	e.toAgent(t, "a1", EventMessageNew, 3, 5)
	for round := 0; round < 2; round++ { // and again from the same position
		again := e.connect(t, a1, last, "", false)
		again.hello()
		missed := e.stream(t, key)[3:8]
		again.expect("agent", missed)
		for i, m := range missed {
			if m.Values["d"] != fmt.Sprintf(`{"n":%d}`, 3+i) {
				t.Fatalf("missed event %d carries %v", i, m.Values["d"])
			}
		}
		e.sentinel(t, again, "a1")
		again.leave()
		// The sentinel is not missed next time round.
		if err := e.c.XDel(context.Background(), key, e.stream(t, key)[8].ID).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSocketResync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, stream := range []string{"agent", "inbox"} {
		t.Run(stream, func(t *testing.T) {
			t.Parallel()
			e := newSocketEnv(t)
			key := e.k.AgentEvents("a1")
			if stream == "agent" {
				e.toAgent(t, "a1", EventMessageNew, 0, 20)
			} else {
				key = e.k.InboxEvents()
				e.toInbox(t, EventConversationUpdated, 0, 20)
			}
			first := e.stream(t, key)[0].ID
			// The server keeps fewer than the client missed.
			if err := e.c.XTrimMaxLen(ctx, key, 5).Err(); err != nil {
				t.Fatal(err)
			}
			lastAgent, lastInbox := first, ""
			if stream == "inbox" {
				lastAgent, lastInbox = "", first
			}
			cl := e.connect(t, agent("a1"), lastAgent, lastInbox, false)
			cl.hello()
			if f := cl.frame(); f.Stream != stream || f.Type != "resync" || f.ID != "" {
				t.Fatalf("frame after hello = %+v, want a %s resync", f, stream)
			}
			e.sentinel(t, cl, "a1") // then live events, nothing kept replayed
		})
	}
}

func TestSocketRefusesBadEventIDs(t *testing.T) {
	t.Parallel()
	e := newSocketEnv(t)
	for _, ids := range [][2]string{{"nope", ""}, {"", "1-x"}, {"1-0 ", ""}} {
		cl := e.connect(t, agent("a1"), ids[0], ids[1], false)
		if err := cl.wait(); err == nil {
			t.Errorf("Serve(last_event_id=%q, last_inbox_id=%q) = nil, want an error", ids[0], ids[1])
		}
		select {
		case b := <-cl.out:
			t.Errorf("a refused socket got frame %s", b)
		default:
		}
	}
}

func TestSocketWatch(t *testing.T) {
	t.Parallel()
	e := newSocketEnv(t)
	ctx := context.Background()
	numSub := func(ch string) int64 { return e.c.PubSubNumSub(ctx, ch).Val()[ch] }
	waitSubs := func(ch string, want int64) {
		t.Helper()
		deadline := time.Now().Add(wait)
		for numSub(ch) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s has %d pub/sub subscribers, want %d", ch, numSub(ch), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	live := e.socks.LiveChannel
	cl := e.connect(t, agent("a1"), "", "", false)
	cl.hello()

	// Not allowed: no subscription. (Checked once a later watch is in:
	// the hub sends both on one connection, in order.)
	cl.send(map[string]string{"type": "watch", "conversation_id": "secret"})
	cl.send(map[string]string{"type": "watch", "conversation_id": "c1"})
	waitSubs(live("c1"), 1)
	if n := numSub(live("secret")); n != 0 {
		t.Fatalf("a refused watch subscribed (%d)", n)
	}
	for i := 0; i < 3; i++ {
		if err := e.ev.Notify(ctx, live("c1"), EventMessageNew, []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		f := cl.frame()
		if f.Stream != "watch" || f.ID != "" || f.Type != EventMessageNew || string(f.Data) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("watch frame %d = %+v (%s)", i, f, f.Data)
		}
	}

	// Switching conversations stops the old watch.
	cl.send(map[string]string{"type": "watch", "conversation_id": "c2"})
	waitSubs(live("c2"), 1)
	waitSubs(live("c1"), 0)
	_ = e.ev.Notify(ctx, live("c1"), "old", nil)
	_ = e.ev.Notify(ctx, live("c2"), "new", nil)
	if f := cl.frame(); f.Stream != "watch" || f.Type != "new" {
		t.Fatalf("after switching to c2 got %+v, want c2's event", f)
	}

	// An empty id stops watching.
	cl.send(map[string]string{"type": "watch", "conversation_id": ""})
	waitSubs(live("c2"), 0)
	e.sentinel(t, cl, "a1")

	// Leaving ends the watch too.
	cl.send(map[string]string{"type": "watch", "conversation_id": "c3"})
	waitSubs(live("c3"), 1)
	cl.leave()
	waitSubs(live("c3"), 0)
}

// A client that never reads is cut off once its queue is full; it would
// resume on reconnect. Other sockets are not held up meanwhile.
func TestSocketSlowClientIsDisconnected(t *testing.T) {
	t.Parallel()
	e := newSocketEnv(t)
	slow := e.connect(t, agent("slow"), "", "", true)
	fast := e.connect(t, agent("a1"), "", "", false)
	fast.hello()
	// Both are subscribed once the slow socket has written (and is stuck
	// on) its hello: wait for its agent stream subscription to be in.
	waitFor(t, "the slow socket to subscribe", func() bool {
		ch := e.k.AgentEvents("slow")
		return e.c.PubSubNumSub(context.Background(), ch).Val()[ch] == 1
	})

	// While the slow client is stuck, the fast one gets everything.
	e.toInbox(t, EventConversationUpdated, 0, 100)
	msgs := e.stream(t, e.k.InboxEvents())
	fast.expect("inbox", msgs)
	if slow.isClosed() {
		t.Fatal("the slow client was cut off before its queue was full")
	}

	// Enough to fill the slow client's queue.
	e.toInbox(t, EventConversationUpdated, 100, socketQueue+50)
	if err := slow.wait(); err != nil {
		t.Fatalf("Serve for the slow client = %v", err)
	}
	if !slow.isClosed() {
		t.Fatal("Serve returned without closing the slow client's connection")
	}
	if logs := e.logs.String(); !strings.Contains(logs, "client too slow") || !strings.Contains(logs, "agent=slow") {
		t.Fatalf("no slow-client log for agent slow:\n%s", logs)
	}
	fast.expect("inbox", e.stream(t, e.k.InboxEvents())[100:])
	e.sentinel(t, fast, "a1")
}

func TestSocketEndsWithContext(t *testing.T) {
	t.Parallel()
	e := newSocketEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cl := e.connectCtx(t, ctx, agent("a1"), "", "", false)
	cl.hello()
	cancel()
	if err := cl.wait(); err != nil {
		t.Fatalf("Serve = %v when its context ended", err)
	}
	if !cl.isClosed() {
		t.Fatal("the connection was left open")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
