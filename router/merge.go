package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/rdb"
)

// Merging two customers (the same person, by an identity both share)
// touches many hash slots: every identity of the loser, every
// conversation, both customers. It cannot be one script. Instead:
//
//   - One process at a time decides and carries out merges (mergeLock, a
//     lease renewed before every step). Merges are rare, so this costs
//     nothing, and it rules out two merges going opposite ways or a
//     customer being folded while another is folded into it.
//   - The decision is written first, on both sides: an entry in the
//     winner's journal ({u:W}:merging), then merging_into on the loser.
//     It is never undone. Everything after it only carries it out, and
//     every step is idempotent, so running the steps again (UpdateProfile
//     finds the unfinished merge through either customer, or through an
//     identity of either, and settles it) finishes the merge.
//   - Writers that do not take the lock (linking an identity, ingest
//     opening a conversation) add to a customer and then look at its
//     merging_into on the same slot; a merge sets merging_into before it
//     reads what to move. Either the merge sees what they added, or they
//     see the merge and move their addition along themselves: ingest
//     does that under the lock, noted in the merge's record
//     (adoptInbound explains why).
//   - Each step notes in the merge's record (mergerecord.go) what it is
//     about to move before it moves it, so the record says exactly what
//     moved, and an unmerge (unmerge.go) can put it back.
const (
	mergeLease = 30 * time.Second
	mergeWait  = 10 * time.Second
	mergeChunk = 200
	// mergePasses bounds the passes over a loser's conversations.
	mergePasses = 1000
)

// errMergeLockLost stops a merge whose lease ran out; the next attempt
// continues it.
var errMergeLockLost = errors.New("router: merge lock lost")

// mergeLock is a held lease on the merge lock.
type mergeLock struct {
	r     *Router
	token string
}

