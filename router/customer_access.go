package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"switchboard/session"
)

// accessWindow is how many of a customer's latest conversations decide
// whether an agent may change who the customer is.
const accessWindow = 200

// mayActOnCustomer says whether agent a may link identities to customer
// id, unlink them, or merge it: supervisors and admins always; agents
// when one of the customer's latest conversations (accessWindow) is
// theirs (assigned to them), their team's, or not routed yet (no team and
// no agent), or when the customer has no conversation yet (a record an
// agent just made for a caller). It answers ErrForbidden otherwise.
func (r *Router) mayActOnCustomer(ctx context.Context, a session.Agent, id string) error {
	if a.Supervises() {
		return nil
	}
	convs, err := r.rdb.ZRevRange(ctx, r.k.customerConversations(id), 0, accessWindow-1).Result()
	if err != nil {
		return fmt.Errorf("router: customer access: %w", err)
	}
	if len(convs) == 0 {
		return nil
	}
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(convs))
	for i, c := range convs {
		cmds[i] = pipe.HMGet(ctx, r.k.conv(c), "assignee", "team")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("router: customer access: %w", err)
	}
	for _, c := range cmds {
		who, team := asString(c.Val()[0]), asString(c.Val()[1])
		if who == a.ID || (team != "" && a.InTeam(team)) || (team == "" && who == "") {
			return nil
		}
	}
	return fmt.Errorf("%w: none of customer %s's conversations is yours or your team's", ErrForbidden, id)
}

// actOn checks a customer id from a request and agent a's right to change
// who the customer is, and returns the customer that remains of it (a
// customer merged into another is that one).
func (r *Router) actOn(ctx context.Context, a session.Agent, id string) (string, error) {
	if !customerIDRe.MatchString(id) {
		return "", fmt.Errorf("%w: customer %q", ErrNotFound, id)
	}
	final, err := r.followMerged(ctx, id)
	if err != nil {
		return "", err
	}
	n, err := r.rdb.Exists(ctx, r.k.customer(final)).Result()
	if err != nil {
		return "", fmt.Errorf("router: customer: %w", err)
	}
	if n == 0 {
		return "", fmt.Errorf("%w: customer %s", ErrNotFound, id)
	}
	if err := r.mayActOnCustomer(ctx, a, final); err != nil {
		return "", err
	}
	return final, nil
}
