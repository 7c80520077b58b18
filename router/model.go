package router

import (
	"encoding/json"
	"strconv"
	"time"

	"switchboard/connectors"
	"switchboard/tickets"
)

// Direction says who a transcript entry is from.
type Direction string

// Transcript directions.
const (
	In     Direction = "in"     // from the customer
	Out    Direction = "out"    // an agent's reply, sent through the channel
	Note   Direction = "note"   // an internal note, never sent
	System Direction = "system" // assignment and other events
)

// Conversation is one episode with a customer on one channel: also its
// ticket.
type Conversation struct {
	ID            string             `json:"id"`
	Channel       connectors.Channel `json:"channel"`
	Account       string             `json:"account"`
	Status        tickets.Status     `json:"status"`
	Assignee      string             `json:"assignee"`
	Team          string             `json:"team"`
	Priority      tickets.Priority   `json:"priority"`
	CustomerID    string             `json:"customer_id"`
	CustomerName  string             `json:"customer_name"`
	TicketID      string             `json:"ticket_id"`
	Preview       string             `json:"preview"`
	MessageCount  int                `json:"message_count"`
	LastMessageAt time.Time          `json:"last_message_at"`
	CreatedAt     time.Time          `json:"created_at"`
	// ReplyUntil is when the channel stops accepting replies: the
	// customer's last message plus the channel's reply window (see
	// connectors.Windowed). Nil when the channel has no window.
	ReplyUntil *time.Time `json:"reply_until,omitempty"`
	// CanAttach says that replies may carry images: the channel's
	// connector implements connectors.Attacher for the account.
	CanAttach bool `json:"can_attach,omitempty"`
	// CanAttachFiles says that replies may carry other files as well
	// (connectors.DocumentAttacher: e-mail).
	CanAttachFiles bool `json:"can_attach_files,omitempty"`
	// SLADue is the earliest due time of the ticket's running SLA clocks;
	// SLAFlag is "warning", "breached" or "" (tickets.SLAStatus.Flag).
	SLADue  *time.Time `json:"sla_due,omitempty"`
	SLAFlag string     `json:"sla_flag,omitempty"`
	// identity is how the conversation reaches the customer.
	identity connectors.Identity
	itag     string
	thread   string // the thread key the conversation was opened under
	fields   map[string]string
}

// Delivery is the state of an outbound message.
type Delivery struct {
	Status     string    `json:"status"` // queued, sending, sent, failed
	Error      string    `json:"error,omitempty"`
	Code       string    `json:"code,omitempty"`
	Attempts   int       `json:"attempts,omitempty"`
	ExternalID string    `json:"external_id,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Message is one transcript entry.
type Message struct {
	ID             string                  `json:"id"`
	Cursor         string                  `json:"cursor,omitempty"`
	ConversationID string                  `json:"conversation_id"`
	Direction      Direction               `json:"direction"`
	Kind           connectors.Kind         `json:"kind"`
	Text           string                  `json:"text"`
	Author         string                  `json:"author,omitempty"`
	AuthorName     string                  `json:"author_name,omitempty"`
	CreatedAt      time.Time               `json:"created_at"`
	ExternalID     string                  `json:"external_id,omitempty"`
	Attachments    []connectors.Attachment `json:"attachments,omitempty"`
	Fields         map[string]string       `json:"fields,omitempty"`
	Delivery       *Delivery               `json:"delivery,omitempty"`
}

// Customer is a person, with every identity they used.
type Customer struct {
	ID            string           `json:"id"`
	Name          string           `json:"name"`
	Avatar        string           `json:"avatar,omitempty"` // an image URL from the channel's profile
	Level         string           `json:"level"`
	Region        string           `json:"region"`
	Tags          []string         `json:"tags"`
	CreatedAt     time.Time        `json:"created_at"`
	Identities    []Identity       `json:"identities"`
	Tickets       []tickets.Ticket `json:"tickets"`
	Conversations []Conversation   `json:"conversations"`
}

// Identity is one of a customer's handles, with where it was seen.
type Identity struct {
	Type    string             `json:"type"`
	Value   string             `json:"value"`
	Channel connectors.Channel `json:"channel"`
	Account string             `json:"account"`
}

func msTime(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func conversationFrom(h map[string]string) Conversation {
	c := Conversation{
		ID:            h["id"],
		Channel:       connectors.Channel(h["channel"]),
		Account:       h["account"],
		Status:        tickets.Status(h["status"]),
		Assignee:      h["assignee"],
		Team:          h["team"],
		Priority:      tickets.Priority(h["priority"]),
		CustomerID:    h["customer_id"],
		CustomerName:  h["name"],
		TicketID:      h["number"],
		Preview:       h["preview"],
		LastMessageAt: msTime(h["last_message_at"]),
		CreatedAt:     msTime(h["created_at"]),
		SLAFlag:       h["sla_flag"],
		itag:          h["itag"],
		thread:        h["thread"],
		fields:        h,
	}
	c.MessageCount, _ = strconv.Atoi(h["msg_count"])
	if t := msTime(h["sla_due"]); !t.IsZero() {
		c.SLADue = &t
	}
	if c.LastMessageAt.IsZero() {
		c.LastMessageAt = c.CreatedAt
	}
	if t, v, ok := cutIdentity(h["identity"]); ok {
		c.identity = connectors.Identity{Type: t, Value: v, Name: h["name"]}
	}
	return c
}

func cutIdentity(s string) (typ, value string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], i > 0 && i < len(s)-1
		}
	}
	return "", "", false
}

func messageFrom(convID, cursor string, v map[string]any) Message {
	str := func(k string) string { s, _ := v[k].(string); return s }
	m := Message{
		ID:             str("id"),
		Cursor:         cursor,
		ConversationID: convID,
		Direction:      Direction(str("dir")),
		Kind:           connectors.Kind(str("kind")),
		Text:           str("text"),
		Author:         str("author"),
		AuthorName:     str("aname"),
		CreatedAt:      msTime(str("at")),
		ExternalID:     str("ext"),
	}
	if a := str("att"); a != "" {
		_ = json.Unmarshal([]byte(a), &m.Attachments)
	}
	if f := str("f"); f != "" {
		_ = json.Unmarshal([]byte(f), &m.Fields)
	}
	if sv := str("sv"); sv != "" { // the customer answered a survey (append_inbound.lua)
		if m.Fields == nil {
			m.Fields = map[string]string{}
		}
		m.Fields["survey_answer"] = map[string]string{"1": "score", "2": "comment"}[sv]
	}
	return m
}

// preview shortens text for conversation lists.
func preview(text string) string {
	const max = 140
	r := []rune(text)
	if len(r) <= max {
		return text
	}
	return string(r[:max-1]) + "…"
}

// messageEvent is the payload of message.new: the message, and for list
// views a summary of its conversation.
type messageEvent struct {
	ConversationID string           `json:"conversation_id"`
	Message        Message          `json:"message"`
	Conversation   *summaryOfChange `json:"conversation,omitempty"`
	// ReplyUntil is the reply window's new end after an inbound message
	// on a windowed channel, also on the live channel, which carries no
	// summary.
	ReplyUntil *time.Time `json:"reply_until,omitempty"`
}

// summaryOfChange is what a list row needs to move on a new message.
type summaryOfChange struct {
	ID            string             `json:"id"`
	Status        string             `json:"status"`
	Assignee      string             `json:"assignee"`
	Preview       string             `json:"preview"`
	LastMessageAt time.Time          `json:"last_message_at"`
	Channel       connectors.Channel `json:"channel,omitempty"`
	ReplyUntil    *time.Time         `json:"reply_until,omitempty"`
}
