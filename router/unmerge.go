package router

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/rdb"
	"switchboard/session"
)

// An unmerge undoes one merge from its record (mergerecord.go): the
// loser comes back as it was and the winner keeps what it had before.
//
//   - Identities: those the merge re-pointed from the loser point at the
//     loser again (an identity unlinked or linked elsewhere since stays
//     where it is, and leaves the loser's handles); the handles the
//     winner got leave it. Handles the winner got after the merge for an
//     identity that went back (new channel accounts) go to the loser.
//   - Conversations: those the merge moved go back, and so do the
//     winner's conversations opened after the merge began by an identity
//     that went back to the loser (the rule: a conversation belongs to
//     the customer its identity belongs to). Conversations opened by the
//     winner's own identities stay.
//   - Calls: those the merge moved, and calls since whose record names
//     the loser or whose customer's number went back with it.
//   - Profile: each field the merge filled or replaced on the winner gets
//     its old value back, unless it was changed since.
//
// Like a merge it is a sequence of idempotent steps under the merge lock.
// The decision (claim) puts the merge id into the winner's unmerge
// journal and marks the loser unmerging_from; a retry of Unmerge, or any
// later merge, link or profile update that reaches either customer,
// finishes it (settle). Only a merge whose winner was not merged into
// another since can be undone: that later merge is undone first.

// Scripts of unmerges (loaded on first use, not with the router's others).
var (
	unmergeClaimLua   = script("unmerge_claim")
	unmergeProfileLua = script("unmerge_profile")
	unmergeDoneLua    = script("unmerge_done")
)

// unmerging is one unmerge: merge id of customer from into customer
// into, asked for by who.
type unmerging struct {
	id, from, into, who string
	started             float64 // when the merge began (ms)
}

// unmergeStep is one idempotent step of an unmerge.
type unmergeStep struct {
	name string
	run  func(r *Router, ctx context.Context, lk *mergeLock, u unmerging) error
}

// unmergeSteps are the steps of an unmerge, in order. A crash after any
// of them leaves the winner's journal entry, which a retry finds.
var unmergeSteps = []unmergeStep{
	{"claim", (*Router).claimUnmerge},
	{"release", (*Router).releaseLoser},
	{"identities", (*Router).returnIdentities},
	{"conversations", (*Router).returnConversations},
	{"calls", (*Router).returnCalls},
	{"profile", (*Router).restoreProfile},
	{"audit", (*Router).recordUnmerge},
}

// Unmerge undoes merge id on behalf of agent a, who must be a supervisor
// or an admin, and returns its record. Undoing a merge undone already
// changes nothing. A merge whose winner was merged into another customer
// since is refused with ErrConflict, naming that merge.
func (r *Router) Unmerge(ctx context.Context, a session.Agent, id string) (MergeRecord, error) {
	if !a.Supervises() {
		return MergeRecord{}, fmt.Errorf("%w: only supervisors and admins undo merges", ErrForbidden)
	}
	if r.recordKey(id) == "" {
		return MergeRecord{}, fmt.Errorf("%w: merge %q", ErrNotFound, id)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mergeBudget)
	defer cancel()
	did := false
	err := r.withMergeLock(ctx, func(lk *mergeLock) error {
		var err error
		did, err = r.unmergeLocked(ctx, lk, id, a.ID, 0)
		return err
	})
	if err != nil {
		return MergeRecord{}, err
	}
	rec, err := r.MergeRecord(ctx, id)
	if err != nil {
		return MergeRecord{}, err
	}
	if did {
		r.announce(ctx, rec.Into, []string{"identities", "conversations"}, nil, []string{rec.From})
		r.announce(ctx, rec.From, []string{"identities", "conversations"}, nil, nil)
	}
	return rec, nil
}

