package router

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"switchboard/session"
)

// mergeBudget bounds a merge or an unmerge an agent asked for. It runs to
// its end even when the request that asked gives up (a half-done merge
// would show until the next touch finishes it).
const mergeBudget = time.Minute

// maxReasonRunes bounds what an agent writes about a merge.
const maxReasonRunes = 200

// MergeCustomers merges customer from into customer into on behalf of
// agent a, who must be allowed to act on both (mayActOnCustomer), and
// returns the merge's record. into remains, whatever the number of
// conversations: everything a merge moves (identities, conversations,
// calls, profile fields into lacks) goes from from to into, recorded and
// audited on both, why "manual", with the agent's reason (optional, at
// most 200 characters). Customers merged into others before stand for the
// customers that remain of them. Asking again for a merge that was done
// (a retry) answers its record; two customers that are one by other
// merges are refused with ErrConflict.
func (r *Router) MergeCustomers(ctx context.Context, a session.Agent, into, from, reason string) (MergeRecord, error) {
	if into == from {
		return MergeRecord{}, fmt.Errorf("%w: a customer cannot be merged into itself", ErrInvalid)
	}
	if !customerIDRe.MatchString(from) {
		return MergeRecord{}, fmt.Errorf("%w: from must be a customer id", ErrInvalid)
	}
	if !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > maxReasonRunes || hasControl(reason) {
		return MergeRecord{}, fmt.Errorf("%w: reason must be at most %d characters without control characters",
			ErrInvalid, maxReasonRunes)
	}
	intoF, err := r.actOn(ctx, a, into)
	if err != nil {
		return MergeRecord{}, err
	}
	fromF, err := r.actOn(ctx, a, from)
	if err != nil {
		return MergeRecord{}, err
	}
	if intoF == fromF {
		return r.mergedBy(ctx, from, intoF)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mergeBudget)
	defer cancel()
	m := &merging{why: reason, kind: MergeManual, who: a.ID}
	var folded []string
	err = r.withMergeLock(ctx, func(lk *mergeLock) error {
		// Finish what is unfinished around both first; settling one can
		// fold the other, so the first is settled again.
		for _, id := range []*string{&intoF, &fromF, &intoF} {
			final, f, err := r.settle(ctx, lk, *id, 0)
			if err != nil {
				return err
			}
			*id = final
			folded = append(folded, f...)
		}
		if intoF == fromF {
			return errOne // settling finished this merge, or joined them otherwise
		}
		m.loser, m.winner = fromF, intoF
		return r.fold(ctx, lk, m)
	})
	if errors.Is(err, errOne) {
		return r.mergedBy(ctx, from, intoF)
	}
	if err != nil {
		return MergeRecord{}, err
	}
	r.announce(ctx, intoF, []string{"identities", "conversations"}, append(folded, fromF), nil)
	return r.MergeRecord(ctx, m.id)
}

// errOne says that two customers to merge turned out to be one.
var errOne = errors.New("router: one customer already")

// mergedBy answers the record of the merge that folded customer from
// into customer into, when there is one; ErrConflict otherwise (they are
// one by other merges).
func (r *Router) mergedBy(ctx context.Context, from, into string) (MergeRecord, error) {
	id, err := r.rdb.HGet(ctx, r.k.customer(from), "merge_id").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return MergeRecord{}, fmt.Errorf("router: customer: %w", err)
	}
	if id != "" {
		rec, err := r.MergeRecord(ctx, id)
		if err == nil && rec.From == from && rec.Into == into && rec.State == MergeMerged {
			return rec, nil
		}
	}
	return MergeRecord{}, fmt.Errorf("%w: customers %s and %s are one customer already", ErrConflict, from, into)
}
