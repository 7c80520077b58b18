package server

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"switchboard/connectors"
)

// request copies what a connector needs out of Fiber's reused buffers.
func request(c *fiber.Ctx, names []string) *connectors.Request {
	r := &connectors.Request{
		Method: c.Method(),
		Path:   strings.Clone(c.Path()),
		Params: make(map[string]string, len(names)),
		Header: http.Header{},
		Body:   bytes.Clone(c.Request().Body()), // as sent: encoded bodies never get here (refuseEncodedBodies)
	}
	for _, n := range names {
		r.Params[n] = strings.Clone(c.Params(n))
	}
	r.Query, _ = url.ParseQuery(string(c.Request().URI().QueryString()))
	c.Request().Header.VisitAll(func(k, v []byte) { r.Header.Add(string(k), string(v)) })
	if a, err := netip.ParseAddr(c.IP()); err == nil {
		r.Remote = a
	}
	return r
}

// respond writes a connector's response.
func respond(c *fiber.Ctx, resp *connectors.Response) error {
	if resp == nil {
		return c.SendStatus(http.StatusNoContent)
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			c.Append(k, v)
		}
	}
	if resp.ContentType != "" {
		c.Set(fiber.HeaderContentType, resp.ContentType)
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	return c.Status(status).Send(resp.Body)
}

// paramNames lists the :names in a route path.
func paramNames(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, ":") {
			out = append(out, strings.TrimSuffix(seg[1:], "?"))
		}
	}
	return out
}

// mount adds a connector endpoint to the app.
func (s *Server) mount(e connectors.Endpoint) {
	names := paramNames(e.Path)
	if e.Socket != nil {
		s.app.Get(e.Path, func(c *fiber.Ctx) error {
			if !websocket.IsWebSocketUpgrade(c) {
				return fiber.ErrUpgradeRequired
			}
			r := request(c, names)
			if e.Accept != nil {
				if _, err := e.Accept(c.UserContext(), r); err != nil {
					return err
				}
			}
			c.Locals("request", r)
			return c.Next()
		}, websocket.New(func(ws *websocket.Conn) {
			r := ws.Locals("request").(*connectors.Request)
			ws.SetReadLimit(int64(s.opts.BodyLimit))
			if err := e.Socket(s.base, r, ws); err != nil && s.base.Err() == nil {
				s.log.Warn("socket ended with an error", "path", e.Path, "err", err)
			}
		}, s.wsConfig()))
		return
	}
	s.app.Add(e.Method, e.Path, func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), s.opts.HandlerTimeout)
		defer cancel()
		resp, err := e.Handle(ctx, request(c, names))
		if err != nil {
			return err
		}
		return respond(c, resp)
	})
}

func (s *Server) wsConfig() websocket.Config {
	return websocket.Config{ReadBufferSize: 2048, WriteBufferSize: 2048,
		RecoverHandler: func(conn *websocket.Conn) {
			if r := recover(); r != nil {
				s.log.Error("socket handler panicked", "panic", r)
			}
		}}
}
