package router

import (
	"context"
	"fmt"

	"switchboard/connectors"
)

var _ connectors.TicketStates = (*Router)(nil)

// TicketState returns the number and status of a conversation's ticket,
// for channels that show them to the customer. An unknown or malformed
// conversation id is the zero state.
func (r *Router) TicketState(ctx context.Context, id string) (connectors.TicketState, error) {
	if !threadKeyRe.MatchString(id) {
		return connectors.TicketState{}, nil
	}
	v, err := r.rdb.HMGet(ctx, r.k.conv(id), "number", "status").Result()
	if err != nil {
		return connectors.TicketState{}, fmt.Errorf("router: ticket state: %w", err)
	}
	number, _ := v[0].(string)
	status, _ := v[1].(string)
	return connectors.TicketState{Number: number, Status: status}, nil
}