// unmergeLocked carries out (or finishes) the unmerge of merge id with
// the lock held, for who. It reports whether it did any of it now.
func (r *Router) unmergeLocked(ctx context.Context, lk *mergeLock, id, who string, depth int) (bool, error) {
	if depth > maxHops {
		return false, fmt.Errorf("router: unmerge %s: more than %d others on the way", id, maxHops)
	}
	h, err := r.loadRecord(ctx, id)
	if err != nil {
		return false, err
	}
	if h["state"] == MergeMerging {
		// Decided but unfinished: finish the merge, then undo it.
		if _, _, err := r.settle(ctx, lk, h["into"], depth+1); err != nil {
			return false, err
		}
		if h, err = r.loadRecord(ctx, id); err != nil {
			return false, err
		}
	}
	u := unmerging{id: id, from: h["from"], into: h["into"], who: who}
	u.started, _ = strconv.ParseFloat(h["started"], 64)
	switch h["state"] {
	case MergeUnmerged:
		// Done; the loser's side may have stopped short.
		return false, r.finishLoser(ctx, u, h)
	case MergeAbandoned:
		return false, fmt.Errorf("%w: merge %s was never carried out", ErrConflict, id)
	case MergeMerged:
		if err := r.checkUnmerge(ctx, u); err != nil {
			return false, err
		}
	case MergeUnmerging: // a retry
	default:
		return false, fmt.Errorf("%w: merge %s is %q", ErrConflict, id, h["state"])
	}
	for _, s := range unmergeSteps {
		if err := lk.renew(ctx); err != nil {
			return false, err
		}
		if err := s.run(r, ctx, lk, u); err != nil {
			return false, fmt.Errorf("router: unmerge %s: %s: %w", id, s.name, err)
		}
	}
	r.log.Info("router: merge undone", "merge", id, "from", u.from, "into", u.into)
	return true, nil
}

// checkUnmerge refuses an unmerge whose customers moved on: the winner
// was merged into another customer since, or the loser is no longer
// merged by this merge.
func (r *Router) checkUnmerge(ctx context.Context, u unmerging) error {
	pipe := r.rdb.Pipeline()
	w := pipe.HMGet(ctx, r.k.customer(u.into), "merging_into", "merge_id")
	l := pipe.HMGet(ctx, r.k.customer(u.from), "merged_into", "merge_id")
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("router: unmerge: %w", err)
	}
	if into := asString(w.Val()[0]); into != "" {
		return fmt.Errorf("%w: customer %s was merged into %s after this merge (merge %s); undo that merge first",
			ErrConflict, u.into, into, asString(w.Val()[1]))
	}
	if asString(l.Val()[0]) != u.into || asString(l.Val()[1]) != u.id {
		return fmt.Errorf("%w: customer %s is not merged by merge %s any more", ErrConflict, u.from, u.id)
	}
	return nil
}

// settleUnmerges finishes the unmerges left unfinished around customer
// s: the one giving it back (unmerging_from), and those in its unmerge
// journal. It returns how many it looked at.
func (r *Router) settleUnmerges(ctx context.Context, lk *mergeLock, s custState, depth int) (int, error) {
	var ids []string
	if s.unmerging != "" {
		ids = append(ids, s.unmerging)
	}
	if s.unmerges > 0 {
		more, err := r.rdb.HKeys(ctx, r.k.customerUnmerging(s.id)).Result()
		if err != nil {
			return 0, fmt.Errorf("router: unmerge journal: %w", err)
		}
		ids = append(ids, more...)
	}
	for _, id := range ids {
		if _, err := r.unmergeLocked(ctx, lk, id, "system", depth+1); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// claimUnmerge writes the decision on the winner's slot: the record turns
// unmerging, the winner's journal and :unmerged set get the merge id.
func (r *Router) claimUnmerge(ctx context.Context, _ *mergeLock, u unmerging) error {
	st, err := unmergeClaimLua.Run(ctx, r.rdb, []string{r.recordKey(u.id), r.k.customerUnmerging(u.into),
		r.k.customerUnmerged(u.into)}, u.id, u.who, ms(r.now())).Text()
	if err != nil {
		return err
	}
	if st != MergeUnmerging {
		return fmt.Errorf("%w: merge %s is %q", ErrConflict, u.id, st)
	}
	return nil
}

// releaseLoser makes the loser a customer of its own again, marked as
// being given back (unmerging_from) until the unmerge is audited.
func (r *Router) releaseLoser(ctx context.Context, _ *mergeLock, u unmerging) error {
	pipe := r.rdb.Pipeline()
	pipe.HSet(ctx, r.k.customer(u.from), "unmerging_from", u.id)
	pipe.HDel(ctx, r.k.customer(u.from), "merging_into", "merged_into", "merged_at", "merge_id")
	_, err := pipe.Exec(ctx)
	return err
}

// backIdentities are the identities the merge re-pointed from the loser
// (by tag), and which of them point at the loser again.
func (r *Router) backIdentities(ctx context.Context, u unmerging, handles map[string]string) (all map[string]connectors.Identity, home map[string]bool, err error) {
	all, home = map[string]connectors.Identity{}, map[string]bool{}
	for h, flags := range handles {
		if id, ok := identityOfHandle(h); ok && strings.Contains(flags, "p") {
			all[identityTag(id)] = id
		}
	}
	pipe := r.rdb.Pipeline()
	cur := map[string]*redis.StringCmd{}
	for tag := range all {
		cur[tag] = pipe.Get(ctx, r.k.identityCustomer(tag))
	}
	if len(cur) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, nil, err
		}
	}
	for tag, c := range cur {
		home[tag] = c.Val() == u.from
	}
	return all, home, nil
}

