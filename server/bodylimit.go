package server

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"switchboard/connectors"
)

// largeBodyCheck bounds a connector's check of a request that asks for a
// larger body (connectors.LargeBodies: one Redis read).
const largeBodyCheck = time.Second

// DefaultMaxLargeBodies is Options.MaxLargeBodies when it is not set.
const DefaultMaxLargeBodies = 8

// headerReceived runs when a request's header has arrived, before its
// body is read: a connector's endpoint that takes larger bodies (the QR
// form with its photos, connectors.LargeBodies) gets its own limit and
// read timeout, if the server is not already reading MaxLargeBodies such
// bodies; everything else goes on to requestConfig (agents' uploads, and
// the server's body limit).
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	// A header read on this request's context means the connection's
	// previous request is over, whatever became of it.
	s.large.release(h)
	// A body that fits anyway needs no asking; nor does none at all (-2:
	// neither Content-Length nor chunked, which fasthttp reads as empty).
	cl := h.ContentLength()
	if cl == -2 || cl >= 0 && cl <= s.opts.BodyLimit {
		return s.requestConfig(h)
	}
	p := h.RequestURI()
	if i := bytes.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	r := connectors.BodyRequest{Method: string(h.Method()), Path: string(p), ContentType: string(h.ContentType()), ContentLength: cl}
	for _, c := range s.Registry.All() {
		lb, ok := c.(connectors.LargeBodies)
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(s.base, largeBodyCheck)
		lim := lb.MaxBody(ctx, r)
		cancel()
		if lim.Max <= int64(s.opts.BodyLimit) {
			continue
		}
		if int64(cl) > lim.Max {
			break // refused with 413 before the body is read, either way
		}
		readTimeout := max(lim.ReadTimeout, s.app.Server().ReadTimeout)
		// The lease ends when the request does (limitBodies); at the
		// latest when its read must have ended and its handler with it.
		ok, first := s.large.acquire(h, s.large.now().Add(readTimeout+s.opts.HandlerTimeout+time.Minute))
		if !ok {
			if first {
				s.log.Warn("large request bodies: the server is reading as many as it may at once; until one ends, "+
					"requests keep the body limit", "max", s.large.max, "path", logPath(r.Path))
			}
			break
		}
		return fasthttp.RequestConfig{MaxRequestBodySize: int(lim.Max), ReadTimeout: lim.ReadTimeout}
	}
	return s.requestConfig(h)
}

// limitBodies installs the header hook, and ends a large body's lease
// when its request ends: after the handler, or when reading the request
// failed (too large, too slow, the client gone), which fasthttp reports
// through its error handler instead of calling the handler.
func (s *Server) limitBodies() {
	srv := s.app.Server()
	srv.HeaderReceived = s.headerReceived
	next, onError := srv.Handler, srv.ErrorHandler
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		defer s.large.release(&ctx.Request.Header)
		next(ctx)
	}
	srv.ErrorHandler = func(ctx *fasthttp.RequestCtx, err error) {
		s.large.release(&ctx.Request.Header)
		onError(ctx, err)
	}
}

// largeBodies counts the requests allowed a body larger than the body
// limit whose body is being read or handled, so that at most max of them
// (each up to its connector's limit) are held in memory at once. A lease
// is keyed by the request's header, which fasthttp keeps for the
// connection's requests one after another: it ends when the handler
// returns, when reading fails, when the connection's next header
// arrives, or at its deadline, whichever comes first.
type largeBodies struct {
	max int
	now func() time.Time
	n   atomic.Int32 // len(held), read without the lock

	mu   sync.Mutex
	held map[*fasthttp.RequestHeader]time.Time // lease → deadline
	full bool                                  // the last acquire failed
}

func newLargeBodies(max int) *largeBodies {
	return &largeBodies{max: max, now: time.Now, held: map[*fasthttp.RequestHeader]time.Time{}}
}

// acquire takes a lease for h until the deadline, unless max are held.
// When it cannot, first tells whether the previous acquire succeeded (so
// the caller logs once, not for every request while all are taken).
func (l *largeBodies) acquire(h *fasthttp.RequestHeader, until time.Time) (ok, first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for k, d := range l.held {
		if !now.Before(d) {
			delete(l.held, k)
		}
	}
	ok = len(l.held) < l.max
	if ok {
		l.held[h] = until
	}
	first = !ok && !l.full
	l.full = !ok
	l.n.Store(int32(len(l.held)))
	return ok, first
}

// release ends h's lease, if it has one.
func (l *largeBodies) release(h *fasthttp.RequestHeader) {
	if l.n.Load() == 0 {
		return
	}
	l.mu.Lock()
	delete(l.held, h)
	l.n.Store(int32(len(l.held)))
	l.mu.Unlock()
}

// count is how many leases are held, expired ones included.
func (l *largeBodies) count() int { return int(l.n.Load()) }
