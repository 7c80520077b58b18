package router

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/session"
)

// The people of the link and merge tests: a support agent, a sales
// agent, a supervisor.
var (
	agentLi  = session.Agent{ID: "li", Email: "li@example.com", Name: "李明", Teams: []string{"support"}, Capacity: 5}
	agentEm  = session.Agent{ID: "emma", Email: "emma@example.com", Name: "Emma", Teams: []string{"sales"}, Capacity: 5}
	agentSup = session.Agent{ID: "sup", Email: "sup@example.com", Name: "Supervisor", Role: session.RoleSupervisor,
		Teams: []string{"support"}, Capacity: 5}
)

// mergeRouter is a router on a fresh prefix, not running (nothing moves
// keys behind the test's back), with the three agents.
func mergeRouter(t *testing.T) *Router {
	t.Helper()
	w := newWorld(t, []session.Agent{agentLi, agentEm, agentSup}, callTeams, nil)
	r, _, _ := w.replica()
	return r
}

// snapshot renders every key under the router's prefix with its content,
// but for the history a merge and an unmerge leave on purpose: audit
// streams, merge records, :unmerged sets, and the inbox's event stream.
func snapshot(t *testing.T, r *Router) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := r.rdb.Keys(ctx, r.k.p+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		if strings.HasSuffix(k, ":audit") || strings.Contains(k, ":merge:") || strings.HasSuffix(k, ":unmerged") ||
			k == r.sk.InboxEvents() {
			continue
		}
		typ, err := r.rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		switch typ {
		case "string":
			v, err = r.rdb.Get(ctx, k).Result()
		case "hash":
			v, err = r.rdb.HGetAll(ctx, k).Result()
		case "set":
			var m []string
			m, err = r.rdb.SMembers(ctx, k).Result()
			sort.Strings(m)
			v = m
		case "zset":
			v, err = r.rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "stream":
			v, err = r.rdb.XRange(ctx, k, "-", "+").Result()
		default:
			continue
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		out[k] = typ + " " + string(b)
	}
	return out
}

