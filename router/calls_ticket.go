package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/rdb"
	"switchboard/session"
	"switchboard/tickets"
)

// callbackThread keeps a caller's callback tickets apart from their other
// phone tickets: missed calls join the open callback ticket.
const callbackThread = "callback"

// CallAttachment is what attaching a call to a ticket did.
type CallAttachment struct {
	Conversation Conversation `json:"conversation"`
	// MessageID is the call message added; empty when the call was
	// attached to this conversation before (Duplicate).
	MessageID string `json:"message_id,omitempty"`
	Duplicate bool   `json:"duplicate"`
}

// mayActOnCall reports whether agent a may see call c and make a ticket
// of it: supervisors always, agents when it popped up for them or rang
// for their team.
func mayActOnCall(a session.Agent, c Call) bool {
	return a.Supervises() || slices.Contains(c.Agents, a.ID) || (c.Team != "" && a.InTeam(c.Team))
}

// mayActOnConversation reports whether agent a may add a call to
// conversation conv: supervisors and admins always, agents when it is
// assigned to them or belongs to one of their teams.
func mayActOnConversation(a session.Agent, conv Conversation) bool {
	return a.Supervises() || (conv.Assignee != "" && conv.Assignee == a.ID) || (conv.Team != "" && a.InTeam(conv.Team))
}

// CreateCallTicket turns call id into a ticket on the cti channel, for the
// caller (a new customer with the phone number, named name, when the
// number belongs to nobody yet), assigned to agent a. Its first message
// is the call (kind call, the call's facts in Fields). Repeating it, or
// asking for a call already attached to a ticket, answers that ticket. A
// missed call that opened a callback ticket answers the callback ticket,
// assigned to agent a when nobody has it yet.
func (r *Router) CreateCallTicket(ctx context.Context, a session.Agent, id, name string) (Conversation, error) {
	c, err := r.loadCall(ctx, id)
	if err != nil {
		return Conversation{}, err
	}
	if !mayActOnCall(a, c) {
		return Conversation{}, fmt.Errorf("%w: the call did not ring for you or your team", ErrForbidden)
	}
	name, err = callerName(name)
	if err != nil {
		return Conversation{}, err
	}
	if c.ConversationID != "" {
		conv, err := r.load(ctx, c.ConversationID)
		if !errors.Is(err, ErrNotFound) {
			return conv, err
		}
	}
	if c.CallbackID != "" {
		conv, err := r.callbackTicket(ctx, a, c)
		if !errors.Is(err, ErrNotFound) {
			return conv, err
		}
	}
	from, err := r.callerIdentity(ctx, c, name)
	if err != nil {
		return Conversation{}, err
	}
	acc, err := r.Ingest(ctx, &connectors.Message{Channel: connectors.CTI, Account: c.Source, ExternalID: "call:" + c.ID,
		From: from, Kind: connectors.KindCall, Text: callSummary(c), Fields: callFields(c), Thread: connectors.Thread{Key: c.ID}})
	if err != nil {
		return Conversation{}, fmt.Errorf("router: ticket from call: %w", err)
	}
	conv, err := r.numberCallTicket(ctx, acc.ConversationID, c)
	if err != nil {
		return Conversation{}, err
	}
	if conv.Status.Active() && conv.Assignee != a.ID {
		// Dispatch may be routing it at the same moment: the take wins
		// (claim keeps an owner; the assigned entry mirrors it).
		if err := r.assignTo(ctx, a, conv, a.ID, nil); err != nil {
			return Conversation{}, err
		}
	}
	if conv, err = r.load(ctx, conv.ID); err != nil {
		return Conversation{}, err
	}
	r.linkCall(ctx, c, conv, acc.CustomerID, "conversation")
	return conv, nil
}

// callbackTicket is the ticket of missed call c: its callback ticket,
// numbered, and assigned to agent a when it is open and nobody has it yet
// (an agent's ticket stays theirs). The call then names it as its ticket.
// ErrNotFound: the callback ticket is gone.
func (r *Router) callbackTicket(ctx context.Context, a session.Agent, c Call) (Conversation, error) {
	conv, err := r.numberCallTicket(ctx, c.CallbackID, c)
	if err != nil {
		return Conversation{}, err
	}
	if conv.Status.Active() && conv.Assignee == "" {
		// Dispatch may be routing it at the same moment: the take wins.
		if err := r.assignTo(ctx, a, conv, a.ID, nil); err != nil {
			return Conversation{}, err
		}
		if conv, err = r.load(ctx, conv.ID); err != nil {
			return Conversation{}, err
		}
	}
	r.linkCall(ctx, c, conv, conv.CustomerID, "conversation")
	return conv, nil
}

