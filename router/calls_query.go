package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"switchboard/session"
)

// CallFilter selects calls for a list.
type CallFilter struct {
	// CustomerID lists one customer's calls; empty lists every call.
	CustomerID string
	// Limit is 1–200; 0 means 50.
	Limit int
}

// CallView returns call id as its screen-pop shows it, for agent a, who
// must be allowed to act on it (see mayActOnCall).
func (r *Router) CallView(ctx context.Context, a session.Agent, id string) (CallView, error) {
	c, err := r.loadCall(ctx, id)
	if err != nil {
		return CallView{}, err
	}
	if !mayActOnCall(a, c) {
		return CallView{}, fmt.Errorf("%w: the call did not ring for you or your team", ErrForbidden)
	}
	return r.callView(ctx, c)
}

// Calls lists calls, newest first: every call, or one customer's, as far
// as agent a may see them (supervisors all, agents those that popped up
// for them or rang for their team).
func (r *Router) Calls(ctx context.Context, a session.Agent, f CallFilter) ([]Call, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	index := r.k.callsRecent()
	if f.CustomerID != "" {
		if !threadKeyRe.MatchString(f.CustomerID) {
			return nil, fmt.Errorf("%w: bad customer_id", ErrInvalid)
		}
		id, err := r.followMerged(ctx, f.CustomerID)
		if err != nil {
			return nil, err
		}
		index = r.k.customerCalls(id)
	}
	out := []Call{}
	for offset, chunk := int64(0), int64(f.Limit*2); len(out) < f.Limit && offset < 2000; offset += chunk {
		ids, err := r.rdb.ZRevRange(ctx, index, offset, offset+chunk-1).Result()
		if err != nil {
			return nil, fmt.Errorf("router: list calls: %w", err)
		}
		calls, err := r.loadCalls(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, c := range calls {
			if mayActOnCall(a, c) && len(out) < f.Limit {
				out = append(out, c)
			}
		}
		if int64(len(ids)) < chunk {
			break
		}
	}
	return out, nil
}

// loadCalls reads several calls in one round trip; expired ones are left
// out.
func (r *Router) loadCalls(ctx context.Context, ids []string) ([]Call, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := r.rdb.Pipeline()
	type cmds struct {
		h             *redis.MapStringStringCmd
		users, agents *redis.StringSliceCmd
	}
	all := make([]cmds, len(ids))
	for i, id := range ids {
		all[i] = cmds{pipe.HGetAll(ctx, r.k.call(id)), pipe.SMembers(ctx, r.k.callUsers(id)), pipe.SMembers(ctx, r.k.callAgents(id))}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("router: load calls: %w", err)
	}
	out := make([]Call, 0, len(ids))
	for _, c := range all {
		if c.h.Val()["id"] != "" {
			out = append(out, callFrom(c.h.Val(), c.users.Val(), c.agents.Val()))
		}
	}
	return out, nil
}
