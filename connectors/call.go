package connectors

import (
	"context"
	"time"
)

// CallEventType is what happened to a telephone call, in the vocabulary
// of Zammad's generic CTI API, which PBX scripts already speak.
type CallEventType string

// Call events. A call rings (newCall), may be answered, and hangs up; a
// PBX may also report ringing agents after the call began (ring).
const (
	CallNew    CallEventType = "newCall"
	CallRing   CallEventType = "ring"
	CallAnswer CallEventType = "answer"
	CallHangup CallEventType = "hangup"
)

// Directions of a call, from the company's side.
const (
	CallInbound  = "in"
	CallOutbound = "out"
)

// Hangup causes, as Zammad's CTI API names them. A PBX may send others;
// they are kept as they came.
const (
	CauseNormalClearing = "normalClearing"
	CauseBusy           = "busy"
	CauseCancel         = "cancel" // the caller hung up before anyone answered
	CauseNoAnswer       = "noAnswer"
	CauseCongestion     = "congestion"
	CauseNotFound       = "notFound"
	CauseForwarded      = "forwarded"
)

// CallEvent is one event of a telephone call, normalized from a CTI
// webhook or an Asterisk AMI stream. A call has no text: the router keeps
// a record of it, pops the caller's record up on the ringing agents'
// screens, and turns it into a ticket when an agent asks.
type CallEvent struct {
	// Source is the config id of the CTI source (channels.cti[].id).
	Source string
	Type   CallEventType
	// CallID is the PBX's id of the call (Asterisk's Linkedid); with
	// Source and Type it makes an event idempotent.
	CallID string
	// Direction is CallInbound or CallOutbound.
	Direction string
	// From and To are the numbers as the PBX sent them; FromE164 and ToE164
	// are their E.164 forms, empty when a number is not a valid one
	// (withheld, an internal extension).
	From, To         string
	FromE164, ToE164 string
	// Users are the agents the event concerns, as the PBX names them: the
	// extensions that ring, or agent ids, e-mails or names.
	Users []string
	// AnsweredBy is the extension or agent that answered (answer, hangup).
	AnsweredBy string
	// Queue is the PBX's queue name, if any.
	Queue string
	// Cause is the hangup cause.
	Cause string
	// Team is the team the called number belongs to in the source's
	// config, for a pop when no extension is known.
	Team string
	// At is when the PBX saw the event; zero means when it arrived.
	At time.Time
}

// Calls is implemented by the Ingester when it keeps call records: the
// telephony connector hands it every call event.
type Calls interface {
	// CallEvent records ev and tells the agents concerned. It returns once
	// Redis holds the event; a repeat of an event already recorded
	// (same Source, CallID and Type) changes nothing and is no error.
	CallEvent(ctx context.Context, ev CallEvent) error
}
