package session

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/fanout"
	"switchboard/internal/rdb"
)

// Event types agents receive.
const (
	EventMessageNew           = "message.new"
	EventMessageDelivery      = "message.delivery"
	EventConversationUpdated  = "conversation.updated"
	EventConversationAssigned = "conversation.assigned"
	EventScreenPop            = "call.screenpop"
	EventSLAWarning           = "sla.warning"
	EventSLABreached          = "sla.breached"
	// EventCustomerUpdated tells every agent that a customer's profile,
	// identities or conversations changed (a channel's profile, a merge).
	EventCustomerUpdated = "customer.updated"
)

// Events publishes to agents: to one agent's stream, or to the shared
// inbox stream all agents follow.
type Events struct {
	k      Keys
	agents *fanout.Hub
	inbox  *fanout.Hub
}

// NewEvents returns Events under prefix. Run must be running for this
// replica's sockets to get live events.
func NewEvents(c redis.UniversalClient, prefix string, log *slog.Logger) *Events {
	return &Events{
		k:      Keys{prefix},
		agents: fanout.New(c, fanout.Options{MaxLen: 1000, Log: log}),
		inbox:  fanout.New(c, fanout.Options{MaxLen: 10000, Log: log}),
	}
}

// Run follows pub/sub for this replica until ctx ends.
func (e *Events) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- e.agents.Run(ctx) }()
	go func() { errc <- e.inbox.Run(ctx) }()
	err1, err2 := <-errc, <-errc
	if err1 != nil {
		return err1
	}
	return err2
}

// ToAgent publishes an event to one agent.
func (e *Events) ToAgent(ctx context.Context, agent, typ string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("session: encode %s: %w", typ, err)
	}
	_, err = e.agents.Publish(ctx, e.k.AgentEvents(agent), typ, b)
	return err
}

// QueueToAgent adds an agent event to a batch, to share a round trip.
func (e *Events) QueueToAgent(ctx context.Context, b *rdb.Batch, agent, typ string, data []byte) {
	e.agents.QueuePublish(ctx, b, e.k.AgentEvents(agent), typ, data)
}

// ToInbox publishes an event every agent receives.
func (e *Events) ToInbox(ctx context.Context, typ string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("session: encode %s: %w", typ, err)
	}
	_, err = e.inbox.Publish(ctx, e.k.InboxEvents(), typ, b)
	return err
}

// QueueToInbox adds an inbox event to a batch.
func (e *Events) QueueToInbox(ctx context.Context, b *rdb.Batch, typ string, data []byte) {
	e.inbox.QueuePublish(ctx, b, e.k.InboxEvents(), typ, data)
}

// Notify sends an ephemeral event on a live channel (no stream).
func (e *Events) Notify(ctx context.Context, channel, typ string, data []byte) error {
	return e.agents.Notify(ctx, channel, typ, data)
}
