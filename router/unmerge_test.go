package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"switchboard/connectors"
)

// couple is two customers an agent merges: a, a web-chat visitor with two
// conversations, a phone number and a call; b, a WeChat follower with a
// name and an avatar from WeChat, a level, a phone number, an e-mail
// address and a call.
type couple struct {
	a, b            string
	visitor, openid string
	aPhone, bPhone  string
	bEmail          string
	aConvs, bConvs  []string
	aCall, bCall    string
	bName, bAvatar  string
	bLevel          string
	merge           MergeRecord // once merged
	mergeReason     string
}

// newCouple makes the two customers; tag keeps the identities of one
// test's couples apart.
func newCouple(t *testing.T, r *Router, tag string) *couple {
	t.Helper()
	ctx := context.Background()
	c := &couple{visitor: "visitor-" + tag + "-aaaaaaaa", openid: "oB-" + tag, bEmail: "wang-" + tag + "@example.com",
		bName: "小王", bAvatar: "https://wx.qlogo.cn/" + tag + "/132", bLevel: "VIP"}
	// Numbers unique to the tag.
	sum := 0
	for _, ch := range tag {
		sum = sum*31 + int(ch)
	}
	sum %= 100000000
	if sum < 0 {
		sum = -sum
	}
	c.aPhone = fmt.Sprintf("+86138%08d", sum)
	c.bPhone = fmt.Sprintf("+86139%08d", sum)
	for _, site := range []string{"site", "site2"} {
		m := webchatMsg(c.visitor, "a1", "from a")
		m.Account = site
		acc := ingestT(t, r, m)
		c.a = acc.CustomerID
		c.aConvs = append(c.aConvs, acc.ConversationID)
	}
	acc := ingestT(t, r, oaMsg("app1", c.openid, "b1", "from b"))
	c.b = acc.CustomerID
	c.bConvs = append(c.bConvs, acc.ConversationID)
	if _, err := r.LinkIdentity(ctx, agentSup, c.a, "phone", c.aPhone); err != nil {
		t.Fatal(err)
	}
	if err := r.UpdateProfile(ctx, c.b, connectors.Profile{Name: c.bName, Avatar: c.bAvatar}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.UpdateCustomer(ctx, c.b, CustomerPatch{Level: &c.bLevel}); err != nil {
		t.Fatal(err)
	}
	for _, id := range [][2]string{{"phone", c.bPhone}, {"email", c.bEmail}} {
		if _, err := r.LinkIdentity(ctx, agentSup, c.b, id[0], id[1]); err != nil {
			t.Fatal(err)
		}
	}
	c.aCall = ring(t, r, "a-"+tag, c.aPhone)
	c.bCall = ring(t, r, "b-"+tag, c.bPhone)
	c.mergeReason = "same person, asked on the phone"
	return c
}

// bIdentities are b's identities.
func (c *couple) bIdentities() []connectors.Identity {
	return []connectors.Identity{openid(c.openid), phoneID(c.bPhone), emailID(c.bEmail)}
}

// checkMerged asserts that b is folded into a with everything, and that
// the record says what moved.
func (c *couple) checkMerged(t *testing.T, r *Router) {
	t.Helper()
	ctx := context.Background()
	for _, id := range c.bIdentities() {
		if got := customerOf(t, r, id); got != c.a {
			t.Errorf("%s %s points at %s, want a %s", id.Type, id.Value, got, c.a)
		}
	}
	view, err := r.Customer(ctx, c.b)
	if err != nil || view.ID != c.a {
		t.Fatalf("b's view = %s, %v; want a's", view.ID, err)
	}
	var convs []string
	for _, x := range view.Conversations {
		convs = append(convs, x.ID)
		if x.CustomerID != c.a {
			t.Errorf("conversation %s has customer %s, want a", x.ID, x.CustomerID)
		}
	}
	sort.Strings(convs)
	want := append(slices.Clone(c.aConvs), c.bConvs...)
	sort.Strings(want)
	if !slices.Equal(convs, want) {
		t.Errorf("a's conversations %v, want %v", convs, want)
	}
	if view.Name != c.bName || view.Avatar != c.bAvatar || view.Level != c.bLevel {
		t.Errorf("a's profile %q %q %q, want b's name, avatar and level", view.Name, view.Avatar, view.Level)
	}
	calls, _ := r.rdb.ZRange(ctx, r.k.customerCalls(c.a), 0, -1).Result()
	sort.Strings(calls)
	wantCalls := []string{c.aCall, c.bCall}
	sort.Strings(wantCalls)
	if !slices.Equal(calls, wantCalls) {
		t.Errorf("a's calls %v, want %v", calls, wantCalls)
	}
	for _, k := range []string{r.k.customerConversations(c.b), r.k.customerCalls(c.b)} {
		if n, _ := r.rdb.ZCard(ctx, k).Result(); n != 0 {
			t.Errorf("%s still has %d members", k, n)
		}
	}
	rec, err := r.MergeRecord(ctx, c.merge.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.From != c.b || rec.Into != c.a || rec.Who != agentSup.ID || rec.Why != MergeManual || rec.Reason != c.mergeReason ||
		rec.State != MergeMerged || rec.MergedAt == nil || !slices.Equal(rec.Conversations, c.bConvs) ||
		!slices.Equal(rec.Calls, []string{c.bCall}) || !slices.Equal(rec.Fields, []string{"avatar", "level", "name"}) {
		t.Errorf("merge record %+v", rec)
	}
	var moved []string
	for _, idn := range rec.Identities {
		moved = append(moved, idn.Type+":"+idn.Value)
	}
	for _, id := range c.bIdentities() {
		if !slices.Contains(moved, id.Type+":"+id.Value) {
			t.Errorf("the record's identities %v lack %s", moved, id.Value)
		}
	}
	for _, who := range []string{c.a, c.b} {
		es := auditOf(t, r, who)
		if es[0].Action != AuditMerge || es[0].MergeID != c.merge.ID || es[0].From != c.b || es[0].Into != c.a ||
			es[0].Who != agentSup.ID || es[0].Why != MergeManual || es[0].Conversations != 1 || es[0].Calls != 1 {
			t.Errorf("%s's newest audit entry %+v", who, es[0])
		}
	}
}

// merged merges b into a as the supervisor and checks it.
func (c *couple) merged(t *testing.T, r *Router) {
	t.Helper()
	rec, err := r.MergeCustomers(context.Background(), agentSup, c.a, c.b, c.mergeReason)
	if err != nil {
		t.Fatal(err)
	}
	c.merge = rec
	c.checkMerged(t, r)
}

// checkUnmerged asserts that the keys are as in before (but for the
// history) and that the unmerge is on record and audited once on both.
func (c *couple) checkUnmerged(t *testing.T, r *Router, before map[string]string) {
	t.Helper()
	if d := snapshotDiff(before, snapshot(t, r)); d != "" {
		t.Errorf("after the unmerge the keys differ from before the merge:\n%s", d)
	}
	rec, err := r.MergeRecord(context.Background(), c.merge.ID)
	if err != nil || rec.State != MergeUnmerged || rec.UndoneAt == nil || rec.UndoneBy != agentSup.ID {
		t.Errorf("record after the unmerge %+v, %v", rec, err)
	}
	for _, who := range []string{c.a, c.b} {
		n := 0
		for _, e := range auditOf(t, r, who) {
			if e.Action == AuditUnmerge && e.MergeID == c.merge.ID {
				n++
				if e.Who != agentSup.ID || e.From != c.b || e.Into != c.a {
					t.Errorf("%s's unmerge entry %+v", who, e)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s has %d unmerge entries, want 1", who, n)
		}
	}
}

// A manual merge moves everything and records it; the unmerge gives both
// back exactly; undoing again changes nothing.
func TestMergeAndUnmerge(t *testing.T) {
	r := mergeRouter(t)
	ctx := context.Background()
	c := newCouple(t, r, "mu")
	before := snapshot(t, r)
	c.merged(t, r)
	// A retry of the merge answers the same record.
	if again, err := r.MergeCustomers(ctx, agentSup, c.a, c.b, c.mergeReason); err != nil || again.ID != c.merge.ID {
		t.Errorf("merge again = %+v, %v; want the record %s", again, err, c.merge.ID)
	}
	if _, err := r.MergeCustomers(ctx, agentSup, c.b, c.a, ""); !errors.Is(err, ErrConflict) {
		t.Errorf("merging a into b after b into a: err = %v, want ErrConflict", err)
	}
	if _, err := r.Unmerge(ctx, agentLi, c.merge.ID); !errors.Is(err, ErrForbidden) {
		t.Errorf("an agent's unmerge: err = %v, want ErrForbidden", err)
	}
	rec, err := r.Unmerge(ctx, agentSup, c.merge.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != MergeUnmerged {
		t.Errorf("record %+v", rec)
	}
	c.checkUnmerged(t, r, before)
	if view, err := r.Customer(ctx, c.b); err != nil || view.ID != c.b || view.Name != c.bName {
		t.Errorf("b's view after the unmerge: %s %q, %v", view.ID, view.Name, err)
	}
	if view, _ := r.Customer(ctx, c.a); view.Name == c.bName || view.Level != "" {
		t.Errorf("a kept b's profile: %q %q", view.Name, view.Level)
	}
	// Again: a no-op.
	audits := len(auditOf(t, r, c.a)) + len(auditOf(t, r, c.b))
	if again, err := r.Unmerge(ctx, agentSup, c.merge.ID); err != nil || again.State != MergeUnmerged {
		t.Errorf("second unmerge = %+v, %v", again, err)
	}
	if n := len(auditOf(t, r, c.a)) + len(auditOf(t, r, c.b)); n != audits {
		t.Errorf("the second unmerge wrote %d audit entries", n-audits)
	}
	c.checkUnmerged(t, r, before)
	for _, bad := range []string{"nope", c.a + ".01ARZ3NDEKTSV4RRFFQ69G5FAV"} {
		if _, err := r.Unmerge(ctx, agentSup, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("unmerge %q: err = %v, want ErrNotFound", bad, err)
		}
	}
	// They can be merged again, with a new record.
	c.merged(t, r)
	if c.merge.ID == rec.ID {
		t.Errorf("the second merge reused the record %s", rec.ID)
	}
}

// The automatic merge of a shared unionid is recorded the same way and
// can be undone.
func TestUnionIDMergeIsRecorded(t *testing.T) {
	r := mergeRouter(t)
	ctx := context.Background()
	p := newPair(t, r, "rec", 1, 2)
	before := snapshot(t, r)
	if err := r.UpdateProfile(ctx, p.b, connectors.Profile{Also: []connectors.Identity{unionid(p.union)}}); err != nil {
		t.Fatal(err)
	}
	p.checkMerged(t, r)
	es := auditOf(t, r, p.winner)
	rec, err := r.MergeRecord(ctx, es[0].MergeID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Why != MergeUnionID || rec.Who != "system" || rec.From != p.loser || rec.Into != p.winner || len(rec.Conversations) != 1 {
		t.Errorf("record %+v", rec)
	}
	if le := auditOf(t, r, p.loser); le[0].Action != AuditMerge || le[0].MergeID != rec.ID {
		t.Errorf("the loser's audit %+v", le)
	}
	if _, err := r.Unmerge(ctx, agentSup, rec.ID); err != nil {
		t.Fatal(err)
	}
	// The unionid stays with the customer it was linked to.
	if d := snapshotDiff(before, snapshot(t, r)); d != "" {
		t.Errorf("after the unmerge the keys differ from before the merge:\n%s", d)
	}
	// WeChat reports the unionid again: the two stay apart.
	if err := r.UpdateProfile(ctx, p.b, connectors.Profile{Also: []connectors.Identity{unionid(p.union)}}); err != nil {
		t.Fatal(err)
	}
	if d := snapshotDiff(before, snapshot(t, r)); d != "" {
		t.Errorf("the unionid reported again changed:\n%s", d)
	}
	// An agent may still merge them.
	if _, err := r.MergeCustomers(ctx, agentSup, p.winner, p.loser, ""); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.Customer(ctx, p.loser); v.ID != p.winner {
		t.Errorf("the agent's merge left %s apart", p.loser)
	}
}

// A merge that stopped after any of its steps, then is undone, or an
// unmerge that stopped after any of its steps, then is asked for again:
// both customers come back exactly.
func TestUnmergeAfterCrash(t *testing.T) {
	r := mergeRouter(t)
	ctx := context.Background()
	type crash struct {
		name string
		do   func(t *testing.T, c *couple)
	}
	var crashes []crash
	for k := 1; k < len(foldSteps); k++ {
		crashes = append(crashes, crash{"merge stopped after " + foldSteps[k-1].name, func(t *testing.T, c *couple) {
			m := &merging{loser: c.b, winner: c.a, kind: MergeManual, who: agentSup.ID, why: c.mergeReason}
			for _, s := range foldSteps[:k] {
				if err := s.run(r, ctx, nil, m); err != nil {
					t.Fatal(err)
				}
			}
			c.merge.ID = m.id
		}})
	}
	for k := 1; k < len(unmergeSteps); k++ {
		crashes = append(crashes, crash{"unmerge stopped after " + unmergeSteps[k-1].name, func(t *testing.T, c *couple) {
			c.merged(t, r)
			h, err := r.loadRecord(ctx, c.merge.ID)
			if err != nil {
				t.Fatal(err)
			}
			u := unmerging{id: c.merge.ID, from: h["from"], into: h["into"], who: agentSup.ID}
			fmt.Sscan(h["started"], &u.started)
			for _, s := range unmergeSteps[:k] {
				if err := s.run(r, ctx, nil, u); err != nil {
					t.Fatal(err)
				}
			}
		}})
	}
	for i, cr := range crashes {
		t.Run(cr.name, func(t *testing.T) {
			c := newCouple(t, r, fmt.Sprint("crash", i))
			before := snapshot(t, r)
			cr.do(t, c)
			if _, err := r.Unmerge(ctx, agentSup, c.merge.ID); err != nil {
				t.Fatal(err)
			}
			c.checkUnmerged(t, r, before)
		})
	}
	// Any later touch of the loser finishes an unmerge that stopped.
	t.Run("a profile update of the loser finishes it", func(t *testing.T) {
		c := newCouple(t, r, "crash-touch")
		before := snapshot(t, r)
		c.merged(t, r)
		h, _ := r.loadRecord(ctx, c.merge.ID)
		u := unmerging{id: c.merge.ID, from: h["from"], into: h["into"], who: agentSup.ID}
		fmt.Sscan(h["started"], &u.started)
		for _, s := range unmergeSteps[:3] {
			if err := s.run(r, ctx, nil, u); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.UpdateProfile(ctx, c.b, connectors.Profile{Name: c.bName}); err != nil {
			t.Fatal(err)
		}
		c.checkUnmerged(t, r, before)
	})
}

// Conversations opened after the merge by one of b's identities go back
// with b; those of a's identities stay with a. A message racing the
// unmerge (its identity read before the unmerge, its conversation written
// after) ends up with b too.
func TestUnmergeLaterConversations(t *testing.T) {
	r := mergeRouter(t)
	ctx := context.Background()
	c := newCouple(t, r, "later")
	c.merged(t, r)
	bLate := ingestT(t, r, oaMsg("app2", c.openid, "b2", "b writes on another account"))
	m := webchatMsg(c.visitor, "a2", "a writes on a third site")
	m.Account = "site3"
	aLate := ingestT(t, r, m)
	if bLate.CustomerID != c.a || aLate.CustomerID != c.a {
		t.Fatalf("messages after the merge went to %s and %s, want a", bLate.CustomerID, aLate.CustomerID)
	}
	// Round trip 1 of a message from b's identity, before the unmerge.
	race := oaMsg("app3", c.openid, "b3", "racing the unmerge")
	tag := identityTag(race.From)
	res, err := ingestIdentityLua.Run(ctx, r.rdb, []string{r.k.identityCustomer(tag),
		r.k.identityOpen(tag, race.Channel, race.Account, ""), r.k.identitySeen(tag, race.Channel, race.Account, race.ExternalID)},
		newID(), "CONVRACE", "MSGRACE", 60, "1", "").Slice()
	if err != nil || !strings.HasPrefix(res[1].(string), c.a+"|") {
		t.Fatalf("round trip 1 = %v, %v", res, err)
	}
	rec, err := r.Unmerge(ctx, agentSup, c.merge.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.Later, []string{bLate.ConversationID}) {
		t.Errorf("the record's later conversations %v, want [%s]", rec.Later, bLate.ConversationID)
	}
	// The channel's retry: the conversation is written under a, and moves.
	acc := ingestT(t, r, race)
	if acc.ConversationID != "CONVRACE" || acc.CustomerID != c.b {
		t.Errorf("the racing message = %+v, want CONVRACE on b %s", acc, c.b)
	}
	owner := map[string]string{}
	for _, x := range append(append(slices.Clone(c.bConvs), bLate.ConversationID), "CONVRACE") {
		owner[x] = c.b
	}
	for _, x := range append(slices.Clone(c.aConvs), aLate.ConversationID) {
		owner[x] = c.a
	}
	checkOwners(t, r, owner, []string{c.a, c.b})
	handles, _ := r.rdb.SMembers(ctx, r.k.customerIdentities(c.b)).Result()
	for _, acct := range []string{"app2", "app3"} {
		if !slices.Contains(handles, "wechat_oa|"+acct+"|openid|"+c.openid) {
			t.Errorf("b's handles %v lack its openid on %s", handles, acct)
		}
	}
	handles, _ = r.rdb.SMembers(ctx, r.k.customerIdentities(c.a)).Result()
	for _, h := range handles {
		if strings.Contains(h, c.openid) || strings.Contains(h, c.bEmail) {
			t.Errorf("a kept b's handle %s", h)
		}
	}
}

// checkOwners asserts that each conversation's customer_id is its owner,
// that exactly its owner lists it, and that its identity points at its
// owner.
func checkOwners(t *testing.T, r *Router, owner map[string]string, custs []string) {
	t.Helper()
	ctx := context.Background()
	listed := map[string][]string{}
	for _, cu := range custs {
		convs, err := r.rdb.ZRange(ctx, r.k.customerConversations(cu), 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range convs {
			listed[x] = append(listed[x], cu)
		}
	}
	for conv, want := range owner {
		h := hashOf(t, r, r.k.conv(conv))
		if h["customer_id"] != want {
			t.Errorf("conversation %s has customer %q, want %s", conv, h["customer_id"], want)
		}
		if !slices.Equal(listed[conv], []string{want}) {
			t.Errorf("conversation %s is listed by %v, want [%s]", conv, listed[conv], want)
		}
		if cur, _ := r.rdb.Get(ctx, r.k.identityCustomer(h["itag"])).Result(); cur != want {
			t.Errorf("conversation %s's identity points at %s, want %s", conv, cur, want)
		}
	}
	for conv, by := range listed {
		if _, ok := owner[conv]; !ok {
			t.Errorf("conversation %s, listed by %v, is not one the test knows", conv, by)
		}
	}
}

// An unmerge whose winner was merged into another customer since is
// refused, naming that merge; once that one is undone, it works.
func TestUnmergeAfterTheWinnerWasMerged(t *testing.T) {
	r := mergeRouter(t)
	ctx := context.Background()
	c := newCouple(t, r, "chain")
	third := ingestT(t, r, webchatMsg("visitor-chain-cccccccc", "c1", "hi")).CustomerID
	before := snapshot(t, r)
	c.merged(t, r)
	later, err := r.MergeCustomers(ctx, agentSup, third, c.a, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Unmerge(ctx, agentSup, c.merge.ID)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), later.ID) {
		t.Fatalf("err = %v, want ErrConflict naming %s", err, later.ID)
	}
	if _, err := r.Unmerge(ctx, agentSup, later.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Unmerge(ctx, agentSup, c.merge.ID); err != nil {
		t.Fatal(err)
	}
	if d := snapshotDiff(before, snapshot(t, r)); d != "" {
		t.Errorf("after both unmerges the keys differ from before the merges:\n%s", d)
	}
}

// Messages keep coming from both customers' identities, on open and new
// conversations, while they are merged and unmerged: no message is lost,
// and every conversation ends with one consistent customer, the one its
// identity belongs to.
func TestIngestDuringMergeAndUnmerge(t *testing.T) {
	r := mergeRouter(t)
	ctx := context.Background()
	for round := range 3 {
		c := newCouple(t, r, fmt.Sprint("busy", round))
		var wg sync.WaitGroup
		start := make(chan struct{})
		accs := make(chan connectors.Accepted, 400)
		errs := make(chan error, 400)
		senders := []func(i int) *connectors.Message{
			func(i int) *connectors.Message { return oaMsg("app1", c.openid, fmt.Sprint("b-open-", i), "b again") },
			func(i int) *connectors.Message {
				return oaMsg(fmt.Sprint("app-new-", i%7), c.openid, fmt.Sprint("b-new-", i), "b elsewhere")
			},
			func(i int) *connectors.Message {
				m := webchatMsg(c.visitor, fmt.Sprint("a-", i), "a again")
				m.Account = []string{"site", "site-new"}[i%2]
				return m
			},
		}
		for _, send := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := range 40 {
					acc, err := r.Ingest(ctx, send(i))
					if err != nil {
						errs <- err
						return
					}
					accs <- acc
				}
			}()
		}
		close(start)
		rec, err := r.MergeCustomers(ctx, agentSup, c.a, c.b, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Unmerge(ctx, agentSup, rec.ID); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(accs)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// Every message is in its conversation, once.
		perConv := map[string]int{}
		n := 0
		for acc := range accs {
			if acc.Duplicate {
				t.Errorf("message %s answered as a duplicate", acc.MessageID)
			}
			perConv[acc.ConversationID]++
			n++
		}
		if n != 3*40 {
			t.Fatalf("%d messages accepted, want %d", n, 3*40)
		}
		owner := map[string]string{}
		for _, x := range c.aConvs {
			owner[x] = c.a
		}
		for _, x := range c.bConvs {
			owner[x] = c.b
		}
		for conv, sent := range perConv {
			msgs, err := r.rdb.XLen(ctx, r.k.convMessages(conv)).Result()
			if err != nil {
				t.Fatal(err)
			}
			had := int64(0)
			if slices.Contains(c.aConvs, conv) || slices.Contains(c.bConvs, conv) {
				had = 1
			}
			if msgs != int64(sent)+had {
				t.Errorf("round %d: conversation %s holds %d messages, want %d", round, conv, msgs, int64(sent)+had)
			}
			ident := hashOf(t, r, r.k.conv(conv))["identity"]
			switch {
			case strings.HasSuffix(ident, c.openid):
				owner[conv] = c.b
			case strings.HasSuffix(ident, c.visitor):
				owner[conv] = c.a
			default:
				t.Errorf("conversation %s of identity %q", conv, ident)
			}
		}
		checkOwners(t, r, owner, []string{c.a, c.b})
		if n, _ := r.rdb.Exists(ctx, r.k.mergeLock()).Result(); n != 0 {
			t.Error("the merge lock is still held")
		}
	}
}