// snapshotDiff describes how two snapshots differ, "" when they do not.
func snapshotDiff(before, after map[string]string) string {
	var out []string
	for k, v := range after {
		if w, ok := before[k]; !ok {
			out = append(out, "added "+k+" = "+v)
		} else if w != v {
			out = append(out, "changed "+k+": "+w+" -> "+v)
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

// auditOf returns customer id's audit entries, newest first.
func auditOf(t *testing.T, r *Router, id string) []AuditEntry {
	t.Helper()
	es, err := r.Audit(context.Background(), id, 0)
	if err != nil {
		t.Fatalf("audit of %s: %v", id, err)
	}
	return es
}

func phoneID(v string) connectors.Identity { return connectors.Identity{Type: "phone", Value: v} }
func emailID(v string) connectors.Identity { return connectors.Identity{Type: "email", Value: v} }

func TestLinkIdentity(t *testing.T) {
	r := mergeRouter(t)
	ctx := context.Background()
	a := ingestT(t, r, webchatMsg("visitor-link-a-0001", "1", "hi")).CustomerID
	b := ingestT(t, r, webchatMsg("visitor-link-b-0001", "1", "hi")).CustomerID
	if _, err := r.LinkIdentity(ctx, agentLi, b, "phone", "13900139000"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, typ, value string
		want             connectors.Identity // linked to a; zero when refused
		err              error
		taken            string // the customer an IdentityTakenError names
		audited          bool
	}{
		{name: "a Chinese mobile number becomes E.164", typ: "phone", value: "138 0013 8000",
			want: phoneID("+8613800138000"), audited: true},
		{name: "the same number written otherwise changes nothing", typ: "phone", value: "+86 13800138000",
			want: phoneID("+8613800138000")},
		{name: "an e-mail address is lower-cased", typ: "email", value: " Li.Lei@Example.COM ",
			want: emailID("li.lei@example.com"), audited: true},
		{name: "a number of another customer is refused", typ: "phone", value: "0086 139 0013 9000",
			err: ErrConflict, taken: b},
		{name: "not a number", typ: "phone", value: "12", err: ErrInvalid},
		{name: "an address with a name", typ: "email", value: "Li <li@example.com>", err: ErrInvalid},
		{name: "an address without a domain", typ: "email", value: "li@", err: ErrInvalid},
		{name: "an address with a space", typ: "email", value: "li lei@example.com", err: ErrInvalid},
		{name: "another type", typ: "openid", value: "oX", err: ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(t, r)
			audits := len(auditOf(t, r, a))
			view, err := r.LinkIdentity(ctx, agentLi, a, c.typ, c.value)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				var taken *IdentityTakenError
				if c.taken != "" && (!errors.As(err, &taken) || taken.CustomerID != c.taken) {
					t.Errorf("err = %#v, want an IdentityTakenError naming %s", err, c.taken)
				}
				if d := snapshotDiff(before, snapshot(t, r)); d != "" {
					t.Errorf("a refused link wrote:\n%s", d)
				}
				if n := len(auditOf(t, r, a)); n != audits {
					t.Errorf("a refused link was audited")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := customerOf(t, r, c.want); got != a {
				t.Errorf("%s points at %q, want %s", c.want.Value, got, a)
			}
			if !slices.Contains(view.Identities, Identity{Type: c.want.Type, Value: c.want.Value}) {
				t.Errorf("the view's identities %v lack %v", view.Identities, c.want)
			}
			es := auditOf(t, r, a)
			if got := len(es) - audits; got != map[bool]int{true: 1, false: 0}[c.audited] {
				t.Fatalf("%d audit entries, want audited=%v", got, c.audited)
			}
			if c.audited && (es[0].Action != AuditLink || es[0].Who != agentLi.ID || es[0].Type != c.want.Type ||
				es[0].Value != c.want.Value || es[0].At.IsZero()) {
				t.Errorf("audit entry %+v", es[0])
			}
		})
	}
	t.Run("a call from the linked number finds the customer", func(t *testing.T) {
		if cust, _ := r.customerByPhone(ctx, "+8613800138000"); cust != a {
			t.Errorf("the number belongs to %q, want %s", cust, a)
		}
	})
	t.Run("unknown customer", func(t *testing.T) {
		if _, err := r.LinkIdentity(ctx, agentLi, "01NOSUCHCUSTOMER", "phone", "13700137000"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if got := customerOf(t, r, phoneID("+8613700137000")); got != "" {
			t.Errorf("the number points at %q", got)
		}
	})
}

// An agent acts on customers of conversations that are theirs, their
// team's or not routed yet; supervisors on all.
func TestCustomerAccess(t *testing.T) {
	r := mergeRouter(t)
	ctx := context.Background()
	acc := ingestT(t, r, webchatMsg("visitor-access-0001", "1", "hi"))
	fresh, err := r.CreateCustomer(ctx, agentEm, "新来电", "", "")
	if err != nil {
		t.Fatal(err)
	}
	route := func(team, assignee string) {
		if err := r.rdb.HSet(ctx, r.k.conv(acc.ConversationID), "team", team, "assignee", assignee).Err(); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name           string
		team, assignee string
		agent          session.Agent
		cust           string
		ok             bool
	}{
		{"not routed yet: any agent", "", "", agentEm, acc.CustomerID, true},
		{"the team's", "support", "", agentLi, acc.CustomerID, true},
		{"another team's", "support", "", agentEm, acc.CustomerID, false},
		{"assigned to the agent in another team", "support", "emma", agentEm, acc.CustomerID, true},
		{"a supervisor", "sales", "emma", agentSup, acc.CustomerID, true},
		{"a customer without conversations", "sales", "emma", agentLi, fresh.ID, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			route(c.team, c.assignee)
			err := r.mayActOnCustomer(ctx, c.agent, c.cust)
			if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrForbidden)) {
				t.Fatalf("err = %v, want allowed=%v", err, c.ok)
			}
		})
	}
}

func TestUnlinkIdentity(t *testing.T) {
	r := mergeRouter(t)
	ctx := context.Background()
	acc := ingestT(t, r, webchatMsg("visitor-unlink-0001", "1", "hi"))
	cust := acc.CustomerID
	if _, err := r.LinkIdentity(ctx, agentLi, cust, "email", "zhang@example.com"); err != nil {
		t.Fatal(err)
	}
	// The visitor's handle goes, the customer keeps the conversation.
	view, err := r.UnlinkIdentity(ctx, agentLi, cust, "visitor", "visitor-unlink-0001")
	if err != nil {
		t.Fatal(err)
	}
	if got := customerOf(t, r, connectors.Identity{Type: "visitor", Value: "visitor-unlink-0001"}); got != "" {
		t.Errorf("the visitor still points at %q", got)
	}
	if len(view.Conversations) != 1 || view.Conversations[0].ID != acc.ConversationID {
		t.Errorf("the customer's conversations %+v, want the one it had", view.Conversations)
	}
	for _, idn := range view.Identities {
		if idn.Type == "visitor" {
			t.Errorf("the view still lists %+v", idn)
		}
	}
	es := auditOf(t, r, cust)
	if es[0].Action != AuditUnlink || es[0].Type != "visitor" || es[0].Who != agentLi.ID {
		t.Errorf("audit entry %+v", es[0])
	}
	// The visitor's next message is a new customer's, in a new conversation.
	next := ingestT(t, r, webchatMsg("visitor-unlink-0001", "2", "again"))
	if next.CustomerID == cust || next.ConversationID == acc.ConversationID {
		t.Errorf("the next message went to %+v, want a new customer and conversation", next)
	}
	if h := hashOf(t, r, r.k.conv(next.ConversationID)); h["customer_id"] != next.CustomerID {
		t.Errorf("the new conversation's customer %q, want %s", h["customer_id"], next.CustomerID)
	}
	// An e-mail address as typed; then again: not the customer's any more.
	if _, err := r.UnlinkIdentity(ctx, agentLi, cust, "email", "Zhang@Example.com"); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, r)
	if _, err := r.UnlinkIdentity(ctx, agentLi, cust, "email", "zhang@example.com"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second unlink: err = %v, want ErrNotFound", err)
	}
	if d := snapshotDiff(before, snapshot(t, r)); d != "" {
		t.Errorf("a refused unlink wrote:\n%s", d)
	}
}

