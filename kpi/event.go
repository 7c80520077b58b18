package kpi

import (
	"context"
	"time"
)

// Event is one entry of the ticket event log. The router replays each
// ticket's history in order and emits events with Channel, Team and Agent
// as they were at that moment (Agent is the assignee at the time, or the
// acting agent for replies).
type Event struct {
	At     time.Time
	Ticket string // ticket number, e.g. "#10042"
	Conv   string // conversation id
	Kind   Kind
	// Channel is webchat, wechat_oa, wechat_mp, email, qr or cti (the
	// phone).
	Channel string
	Team    string
	Agent   string  // agent id or ""
	Value   float64 // see the kinds
	// Target is the SLA target of the sla_* kinds: first_response,
	// next_response or resolution.
	Target string
}

// Kind is what an Event records.
type Kind string

// The kinds of events.
const (
	Opened        Kind = "opened"         // ticket created
	CustomerMsg   Kind = "customer_msg"   // an inbound customer message
	AgentReply    Kind = "agent_reply"    // an outbound message by an agent (not bot, not system, not note)
	FirstResponse Kind = "first_response" // the first agent reply of the episode; Value = seconds since opened (wall clock)
	Assigned      Kind = "assigned"       // Agent = new assignee
	Transferred   Kind = "transferred"    // assignee changed from one agent to another agent/team
	Resolved      Kind = "resolved"
	Reopened      Kind = "reopened"
	Closed        Kind = "closed"
	CSAT          Kind = "csat"          // Value 1–5
	NPS           Kind = "nps"           // Value 0–10
	SLAMet        Kind = "sla_met"       // Target set
	SLABreached   Kind = "sla_breached"  // Target set
	BotEngaged    Kind = "bot_engaged"   // the FAQ bot took the conversation's first message
	BotAnswered   Kind = "bot_answered"  // the bot answered a question confidently
	BotHandoff    Kind = "bot_handoff"   // the bot handed the conversation to people
	CallAnswered  Kind = "call_answered" // Value = talk seconds (Agent = answering agent)
	CallMissed    Kind = "call_missed"
)

// The SLA targets of SLAMet and SLABreached events.
const (
	TargetFirstResponse = "first_response"
	TargetNextResponse  = "next_response"
	TargetResolution    = "resolution"
)

// Filter selects what a Report covers.
type Filter struct {
	// From and To bound the period: an event counts when From <= At < To.
	// A zero From or To leaves that side open.
	From, To time.Time
	// Channel keeps the tickets of one channel (the ticket's channel);
	// Team and Agent keep the events whose Team or Agent, as they were at
	// the event, match. Empty means any.
	Channel, Team, Agent string
	// Location is the zone of the by-hour buckets; UTC when nil.
	Location *time.Location
}

// Source yields the events of tickets with any activity in [from, to),
// each ticket's events complete and in time order (events before from are
// included when the ticket had activity in range, so durations can be
// computed).
type Source interface {
	Events(ctx context.Context, from, to time.Time) ([]Event, error)
}