// returnIdentities points the identities the merge re-pointed back at
// the loser, takes the handles the merge gave the winner off it, and
// gives the loser the handles the winner got since for its identities.
func (r *Router) returnIdentities(ctx context.Context, _ *mergeLock, u unmerging) error {
	h, err := r.loadRecord(ctx, u.id)
	if err != nil {
		return err
	}
	handles := recordHandles(h)
	all, _, err := r.backIdentities(ctx, u, handles)
	if err != nil {
		return err
	}
	b := rdb.NewBatch(r.rdb)
	cmds := map[string]*redis.Cmd{}
	for tag := range all {
		cmds[tag] = b.Run(ctx, pointIdentityLua, []string{r.k.identityCustomer(tag)}, u.into, u.from)
	}
	if err := b.Exec(ctx); err != nil {
		return err
	}
	gone := map[string]bool{} // unlinked or linked elsewhere since the merge
	for tag, c := range cmds {
		if v, _ := c.Slice(); len(v) != 2 || v[0] != u.from {
			gone[tag] = true
		}
	}
	pipe := r.rdb.Pipeline()
	for hd, flags := range handles {
		id, ok := identityOfHandle(hd)
		if !ok {
			continue
		}
		if strings.Contains(flags, "s") {
			pipe.SRem(ctx, r.k.customerIdentities(u.into), hd)
		}
		if strings.Contains(flags, "p") && gone[identityTag(id)] {
			pipe.SRem(ctx, r.k.customerIdentities(u.from), hd)
		}
	}
	since, err := r.rdb.SMembers(ctx, r.k.customerIdentities(u.into)).Result()
	if err != nil {
		return err
	}
	for _, hd := range since {
		id, ok := identityOfHandle(hd)
		if _, noted := handles[hd]; !ok || noted {
			continue
		}
		if _, back := all[identityTag(id)]; back && !gone[identityTag(id)] {
			pipe.SAdd(ctx, r.k.customerIdentities(u.from), hd)
			pipe.SRem(ctx, r.k.customerIdentities(u.into), hd)
		}
	}
	if pipe.Len() == 0 {
		return nil
	}
	_, err = pipe.Exec(ctx)
	return err
}

