package server

import (
	"github.com/gofiber/fiber/v2"

	"switchboard/router"
)

// Telephone calls: the record behind a screen-pop, and turning a call
// into a ticket with one click. Agents may act on calls that popped up
// for them or rang for their team, and attach them to conversations that
// are theirs or their team's; supervisors and admins on all (the router
// checks).

// callRoutes mounts the call API on the authenticated group.
func (s *Server) callRoutes(auth fiber.Router) {
	auth.Get("/calls", s.listCalls)
	auth.Get("/calls/:id", s.getCall)
	auth.Post("/calls/:id/ticket", s.callTicket)
	auth.Post("/calls/:id/attach", s.attachCall)
}

// listCalls lists calls, newest first: customer_id for one customer's,
// limit 1–200 (default 50).
func (s *Server) listCalls(c *fiber.Ctx) error {
	f := router.CallFilter{CustomerID: c.Query("customer_id")}
	var err error
	if f.Limit, err = queryLimit(c, 0, 200); err != nil {
		return err
	}
	calls, err := s.Router.Calls(c.UserContext(), agentOf(c), f)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": calls})
}

// getCall answers the call as its screen-pop shows it.
func (s *Server) getCall(c *fiber.Ctx) error {
	v, err := s.Router.CallView(c.UserContext(), agentOf(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// callTicket turns a call into a ticket assigned to the caller of the
// API, or answers the ticket it already became. The body is optional:
// {"name"} names a caller whose number is new.
func (s *Server) callTicket(c *fiber.Ctx) error {
	var in struct {
		Name string `json:"name"`
	}
	if len(c.Request().Body()) > 0 {
		if err := decode(c, &in); err != nil {
			return err
		}
	}
	conv, err := s.Router.CreateCallTicket(c.UserContext(), agentOf(c), c.Params("id"), in.Name)
	if err != nil {
		return err
	}
	return c.JSON(conv)
}

// attachCall adds a call to an existing ticket as a call message; it
// links the caller's number to nobody.
func (s *Server) attachCall(c *fiber.Ctx) error {
	var in struct {
		ConversationID string `json:"conversation_id"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	res, err := s.Router.AttachCall(c.UserContext(), agentOf(c), c.Params("id"), in.ConversationID)
	if err != nil {
		return err
	}
	return c.JSON(res)
}
