package connectors

import (
	"context"
	"time"
)

// BodyRequest is what is known of a request when its header has arrived
// and its body has not.
type BodyRequest struct {
	Method string
	// Path is the request's path as sent, without the query.
	Path        string
	ContentType string
	// ContentLength is the declared length, or -1 for a chunked body.
	ContentLength int
}

// BodyLimit is what one request may carry and how long it may take to
// arrive.
type BodyLimit struct {
	// Max is how many bytes the body may have; 0 keeps the server's limit.
	Max int64
	// ReadTimeout bounds reading the whole request (a slow upload); 0
	// keeps the server's.
	ReadTimeout time.Duration
}

// LargeBodies is implemented by HTTP connectors with an endpoint whose
// requests may be larger than the server's body limit (the QR form, which
// carries photos). The server asks before it reads a request's body and
// raises the limit for that request alone, as long as it is not already
// reading too many large bodies at once (then the request keeps the
// server's limit, and a larger body is refused with 413 at once).
type LargeBodies interface {
	// MaxBody returns what the request may carry, or the zero BodyLimit
	// for the server's own limits. It runs for every request whose body
	// may exceed the server's limit, before routing and before the body
	// is read, so anything it grants is granted to whoever sends the
	// header: it must refuse at once (without I/O) what its endpoint does
	// not take, may then check what it must in Redis within ctx (the
	// server bounds it to about a second), and answers the zero BodyLimit
	// when in doubt.
	MaxBody(ctx context.Context, r BodyRequest) BodyLimit
}
