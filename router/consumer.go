package router

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/jobs"
)

// ensureGroups creates the consumer groups (and their streams) if missing.
func (r *Router) ensureGroups(ctx context.Context) error {
	for stream, group := range map[string]string{r.k.dispatch(): "dispatch", r.k.outbox(): "outbox", r.k.slaWork(): "sla"} {
		if err := jobs.EnsureGroup(ctx, r.rdb, stream, group); err != nil {
			return err
		}
	}
	return nil
}

// consume runs a stream consumer group until ctx ends (see jobs.Queue).
func (r *Router) consume(ctx context.Context, stream, group string, minIdle time.Duration,
	key func(redis.XMessage) string, handle func(context.Context, redis.XMessage) error) error {
	return jobs.Queue{Redis: r.rdb, Stream: stream, Group: group, Consumer: r.consumer, MinIdle: minIdle,
		Key: key, Handle: handle, Log: r.log}.Run(ctx)
}

func str(v map[string]any, k string) string {
	s, _ := v[k].(string)
	return s
}