// returnConversations gives the loser back the conversations the merge
// moved, then the winner's conversations opened since the merge began by
// identities that went back to the loser (noted in the record as l:),
// until a pass finds none. "Since the merge began" is score >= started:
// ingest reads a message's time after it resolved the identity, so a
// conversation opened under the winner because the merge had re-pointed
// its identity scores no earlier than the merge's start (on clocks in
// step; see Ingest).
func (r *Router) returnConversations(ctx context.Context, lk *mergeLock, u unmerging) error {
	h, err := r.loadRecord(ctx, u.id)
	if err != nil {
		return err
	}
	moved, _ := recordScores(h, "c:")
	if err := r.giveBack(ctx, u, moved); err != nil {
		return err
	}
	all, home, err := r.backIdentities(ctx, u, recordHandles(h))
	if err != nil {
		return err
	}
	tags := map[string]bool{}
	for tag := range all {
		if home[tag] {
			tags[tag] = true
		}
	}
	if len(tags) == 0 {
		return nil
	}
	rec := r.recordKey(u.id)
	since := strconv.FormatFloat(u.started, 'f', -1, 64)
	for range mergePasses {
		later := map[string]float64{}
		for offset := int64(0); ; offset += mergeChunk {
			zs, err := r.rdb.ZRangeByScoreWithScores(ctx, r.k.customerConversations(u.into),
				&redis.ZRangeBy{Min: since, Max: "+inf", Offset: offset, Count: mergeChunk}).Result()
			if err != nil {
				return err
			}
			pipe := r.rdb.Pipeline()
			cmds := make([]*redis.StringCmd, len(zs))
			for i, z := range zs {
				cmds[i] = pipe.HGet(ctx, r.k.conv(z.Member.(string)), "itag")
			}
			if len(zs) > 0 {
				if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
			}
			for i, z := range zs {
				if tags[cmds[i].Val()] {
					later[z.Member.(string)] = z.Score
				}
			}
			if len(zs) < mergeChunk {
				break
			}
		}
		if len(later) == 0 {
			return nil
		}
		notes := make([]any, 0, 2*len(later))
		for c, s := range later {
			notes = append(notes, "l:"+c, strconv.FormatFloat(s, 'f', -1, 64))
		}
		if err := r.rdb.HSet(ctx, rec, notes...).Err(); err != nil {
			return err
		}
		if err := r.giveBack(ctx, u, later); err != nil {
			return err
		}
		if err := lk.renew(ctx); err != nil {
			return err
		}
	}
	return fmt.Errorf("conversations kept coming")
}

