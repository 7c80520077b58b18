package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"switchboard/session"
	"switchboard/tickets"
)

// Patch changes a conversation (its ticket); nil fields stay. An empty
// Assignee sends the conversation back to its team's queue.
type Patch struct {
	Status   *string
	Assignee *string
	Team     *string
	Priority *string
}

// Update applies a patch on behalf of agent a. Everything is checked
// before anything is written.
func (r *Router) Update(ctx context.Context, a session.Agent, id string, p Patch) (Conversation, error) {
	conv, err := r.load(ctx, id)
	if err != nil {
		return Conversation{}, err
	}
	if err := r.allowed(a, conv, p); err != nil {
		return Conversation{}, err
	}
	var status tickets.Status
	if p.Status != nil {
		if status, err = tickets.ParseStatus(*p.Status); err != nil {
			return Conversation{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if status == tickets.New && conv.Status != tickets.New {
			return Conversation{}, fmt.Errorf("%w: a ticket cannot go back to new", ErrInvalid)
		}
		if err := tickets.CanMove(conv.Status, status); err != nil {
			return Conversation{}, fmt.Errorf("%w: %v", ErrConflict, err)
		}
	}
	if p.Priority != nil {
		if _, err := tickets.ParsePriority(*p.Priority); err != nil || *p.Priority == "" {
			return Conversation{}, fmt.Errorf("%w: priority must be urgent, high, normal or low", ErrInvalid)
		}
	}
	if p.Team != nil && !r.knownTeam(*p.Team) {
		return Conversation{}, fmt.Errorf("%w: unknown team %q", ErrInvalid, *p.Team)
	}
	if p.Assignee != nil && *p.Assignee != "" {
		if _, err := r.dir.Get(ctx, *p.Assignee); err != nil {
			return Conversation{}, fmt.Errorf("%w: unknown agent %q", ErrInvalid, *p.Assignee)
		}
	}
	if conv.Status == tickets.Closed && (p.Assignee != nil || p.Team != nil) {
		return Conversation{}, fmt.Errorf("%w: the conversation is closed", ErrConflict)
	}

	if p.Priority != nil {
		if _, err := r.apply(ctx, id, a.ID, nil, field{"priority", *p.Priority}); err != nil {
			return Conversation{}, err
		}
	}
	switch {
	case p.Assignee != nil && *p.Assignee != "":
		if err := r.assignTo(ctx, a, conv, *p.Assignee, p.Team); err != nil {
			return Conversation{}, err
		}
	case p.Assignee != nil || p.Team != nil:
		team := conv.Team
		if p.Team != nil {
			team = *p.Team
		}
		if err := r.toQueue(ctx, a, conv, team); err != nil {
			return Conversation{}, err
		}
	}
	if p.Status != nil && status != conv.Status {
		if err := r.setStatus(ctx, a, id, status); err != nil {
			return Conversation{}, err
		}
	}
	return r.load(ctx, id)
}

// allowed says whether agent a may make patch p on conv: supervisors may
// do anything, agents may change their own conversations and take an
// unassigned one.
func (r *Router) allowed(a session.Agent, conv Conversation, p Patch) error {
	if a.Supervises() || conv.Assignee == a.ID {
		return nil
	}
	take := p.Assignee != nil && *p.Assignee == a.ID && p.Status == nil && p.Team == nil && p.Priority == nil
	if conv.Assignee == "" && take {
		return nil
	}
	if conv.Assignee == "" {
		return fmt.Errorf("%w: take the conversation first", ErrForbidden)
	}
	return fmt.Errorf("%w: the conversation is assigned to another agent", ErrForbidden)
}

func (r *Router) knownTeam(id string) bool {
	for _, t := range r.cfg.Teams {
		if t.ID == id {
			return true
		}
	}
	return false
}

// assignTo hands a conversation to a named agent (transfer or take).
func (r *Router) assignTo(ctx context.Context, actor session.Agent, conv Conversation, agent string, team *string) error {
	prev := ""
	if conv.Status.Active() {
		var err error
		prev, err = assignLua.Run(ctx, r.rdb, []string{r.k.owner(), r.sk.Load(), r.k.queueMeta(), r.k.overflow(), r.k.dispatch()},
			conv.ID, agent, r.k.queue(""), actor.ID).Text()
		if err != nil {
			return fmt.Errorf("router: assign: %w", err)
		}
	} // a resolved ticket changes hands without taking anyone's capacity
	fields := []field{{"assignee", agent}}
	if team != nil {
		fields = append(fields, field{"team", *team})
	}
	if conv.Status == tickets.New {
		fields = append(fields, field{"status", string(tickets.Open)})
	}
	if _, err := r.apply(ctx, conv.ID, actor.ID, nil, fields...); err != nil {
		return err
	}
	if err := r.rdb.HSet(ctx, r.k.customer(conv.CustomerID), "last_agent", agent).Err(); err != nil {
		return err
	}
	if prev != "" && prev != agent {
		r.backfill(ctx, prev)
	}
	return nil
}

// toQueue takes a conversation from its agent and dispatches it to team.
func (r *Router) toQueue(ctx context.Context, actor session.Agent, conv Conversation, team string) error {
	if _, err := r.apply(ctx, conv.ID, actor.ID, nil, field{"assignee", ""}, field{"team", team}); err != nil {
		return err
	}
	if err := r.release(ctx, conv.ID); err != nil {
		return err
	}
	return r.rdb.XAdd(ctx, &redis.XAddArgs{Stream: r.k.dispatch(), MaxLen: 100000, Approx: true,
		Values: []any{"conv", conv.ID, "kind", "transfer", "team", team}}).Err()
}

// setStatus moves the ticket and frees or takes capacity to match.
func (r *Router) setStatus(ctx context.Context, actor session.Agent, id string, to tickets.Status) error {
	var survey func(redis.Pipeliner)
	if to == tickets.Resolved && r.surveysOn() {
		// The survey is queued in the resolve's own pipeline, so no crash
		// stores the one without the other; askSurvey asks once per
		// episode however often it is queued, and not at all if the
		// resolve was refused.
		survey = func(p redis.Pipeliner) {
			p.XAdd(ctx, &redis.XAddArgs{Stream: r.k.dispatch(), MaxLen: 100000, Approx: true,
				Values: []any{"conv", id, "kind", "survey"}})
		}
	}
	c, err := r.applyWith(ctx, id, actor.ID, tickets.From(to), survey, field{"status", string(to)})
	if err != nil {
		return err
	}
	conv := c.conv
	switch {
	case !to.Active():
		if err := r.release(ctx, id); err != nil {
			return err
		}
		if to == tickets.Closed && conv.itag != "" {
			err := forgetIdentityLua.Run(ctx, r.rdb, []string{r.k.identityOpen(conv.itag, conv.Channel, conv.Account, conv.thread)}, id).Err()
			if err != nil && !errors.Is(err, redis.Nil) {
				return fmt.Errorf("router: close: %w", err)
			}
		}
	case !tickets.Status(c.prevStatus).Active(): // reopened by an agent
		if conv.Assignee != "" {
			return r.assignTo(ctx, actor, conv, conv.Assignee, nil)
		}
		return r.rdb.XAdd(ctx, &redis.XAddArgs{Stream: r.k.dispatch(), MaxLen: 100000, Approx: true,
			Values: []any{"conv", id, "kind", "reopen"}}).Err()
	}
	return nil
}

// UpdateTicket applies a patch to the conversation of ticket number and
// returns the ticket.
func (r *Router) UpdateTicket(ctx context.Context, a session.Agent, number string, p Patch) (tickets.Ticket, error) {
	id, err := r.ticketConversation(ctx, number)
	if err != nil {
		return tickets.Ticket{}, err
	}
	if _, err := r.Update(ctx, a, id, p); err != nil {
		return tickets.Ticket{}, err
	}
	return r.Ticket(ctx, number)
}
