package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/kb"
)

// ruleActions carries out what the routing rules decided for a new
// conversation besides its team, skills and priority: the SLA policy its
// ticket is held to, tags for its customer, and an automatic reply. Each
// is idempotent, so a dispatch retried after a crash does it once.
func (r *Router) ruleActions(ctx context.Context, conv Conversation, route Route) error {
	p := r.rdb.Pipeline()
	if route.SLAPolicy != "" {
		// Before the ticket is numbered, so its first SLA sync sees it.
		p.HSet(ctx, r.k.conv(conv.ID), "sla_policy", route.SLAPolicy)
	}
	if len(route.Tags) > 0 && conv.CustomerID != "" {
		tags := make([]any, len(route.Tags))
		for i, t := range route.Tags {
			tags[i] = t
		}
		p.SAdd(ctx, r.k.customerTags(conv.CustomerID), tags...)
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("router: rule actions: %w", err)
	}
	if route.AutoReply == nil || conv.Channel == connectors.CTI {
		return nil // a call has no text to carry a reply
	}
	text := route.AutoReply.In(kb.DetectLang(conv.fields["subject"]))
	if text == "" {
		return nil
	}
	_, err := r.sendAutomatic(ctx, conv, autoMessage{Author: "system", AuthorName: "Switchboard", Text: text,
		Key: "auto-reply", Fields: map[string]string{"auto_reply": "1"}})
	if err != nil && !errors.Is(err, errNoSend) {
		return err
	}
	return nil
}
