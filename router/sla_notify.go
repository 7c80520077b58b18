package router

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/rdb"
	"switchboard/session"
	"switchboard/tickets"
)

// slaNotice is an SLA outcome stored in the ticket history and not yet
// told: its entry id, when it happened and its history value.
type slaNotice struct {
	id    string
	at    int64
	value string
}

// SLAEvent is what an agent's socket gets on an SLA warning or breach
// (events sla.warning and sla.breached).
type SLAEvent struct {
	ConversationID string         `json:"conversation_id"`
	Ticket         string         `json:"ticket"`
	Target         tickets.Target `json:"target"`
	// What is "warning" or "breached".
	What string `json:"what"`
	// Percent is a warning's threshold (80 for 80% of the target used).
	Percent  int       `json:"percent,omitempty"`
	At       time.Time `json:"at"`
	Customer string    `json:"customer_name"`
	Assignee string    `json:"assignee,omitempty"`
	Team     string    `json:"team,omitempty"`
	Priority string    `json:"priority,omitempty"`
}

// parseSLAValue reads a history value like "warning:first_response:80".
func parseSLAValue(v string) (what string, target tickets.Target, pct int) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 {
		return "", "", 0
	}
	if len(parts) > 2 {
		pct, _ = strconv.Atoi(parts[2])
	}
	return parts[0], tickets.Target(parts[1]), pct
}

// tellSLA pushes warnings and breaches to the people they concern, runs
// the policy's escalations, and marks the notices told.
func (r *Router) tellSLA(ctx context.Context, id string, pol *tickets.SLAPolicy, notices []slaNotice) error {
	conv, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	for _, n := range notices {
		what, target, pct := parseSLAValue(n.value)
		if what != "warning" && what != "breached" {
			continue
		}
		if what == "breached" {
			r.metrics.slaBreaches.WithLabelValues(string(target)).Inc()
		} else {
			r.metrics.slaWarnings.WithLabelValues(string(target)).Inc()
		}
		ev := SLAEvent{ConversationID: id, Ticket: conv.TicketID, Target: target, What: what, Percent: pct,
			At: time.UnixMilli(n.at).UTC(), Customer: conv.CustomerName, Assignee: conv.Assignee, Team: conv.Team,
			Priority: string(conv.Priority)}
		notify := []string{"assignee", "supervisors"}
		if pol != nil {
			on := tickets.OnWarning
			if what == "breached" {
				on = tickets.OnBreach
			}
			for _, e := range pol.Escalations(on, target) {
				notify = append(notify, e.Notify...)
				if conv, err = r.escalate(ctx, conv, e); err != nil {
					r.log.Warn("router: sla escalation", "conversation", id, "err", err)
				}
			}
		}
		to, err := r.slaRecipients(ctx, conv, notify)
		if err != nil {
			return err
		}
		typ := session.EventSLAWarning
		if what == "breached" {
			typ = session.EventSLABreached
		}
		data, _ := json.Marshal(ev)
		b := rdb.NewBatch(r.rdb)
		for _, a := range to {
			r.events.QueueToAgent(ctx, b, a, typ, data)
		}
		if err := r.commit.Exec(ctx, b); err != nil {
			return fmt.Errorf("router: tell sla: %w", err)
		}
		r.log.Info("router: sla "+what, "conversation", id, "ticket", conv.TicketID, "target", target, "told", len(to))
	}
	// The lists show the new flag.
	r.reindex(ctx, change{conv: conv, prevStatus: string(conv.Status), prevAssignee: conv.Assignee, changed: []string{"sla"}})
	// Marked told under the sync lock, so it moves forward only.
	last := notices[len(notices)-1].id
	return r.rdb.HSet(ctx, r.k.conv(id), "sla_n", last).Err()
}

// escalate carries out one escalation: a higher priority, another team.
func (r *Router) escalate(ctx context.Context, conv Conversation, e tickets.Escalation) (Conversation, error) {
	if e.Priority != "" && e.Priority.Rank() < conv.Priority.Rank() {
		c, err := r.apply(ctx, conv.ID, "system", nil, field{"priority", string(e.Priority)})
		if err != nil {
			return conv, err
		}
		conv = c.conv
	}
	if e.Team != "" && e.Team != conv.Team && conv.Status.Active() {
		if err := r.toQueue(ctx, session.Agent{ID: "system", Name: "SLA"}, conv, e.Team); err != nil {
			return conv, err
		}
		return r.load(ctx, conv.ID)
	}
	return conv, nil
}

// slaRecipients resolves notify entries: "assignee", "supervisors" (the
// supervisors and admins of the ticket's team) and agent ids.
func (r *Router) slaRecipients(ctx context.Context, conv Conversation, notify []string) ([]string, error) {
	var out []string
	add := func(id string) {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	for _, n := range notify {
		switch n {
		case "assignee":
			add(conv.Assignee)
		case "supervisors":
			agents, err := r.dir.List(ctx)
			if err != nil {
				return nil, fmt.Errorf("router: supervisors: %w", err)
			}
			for _, a := range agents {
				if a.Supervises() && (conv.Team == "" || a.InTeam(conv.Team)) {
					add(a.ID)
				}
			}
		default:
			add(n)
		}
	}
	return out, nil
}
