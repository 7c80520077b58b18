package router

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
)

var _ connectors.TicketLookup = (*Router)(nil)

var ticketNumberRe = regexp.MustCompile(`^[0-9]{1,12}$`)

// ConversationByTicket returns the conversation of ticket number, or ""
// when there is none.
func (r *Router) ConversationByTicket(ctx context.Context, number string) (string, error) {
	if !ticketNumberRe.MatchString(number) {
		return "", nil
	}
	id, err := r.rdb.Get(ctx, r.k.ticketNumber(number)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("router: ticket %s: %w", number, err)
	}
	return id, nil
}
