package connectors

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"switchboard/internal/blob"
)

// Connector is one channel kind with all of its configured accounts.
type Connector interface {
	// Channel names the channel this connector serves.
	Channel() Channel
	// Send delivers m. An *Error with Temporary set is retried by the
	// outbox; ErrUnsupported means the channel cannot carry m at all.
	Send(ctx context.Context, m *Outbound) (Receipt, error)
}

// HTTP is implemented by connectors that receive over HTTP or WebSocket.
type HTTP interface {
	Endpoints() []Endpoint
}

// Runner is implemented by connectors with loops of their own (IMAP IDLE,
// an SMTP listener, an AMI client, a fan-out subscriber). Run blocks until
// ctx is cancelled or the loop fails.
type Runner interface {
	Run(ctx context.Context) error
}

// Endpoint is one route a connector serves; package server mounts it.
type Endpoint struct {
	// Method is an HTTP method: "GET", "POST", "OPTIONS".
	Method string
	// Path uses the server's route syntax, e.g. "/channels/webchat/:site/ws".
	Path string
	// Handle serves plain requests. Exactly one of Handle and Socket is set.
	Handle HandlerFunc
	// Socket serves WebSocket connections. Accept, when set, runs before the
	// upgrade and may refuse it with an error (an *Error carries the status).
	Socket SocketFunc
	Accept HandlerFunc
}

// HandlerFunc answers one HTTP request.
type HandlerFunc func(ctx context.Context, r *Request) (*Response, error)

// SocketFunc serves one WebSocket connection until it ends.
type SocketFunc func(ctx context.Context, r *Request, c Conn) error

// Request is an HTTP request copied out of the server: safe to keep after
// the handler returns.
type Request struct {
	Method string
	Path   string
	// Params holds the path parameters by name.
	Params map[string]string
	Query  url.Values
	Header http.Header
	Body   []byte
	Remote netip.Addr
}

// Response is what a HandlerFunc answers.
type Response struct {
	Status      int
	ContentType string
	Header      http.Header
	Body        []byte
}

// WebSocket message types, as in RFC 6455.
const (
	TextMessage   = 1
	BinaryMessage = 2
)

// Conn is the part of a WebSocket connection a connector uses. At most one
// goroutine may write at a time.
type Conn interface {
	ReadMessage() (messageType int, p []byte, err error)
	WriteMessage(messageType int, data []byte) error
	SetReadDeadline(t time.Time) error
	Close() error
}

// Ingester takes normalized messages. Ingest returns only once Redis holds
// m; a connector acknowledges its channel only after that.
type Ingester interface {
	Ingest(ctx context.Context, m *Message) (Accepted, error)
}

// Profiler is implemented by the Ingester when it keeps customer
// profiles: a connector that learns more about a customer after the fact
// (a WeChat nickname, a unionid shared by several apps) reports it.
type Profiler interface {
	UpdateProfile(ctx context.Context, customerID string, p Profile) error
}

// Profile is what a channel knows about a customer beyond one message.
type Profile struct {
	// Name and Avatar (a URL) are shown to agents; empty leaves them as
	// they are.
	Name, Avatar string
	// Also lists identities that belong to the same person (a WeChat
	// unionid): the customer becomes the one customer of each of them.
	Also []Identity
}

// TicketLookup is implemented by the Ingester: a channel that finds a
// ticket number in a message (an e-mail subject's [#10042]) asks which
// conversation it is.
type TicketLookup interface {
	// ConversationByTicket returns the conversation of ticket number, or
	// "" when there is none.
	ConversationByTicket(ctx context.Context, number string) (string, error)
}

// DeliveryReporter is implemented by the Ingester: a channel that learns
// after the fact that a sent message did not arrive (an e-mail bounce)
// reports it, and the inbox shows the message failed.
type DeliveryReporter interface {
	// ReportFailure marks message messageID of conversationID failed with
	// the channel's code and a reason safe to show to agents. A message
	// that was never sent, or is unknown, is left alone.
	ReportFailure(ctx context.Context, conversationID, messageID, code, reason string) error
}

// Accepted tells a connector what became of an ingested message.
type Accepted struct {
	MessageID      string
	ConversationID string
	CustomerID     string
	// Duplicate is true when the message was seen before: acknowledge
	// again, nothing changed.
	Duplicate bool
	// NewConversation is true when the message opened a conversation.
	NewConversation bool
}

// Availability is implemented by the Ingester when it knows the agents: a
// channel may tell a customer who opens a conversation that they are
// queued when no agent is free.
type Availability interface {
	// AgentFree reports whether some agent is online with room for one
	// more conversation.
	AgentFree(ctx context.Context) (bool, error)
}

// Env is what a connector may use. The composition root fills it in.
type Env struct {
	In Ingester
	// Redis is for keys the connector owns, always under Prefix.
	Redis  redis.UniversalClient
	Prefix string
	// HTTP makes outbound API calls.
	HTTP *http.Client
	Log  *slog.Logger
	// PublicURL is the gateway's external base URL, without a trailing slash.
	PublicURL string
	// Region is the ISO country code (the top-level default_region) for
	// phone numbers written without a country code.
	Region string
	Now    func() time.Time
	// Blobs keeps files that come with messages; nil when none is set up.
	Blobs *blob.Store
	// Metrics registers the connector's Prometheus series; nil in tests
	// that do not look at them.
	Metrics prometheus.Registerer
}

// Windowed is implemented by channels that carry an agent's reply only
// for a while after the customer's last message (WeChat's customer-service
// window is 48 hours). The router refuses a reply outside the window with a
// clear reason instead of letting it fail later, and shows agents the time
// left.
type Windowed interface {
	// ReplyWindow is how long after the customer's last message account
	// accepts replies; zero means no limit.
	ReplyWindow(account string) time.Duration
}

// Attacher is implemented by channels that can carry image attachments
// with an agent's reply (WeChat uploads them as temporary media). The
// router refuses a reply with attachments on any other channel, or on an
// account for which CanAttach answers false, before anything is stored.
type Attacher interface {
	// CanAttach reports whether account can carry images with a reply.
	CanAttach(account string) bool
}

// DocumentAttacher is implemented by channels whose replies carry files
// of any kind the upload route accepts (e-mail: PDFs, Office documents,
// archives), not only images. A reply with a document is refused on every
// other channel, before anything is stored.
type DocumentAttacher interface {
	// CanAttachDocuments reports whether account can carry documents with
	// a reply.
	CanAttachDocuments(account string) bool
}

// Factory builds a connector from its `channels.<kind>` config section.
// decode fills a typed config value and reports unknown keys and bad values
// with their full path.
type Factory func(env Env, decode func(v any) error) (Connector, error)
