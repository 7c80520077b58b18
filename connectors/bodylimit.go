package connectors

// LargeBodies is implemented by HTTP connectors with an endpoint whose
// requests may be larger than the server's body limit (the QR form, which
// carries photos). The server asks before it reads a request's body and
// raises the limit for that request alone.
type LargeBodies interface {
	// MaxBody returns how many bytes a request for method and path may
	// carry, or 0 for the server's own limit. path is the request's path
	// as sent, without the query. It runs for every request, before
	// routing: it must be cheap and must not block.
	MaxBody(method, path string) int64
}
