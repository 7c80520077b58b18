package tickets

import (
	"strconv"
	"time"
)

// FirstNumber is the number of the first ticket; numbers then count up.
const FirstNumber = 10000

// Number turns the sequence value n (1, 2, …) into a ticket number.
func Number(n int64) string { return strconv.FormatInt(FirstNumber+n-1, 10) }

// Change is one entry of a ticket's history.
type Change struct {
	At    time.Time `json:"at"`
	Actor string    `json:"actor"` // agent id, "customer" or "system"
	Field string    `json:"field"` // "created", "status", "assignee", "team", "priority"
	From  string    `json:"from,omitempty"`
	To    string    `json:"to,omitempty"`
}

// Ticket is the API's view of a ticket.
type Ticket struct {
	ID               string     `json:"id"`
	Number           int64      `json:"number"`
	ConversationID   string     `json:"conversation_id"`
	CustomerID       string     `json:"customer_id"`
	Channel          string     `json:"channel"`
	Status           Status     `json:"status"`
	Priority         Priority   `json:"priority"`
	Team             string     `json:"team"`
	Assignee         string     `json:"assignee"`
	Subject          string     `json:"subject"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
	FirstResponseDue *time.Time `json:"first_response_due,omitempty"`
	ResolveDue       *time.Time `json:"resolve_due,omitempty"`
	FirstResponseAt  *time.Time `json:"first_response_at,omitempty"`
	ResolvedAt       *time.Time `json:"resolved_at,omitempty"`
	// SLA is the ticket's service level; nil when no policy was applied.
	SLA     *SLAStatus `json:"sla,omitempty"`
	History []Change   `json:"history,omitempty"`
}
