// Package jobs runs durable background work from a Redis stream with a
// consumer group: every entry is handled at least once by some replica,
// entries of a dead replica are reclaimed (XAUTOCLAIM), and entries that
// share a key are handled one at a time, in stream order.
package jobs

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Queue is one stream and its consumer group.
type Queue struct {
	Redis  redis.UniversalClient
	Stream string
	Group  string
	// Consumer names this process in the group; unique per process start.
	Consumer string
	// MinIdle is how long an entry may stay unacknowledged before another
	// consumer takes it over.
	MinIdle time.Duration
	// Key, when set, sends entries with the same key to the same worker.
	Key func(redis.XMessage) string
	// Handle does the work; the entry is acknowledged when it returns nil
	// and retried after MinIdle otherwise.
	Handle func(context.Context, redis.XMessage) error
	Log    *slog.Logger
	// Parallel is the number of workers (default 8).
	Parallel int
}

// EnsureGroup creates the stream and its group if they are missing.
func EnsureGroup(ctx context.Context, c redis.UniversalClient, stream, group string) error {
	err := c.XGroupCreateMkStream(ctx, stream, group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// Run consumes the queue until ctx ends, then lets the workers finish the
// entries they hold. Each entry gets a minute. An entry is handed to one
// worker at a time: a reclaim skips entries this process is still holding.
func (q Queue) Run(ctx context.Context) error {
	log := q.Log
	if log == nil {
		log = slog.Default()
	}
	parallel := q.Parallel
	if parallel <= 0 {
		parallel = 8
	}
	// Redis may be down at start: keep trying rather than stop the
	// process's other background work with an error.
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		err := EnsureGroup(ctx, q.Redis, q.Stream, q.Group)
		if err == nil {
			break
		}
		log.Warn("jobs: create group", "queue", q.Group, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
	// inFlight holds the entries handed to a worker and not finished: a
	// reclaim (XAUTOCLAIM finds this consumer's own entries idle while they
	// wait in a worker's buffer) must not hand them out a second time.
	var flightMu sync.Mutex
	inFlight := map[string]bool{}
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
				if err := q.Handle(hctx, m); err != nil {
					log.Warn("jobs: work failed; it will be retried", "queue", q.Group, "id", m.ID, "err", err)
				} else if err := q.Redis.XAck(hctx, q.Stream, q.Group, m.ID).Err(); err != nil {
					log.Warn("jobs: ack failed", "queue", q.Group, "id", m.ID, "err", err)
				}
				cancel()
				flightMu.Lock()
				delete(inFlight, m.ID)
				flightMu.Unlock()
			}
		}(work[i])
	}
	next := 0
	run := func(m redis.XMessage) {
		flightMu.Lock()
		if inFlight[m.ID] {
			flightMu.Unlock()
			return
		}
		inFlight[m.ID] = true
		flightMu.Unlock()
		i := next
		if q.Key != nil {
			h := fnv.New32a()
			h.Write([]byte(q.Key(m)))
			i = int(h.Sum32() % uint32(parallel))
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
		if p, err := q.Redis.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: q.Stream, Group: q.Group,
			Consumer: q.Consumer, Start: "-", End: "+", Count: 1}).Result(); err == nil && len(p) == 0 {
			q.Redis.XGroupDelConsumer(ctx, q.Stream, q.Group, q.Consumer)
		}
	}()
	backoff := 100 * time.Millisecond
	nextClaim := time.Now()
	for ctx.Err() == nil {
		if time.Now().After(nextClaim) {
			nextClaim = time.Now().Add(q.MinIdle / 3)
			msgs, _, err := q.Redis.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: q.Stream, Group: q.Group,
				Consumer: q.Consumer, MinIdle: q.MinIdle, Start: "0-0", Count: 100}).Result()
			if err == nil {
				for _, m := range msgs {
					run(m)
				}
			}
		}
		res, err := q.Redis.XReadGroup(ctx, &redis.XReadGroupArgs{Group: q.Group, Consumer: q.Consumer,
			Streams: []string{q.Stream, ">"}, Count: 64, Block: 2 * time.Second}).Result()
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
				_ = EnsureGroup(ctx, q.Redis, q.Stream, q.Group)
			}
			log.Warn("jobs: read work", "queue", q.Group, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
	return nil
}
