package router

import (
	"context"
	"fmt"
	"time"

	"switchboard/internal/lease"
)

// convLockTTL bounds how long a crashed holder keeps a conversation's
// lock: its work (one SLA sync and its notices, one bot turn) takes well
// under this.
const convLockTTL = 15 * time.Second

// lockConversation takes the conversation's lock for one kind of work
// ("sla", "bot"), so that two replicas never do it at once for one
// conversation. ok is false when another holder has it; release gives it
// back.
func (r *Router) lockConversation(ctx context.Context, id, what string) (release func(), ok bool, err error) {
	l := lease.New(r.rdb, r.k.convLock(id, what), convLockTTL)
	ok, err = l.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("router: lock %s of %s: %w", what, id, err)
	}
	if !ok {
		return nil, false, nil
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := l.Release(rctx); err != nil {
			r.log.Warn("router: release conversation lock", "conversation", id, "what", what, "err", err)
		}
	}, true, nil
}
