package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"switchboard/connectors"
	"switchboard/internal/rdb"
	"switchboard/session"
	"switchboard/tickets"
)

// EventCallUpdated tells the agents a call popped up for that it was
// answered, ended, missed, or turned into a ticket: data {"call": Call}.
// The pop itself is session.EventScreenPop, with a CallView.
const EventCallUpdated = "call.updated"

// How much of the caller's history a pop shows.
const (
	popConversations = 10
	popTickets       = 10
)

// CallView is what a screen-pop shows: the call and, for a known caller,
// who they are, their open tickets, recent conversations on every channel
// and their last call before this one.
type CallView struct {
	Call Call `json:"call"`
	// Known is false for a number that belongs to no customer.
	Known               bool             `json:"known"`
	Customer            *CallCustomer    `json:"customer,omitempty"`
	OpenTickets         []tickets.Ticket `json:"open_tickets"`
	RecentConversations []Conversation   `json:"recent_conversations"`
	LastCall            *Call            `json:"last_call,omitempty"`
}

// CallCustomer is the caller's profile in a CallView.
type CallCustomer struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Avatar     string     `json:"avatar,omitempty"`
	Level      string     `json:"level"`
	Region     string     `json:"region"`
	Identities []Identity `json:"identities"`
}

// callUpdate is the data of EventCallUpdated.
type callUpdate struct {
	Call Call `json:"call"`
}

// tellCall publishes what an event changed to the agents of the call:
// the pop to agents the event added while the call goes on, an update to
// the others on an answer or a hangup. A repeat changes no state: it pops
// the call up for the agents it added, if any, and tells nobody else.
// Failures are logged: the event is stored either way.
func (r *Router) tellCall(ctx context.Context, c Call, typ connectors.CallEventType, repeat bool, added []string) {
	var pop, upd []string
	if c.Live() {
		pop = added
	}
	if !repeat && (typ == connectors.CallAnswer || typ == connectors.CallHangup) {
		for _, a := range c.Agents {
			if !slices.Contains(pop, a) {
				upd = append(upd, a)
			}
		}
	}
	if len(pop) == 0 && len(upd) == 0 {
		return
	}
	b := rdb.NewBatch(r.rdb)
	if len(pop) > 0 {
		view, err := r.callView(ctx, c)
		if err != nil {
			r.log.Warn("router: screen-pop without the caller's record", "call", c.ID, "err", err)
			view = CallView{Call: c, OpenTickets: []tickets.Ticket{}, RecentConversations: []Conversation{}}
		}
		data, _ := json.Marshal(view)
		for _, a := range pop {
			r.events.QueueToAgent(ctx, b, a, session.EventScreenPop, data)
		}
	}
	if len(upd) > 0 {
		r.queueCallUpdate(ctx, b, c, upd)
	}
	if err := r.commit.Exec(ctx, b); err != nil {
		r.log.Warn("router: tell agents of a call", "call", c.ID, "err", err)
	}
}

// queueCallUpdate adds EventCallUpdated for agents to b.
func (r *Router) queueCallUpdate(ctx context.Context, b *rdb.Batch, c Call, agents []string) {
	data, _ := json.Marshal(callUpdate{Call: c})
	for _, a := range agents {
		r.events.QueueToAgent(ctx, b, a, EventCallUpdated, data)
	}
}

// callView builds the pop of call c: the caller's Customer 360 view,
// trimmed to what a pop shows, and their last call before this one.
func (r *Router) callView(ctx context.Context, c Call) (CallView, error) {
	v := CallView{Call: c, OpenTickets: []tickets.Ticket{}, RecentConversations: []Conversation{}}
	if c.CustomerID == "" {
		return v, nil
	}
	cust, err := r.Customer(ctx, c.CustomerID)
	if errors.Is(err, ErrNotFound) {
		return v, nil
	}
	if err != nil {
		return v, err
	}
	v.Known = true
	v.Customer = &CallCustomer{ID: cust.ID, Name: cust.Name, Avatar: cust.Avatar, Level: cust.Level, Region: cust.Region,
		Identities: cust.Identities}
	for _, t := range cust.Tickets {
		if t.Status.Active() && len(v.OpenTickets) < popTickets {
			v.OpenTickets = append(v.OpenTickets, t)
		}
	}
	v.RecentConversations = cust.Conversations[:min(len(cust.Conversations), popConversations)]
	ids, err := r.rdb.ZRevRange(ctx, r.k.customerCalls(cust.ID), 0, 4).Result()
	if err != nil {
		return v, fmt.Errorf("router: last call: %w", err)
	}
	for _, id := range ids {
		if id == c.ID {
			continue
		}
		last, err := r.loadCall(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // expired
		}
		if err != nil {
			return v, err
		}
		if last.StartedAt.After(c.StartedAt) {
			continue // a later call: this one is being looked at afterwards
		}
		v.LastCall = &last
		break
	}
	return v, nil
}

// agentsNamed resolves the users a PBX names to agent ids: by extension
// first, then by id, e-mail or name (Zammad sends display names). Names
// that are no agent are left out; each agent comes once.
func (r *Router) agentsNamed(ctx context.Context, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	all, err := r.dir.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("router: agents of a call: %w", err)
	}
	var out []string
	for _, n := range names {
		if id := matchAgent(all, n); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// matchAgent finds the agent a PBX means by name.
func matchAgent(all []session.Agent, name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return ""
	}
	ext := extensionOf(name)
	tests := []func(a session.Agent) bool{
		func(a session.Agent) bool { return a.Extension != "" && (a.Extension == name || a.Extension == ext) },
		func(a session.Agent) bool { return a.ID == name },
		func(a session.Agent) bool { return a.Email != "" && strings.EqualFold(a.Email, name) },
		func(a session.Agent) bool { return a.Name != "" && strings.EqualFold(a.Name, name) },
	}
	for _, match := range tests {
		for _, a := range all {
			if match(a) {
				return a.ID
			}
		}
	}
	return ""
}

// extensionOf reads an extension out of a channel or SIP address:
// "PJSIP/8001", "sip:8001@pbx.example.com" and "8001@pbx" are 8001. It
// answers "" when what is left is not all digits.
func extensionOf(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "sips:"), "sip:")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return ""
	}
	return s
}

// teamAgents are the agents of team (the first configured team when team
// is empty or unknown), for a pop when the PBX named no agent.
func (r *Router) teamAgents(ctx context.Context, team string) ([]string, error) {
	if team == "" || !r.knownTeam(team) {
		team = r.rules.def.Team
	}
	if team == "" {
		return nil, nil
	}
	as, err := r.dir.Eligible(ctx, team, nil)
	if err != nil {
		return nil, fmt.Errorf("router: agents of team %s: %w", team, err)
	}
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	return ids, nil
}
