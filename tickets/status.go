package tickets

import "fmt"

// Status is where a ticket is in its life.
type Status string

// Ticket statuses, in lifecycle order.
const (
	New      Status = "new"      // waiting for an agent
	Open     Status = "open"     // an agent is on it
	Pending  Status = "pending"  // waiting for the customer or a third party
	Resolved Status = "resolved" // answered; a customer reply reopens it
	Closed   Status = "closed"   // final; the next message starts a new ticket
)

// Statuses lists every status.
var Statuses = []Status{New, Open, Pending, Resolved, Closed}

// ParseStatus checks a status name.
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("status %q is not one of new, open, pending, resolved, closed", s)
}

// Active reports whether the ticket holds an agent's capacity.
func (s Status) Active() bool { return s == New || s == Open || s == Pending }

var moves = map[Status][]Status{
	New:      {Open, Pending, Resolved, Closed},
	Open:     {Pending, Resolved, Closed},
	Pending:  {Open, Resolved, Closed},
	Resolved: {Open, Closed},
	Closed:   {},
}

// CanMove reports whether a ticket may go from one status to another.
// Staying put is always allowed.
func CanMove(from, to Status) error {
	if from == to {
		return nil
	}
	for _, s := range moves[from] {
		if s == to {
			return nil
		}
	}
	return fmt.Errorf("a %s ticket cannot become %s", from, to)
}

// From lists the statuses a ticket may move to `to` from, itself included.
func From(to Status) []Status {
	out := []Status{to}
	for from, tos := range moves {
		for _, s := range tos {
			if s == to {
				out = append(out, from)
			}
		}
	}
	return out
}
