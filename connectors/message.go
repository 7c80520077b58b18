package connectors

import "time"

// Channel names a kind of channel. It is also the key under `channels:` in
// the configuration.
type Channel string

// The channels Switchboard knows.
const (
	WebChat  Channel = "webchat"
	WeChatOA Channel = "wechat_oa"
	WeChatMP Channel = "wechat_mp"
	Email    Channel = "email"
	CTI      Channel = "cti"
	QR       Channel = "qr"
)

// Kind says what a message carries.
type Kind string

// Message kinds shared by all channels.
const (
	KindText     Kind = "text"
	KindImage    Kind = "image"
	KindVoice    Kind = "voice"
	KindVideo    Kind = "video"
	KindFile     Kind = "file"
	KindLocation Kind = "location"
	KindLink     Kind = "link"
	KindEvent    Kind = "event"
	KindCall     Kind = "call"
	KindForm     Kind = "form"
)

// Message is one inbound item from a customer, normalized. Connectors fill
// it in; the router stores it.
type Message struct {
	Channel Channel
	// Account is the config id of the account, mailbox, site or CTI source.
	Account string
	// ExternalID is the channel's own id for the message. Together with
	// Channel, Account and From it is the deduplication key; an empty
	// ExternalID disables deduplication for this message.
	ExternalID string
	// From is the customer as this channel knows them.
	From Identity
	Kind Kind
	Text string
	// Attachments lists files that came with the message.
	Attachments []Attachment
	// Thread carries threading hints (e-mail headers, ticket token).
	Thread Thread
	// Fields holds kind-specific extras such as a QR asset or an event key.
	Fields map[string]string
	// Time is the channel's timestamp; zero means "when it arrived".
	Time time.Time
	// Raw is the payload as received (after decryption), kept for audit.
	Raw []byte
	// Passive marks an event that is recorded but does not act as the
	// customer writing: it neither reopens the channel's reply window
	// (WeChat counts only messages: an unfollow or a menu link does not let
	// agents write for another 48 hours) nor a resolved or pending ticket.
	Passive bool
}

// Identity is a customer handle on one channel.
type Identity struct {
	// Type is one of "visitor", "openid", "unionid", "email", "phone", or
	// "call" (a telephone caller without a number: the call's record id).
	Type string
	// Value is normalized: a lower-cased e-mail address, an E.164 number.
	Value string
	// Name is a display name when the channel provides one.
	Name string
}

// Valid reports whether the identity can key a customer.
func (i Identity) Valid() bool { return i.Type != "" && i.Value != "" }

// String renders the identity as "type:value", the form used in storage.
func (i Identity) String() string { return i.Type + ":" + i.Value }

// Attachment is a file that came with or goes out with a message.
type Attachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	// Ref says where the bytes are: a stored blob id or the channel's media id.
	Ref string `json:"ref"`
}

// Thread carries the hints a channel gives for threading a message into an
// existing conversation.
type Thread struct {
	MessageID  string
	InReplyTo  string
	References []string
	// Token is a ticket number found in a subject or address, e.g. "10042".
	Token string
	// Key keeps apart the conversations one customer has on one account at
	// the same time: each e-mail thread is its own conversation. Empty for
	// chat channels, where a customer has one conversation per account.
	// At most 64 characters of [A-Za-z0-9_-] (a hash of a thread's root
	// Message-ID, say).
	Key string
	// Conversation, when the channel matched the message to a thread it
	// knows (an e-mail reply's In-Reply-To), is that thread's conversation:
	// the message joins it, whoever of its participants sent it. If it is
	// closed, the message opens a new conversation under Key.
	Conversation string
}

// Outbound is a message leaving Switchboard through a channel: an agent's
// reply, a survey, an automatic answer.
type Outbound struct {
	// ID is the outbox id of the message; connectors use it as their
	// idempotency key when the outbox retries a send.
	ID             string
	ConversationID string
	Channel        Channel
	Account        string
	To             Identity
	Kind           Kind
	Text           string
	Attachments    []Attachment
	Thread         Thread
	// Author is the display name of the agent who wrote it, if any.
	Author string
	Time   time.Time
	// Automatic marks a message no person wrote: a survey, an
	// acknowledgement, an automatic answer. Channels that can say so tell
	// the customer's side (e-mail: Auto-Submitted: auto-replied), so that
	// auto-responders do not answer it and start a loop. An agent's reply
	// is never automatic.
	Automatic bool
	// Survey is set on a satisfaction survey (Kind KindSurvey).
	Survey *Survey
}

// Receipt is a channel's acknowledgement of an Outbound.
type Receipt struct {
	// ExternalID is the channel's own id for the sent message, if it has one.
	ExternalID string
}
