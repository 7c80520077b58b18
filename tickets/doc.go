// Package tickets defines the ticket lifecycle: statuses and the moves
// allowed between them, priorities, readable numbers, the history entry
// format, SLA policies (MatchSLA) and the business-hours calendars their
// targets count in (Calendar).
//
// In Switchboard a ticket is one conversation episode: the ticket's fields
// live in the conversation's hash, so one Lua script changes both at once
// on one Redis Cluster slot. The router stores them; this package says
// what is allowed and what it means.
//
// Episodes: a customer message to a resolved ticket reopens it (same
// number, same conversation, back to its last agent when online); once a
// ticket is closed, the next message starts a new conversation and ticket.
package tickets
