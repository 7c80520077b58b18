package router

import (
	"context"
	"fmt"

	"switchboard/connectors"
	"switchboard/session"
)

var _ connectors.Availability = (*Router)(nil)

// AgentFree reports whether some agent is online with room for one more
// conversation, whatever their team: a channel uses it to tell a customer
// who opens a conversation that they are queued.
func (r *Router) AgentFree(ctx context.Context) (bool, error) {
	if r.dir == nil || r.presences == nil {
		return true, nil
	}
	agents, err := r.dir.List(ctx)
	if err != nil {
		return false, fmt.Errorf("router: agents: %w", err)
	}
	ids := make([]string, len(agents))
	for i, a := range agents {
		ids[i] = a.ID
	}
	prs, err := r.presences.All(ctx, ids...)
	if err != nil {
		return false, err
	}
	for _, p := range prs {
		if p.Status == session.Online && p.Load < p.Capacity {
			return true, nil
		}
	}
	return false, nil
}