func TestCreateCustomer(t *testing.T) {
	r := mergeRouter(t)
	ctx := context.Background()
	c, err := r.CreateCustomer(ctx, agentLi, " 张三 ", "13800138000", "Zhang@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "张三" || len(c.Identities) != 2 || len(c.Conversations) != 0 {
		t.Errorf("new customer %+v", c)
	}
	if got := customerOf(t, r, phoneID("+8613800138000")); got != c.ID {
		t.Errorf("the number points at %q, want %s", got, c.ID)
	}
	if src := hashOf(t, r, r.k.customer(c.ID))["name_source"]; src != nameByAgent {
		t.Errorf("name_source %q, want agent", src)
	}
	found, err := r.FindCustomers(ctx, "email", "ZHANG@example.com")
	if err != nil || len(found) != 1 || found[0].ID != c.ID {
		t.Errorf("find by e-mail = %+v, %v", found, err)
	}
	if found, err := r.FindCustomers(ctx, "phone", "13900139000"); err != nil || len(found) != 0 {
		t.Errorf("find by an unknown number = %+v, %v", found, err)
	}
	es := auditOf(t, r, c.ID)
	if len(es) != 3 || es[2].Action != AuditCreate || es[2].Name != "张三" || es[0].Action != AuditLink {
		t.Errorf("audit %+v, want create then two links", es)
	}
	for _, bad := range []struct {
		name, phone, email string
		err                error
	}{
		{"", "", "", ErrInvalid},
		{strings.Repeat("名", 65), "", "", ErrInvalid},
		{"李四", "not a number", "", ErrInvalid},
		{"李四", "13900139000", "+86 138 0013 8000@", ErrInvalid},
		{"李四", "13900139000", "zhang@example.com", ErrConflict},
	} {
		before := snapshot(t, r)
		if _, err := r.CreateCustomer(ctx, agentLi, bad.name, bad.phone, bad.email); !errors.Is(err, bad.err) {
			t.Errorf("create %q %q %q: err = %v, want %v", bad.name, bad.phone, bad.email, err, bad.err)
		}
		if d := snapshotDiff(before, snapshot(t, r)); d != "" {
			t.Errorf("a refused create wrote:\n%s", d)
		}
	}
}

// ring records a new inbound call from number (E.164) and returns its id.
func ring(t *testing.T, r *Router, pbxID, number string) string {
	t.Helper()
	if err := r.CallEvent(context.Background(), connectors.CallEvent{Source: "pbx", Type: connectors.CallNew, CallID: pbxID,
		Direction: connectors.CallInbound, From: number, FromE164: number, To: "4008001234", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return callID("pbx", pbxID)
}
