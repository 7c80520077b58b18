package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/session"
)

func oaMsg(app, oid, ext, text string) *connectors.Message {
	return &connectors.Message{Channel: connectors.WeChatOA, Account: app, ExternalID: ext,
		From: connectors.Identity{Type: "openid", Value: oid}, Kind: connectors.KindText, Text: text}
}

func openid(v string) connectors.Identity  { return connectors.Identity{Type: "openid", Value: v} }
func unionid(v string) connectors.Identity { return connectors.Identity{Type: "unionid", Value: v} }

// ingestT ingests m and fails the test on an error.
func ingestT(t *testing.T, r *Router, m *connectors.Message) connectors.Accepted {
	t.Helper()
	acc, err := r.Ingest(context.Background(), m)
	if err != nil {
		t.Fatalf("ingest %s/%s: %v", m.Account, m.From.Value, err)
	}
	return acc
}

// customerOf is the customer an identity points at.
func customerOf(t *testing.T, r *Router, id connectors.Identity) string {
	t.Helper()
	v, _ := r.rdb.Get(context.Background(), r.k.identityCustomer(identityTag(id))).Result()
	return v
}

func hashOf(t *testing.T, r *Router, key string) map[string]string {
	t.Helper()
	h, err := r.rdb.HGetAll(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// customerEvents returns the customer.updated events on the inbox stream
// about customer id.
func customerEvents(t *testing.T, r *Router, id string) []customerEvent {
	t.Helper()
	xs, err := r.rdb.XRange(context.Background(), r.sk.InboxEvents(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []customerEvent
	for _, x := range xs {
		if x.Values["t"] != session.EventCustomerUpdated {
			continue
		}
		var ev customerEvent
		if err := json.Unmarshal([]byte(x.Values["d"].(string)), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.CustomerID == id {
			out = append(out, ev)
		}
	}
	return out
}

func TestUpdateProfileNameAndAvatar(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	r, _, _ := w.replica()
	ctx := context.Background()
	const pic = "https://thirdwx.qlogo.cn/mmopen/abc/132"
	cases := []struct {
		name       string
		before     func(t *testing.T, cust string) // run after the first message
		profile    connectors.Profile
		wantName   string // "" = the default (the openid)
		wantAvatar string
		wantSource string
		wantEvent  bool
	}{
		{name: "name and avatar set", profile: connectors.Profile{Name: " 小王 ", Avatar: pic},
			wantName: "小王", wantAvatar: pic, wantSource: nameByChannel, wantEvent: true},
		{name: "javascript avatar ignored", profile: connectors.Profile{Name: "小王", Avatar: "javascript:alert(1)"},
			wantName: "小王", wantSource: nameByChannel, wantEvent: true},
		{name: "ftp avatar ignored", profile: connectors.Profile{Avatar: "ftp://example.com/a.png"}},
		{name: "avatar without host ignored", profile: connectors.Profile{Avatar: "http:///a.png"}},
		{name: "avatar with credentials ignored", profile: connectors.Profile{Avatar: "https://u:p@example.com/a.png"}},
		{name: "avatar with a space ignored", profile: connectors.Profile{Avatar: "https://example.com/a b.png"}},
		{name: "avatar over 512 bytes ignored", profile: connectors.Profile{Avatar: "https://example.com/" + strings.Repeat("a", 500)}},
		{name: "name over 64 characters ignored", profile: connectors.Profile{Name: strings.Repeat("王", 65), Avatar: pic},
			wantAvatar: pic, wantEvent: true},
		{name: "64 characters accepted", profile: connectors.Profile{Name: strings.Repeat("王", 64)},
			wantName: strings.Repeat("王", 64), wantSource: nameByChannel, wantEvent: true},
		{name: "name not UTF-8 ignored", profile: connectors.Profile{Name: "\xff\xfe"}},
		{name: "name with a newline ignored", profile: connectors.Profile{Name: "a\nb"}},
		{name: "empty profile changes nothing", profile: connectors.Profile{}},
		{name: "agent-set name kept",
			before: func(t *testing.T, cust string) {
				vip := "VIP 王先生"
				if _, err := r.UpdateCustomer(ctx, cust, CustomerPatch{Name: &vip}); err != nil {
					t.Fatal(err)
				}
			},
			profile:  connectors.Profile{Name: "小王", Avatar: pic},
			wantName: "VIP 王先生", wantAvatar: pic, wantSource: nameByAgent, wantEvent: true},
		{name: "a channel's name is replaced by the next profile",
			before: func(t *testing.T, cust string) {
				if err := r.UpdateProfile(ctx, cust, connectors.Profile{Name: "旧名"}); err != nil {
					t.Fatal(err)
				}
			},
			profile:  connectors.Profile{Name: "小王"},
			wantName: "小王", wantSource: nameByChannel, wantEvent: true},
		{name: "a name without source that is not a default is kept",
			before: func(t *testing.T, cust string) {
				// An agent's edit from before name_source existed.
				r.rdb.HSet(ctx, r.k.customer(cust), "name", "老客户")
			},
			profile:  connectors.Profile{Name: "小王"},
			wantName: "老客户"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			oid := fmt.Sprintf("oProfile%02d", i)
			acc := ingestT(t, r, oaMsg("app1", oid, "m1", "hi"))
			if c.before != nil {
				c.before(t, acc.CustomerID)
			}
			events := len(customerEvents(t, r, acc.CustomerID))
			if err := r.UpdateProfile(ctx, acc.CustomerID, c.profile); err != nil {
				t.Fatal(err)
			}
			cust, err := r.Customer(ctx, acc.CustomerID)
			if err != nil {
				t.Fatal(err)
			}
			want := c.wantName
			if want == "" {
				want = oid
			}
			if cust.Name != want || cust.Avatar != c.wantAvatar {
				t.Errorf("name %q avatar %q, want %q %q", cust.Name, cust.Avatar, want, c.wantAvatar)
			}
			if src := hashOf(t, r, r.k.customer(acc.CustomerID))["name_source"]; src != c.wantSource {
				t.Errorf("name_source %q, want %q", src, c.wantSource)
			}
			if got := len(customerEvents(t, r, acc.CustomerID)) - events; (got > 0) != c.wantEvent {
				t.Errorf("%d customer.updated events, want some: %v", got, c.wantEvent)
			}
			// The same profile again changes nothing and says nothing.
			events = len(customerEvents(t, r, acc.CustomerID))
			if err := r.UpdateProfile(ctx, acc.CustomerID, c.profile); err != nil {
				t.Fatal(err)
			}
			if again, _ := r.Customer(ctx, acc.CustomerID); again.Name != cust.Name || again.Avatar != cust.Avatar {
				t.Errorf("repeat changed the profile to %q %q", again.Name, again.Avatar)
			}
			if got := len(customerEvents(t, r, acc.CustomerID)) - events; got != 0 {
				t.Errorf("repeat published %d events", got)
			}
		})
	}

	t.Run("unknown customer", func(t *testing.T) {
		err := r.UpdateProfile(ctx, "01NOSUCHCUSTOMER", connectors.Profile{Name: "x"})
		var ce *connectors.Error
		if !errors.Is(err, ErrNotFound) || !errors.As(err, &ce) || ce.Temporary {
			t.Fatalf("err = %v, want a permanent error wrapping ErrNotFound", err)
		}
		if n, _ := r.rdb.Exists(ctx, r.k.customer("01NOSUCHCUSTOMER")).Result(); n != 0 {
			t.Fatal("the unknown customer was created")
		}
	})
	t.Run("bad customer id", func(t *testing.T) {
		if err := r.UpdateProfile(ctx, "x}{y", connectors.Profile{Name: "x"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}

// pair is two customers of one person on two WeChat apps, the first with
// a unionid already linked; who wins a merge depends on how many
// conversations each has.
type pair struct {
	a, b     string // customers: a of app1 (linked to the unionid first), b of app2
	oa, ob   string // their openids
	union    string
	convs    []string // every conversation of both
	winner   string   // expected winner of a merge
	loser    string
	fromLate []string // conversations opened later, checked too
}

// newPair ingests na conversations for an openid on app1 (on accounts
// app1, app1-2, …) and nb for an openid on app2, and links the unionid to
// the first customer.
func newPair(t *testing.T, r *Router, tag string, na, nb int) *pair {
	t.Helper()
	ctx := context.Background()
	p := &pair{oa: "oA-" + tag, ob: "oB-" + tag, union: "oU-" + tag}
	for i := 0; i < na; i++ {
		acc := ingestT(t, r, oaMsg(fmt.Sprintf("app1-%d", i), p.oa, "a", "from app1"))
		p.a = acc.CustomerID
		p.convs = append(p.convs, acc.ConversationID)
	}
	if err := r.UpdateProfile(ctx, p.a, connectors.Profile{Name: "小王", Also: []connectors.Identity{unionid(p.union)}}); err != nil {
		t.Fatal(err)
	}
	if got := customerOf(t, r, unionid(p.union)); got != p.a {
		t.Fatalf("unionid points at %q, want %q", got, p.a)
	}
	for i := 0; i < nb; i++ {
		acc := ingestT(t, r, oaMsg(fmt.Sprintf("app2-%d", i), p.ob, "b", "from app2"))
		p.b = acc.CustomerID
		p.convs = append(p.convs, acc.ConversationID)
	}
	if p.a == p.b {
		t.Fatal("two openids share a customer before any merge")
	}
	p.winner, p.loser = p.a, p.b
	if nb > na || (nb == na && p.b < p.a) {
		p.winner, p.loser = p.b, p.a
	}
	return p
}

// checkMerged asserts that the pair is one customer, the expected winner,
// with exactly one audit entry.
func (p *pair) checkMerged(t *testing.T, r *Router) {
	t.Helper()
	ctx := context.Background()
	w, l := p.winner, p.loser
	view, err := r.Customer(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range view.Conversations {
		got = append(got, c.ID)
	}
	want := append(append([]string(nil), p.convs...), p.fromLate...)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("winner's conversations %v, want %v", got, want)
	}
	for _, c := range want {
		if cust := hashOf(t, r, r.k.conv(c))["customer_id"]; cust != w {
			t.Errorf("conversation %s has customer %s, want %s", c, cust, w)
		}
	}
	if n, _ := r.rdb.ZCard(ctx, r.k.customerConversations(l)).Result(); n != 0 {
		t.Errorf("loser still lists %d conversations", n)
	}
	for _, id := range []connectors.Identity{openid(p.oa), openid(p.ob), unionid(p.union)} {
		if got := customerOf(t, r, id); got != w {
			t.Errorf("%s %s points at %s, want %s", id.Type, id.Value, got, w)
		}
	}
	handles := map[string]bool{}
	for _, idn := range view.Identities {
		handles[idn.Type+":"+idn.Value] = true
	}
	for _, h := range []string{"openid:" + p.oa, "openid:" + p.ob, "unionid:" + p.union} {
		if !handles[h] {
			t.Errorf("winner's identities %v lack %s", view.Identities, h)
		}
	}
	lh := hashOf(t, r, r.k.customer(l))
	if lh["merged_into"] != w || lh["merging_into"] != w || lh["merged_at"] == "" {
		t.Errorf("loser hash %v, want merged into %s", lh, w)
	}
	if wh := hashOf(t, r, r.k.customer(w)); wh["merging_into"] != "" || wh["merged_into"] != "" {
		t.Errorf("winner hash %v says it is merged", wh)
	}
	if n, _ := r.rdb.HLen(ctx, r.k.customerMerging(w)).Result(); n != 0 {
		t.Errorf("winner's merge journal still has %d entries", n)
	}
	// Looking the loser up shows the winner.
	if lv, err := r.Customer(ctx, l); err != nil || lv.ID != w {
		t.Errorf("loser's view = %s, %v; want the winner %s", lv.ID, err, w)
	}
	audit, err := r.rdb.XRange(ctx, r.k.customerAudit(w), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 1 {
		t.Fatalf("%d audit entries, want 1: %v", len(audit), audit)
	}
	a := audit[0].Values
	if a["who"] != "system" || a["why"] != MergeUnionID || a["reason"] != "same WeChat unionid "+p.union ||
		a["from"] != l || a["into"] != w || a["action"] != "merge" || a["when"] == "" || a["merge"] == "" {
		t.Errorf("audit entry %v", a)
	}
}

// A name learnt from the channel shows in the customer's conversation
// lists, not only on the customer.
func TestProfileNameReachesConversations(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	r, _, _ := w.replica()
	ctx := context.Background()
	acc := ingestT(t, r, oaMsg("main", "oRename0000001", "1", "hi"))
	if err := r.UpdateProfile(ctx, acc.CustomerID, connectors.Profile{Name: "小李"}); err != nil {
		t.Fatal(err)
	}
	if h := hashOf(t, r, r.k.conv(acc.ConversationID)); h["name"] != "小李" {
		t.Errorf("conversation name %q, want the profile's", h["name"])
	}
	// A conversation id listed without its hash gets no ghost hash.
	r.rdb.ZAdd(ctx, r.k.customerConversations(acc.CustomerID), redis.Z{Score: 1, Member: "ghost"})
	if err := r.UpdateProfile(ctx, acc.CustomerID, connectors.Profile{Name: "小李2"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.rdb.Exists(ctx, r.k.conv("ghost")).Result(); n != 0 {
		t.Error("renaming created a conversation hash")
	}
}

func TestUnionIDMergesCustomers(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	r, _, _ := w.replica()
	ctx := context.Background()
	cases := []struct {
		name   string
		na, nb int
	}{
		{"the caller has fewer conversations and is folded", 2, 1},
		{"the caller has more conversations and remains", 1, 2},
		{"a tie keeps the older customer", 1, 1},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, r, fmt.Sprint("m", i), c.na, c.nb)
			// The second app's follower reports the same unionid.
			prof := connectors.Profile{Name: "小王", Avatar: "https://wx.qlogo.cn/x/132", Also: []connectors.Identity{unionid(p.union)}}
			if err := r.UpdateProfile(ctx, p.b, prof); err != nil {
				t.Fatal(err)
			}
			p.checkMerged(t, r)
			if v, _ := r.Customer(ctx, p.winner); v.Name != "小王" || v.Avatar != prof.Avatar {
				t.Errorf("winner's profile %q %q", v.Name, v.Avatar)
			}
			evs := customerEvents(t, r, p.winner)
			if len(evs) == 0 || !contains(evs[len(evs)-1].Merged, p.loser) {
				t.Errorf("customer.updated events %+v, want one naming the loser", evs)
			}

			// New messages from either openid land on the winner: in the
			// open conversations, and in a new one.
			for _, m := range []*connectors.Message{oaMsg("app1-0", p.oa, "a2", "again"), oaMsg("app2-0", p.ob, "b2", "again")} {
				if acc := ingestT(t, r, m); acc.CustomerID != p.winner {
					t.Errorf("message from %s went to customer %s, want %s", m.From.Value, acc.CustomerID, p.winner)
				}
			}
			acc := ingestT(t, r, oaMsg("app2-new", p.ob, "b3", "new conversation"))
			if acc.CustomerID != p.winner {
				t.Errorf("new conversation went to customer %s, want %s", acc.CustomerID, p.winner)
			}
			p.fromLate = append(p.fromLate, acc.ConversationID)

			// Idempotent: both profiles again change nothing, audit once.
			for _, cust := range []string{p.a, p.b} {
				if err := r.UpdateProfile(ctx, cust, prof); err != nil {
					t.Fatal(err)
				}
			}
			p.checkMerged(t, r)

			// An agent editing the loser edits the winner.
			vip := "VIP"
			if v, err := r.UpdateCustomer(ctx, p.loser, CustomerPatch{Name: &vip}); err != nil || v.ID != p.winner || v.Name != "VIP" {
				t.Errorf("edit through the loser = %s %q, %v", v.ID, v.Name, err)
			}
		})
	}
}

// The loser's hand-set name survives the merge when the winner has none.
func TestMergeKeepsAgentName(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	r, _, _ := w.replica()
	ctx := context.Background()
	p := newPair(t, r, "name", 1, 2) // a loses
	vip := "VIP 王先生"
	if _, err := r.UpdateCustomer(ctx, p.a, CustomerPatch{Name: &vip}); err != nil {
		t.Fatal(err)
	}
	if err := r.UpdateProfile(ctx, p.b, connectors.Profile{Name: "小王", Also: []connectors.Identity{unionid(p.union)}}); err != nil {
		t.Fatal(err)
	}
	p.checkMerged(t, r)
	if v, _ := r.Customer(ctx, p.winner); v.Name != vip {
		t.Fatalf("winner's name %q, want the agent's %q", v.Name, vip)
	}
}

// A merge that stopped after any step is finished by the connector's
// retry of the same UpdateProfile, whether its customer is the one folded
// or the one that remains.
func TestMergeFinishesAfterCrash(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	r, _, _ := w.replica()
	ctx := context.Background()
	type crash struct {
		name string
		do   func(t *testing.T, m merging)
	}
	var crashes []crash
	for k := 1; k < len(foldSteps); k++ {
		crashes = append(crashes, crash{"after " + foldSteps[k-1].name, func(t *testing.T, m merging) {
			for _, s := range foldSteps[:k] {
				if err := s.run(r, ctx, nil, &m); err != nil {
					t.Fatal(err)
				}
			}
		}})
	}
	crashes = append(crashes,
		crash{"after the winner's journal entry only", func(t *testing.T, m merging) {
			r.rdb.HSet(ctx, r.k.customerMerging(m.winner), m.loser, "1|"+m.why)
		}},
		crash{"part way through the conversations", func(t *testing.T, m merging) {
			for _, s := range foldSteps[:2] {
				if err := s.run(r, ctx, nil, &m); err != nil {
					t.Fatal(err)
				}
			}
			convs, _ := r.rdb.ZRange(ctx, r.k.customerConversations(m.loser), 0, 0).Result()
			if err := moveConversationLua.Run(ctx, r.rdb, []string{r.k.conv(convs[0])}, m.winner).Err(); err != nil {
				t.Fatal(err)
			}
		}})
	for i, c := range crashes {
		for _, caller := range []struct {
			name   string
			na, nb int
		}{{"folded", 2, 1}, {"remaining", 1, 2}} {
			t.Run(c.name+", caller "+caller.name, func(t *testing.T) {
				p := newPair(t, r, fmt.Sprint("c", i, caller.name), caller.na, caller.nb)
				c.do(t, merging{loser: p.loser, winner: p.winner, why: mergeReason(unionid(p.union))})
				// The connector retries the call that failed: b's profile.
				if err := r.UpdateProfile(ctx, p.b, connectors.Profile{Also: []connectors.Identity{unionid(p.union)}}); err != nil {
					t.Fatal(err)
				}
				p.checkMerged(t, r)
			})
		}
	}
}

// A message that opens a conversation for the loser's identity while the
// merge is under way ends up with the winner, never a third customer.
func TestIngestDuringMerge(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	r, _, _ := w.replica()
	ctx := context.Background()
	for k := 1; k <= 3; k++ {
		t.Run("after "+foldSteps[k-1].name, func(t *testing.T) {
			p := newPair(t, r, fmt.Sprint("i", k), 1, 2) // a loses
			m := merging{loser: p.loser, winner: p.winner, why: mergeReason(unionid(p.union))}
			for _, s := range foldSteps[:k] {
				if err := s.run(r, ctx, nil, &m); err != nil {
					t.Fatal(err)
				}
			}
			acc := ingestT(t, r, oaMsg("app1-late", p.oa, "late", "while merging"))
			if acc.CustomerID != p.winner {
				t.Errorf("message during the merge went to customer %s, want the winner %s", acc.CustomerID, p.winner)
			}
			p.fromLate = append(p.fromLate, acc.ConversationID)
			if err := r.UpdateProfile(ctx, p.b, connectors.Profile{Also: []connectors.Identity{unionid(p.union)}}); err != nil {
				t.Fatal(err)
			}
			p.checkMerged(t, r)
		})
	}
	// The race itself: ingest resolved the identity to the loser before
	// the merge re-pointed it, and writes the new conversation after the
	// merge moved the loser's conversations.
	t.Run("new conversation written after the move", func(t *testing.T) {
		p := newPair(t, r, "race", 1, 2)
		m := merging{loser: p.loser, winner: p.winner, why: mergeReason(unionid(p.union))}
		msg := oaMsg("app1-race", p.oa, "race", "late")
		tag := identityTag(msg.From)
		// Round trip 1 before the merge.
		res, err := ingestIdentityLua.Run(ctx, r.rdb, []string{r.k.identityCustomer(tag),
			r.k.identityOpen(tag, msg.Channel, msg.Account, ""), r.k.identitySeen(tag, msg.Channel, msg.Account, msg.ExternalID)},
			newID(), "CONVRACE", "MSGRACE", 60, "1", "").Slice()
		if err != nil || !strings.HasPrefix(res[1].(string), p.loser+"|") {
			t.Fatalf("round trip 1 = %v, %v", res, err)
		}
		for _, s := range foldSteps {
			if err := s.run(r, ctx, nil, &m); err != nil {
				t.Fatal(err)
			}
		}
		// The channel's retry: round trip 1 answers the recorded ids
		// (the loser), round trip 2 creates the conversation.
		acc := ingestT(t, r, msg)
		if acc.ConversationID != "CONVRACE" || acc.CustomerID != p.winner {
			t.Errorf("late conversation = %+v, want CONVRACE on %s", acc, p.winner)
		}
		p.fromLate = append(p.fromLate, "CONVRACE")
		p.checkMerged(t, r)
	})
}

// Two replicas report the same unionid for the two customers at once,
// while both openids keep writing: one customer remains, with everything.
func TestConcurrentProfilesDoNotSplit(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	r1, _, _ := w.replica()
	r2, _, _ := w.replica()
	ctx := context.Background()
	for round := 0; round < 8; round++ {
		tag := fmt.Sprint("x", round)
		oa, ob, union := "oA-"+tag, "oB-"+tag, "oU-"+tag
		a := ingestT(t, r1, oaMsg("app1", oa, "a", "hi"))
		b := ingestT(t, r2, oaMsg("app2", ob, "b", "hi"))
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		late := make(chan connectors.Accepted, 4)
		for i, call := range []struct {
			r    *Router
			cust string
		}{{r1, a.CustomerID}, {r2, b.CustomerID}, {r2, a.CustomerID}, {r1, b.CustomerID}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				prof := connectors.Profile{Name: fmt.Sprint("n", i), Also: []connectors.Identity{unionid(union)}}
				if err := call.r.UpdateProfile(ctx, call.cust, prof); err != nil {
					errs <- err
				}
			}()
		}
		for i, m := range []*connectors.Message{oaMsg("app1-late", oa, "l", "late"), oaMsg("app2-late", ob, "l", "late")} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				acc, err := []*Router{r1, r2}[i].Ingest(ctx, m)
				if err != nil {
					errs <- err
					return
				}
				late <- acc
			}()
		}
		wg.Wait()
		close(errs)
		close(late)
		for err := range errs {
			t.Fatal(err)
		}
		p := &pair{oa: oa, ob: ob, union: union, a: a.CustomerID, b: b.CustomerID,
			convs: []string{a.ConversationID, b.ConversationID}}
		p.winner = customerOf(t, r1, unionid(union))
		p.loser = p.a
		if p.winner == p.a {
			p.loser = p.b
		}
		if p.winner != p.a && p.winner != p.b {
			t.Fatalf("round %d: the unionid points at a third customer %s", round, p.winner)
		}
		for acc := range late {
			p.fromLate = append(p.fromLate, acc.ConversationID)
			if f, _ := r1.followMerged(ctx, acc.CustomerID); f != p.winner {
				t.Errorf("round %d: a late message's customer %s is not the winner %s", round, acc.CustomerID, p.winner)
			}
		}
		p.checkMerged(t, r1)
	}
}

// The process died between the winner's journal entry and the loser's
// merging_into; before any retry, another merge folded that loser into a
// third customer. The retry drops the stale entry and merges the winner
// with the third customer: all three are one.
func TestStaleMergeJournal(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	r, _, _ := w.replica()
	ctx := context.Background()
	p := newPair(t, r, "stale", 1, 2) // a would fold into b
	r.rdb.HSet(ctx, r.k.customerMerging(p.b), p.a, "1|"+mergeReason(unionid(p.union)))
	var z string
	var convs []string
	for i := 0; i < 3; i++ {
		acc := ingestT(t, r, oaMsg(fmt.Sprint("app3-", i), "oZ-stale", "z", "from app3"))
		z, convs = acc.CustomerID, append(convs, acc.ConversationID)
	}
	// Another channel says a's openid belongs to z: a folds into z.
	if err := r.UpdateProfile(ctx, z, connectors.Profile{Also: []connectors.Identity{openid(p.oa)}}); err != nil {
		t.Fatal(err)
	}
	if into := hashOf(t, r, r.k.customer(p.a))["merged_into"]; into != z {
		t.Fatalf("a merged into %q, want %s", into, z)
	}
	// The retry of b's profile.
	if err := r.UpdateProfile(ctx, p.b, connectors.Profile{Also: []connectors.Identity{unionid(p.union)}}); err != nil {
		t.Fatal(err)
	}
	view, err := r.Customer(ctx, p.b)
	if err != nil || view.ID != z {
		t.Fatalf("b's view = %s, %v; want z %s", view.ID, err, z)
	}
	if want := len(p.convs) + len(convs); len(view.Conversations) != want {
		t.Errorf("z has %d conversations, want %d", len(view.Conversations), want)
	}
	for _, id := range []connectors.Identity{openid(p.oa), openid(p.ob), openid("oZ-stale"), unionid(p.union)} {
		if got := customerOf(t, r, id); got != z {
			t.Errorf("%s %s points at %s, want %s", id.Type, id.Value, got, z)
		}
	}
	if n, _ := r.rdb.HLen(ctx, r.k.customerMerging(p.b)).Result(); n != 0 {
		t.Errorf("b's journal still has %d entries", n)
	}
	if n, _ := r.rdb.XLen(ctx, r.k.customerAudit(z)).Result(); n != 2 {
		t.Errorf("%d audit entries on z, want 2", n)
	}
}
