package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/blob"
	"switchboard/kb"
	"switchboard/kpi"
	"switchboard/router"
	"switchboard/session"
)

// Options configures the server.
type Options struct {
	Listen    string
	PublicURL string
	// BodyLimit caps request bodies and socket frames, in bytes (default
	// 1 MiB). Agents' uploads may be larger (up to
	// min(Deps.Blobs.MaxBlob(), MaxDocumentBytes)), and so may connector
	// endpoints that ask for more (connectors.LargeBodies).
	BodyLimit int
	// MaxLargeBodies is how many requests to connector endpoints may
	// carry a body above BodyLimit at once (default
	// DefaultMaxLargeBodies); beyond them, such requests keep BodyLimit.
	MaxLargeBodies int
	// HandlerTimeout bounds one request's work (WeChat gives up at 5 s).
	HandlerTimeout time.Duration
	// ShutdownTimeout bounds the wait for requests in flight at shutdown.
	ShutdownTimeout time.Duration
	// ProxyHeader carries the client's address when the peer is one of
	// TrustedProxies (addresses or CIDR ranges); otherwise, and when
	// either is empty, the peer's own address is the client's.
	ProxyHeader    string
	TrustedProxies []string
	// Location is the configured time zone (`timezone`): dates in KPI
	// queries and the KPIs' hours are read there; UTC when nil.
	Location *time.Location
}

// Deps are what the handlers use.
type Deps struct {
	Router    *router.Router
	Auth      *session.Auth
	Directory *session.Directory
	Presences *session.Presences
	Sockets   *session.Sockets
	Registry  *connectors.Registry
	Redis     redis.UniversalClient
	Metrics   *prometheus.Registry
	Log       *slog.Logger
	// Blobs are the files that came with messages; nil serves none.
	Blobs *blob.Store
	// KB is the knowledge base (articles, canned replies); nil answers
	// 404 at /api/v1/kb.
	KB *kb.Store
	// KPIs is the ticket event log the KPI report is computed from; nil
	// answers 503 at /api/v1/kpis.
	KPIs kpi.Source
}

// Server is the HTTP server.
type Server struct {
	app  *fiber.App
	opts Options
	Deps
	log  *slog.Logger
	base context.Context // cancelled at shutdown: ends sockets
	stop context.CancelFunc
	// maxUpload is the largest image an agent may upload, 0 without a
	// blob store.
	maxUpload int
	// large counts the requests reading a connector's larger body.
	large *largeBodies
}

// New builds the server and its routes.
func New(opts Options, d Deps) *Server {
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = 1 << 20
	}
	if opts.HandlerTimeout <= 0 {
		opts.HandlerTimeout = 4 * time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 20 * time.Second
	}
	if opts.MaxLargeBodies <= 0 {
		opts.MaxLargeBodies = DefaultMaxLargeBodies
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	base, stop := context.WithCancel(context.Background())
	s := &Server{opts: opts, Deps: d, log: d.Log, base: base, stop: stop, large: newLargeBodies(opts.MaxLargeBodies)}
	if d.Blobs != nil {
		s.maxUpload = int(min(d.Blobs.MaxBlob(), MaxUploadBytes))
	}
	s.app = fiber.New(fiber.Config{
		BodyLimit:             opts.BodyLimit,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		DisableStartupMessage: true,
		ErrorHandler:          errorHandler(d.Log),
		AppName:               "switchboard",
		// A multipart body is read as it is sent and parsed by whoever
		// takes it, not parsed again on arrival into another copy.
		DisablePreParseMultipartForm: true,
		// Behind a proxy, the client's address is what the proxy says, and
		// only the listed proxies are asked (else a client could name any
		// address it likes to dodge a rate limit); it must be an address.
		ProxyHeader:             proxyHeader(opts),
		EnableTrustedProxyCheck: true,
		TrustedProxies:          opts.TrustedProxies,
		EnableIPValidation:      true,
	})
	// The body limit holds for every request but uploads, which may
	// carry an image (requestConfig), and connector endpoints that ask
	// for more, a few at a time, with a longer read timeout
	// (headerReceived).
	s.limitBodies()
	s.routes()
	return s
}

// proxyHeader is the header to believe, "" unless proxies are listed too.
func proxyHeader(o Options) string {
	if len(o.TrustedProxies) == 0 {
		return ""
	}
	return o.ProxyHeader
}

// App exposes the Fiber app, for tests.
func (s *Server) App() *fiber.App { return s.app }

// Run serves on the configured address until ctx ends, then stops
// accepting, lets requests in flight finish, and closes sockets.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("server: listen %s: %w", s.opts.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener of the caller's.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		s.stop()
		return err
	case <-ctx.Done():
	}
	s.stop() // sockets end; their clients resume on another replica
	if err := s.app.ShutdownWithTimeout(s.opts.ShutdownTimeout); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}
