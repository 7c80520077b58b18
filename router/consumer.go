package router

import (
	"context"
	"errors"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ensureGroups creates the consumer groups (and their streams) if missing.
func (r *Router) ensureGroups(ctx context.Context) error {
	for stream, group := range map[string]string{r.k.dispatch(): "dispatch", r.k.outbox(): "outbox"} {
		if err := r.ensureGroup(ctx, stream, group); err != nil {
			return err
		}
	}
	return nil
}

func (r *Router) ensureGroup(ctx context.Context, stream, group string) error {
	err := r.rdb.XGroupCreateMkStream(ctx, stream, group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// consume runs a stream consumer group until ctx ends. Entries are acked
// after handle succeeds; an entry whose handler failed, or whose replica
// died, stays pending and is reclaimed after minIdle by any replica.
//
// Entries run on parallel workers; key, when set, sends entries with the
// same key to the same worker, so they are handled one at a time in stream
// order (an outbox keeps a conversation's replies in order this way).
func (r *Router) consume(ctx context.Context, stream, group string, minIdle time.Duration,
	key func(redis.XMessage) string, handle func(context.Context, redis.XMessage) error) error {
	const parallel = 8
	var wg sync.WaitGroup
	work := make([]chan redis.XMessage, parallel)
	for i := range work {
		work[i] = make(chan redis.XMessage, 64)
		wg.Add(1)
		go func(in <-chan redis.XMessage) {
			defer wg.Done()
			for m := range in {
				// Finish work in hand even while shutting down.
				hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
				if err := handle(hctx, m); err != nil {
					r.log.Warn("router: work failed; it will be retried", "stream", group, "id", m.ID, "err", err)
				} else if err := r.rdb.XAck(hctx, stream, group, m.ID).Err(); err != nil {
					r.log.Warn("router: ack failed", "stream", group, "id", m.ID, "err", err)
				}
				cancel()
			}
		}(work[i])
	}
	next := 0
	run := func(m redis.XMessage) {
		i := next
		if key != nil {
			h := fnv.New32a()
			h.Write([]byte(key(m)))
			i = int(h.Sum32() % parallel)
		} else {
			next = (next + 1) % parallel
		}
		work[i] <- m
	}

	defer func() {
		// Let the workers finish what they hold, then leave the group tidy:
		// a consumer with nothing pending is removed (its name is per
		// process start, so names would pile up).
		for _, w := range work {
			close(w)
		}
		wg.Wait()
		ctx := context.WithoutCancel(ctx)
		if p, err := r.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: group,
			Consumer: r.consumer, Start: "-", End: "+", Count: 1}).Result(); err == nil && len(p) == 0 {
			r.rdb.XGroupDelConsumer(ctx, stream, group, r.consumer)
		}
	}()
	backoff := 100 * time.Millisecond
	nextClaim := time.Now()
	for ctx.Err() == nil {
		if time.Now().After(nextClaim) {
			nextClaim = time.Now().Add(minIdle / 3)
			msgs, _, err := r.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: stream, Group: group,
				Consumer: r.consumer, MinIdle: minIdle, Start: "0-0", Count: 100}).Result()
			if err == nil {
				for _, m := range msgs {
					run(m)
				}
			}
		}
		res, err := r.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: r.consumer,
			Streams: []string{stream, ">"}, Count: 64, Block: 2 * time.Second}).Result()
		switch {
		case err == nil:
			backoff = 100 * time.Millisecond
			for _, s := range res {
				for _, m := range s.Messages {
					run(m)
				}
			}
		case errors.Is(err, redis.Nil):
		case ctx.Err() != nil:
		default:
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				// Redis lost the stream (restart without AOF, flush): recreate.
				_ = r.ensureGroup(ctx, stream, group)
			}
			r.log.Warn("router: read work", "stream", group, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
	return nil
}

func str(v map[string]any, k string) string {
	s, _ := v[k].(string)
	return s
}
