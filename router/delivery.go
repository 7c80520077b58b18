package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/rdb"
	"switchboard/session"
)

var _ connectors.DeliveryReporter = (*Router)(nil)

// ReportFailure marks a reply that was sent as failed after all (a bounce),
// and tells the conversation's agent and its watchers. A reply that was
// never sent, or that is unknown, is left alone.
func (r *Router) ReportFailure(ctx context.Context, conv, msg, code, reason string) error {
	if !threadKeyRe.MatchString(conv) || !threadKeyRe.MatchString(msg) {
		return nil
	}
	st, err := r.rdb.HGet(ctx, r.k.convDelivery(conv), msg).Result()
	if errors.Is(err, redis.Nil) || (err == nil && st != "sent") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("router: report failure: %w", err)
	}
	now := r.now()
	d := Delivery{Status: "failed", Code: code, Error: reason, UpdatedAt: now.UTC()}
	v, _ := r.rdb.HMGet(ctx, r.k.conv(conv), "assignee", "channel").Result()
	assignee, channel := "", ""
	if len(v) == 2 {
		assignee, _ = v[0].(string)
		channel, _ = v[1].(string)
	}
	data, _ := json.Marshal(map[string]any{"conversation_id": conv, "message_id": msg, "delivery": d})
	b := rdb.NewBatch(r.rdb)
	b.Pipe().HSet(ctx, r.k.convDelivery(conv), msg, d.Status, msg+":at", ms(now), msg+":err", reason, msg+":code", code)
	if assignee != "" {
		r.events.QueueToAgent(ctx, b, assignee, session.EventMessageDelivery, data)
	}
	if err := r.commit.Exec(ctx, b); err != nil {
		return fmt.Errorf("router: report failure: %w", err)
	}
	r.metrics.failures.WithLabelValues(channel, "bounced").Inc()
	_ = r.events.Notify(ctx, r.k.convLive(conv), session.EventMessageDelivery, data)
	return nil
}