// AttachCall adds call id to an existing conversation (ticket) as a call
// message; agent a must be allowed to act on both (mayActOnCall,
// mayActOnConversation). Attaching it to the same conversation again
// changes nothing. It records the call on the ticket only: the caller's
// number does not become the conversation's customer's, nor the call
// theirs (an agent links the number to a customer explicitly).
func (r *Router) AttachCall(ctx context.Context, a session.Agent, id, conversationID string) (CallAttachment, error) {
	c, err := r.loadCall(ctx, id)
	if err != nil {
		return CallAttachment{}, err
	}
	if !mayActOnCall(a, c) {
		return CallAttachment{}, fmt.Errorf("%w: the call did not ring for you or your team", ErrForbidden)
	}
	if !threadKeyRe.MatchString(conversationID) {
		return CallAttachment{}, fmt.Errorf("%w: conversation_id is required", ErrInvalid)
	}
	conv, err := r.load(ctx, conversationID)
	if errors.Is(err, ErrNotFound) {
		return CallAttachment{}, fmt.Errorf("%w: there is no conversation %s", ErrInvalid, conversationID)
	}
	if err != nil {
		return CallAttachment{}, err
	}
	if !mayActOnConversation(a, conv) {
		return CallAttachment{}, fmt.Errorf("%w: the conversation is neither yours nor your team's", ErrForbidden)
	}
	if conv.Status == tickets.Closed {
		return CallAttachment{}, fmt.Errorf("%w: the conversation is closed", ErrConflict)
	}
	now, msg := r.now(), newID()
	// Passive: a call attached by an agent neither reopens the ticket nor
	// counts as the customer writing.
	m := &connectors.Message{Channel: conv.Channel, Account: conv.Account, ExternalID: "call:" + c.ID, From: conv.identity,
		Kind: connectors.KindCall, Text: callSummary(c), Fields: callFields(c), Passive: true}
	out, err := r.appendInbound(ctx, m, now, conv.itag, conv.CustomerID, conv.ID, msg, false)
	if err != nil {
		return CallAttachment{}, err
	}
	res := CallAttachment{MessageID: msg}
	switch out.code {
	case -1:
		return CallAttachment{}, fmt.Errorf("%w: the conversation is closed", ErrConflict)
	case 0:
		res.MessageID, res.Duplicate = "", true
	default:
		if err := r.commit.Exec(ctx, r.announceInbound(ctx, m, now, conv.ID, msg, out)); err != nil {
			r.log.Warn("router: announce attached call", "conversation", conv.ID, "err", err)
		}
	}
	if res.Conversation, err = r.load(ctx, conv.ID); err != nil {
		return CallAttachment{}, err
	}
	r.linkCall(ctx, c, res.Conversation, "", "conversation")
	return res, nil
}

// openCallback opens (or adds to) the caller's callback ticket for a
// missed call. It is dispatched like any new conversation; the call's
// team (the called number's) is the message's team hint, which routing
// rules may override. A number that cannot be called back (withheld, not
// valid) opens none.
func (r *Router) openCallback(ctx context.Context, c Call) error {
	if c.FromE164 == "" {
		r.log.Info("router: missed call without a number to call back", "call", c.ID, "source", c.Source)
		return nil
	}
	acc, err := r.Ingest(ctx, &connectors.Message{Channel: connectors.CTI, Account: c.Source, ExternalID: "missed:" + c.ID,
		From: phoneIdentity(c.FromE164), Kind: connectors.KindCall, Text: callSummary(c), Fields: callFields(c),
		Thread: connectors.Thread{Key: callbackThread}})
	if err != nil {
		return err
	}
	conv, err := r.load(ctx, acc.ConversationID)
	if err != nil {
		return err
	}
	r.linkCall(ctx, c, conv, acc.CustomerID, "callback")
	return nil
}

// numberCallTicket gives the conversation of a call its ticket number
// now, so the agent who asked sees it at once, unless dispatch did
// already.
func (r *Router) numberCallTicket(ctx context.Context, convID string, c Call) (Conversation, error) {
	conv, err := r.load(ctx, convID)
	if err != nil || conv.TicketID != "" {
		return conv, err
	}
	cust, err := r.rdb.HMGet(ctx, r.k.customer(conv.CustomerID), "level", "region").Result()
	if err != nil {
		return Conversation{}, fmt.Errorf("router: load customer: %w", err)
	}
	// As dispatch decides it (route), so that whichever numbers it first,
	// the team is the same: the rules, else the call's team.
	tags, err := r.rdb.SMembers(ctx, r.k.customerTags(conv.CustomerID)).Result()
	if err != nil {
		return Conversation{}, fmt.Errorf("router: customer tags: %w", err)
	}
	region := asString(cust[1])
	if region == "" && conv.identity.Type == "phone" {
		region = RegionOfPhone(conv.identity.Value)
	}
	route, matched := r.rules.Route(Facts{Channel: string(connectors.CTI), Account: c.Source, Text: conv.Preview,
		Level: asString(cust[0]), Region: region, Tags: tags, At: r.now()})
	route = r.withTeamHint(route, r.rules.teamRule(matched), c.Team)
	if err := r.ruleActions(ctx, conv, route); err != nil {
		return Conversation{}, err
	}
	if route.Team == "" {
		route.Team = r.rules.def.Team
	}
	if route.Priority == "" {
		route.Priority = tickets.Normal
	}
	if err := r.openTicket(ctx, &conv, route); err != nil {
		return Conversation{}, err
	}
	return r.load(ctx, convID)
}

