package connectors

import "context"

// TicketStates is implemented by the Ingester: a channel that shows
// customers their ticket (the QR tracking page) asks for its number and
// status.
type TicketStates interface {
	// TicketState returns the ticket of conversationID. An unknown
	// conversation is the zero TicketState and no error.
	TicketState(ctx context.Context, conversationID string) (TicketState, error)
}

// TicketState is what a customer may know about their ticket.
type TicketState struct {
	// Number is the ticket number ("10042"); empty until the conversation
	// was dispatched.
	Number string
	// Status is new, open, pending, resolved or closed.
	Status string
}
