package server

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"switchboard/connectors"
)

// headerReceived runs when a request's header has arrived, before its
// body is read: a connector's endpoint that takes larger bodies (the QR
// form with its photos, connectors.LargeBodies) gets its own limit;
// everything else goes on to requestConfig (agents' uploads, and the
// server's body limit).
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	p := h.RequestURI()
	if i := bytes.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	method, path := string(h.Method()), string(p)
	for _, c := range s.Registry.All() {
		if lb, ok := c.(connectors.LargeBodies); ok {
			if n := lb.MaxBody(method, path); n > int64(s.opts.BodyLimit) {
				return fasthttp.RequestConfig{MaxRequestBodySize: int(n)}
			}
		}
	}
	return s.requestConfig(h)
}
