package server

import (
	"github.com/gofiber/fiber/v2"

	"switchboard/connectors"
	"switchboard/router"
)

func (s *Server) listConversations(c *fiber.Ctx) error {
	f := router.Filter{View: c.Query("view"), Status: c.Query("status"), Assignee: c.Query("assignee"),
		Channel: c.Query("channel"), Sort: c.Query("sort")}
	var err error
	if f.Limit, err = queryLimit(c, 0, 200); err != nil {
		return err
	}
	f.Before = c.Query("before")
	page, err := s.Router.Conversations(c.UserContext(), agentOf(c), f)
	if err != nil {
		return err
	}
	if page.Items == nil {
		page.Items = []router.Conversation{}
	}
	return c.JSON(page)
}

func (s *Server) getConversation(c *fiber.Ctx) error {
	conv, err := s.Router.Conversation(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(conv)
}

// patchBody is the body of PATCH on a conversation or ticket.
type patchBody struct {
	Status   *string `json:"status"`
	Assignee *string `json:"assignee"`
	Team     *string `json:"team"`
	Priority *string `json:"priority"`
}

func (p patchBody) patch() router.Patch {
	return router.Patch{Status: p.Status, Assignee: p.Assignee, Team: p.Team, Priority: p.Priority}
}

func (s *Server) patchConversation(c *fiber.Ctx) error {
	var in patchBody
	if err := decode(c, &in); err != nil {
		return err
	}
	conv, err := s.Router.Update(c.UserContext(), agentOf(c), c.Params("id"), in.patch())
	if err != nil {
		return err
	}
	return c.JSON(conv)
}

func (s *Server) listMessages(c *fiber.Ctx) error {
	limit, err := queryLimit(c, 0, 500)
	if err != nil {
		return err
	}
	msgs, err := s.Router.Messages(c.UserContext(), c.Params("id"), c.Query("after"), c.Query("before"), limit)
	if err != nil {
		return err
	}
	if msgs == nil {
		msgs = []router.Message{}
	}
	return c.JSON(fiber.Map{"items": msgs})
}

func (s *Server) postMessage(c *fiber.Ctx) error {
	var in struct {
		Text           string `json:"text"`
		Internal       bool   `json:"internal"`
		IdempotencyKey string `json:"idempotency_key"`
		// Attachments name uploaded images by ref; their name, type and
		// size are taken from the blob store.
		Attachments []connectors.Attachment `json:"attachments"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.IdempotencyKey == "" {
		in.IdempotencyKey = c.Get("Idempotency-Key")
	}
	atts, err := s.storedAttachments(in.Attachments)
	if err != nil {
		return err
	}
	msg, err := s.Router.Reply(c.UserContext(), agentOf(c), c.Params("id"),
		router.ReplyInput{Text: in.Text, Internal: in.Internal, IdempotencyKey: in.IdempotencyKey, Attachments: atts})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(msg)
}

func (s *Server) getTicket(c *fiber.Ctx) error {
	t, err := s.Router.Ticket(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(t)
}

func (s *Server) patchTicket(c *fiber.Ctx) error {
	var in patchBody
	if err := decode(c, &in); err != nil {
		return err
	}
	t, err := s.Router.UpdateTicket(c.UserContext(), agentOf(c), c.Params("id"), in.patch())
	if err != nil {
		return err
	}
	return c.JSON(t)
}

func (s *Server) getCustomer(c *fiber.Ctx) error {
	cust, err := s.Router.Customer(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(cust)
}

func (s *Server) patchCustomer(c *fiber.Ctx) error {
	var in struct {
		Name   *string   `json:"name"`
		Level  *string   `json:"level"`
		Region *string   `json:"region"`
		Tags   *[]string `json:"tags"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	cust, err := s.Router.UpdateCustomer(c.UserContext(), c.Params("id"),
		router.CustomerPatch{Name: in.Name, Level: in.Level, Region: in.Region, Tags: in.Tags})
	if err != nil {
		return err
	}
	return c.JSON(cust)
}
