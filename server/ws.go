package server

import (
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"switchboard/internal/fanout"
	"switchboard/session"
)

// agentSocketAuth checks the token (query access_token, since browsers
// cannot set headers on a WebSocket, or the Authorization header) and
// the resume ids before the upgrade.
func (s *Server) agentSocketAuth(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return fiber.ErrUpgradeRequired
	}
	token := c.Query("access_token")
	if token == "" {
		token = bearer(c)
	}
	a, err := s.Auth.Authenticate(c.UserContext(), token)
	if err != nil {
		return err
	}
	for _, q := range []string{"last_event_id", "last_inbox_id"} {
		if v := c.Query(q); v != "" && !fanout.ValidID(v) {
			return fiber.NewError(fiber.StatusBadRequest, q+" is not an event id")
		}
	}
	c.Locals("agent", a)
	c.Locals("last_event_id", c.Query("last_event_id"))
	c.Locals("last_inbox_id", c.Query("last_inbox_id"))
	return c.Next()
}

func (s *Server) agentSocket(ws *websocket.Conn) {
	a := ws.Locals("agent").(session.Agent)
	ws.SetReadLimit(64 << 10)
	err := s.Sockets.Serve(s.base, a, ws, ws.Locals("last_event_id").(string), ws.Locals("last_inbox_id").(string))
	if err != nil && s.base.Err() == nil {
		s.log.Warn("agent socket ended with an error", "agent", a.ID, "err", err)
	}
}