// linkCall records on the call the ticket it went into (field
// "conversation") or the callback ticket ("callback"), and the customer
// it turned out to be when customer is not empty (the call is filed under
// them), then tells the call's agents. The first ticket
// recorded stays. Failures are logged: the ticket exists either way.
func (r *Router) linkCall(ctx context.Context, c Call, conv Conversation, customer, field string) {
	b := rdb.NewBatch(r.rdb)
	p := b.Pipe()
	p.HSetNX(ctx, r.k.call(c.ID), field, conv.ID)
	if field == "conversation" && conv.TicketID != "" {
		p.HSetNX(ctx, r.k.call(c.ID), "ticket", conv.TicketID)
	}
	if customer != "" {
		p.HSetNX(ctx, r.k.call(c.ID), "customer", customer)
		p.ZAdd(ctx, r.k.customerCalls(customer), callZ(c))
	}
	if err := r.commit.Exec(ctx, b); err != nil {
		r.log.Warn("router: link call and ticket", "call", c.ID, "err", err)
		return
	}
	c, err := r.loadCall(ctx, c.ID)
	if err != nil || len(c.Agents) == 0 {
		return
	}
	b = rdb.NewBatch(r.rdb)
	r.queueCallUpdate(ctx, b, c, c.Agents)
	if err := r.commit.Exec(ctx, b); err != nil {
		r.log.Warn("router: tell agents of a call's ticket", "call", c.ID, "err", err)
	}
}

// callerIdentity is who a ticket from call c is for: the caller's phone
// number (E.164 when valid, else its digits), with the customer's name,
// or name when the number belongs to nobody yet; a caller without a
// number is known by the call.
func (r *Router) callerIdentity(ctx context.Context, c Call, name string) (connectors.Identity, error) {
	var id connectors.Identity
	switch digits := onlyDigits(c.customerNumber()); {
	case strings.HasPrefix(c.Number, "+"):
		id = phoneIdentity(c.Number)
	case len(digits) >= 3:
		id = phoneIdentity(digits)
	default:
		return connectors.Identity{Type: "call", Value: c.ID, Name: name}, nil
	}
	owner, err := r.customerByPhone(ctx, id.Value)
	if err != nil {
		return connectors.Identity{}, err
	}
	if owner == "" {
		id.Name = name
		return id, nil
	}
	// The ticket shows the name the customer is known by.
	known, err := r.rdb.HGet(ctx, r.k.customer(owner), "name").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return connectors.Identity{}, fmt.Errorf("router: caller's name: %w", err)
	}
	id.Name = known
	return id, nil
}

// callerName checks the name an agent gives a new caller.
func callerName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxNameRunes || strings.ContainsFunc(s, unicode.IsControl) {
		return "", fmt.Errorf("%w: name must be at most %d characters without control characters", ErrInvalid, maxNameRunes)
	}
	return s, nil
}

func onlyDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// callSummary is a call message's text, in Chinese and English.
func callSummary(c Call) string {
	var b strings.Builder
	if c.Direction == connectors.CallOutbound {
		fmt.Fprintf(&b, "去电 Outbound call %s → %s", orDash(c.From), orDash(c.Number))
	} else {
		fmt.Fprintf(&b, "来电 Inbound call %s → %s", orDash(c.Number), orDash(c.To))
	}
	switch {
	case c.State == CallMissed:
		b.WriteString(" · 未接 missed")
	case c.TalkUnknown && c.EndedAt != nil:
		b.WriteString(" · 已接听 answered")
	case c.Answered() && c.EndedAt != nil:
		fmt.Fprintf(&b, " · 通话 talk %d:%02d", c.Duration/60, c.Duration%60)
	case c.State == CallAnswered:
		b.WriteString(" · 通话中 in progress")
	case c.State == CallRinging:
		b.WriteString(" · 振铃 ringing")
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// callFields are the facts of a call message.
func callFields(c Call) map[string]string {
	f := map[string]string{"call": c.ID, "call_id": c.CallID, "source": c.Source, "from": c.From, "to": c.To,
		"direction": c.Direction, "duration": strconv.Itoa(c.Duration), "state": c.State}
	if c.AnsweredAgent != "" {
		f["answered_by"] = c.AnsweredAgent
	} else if c.AnsweredBy != "" {
		f["answered_by"] = c.AnsweredBy
	}
	if c.Cause != "" {
		f["cause"] = c.Cause
	}
	if c.Team != "" {
		f["team"] = c.Team // dispatch's team hint
	}
	return f
}