// withMergeLock runs fn while holding the merge lock, waiting up to
// mergeWait for it.
func (r *Router) withMergeLock(ctx context.Context, fn func(lk *mergeLock) error) error {
	lk := &mergeLock{r: r, token: newID()}
	deadline := time.Now().Add(mergeWait)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		ok, err := r.rdb.SetNX(ctx, r.k.mergeLock(), lk.token, mergeLease).Result()
		if err != nil {
			return fmt.Errorf("router: merge lock: %w", err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("router: merge lock: another merge is still running")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("router: merge lock: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
	defer func() {
		ctx := context.WithoutCancel(ctx)
		if err := mergeLockLua.Run(ctx, r.rdb, []string{r.k.mergeLock()}, lk.token, "release").Err(); err != nil {
			r.log.Warn("router: release merge lock", "err", err)
		}
	}()
	return fn(lk)
}

// renew extends the lease, or fails when it was lost. A nil lock (tests
// driving the steps by hand) always holds.
func (lk *mergeLock) renew(ctx context.Context) error {
	if lk == nil {
		return nil
	}
	n, err := mergeLockLua.Run(ctx, lk.r.rdb, []string{lk.r.k.mergeLock()}, lk.token, "renew",
		mergeLease.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("router: renew merge lock: %w", err)
	}
	if n != 1 {
		return errMergeLockLost
	}
	return nil
}

// merge makes customers a and b one, for reason why, and returns the one
// that remains and the customers folded on the way (see mergeLocked).
func (r *Router) merge(ctx context.Context, a, b, why string) (winner string, folded []string, err error) {
	err = r.withMergeLock(ctx, func(lk *mergeLock) error {
		winner, folded, err = r.mergeLocked(ctx, lk, a, b, why, 0)
		return err
	})
	return winner, folded, err
}

// mergeLocked is merge with the lock held. It first finishes merges left
// unfinished around either customer, then folds the customer with fewer
// conversations into the other (on a tie, the newer id into the older).
// depth counts merges started from settle, to bound them.
func (r *Router) mergeLocked(ctx context.Context, lk *mergeLock, a, b, why string, depth int) (string, []string, error) {
	if depth > maxHops {
		return "", nil, fmt.Errorf("router: merges of %s and %s lead to more than %d others", a, b, maxHops)
	}
	var folded []string
	// Settling b can fold a (an unfinished merge of a into b): settle a
	// again afterwards, so both are customers that remain.
	for _, id := range []*string{&a, &b, &a} {
		final, f, err := r.settle(ctx, lk, *id, depth)
		if err != nil {
			return "", folded, err
		}
		*id = final
		for _, l := range f {
			if !contains(folded, l) {
				folded = append(folded, l)
			}
		}
	}
	if a == b {
		return a, folded, nil
	}
	winner, loser, err := r.pickWinner(ctx, a, b)
	if err != nil {
		return "", folded, err
	}
	if err := r.fold(ctx, lk, &merging{loser: loser, winner: winner, why: why}); err != nil {
		return "", folded, err
	}
	return winner, append(folded, loser), nil
}

// pickWinner orders two customers: the one with more conversations
// remains; on a tie the older id (ids are ULIDs) does.
func (r *Router) pickWinner(ctx context.Context, a, b string) (winner, loser string, err error) {
	pipe := r.rdb.Pipeline()
	na := pipe.ZCard(ctx, r.k.customerConversations(a))
	nb := pipe.ZCard(ctx, r.k.customerConversations(b))
	if _, err := pipe.Exec(ctx); err != nil {
		return "", "", fmt.Errorf("router: count conversations: %w", err)
	}
	if na.Val() > nb.Val() || (na.Val() == nb.Val() && a < b) {
		return a, b, nil
	}
	return b, a, nil
}

// settle finishes, under the lock, every unfinished merge on the way from
// customer id to the customer it is folded into, and into that one. It
// returns that customer and the customers it folded.
func (r *Router) settle(ctx context.Context, lk *mergeLock, id string, depth int) (string, []string, error) {
	var folded []string
	add := func(ls ...string) {
		for _, l := range ls {
			if !contains(folded, l) {
				folded = append(folded, l)
			}
		}
	}
	for range maxHops {
		ch, err := r.chain(ctx, id)
		if err != nil {
			return "", folded, err
		}
		work := 0
		for _, s := range ch {
			if n, err := r.settleUnmerges(ctx, lk, s, depth); err != nil {
				return "", folded, err
			} else if n > 0 {
				work++
			}
			if s.into != "" && !s.done {
				if err := r.fold(ctx, lk, &merging{loser: s.id, winner: s.into}); err != nil {
					return "", folded, err
				}
				add(s.id)
				work++
			}
			if s.pending == 0 {
				continue
			}
			journal, err := r.rdb.HGetAll(ctx, r.k.customerMerging(s.id)).Result()
			if err != nil {
				return "", folded, fmt.Errorf("router: merge journal: %w", err)
			}
			for l, rec := range journal {
				f, err := r.settleEntry(ctx, lk, s.id, l, rec, depth)
				if err != nil {
					return "", folded, err
				}
				add(f...)
				work++
			}
		}
		id = ch[len(ch)-1].id
		if work == 0 {
			return id, folded, nil
		}
	}
	return "", folded, fmt.Errorf("router: merges around customer %s kept coming", id)
}

// settleEntry finishes the merge of loser into winner that winner's
// journal records (rec is "started ms|why"). Usually that is the rest of
// the fold. But when the process died between the journal entry and the
// loser's merging_into, and a later merge claimed the loser for another
// customer, nothing of this merge was carried out (moving starts only
// once the loser's merging_into names the winner, and it never changes):
// the entry is dropped, and the winner merged with what the loser became.
func (r *Router) settleEntry(ctx context.Context, lk *mergeLock, winner, loser, rec string, depth int) ([]string, error) {
	st, ok, err := r.state(ctx, loser)
	if err != nil {
		return nil, err
	}
	if ok && (st.into == "" || st.into == winner) {
		if err := r.fold(ctx, lk, &merging{loser: loser, winner: winner}); err != nil {
			return nil, err
		}
		return []string{loser}, nil
	}
	e, _ := parseEntry(rec)
	if err := r.abandonRecord(ctx, e.ID); err != nil {
		return nil, fmt.Errorf("router: merge record: %w", err)
	}
	if err := r.rdb.HDel(ctx, r.k.customerMerging(winner), loser).Err(); err != nil {
		return nil, fmt.Errorf("router: merge journal: %w", err)
	}
	r.log.Warn("router: merge: dropped a journal entry whose loser was merged elsewhere", "winner", winner,
		"loser", loser, "merging_into", st.into)
	if !ok {
		return nil, nil
	}
	_, folded, err := r.mergeLocked(ctx, lk, winner, loser, e.Reason, depth+1)
	return folded, err
}

// merging is one fold of customer loser into customer winner.
type merging struct {
	loser, winner string
	// why is the reason recorded in the audit; empty when finishing a
	// merge decided earlier (its journal entry has the reason).
	why string
	// kind is manual, unionid or identity (empty: told by why); who the
	// agent, or empty for the system.
	kind, who string
	// id is the merge id, set by the claim from the journal entry.
	id string
}

// foldStep is one idempotent step of a fold.
type foldStep struct {
	name string
	run  func(r *Router, ctx context.Context, lk *mergeLock, m *merging) error
}

// foldSteps are the steps of a fold, in order. A crash after any of them
// leaves a state that the next UpdateProfile touching either customer
// (or an identity of either) finds and finishes from the first step.
var foldSteps = []foldStep{
	{"claim", (*Router).claimMerge},
	{"identities", (*Router).moveIdentities},
	{"conversations", (*Router).moveConversations},
	{"calls", (*Router).moveCalls},
	{"profile", (*Router).mergeProfile},
	{"mark", (*Router).markMerged},
	{"audit", (*Router).recordMerge},
}

// fold folds m.loser into m.winner, all steps, renewing the lease before
// each.
func (r *Router) fold(ctx context.Context, lk *mergeLock, m *merging) error {
	for _, s := range foldSteps {
		if err := lk.renew(ctx); err != nil {
			return err
		}
		if err := s.run(r, ctx, lk, m); err != nil {
			return fmt.Errorf("router: merge %s into %s: %s: %w", m.loser, m.winner, s.name, err)
		}
	}
	r.log.Info("router: customers merged", "from", m.loser, "into", m.winner)
	return nil
}

// claimMerge writes the decision: the winner's journal entry first (with
// the merge id), then the merge's record, then merging_into and merge_id
// on the loser (merging_into kept when already there), so a loser marked
// merging always has its entry until the merge is audited. It refuses a
// winner that is itself being folded.
func (r *Router) claimMerge(ctx context.Context, _ *mergeLock, m *merging) error {
	e, err := r.claimEntry(ctx, m)
	if err != nil {
		return err
	}
	m.id, m.who, m.kind, m.why = e.ID, e.Who, e.Why, e.Reason // the decision as first written
	rec := r.recordKey(e.ID)
	pipe := r.rdb.Pipeline()
	for _, kv := range [][2]string{{"id", e.ID}, {"from", m.loser}, {"into", m.winner}, {"who", e.Who},
		{"why", e.Why}, {"reason", e.Reason}, {"started", strconv.FormatInt(e.At, 10)}, {"state", MergeMerging}} {
		pipe.HSetNX(ctx, rec, kv[0], kv[1])
	}
	pipe.HSetNX(ctx, r.k.customer(m.loser), "merging_into", m.winner)
	into := pipe.HGet(ctx, r.k.customer(m.loser), "merging_into")
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	if into.Val() != m.winner {
		return fmt.Errorf("%w: customer %s is being merged into %s", ErrConflict, m.loser, into.Val())
	}
	if err := r.rdb.HSet(ctx, r.k.customer(m.loser), "merge_id", e.ID).Err(); err != nil {
		return err
	}
	wInto, err := r.rdb.HGet(ctx, r.k.customer(m.winner), "merging_into").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	if wInto != "" {
		return fmt.Errorf("%w: customer %s is itself being merged into %s", ErrConflict, m.winner, wInto)
	}
	return nil
}

// claimEntry returns the winner's journal entry for the merge, writing it
// when there is none, or when it is one from before merge records (which
// keeps its time and reason and gets an id).
func (r *Router) claimEntry(ctx context.Context, m *merging) (mergeEntry, error) {
	journal := r.k.customerMerging(m.winner)
	for range maxHops {
		cur, err := r.rdb.HGet(ctx, journal, m.loser).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return mergeEntry{}, fmt.Errorf("merge journal: %w", err)
		}
		e, ok := parseEntry(cur)
		if ok && e.ID != "" {
			return e, nil
		}
		if !ok {
			e = mergeEntry{At: ms(r.now()), Who: m.who, Why: m.kind, Reason: m.why}
			if e.Who == "" {
				e.Who = "system"
			}
			if e.Reason == "" && e.Why == "" {
				e.Reason = "unfinished merge"
			}
			if e.Why == "" {
				e.Why = mergeKind(e.Reason)
			}
		}
		e.ID = newMergeID(m.winner)
		data, _ := json.Marshal(e)
		got, err := mergeClaimLua.Run(ctx, r.rdb, []string{journal}, m.loser, string(data), cur).Text()
		if err != nil {
			return mergeEntry{}, fmt.Errorf("merge journal: %w", err)
		}
		if got == string(data) {
			return e, nil
		}
	}
	return mergeEntry{}, fmt.Errorf("merge journal: the entry kept changing")
}

// moveIdentities points every identity of the loser at the winner (one
// script on each identity's slot) and adds them to the winner's handles.
// The loser keeps its own set, as a record of what it had. Before a chunk
// moves, the record notes for each handle whether the winner lacked it
// and whether its identity pointed at the loser.
func (r *Router) moveIdentities(ctx context.Context, lk *mergeLock, m *merging) error {
	hs, err := r.rdb.SMembers(ctx, r.k.customerIdentities(m.loser)).Result()
	if err != nil {
		return err
	}
	for start := 0; start < len(hs); start += mergeChunk {
		if err := r.moveHandles(ctx, m, hs[start:min(start+mergeChunk, len(hs))]); err != nil {
			return err
		}
		if err := lk.renew(ctx); err != nil {
			return err
		}
	}
	return nil
}

// moveHandles moves some of the loser's handles (a chunk of
// moveIdentities, or the one handle of a conversation ingest adopts):
// noted in the record, their identities re-pointed from the loser, added
// to the winner's handles.
func (r *Router) moveHandles(ctx context.Context, m *merging, chunk []string) error {
	if err := r.noteHandles(ctx, m, chunk); err != nil {
		return err
	}
	b := rdb.NewBatch(r.rdb)
	var cmds []*redis.Cmd
	for _, h := range chunk {
		id, ok := identityOfHandle(h)
		if !ok {
			continue
		}
		cmds = append(cmds, b.Run(ctx, pointIdentityLua,
			[]string{r.k.identityCustomer(identityTag(id))}, m.loser, m.winner))
	}
	members := make([]any, len(chunk))
	for i, h := range chunk {
		members[i] = h
	}
	b.Pipe().SAdd(ctx, r.k.customerIdentities(m.winner), members...)
	if err := b.Exec(ctx); err != nil {
		return err
	}
	for _, c := range cmds {
		if v, _ := c.Slice(); len(v) == 2 && v[0] != m.winner {
			// Points at a third customer: not ours to move.
			r.log.Warn("router: merge: identity belongs to another customer", "from", m.loser,
				"into", m.winner, "customer", v[0])
		}
	}
	return nil
}

// noteHandles notes in the merge's record, for each handle of the loser,
// what moving it will change: "s" the winner gets the handle, "p" its
// identity is re-pointed from the loser. A note is written once, before
// anything of it moves, so a retry keeps what the first attempt saw.
func (r *Router) noteHandles(ctx context.Context, m *merging, hs []string) error {
	pipe := r.rdb.Pipeline()
	members := make([]any, len(hs))
	for i, h := range hs {
		members[i] = h
	}
	have := pipe.SMIsMember(ctx, r.k.customerIdentities(m.winner), members...)
	ptrs := make([]*redis.StringCmd, len(hs))
	for i, h := range hs {
		if id, ok := identityOfHandle(h); ok {
			ptrs[i] = pipe.Get(ctx, r.k.identityCustomer(identityTag(id)))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	rec := r.recordKey(m.id)
	pipe = r.rdb.Pipeline()
	for i, h := range hs {
		flags := ""
		if !have.Val()[i] {
			flags += "s"
		}
		if ptrs[i] != nil && ptrs[i].Val() == m.loser {
			flags += "p"
		}
		if flags == "" {
			flags = "-"
		}
		pipe.HSetNX(ctx, rec, "i:"+h, flags)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// moveConversations gives each of the loser's conversations to the
// winner (moveConvs), chunk after chunk until the loser's list is empty,
// so a conversation added meanwhile moves too.
func (r *Router) moveConversations(ctx context.Context, lk *mergeLock, m *merging) error {
	for range mergePasses {
		zs, err := r.rdb.ZRangeWithScores(ctx, r.k.customerConversations(m.loser), 0, mergeChunk-1).Result()
		if err != nil {
			return err
		}
		if len(zs) == 0 {
			return nil
		}
		if err := r.moveConvs(ctx, m, zs); err != nil {
			return err
		}
		if err := lk.renew(ctx); err != nil {
			return err
		}
	}
	return fmt.Errorf("more than %d conversations", mergePasses*mergeChunk)
}

// moveConvs gives some of the loser's conversations (members of its list,
// with their scores) to the winner: noted in the record, their
// customer_id, then the winner's list (same score), then out of the
// loser's list.
func (r *Router) moveConvs(ctx context.Context, m *merging, zs []redis.Z) error {
	b := rdb.NewBatch(r.rdb)
	members := make([]any, len(zs))
	notes := make([]any, 0, 2*len(zs))
	for i, z := range zs {
		members[i] = z.Member
		notes = append(notes, "c:"+z.Member.(string), strconv.FormatFloat(z.Score, 'f', -1, 64))
	}
	b.Pipe().HSet(ctx, r.recordKey(m.id), notes...)
	for _, z := range zs {
		b.Run(ctx, moveConversationLua, []string{r.k.conv(z.Member.(string))}, m.winner)
	}
	if err := b.Exec(ctx); err != nil {
		return err
	}
	pipe := r.rdb.Pipeline()
	pipe.ZAddNX(ctx, r.k.customerConversations(m.winner), zs...)
	pipe.ZRem(ctx, r.k.customerConversations(m.loser), members...)
	_, err := pipe.Exec(ctx)
	return err
}

// moveCalls gives the loser's list of calls to the winner, like the
// conversations: each call noted in the record (with whether the winner
// listed it already), added to the winner's list with its score, taken
// out of the loser's. The call records themselves keep naming the loser;
// a view of it shows the winner.
func (r *Router) moveCalls(ctx context.Context, lk *mergeLock, m *merging) error {
	rec := r.recordKey(m.id)
	for range mergePasses {
		zs, err := r.rdb.ZRangeWithScores(ctx, r.k.customerCalls(m.loser), 0, mergeChunk-1).Result()
		if err != nil {
			return err
		}
		if len(zs) == 0 {
			return nil
		}
		pipe := r.rdb.Pipeline()
		had := make([]*redis.FloatCmd, len(zs))
		for i, z := range zs {
			had[i] = pipe.ZScore(ctx, r.k.customerCalls(m.winner), z.Member.(string))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		pipe = r.rdb.Pipeline()
		members := make([]any, len(zs))
		for i, z := range zs {
			members[i] = z.Member
			note := strconv.FormatFloat(z.Score, 'f', -1, 64)
			if had[i].Err() == nil {
				note += "|a"
			}
			pipe.HSetNX(ctx, rec, "k:"+z.Member.(string), note)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		pipe = r.rdb.Pipeline()
		pipe.ZAdd(ctx, r.k.customerCalls(m.winner), zs...)
		pipe.ZRem(ctx, r.k.customerCalls(m.loser), members...)
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		if err := lk.renew(ctx); err != nil {
			return err
		}
	}
	return fmt.Errorf("more than %d calls", mergePasses*mergeChunk)
}

// mergeProfile keeps what the loser's profile knew that the winner's does
// not: a name set by an agent or a channel, avatar, level, region, last
// agent. The record notes each field it changes and what it was.
func (r *Router) mergeProfile(ctx context.Context, _ *mergeLock, m *merging) error {
	v, err := r.rdb.HMGet(ctx, r.k.customer(m.loser), "name", "name_source", "avatar", "level", "region", "last_agent").Result()
	if err != nil {
		return err
	}
	return mergeProfileLua.Run(ctx, r.rdb, []string{r.k.customer(m.winner), r.recordKey(m.id)},
		asString(v[0]), asString(v[1]), "avatar", asString(v[2]), "level", asString(v[3]),
		"region", asString(v[4]), "last_agent", asString(v[5])).Err()
}

// markMerged marks the loser done: merged_into, and merged_at the first
// time.
func (r *Router) markMerged(ctx context.Context, _ *mergeLock, m *merging) error {
	pipe := r.rdb.Pipeline()
	pipe.HSet(ctx, r.k.customer(m.loser), "merged_into", m.winner)
	pipe.HSetNX(ctx, r.k.customer(m.loser), "merged_at", ms(r.now()))
	_, err := pipe.Exec(ctx)
	return err
}

// recordMerge audits the merge on both customers, the loser's first, then
// on the winner in one script with the record's state and the end of its
// journal entry, once.
func (r *Router) recordMerge(ctx context.Context, _ *mergeLock, m *merging) error {
	h, err := r.loadRecord(ctx, m.id)
	if err != nil {
		return err
	}
	rec := recordFrom(h)
	now := ms(r.now())
	fields := []any{"who", rec.Who, "why", rec.Why, "reason", rec.Reason, "started", h["started"],
		"identities", len(rec.Identities), "conversations", len(rec.Conversations), "calls", len(rec.Calls),
		"fields", strings.Join(rec.Fields, ",")}
	args := append([]any{m.id, "merge", "when", now, "from", m.loser, "into", m.winner}, fields...)
	if err := auditOnceLua.Run(ctx, r.rdb, []string{r.k.customerAudit(m.loser)}, args...).Err(); err != nil {
		return err
	}
	args = append([]any{m.loser, m.winner, now, m.id}, fields...)
	return mergeDoneLua.Run(ctx, r.rdb, []string{r.k.customerMerging(m.winner), r.k.customerAudit(m.winner),
		r.recordKey(m.id)}, args...).Err()
}

// queueMergeCheck adds to b, after ingest's writes on a customer for a
// new conversation, a read of whether that customer is being folded into
// another, or an unmerge took identities away from it (merge_check.lua).
// Both are on the customer's slot, so if the read finds nothing, the
// merge (which sets merging_into before it lists what to move) or the
// unmerge (which creates :unmerged before it re-points identities and
// lists what goes back) sees the new conversation. The script goes as
// EVAL with its text: the answer must be a string for ingest, and a
// short script needs no cache.
func (r *Router) queueMergeCheck(ctx context.Context, b *rdb.Batch, cust string) *redis.StringCmd {
	cmd := redis.NewStringCmd(ctx, "eval", mergeCheckSrc, 2, r.k.customer(cust), r.k.customerUnmerged(cust))
	_ = b.Pipe().Process(ctx, cmd)
	return cmd
}

// adoptInbound moves a conversation that ingest just opened under
// customer cust, when merge_check found cust being folded into another
// (merging_into) or an unmerge having taken identities from it (its
// :unmerged set), to the customer the message's identity belongs to now:
// the one it points at, or the one that remains of the merges that one
// went into. It returns that customer, or cust when the conversation
// stays or moving it failed (logged: the message is stored, and a view of
// the loser follows merged_into).
//
// It does its moves under the merge lock (adoptLocked), like links and
// unlinks. Without it, ingest raced the steps of a merge and of its undo,
// and lost two ways. (1) It re-pointed the identity from the loser to the
// winner itself, between the merge's claim and its identities step; that
// step then saw the identity at the winner already, did not note "p" in
// the record, and the unmerge left the identity, and every conversation
// it opened since, with the winner. (2) It decided on a state that was
// gone by the time it wrote: it read that the loser was folded into the
// winner, then the unmerge released the loser, pointed the identity back
// and gave the conversations back, and then ingest moved its conversation
// (and the identity) to the winner after all. Under the lock neither can
// happen: no merge or unmerge is half way (one a crash left unfinished is
// finished first), and what ingest moves from a loser is noted in that
// merge's record before it moves, the way the merge notes its own moves,
// so an unmerge puts it back. The lock is taken only when a look without
// it finds something to do: most calls are a new conversation of the
// winner of an undone merge (its :unmerged set stays) from one of its own
// identities, with nothing under way.
func (r *Router) adoptInbound(ctx context.Context, m *connectors.Message, now time.Time, cust, conv string) string {
	member := handle(m.Channel, m.Account, m.From)
	tag := identityTag(m.From)
	if owner, err := r.identityOwner(ctx, tag, cust); err == nil && owner == cust {
		// Nothing pending around cust means no merge or unmerge will move
		// this identity without also seeing the conversation, listed
		// before merge_check ran.
		if final, pending, err := r.resolve(ctx, cust); err == nil && final == cust && !pending {
			return cust
		}
	}
	final := cust
	err := r.withMergeLock(ctx, func(lk *mergeLock) error {
		var err error
		final, err = r.adoptLocked(ctx, lk, member, tag, cust, conv, ms(now))
		return err
	})
	if err != nil {
		r.log.Warn("router: move a new conversation to the customer its identity belongs to", "conversation", conv,
			"from", cust, "err", err)
		return cust
	}
	return final
}

// adoptLocked is adoptInbound under the merge lock: it settles cust and
// the identity's customer, then either carries the merges cust was folded
// by out for the new handle and conversation (they were written after the
// merge listed the loser's), or, when the identity belongs to a customer
// cust is not folded into (an unmerge took it from cust), gives them to
// that one.
func (r *Router) adoptLocked(ctx context.Context, lk *mergeLock, member, tag, cust, conv string, score int64) (string, error) {
	if _, _, err := r.settle(ctx, lk, cust, 0); err != nil {
		return cust, err
	}
	owner, err := r.identityOwner(ctx, tag, cust)
	if err != nil {
		return cust, err
	}
	if owner != cust {
		if _, _, err := r.settle(ctx, lk, owner, 0); err != nil {
			return cust, err
		}
	}
	och, err := r.chain(ctx, owner)
	if err != nil {
		return cust, err
	}
	want := och[len(och)-1].id
	ch, err := r.chain(ctx, cust)
	if err != nil {
		return cust, err
	}
	if ch[len(ch)-1].id == want {
		for _, s := range ch[:len(ch)-1] {
			mg, err := r.mergeOf(ctx, s)
			if err != nil {
				return cust, err
			}
			if err := r.moveHandles(ctx, mg, []string{member}); err != nil {
				return cust, err
			}
			sc, err := r.rdb.ZScore(ctx, r.k.customerConversations(s.id), conv).Result()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return cust, err
			}
			if err := r.moveConvs(ctx, mg, []redis.Z{{Score: sc, Member: conv}}); err != nil {
				return cust, err
			}
		}
		return want, nil
	}
	// A pointer left behind on a customer folded since goes along its
	// merges, noted like theirs.
	for _, s := range och[:len(och)-1] {
		mg, err := r.mergeOf(ctx, s)
		if err != nil {
			return cust, err
		}
		if err := r.moveHandles(ctx, mg, []string{member}); err != nil {
			return cust, err
		}
	}
	if err := moveConversationLua.Run(ctx, r.rdb, []string{r.k.conv(conv)}, want).Err(); err != nil {
		return cust, err
	}
	code, into, err := r.attach(ctx, want, member, conv, score)
	if err != nil {
		return cust, err
	}
	if code == -1 { // settled above, under the lock: not expected
		return cust, fmt.Errorf("customer %s is being merged into %s", want, into)
	}
	pipe := r.rdb.Pipeline()
	pipe.ZRem(ctx, r.k.customerConversations(cust), conv)
	if len(ch) == 1 {
		// The handle goes too (a customer folded keeps its handles as a
		// record).
		pipe.SRem(ctx, r.k.customerIdentities(cust), member)
	}
	_, err = pipe.Exec(ctx)
	return want, err
}

// identityOwner is the customer the identity with tag points at, or cust
// when it points nowhere.
func (r *Router) identityOwner(ctx context.Context, tag, cust string) (string, error) {
	cur, err := r.rdb.Get(ctx, r.k.identityCustomer(tag)).Result()
	if errors.Is(err, redis.Nil) || (err == nil && cur == "") {
		return cust, nil
	}
	return cur, err
}

// mergeOf is the finished merge of customer s (a link of a chain, with
// merging_into) into the next, with its id for the record.
func (r *Router) mergeOf(ctx context.Context, s custState) (*merging, error) {
	id, err := r.rdb.HGet(ctx, r.k.customer(s.id), "merge_id").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	if r.recordKey(id) == "" {
		return nil, fmt.Errorf("customer %s is merged into %s without a merge record", s.id, s.into)
	}
	return &merging{loser: s.id, winner: s.into, id: id}, nil
}