// giveBack moves conversations (with their scores) from the winner to
// the loser: customer_id, when it still names the winner, then the lists.
func (r *Router) giveBack(ctx context.Context, u unmerging, convs map[string]float64) error {
	ids := make([]string, 0, len(convs))
	for c := range convs {
		ids = append(ids, c)
	}
	for start := 0; start < len(ids); start += mergeChunk {
		chunk := ids[start:min(start+mergeChunk, len(ids))]
		b := rdb.NewBatch(r.rdb)
		cmds := make([]*redis.Cmd, len(chunk))
		for i, c := range chunk {
			cmds[i] = b.Run(ctx, moveConversationLua, []string{r.k.conv(c)}, u.from, u.into)
		}
		if err := b.Exec(ctx); err != nil {
			return err
		}
		pipe := r.rdb.Pipeline()
		for i, c := range chunk {
			if n, _ := cmds[i].Int64(); n == 0 || n == 1 {
				pipe.ZAdd(ctx, r.k.customerConversations(u.from), redis.Z{Score: convs[c], Member: c})
				pipe.ZRem(ctx, r.k.customerConversations(u.into), c)
			}
		}
		if pipe.Len() > 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// returnCalls gives the loser back the calls the merge moved (the winner
// keeps those it listed itself), and the winner's calls whose record
// names the loser, or which started after the merge on a number that
// went back to the loser.
func (r *Router) returnCalls(ctx context.Context, _ *mergeLock, u unmerging) error {
	h, err := r.loadRecord(ctx, u.id)
	if err != nil {
		return err
	}
	moved, had := recordScores(h, "k:")
	pipe := r.rdb.Pipeline()
	for c, s := range moved {
		pipe.ZAdd(ctx, r.k.customerCalls(u.from), redis.Z{Score: s, Member: c})
		if !had[c] {
			pipe.ZRem(ctx, r.k.customerCalls(u.into), c)
		}
	}
	if pipe.Len() > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	all, home, err := r.backIdentities(ctx, u, recordHandles(h))
	if err != nil {
		return err
	}
	phones := map[string]bool{}
	for tag, id := range all {
		if home[tag] && id.Type == IdentityPhone {
			phones[id.Value] = true
		}
	}
	zs, err := r.rdb.ZRangeWithScores(ctx, r.k.customerCalls(u.into), 0, -1).Result()
	if err != nil {
		return err
	}
	pipe = r.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(zs))
	for i, z := range zs {
		cmds[i] = pipe.HMGet(ctx, r.k.call(z.Member.(string)), "customer", "direction", "from_e164", "to_e164")
	}
	if len(zs) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	pipe = r.rdb.Pipeline()
	for i, z := range zs {
		c := z.Member.(string)
		if _, ok := moved[c]; ok {
			continue
		}
		v := cmds[i].Val()
		number := asString(v[2])
		if asString(v[1]) == connectors.CallOutbound {
			number = asString(v[3])
		}
		if asString(v[0]) == u.from || (z.Score >= u.started && phones[number]) {
			pipe.ZAdd(ctx, r.k.customerCalls(u.from), z)
			pipe.ZRem(ctx, r.k.customerCalls(u.into), c)
		}
	}
	if pipe.Len() == 0 {
		return nil
	}
	_, err = pipe.Exec(ctx)
	return err
}

// restoreProfile gives the winner back the profile fields the merge
// changed, where they still hold what it set.
func (r *Router) restoreProfile(ctx context.Context, _ *mergeLock, u unmerging) error {
	return unmergeProfileLua.Run(ctx, r.rdb, []string{r.k.customer(u.into), r.recordKey(u.id)}).Err()
}

// recordUnmerge audits the unmerge on the winner in one script with the
// record's state and the end of its journal entry, then on the loser,
// whose mark goes last.
func (r *Router) recordUnmerge(ctx context.Context, _ *mergeLock, u unmerging) error {
	h, err := r.loadRecord(ctx, u.id)
	if err != nil {
		return err
	}
	args := append([]any{u.id, ms(r.now())}, unmergeFields(h)...)
	if err := unmergeDoneLua.Run(ctx, r.rdb, []string{r.recordKey(u.id), r.k.customerUnmerging(u.into),
		r.k.customerAudit(u.into)}, args...).Err(); err != nil {
		return err
	}
	return r.finishLoser(ctx, u, h)
}

// unmergeFields are an unmerge's audit fields: who, the customers and
// how much went back.
func unmergeFields(h map[string]string) []any {
	rec := recordFrom(h)
	who := h["undone_by"]
	if who == "" {
		who = "system"
	}
	return []any{"who", who, "from", rec.From, "into", rec.Into, "why", rec.Why, "identities", len(rec.Identities),
		"conversations", len(rec.Conversations), "calls", len(rec.Calls), "later", len(rec.Later),
		"fields", strings.Join(rec.Fields, ",")}
}

// finishLoser audits the unmerge on the loser (once) and takes its
// unmerging_from mark off, when it names this unmerge.
func (r *Router) finishLoser(ctx context.Context, u unmerging, h map[string]string) error {
	args := append([]any{u.id, AuditUnmerge, "when", ms(r.now())}, unmergeFields(h)...)
	if err := auditOnceLua.Run(ctx, r.rdb, []string{r.k.customerAudit(u.from)}, args...).Err(); err != nil {
		return err
	}
	mark, err := r.rdb.HGet(ctx, r.k.customer(u.from), "unmerging_from").Result()
	if errors.Is(err, redis.Nil) || (err == nil && mark != u.id) {
		return nil
	}
	if err != nil {
		return err
	}
	return r.rdb.HDel(ctx, r.k.customer(u.from), "unmerging_from").Err()
}

// keptApart reports whether an unmerge took customers a and b apart: a
// merge of one into the other that was undone (found through the
// :unmerged sets, which only winners of undone merges have). Automatic
// merges leave such customers apart; an agent may still merge them.
func (r *Router) keptApart(ctx context.Context, a, b string) (bool, error) {
	for _, w := range []string{a, b} {
		ids, err := r.rdb.SMembers(ctx, r.k.customerUnmerged(w)).Result()
		if err != nil {
			return false, fmt.Errorf("router: unmerges: %w", err)
		}
		for _, id := range ids {
			from, err := r.rdb.HGet(ctx, r.recordKey(id), "from").Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return false, fmt.Errorf("router: merge record: %w", err)
			}
			if (w == a && from == b) || (w == b && from == a) {
				return true, nil
			}
		}
	}
	return false, nil
}
