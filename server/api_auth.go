package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"switchboard/session"
)

// decode reads a JSON body strictly: unknown fields and trailing data are
// errors, so a typo never silently does nothing.
func decode(c *fiber.Ctx, v any) error {
	if ct := string(c.Request().Header.ContentType()); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, "send application/json")
	}
	dec := json.NewDecoder(bytes.NewReader(c.Request().Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: malformed JSON: %v", errBadInput, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: malformed JSON: more than one value", errBadInput)
	}
	return nil
}

func agentOf(c *fiber.Ctx) session.Agent { return c.Locals("agent").(session.Agent) }

func bearer(c *fiber.Ctx) string {
	h := c.Get(fiber.HeaderAuthorization)
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

// authenticate lets only requests with a live bearer token through.
func (s *Server) authenticate(c *fiber.Ctx) error {
	a, err := s.Auth.Authenticate(c.UserContext(), bearer(c))
	if err != nil {
		return err
	}
	c.Locals("agent", a)
	c.Locals("token", bearer(c))
	return c.Next()
}

func (s *Server) login(c *fiber.Ctx) error {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Email == "" || in.Password == "" || len(in.Password) > 512 {
		return fmt.Errorf("%w: email and password are required", errBadInput)
	}
	token, exp, a, err := s.Auth.Login(c.UserContext(), in.Email, in.Password)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"token": token, "expires_at": exp.UTC(), "agent": a})
}

func (s *Server) logout(c *fiber.Ctx) error {
	if err := s.Auth.Logout(c.UserContext(), c.Locals("token").(string)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) me(c *fiber.Ctx) error {
	a := agentOf(c)
	p, err := s.Presences.Get(c.UserContext(), a.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"agent": a, "presence": p})
}

func (s *Server) setPresence(c *fiber.Ctx) error {
	var in struct {
		Status string `json:"status"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	st, err := session.ParseStatus(in.Status)
	if err != nil {
		return fmt.Errorf("%w: %v", errBadInput, err)
	}
	p, err := s.Presences.Set(c.UserContext(), agentOf(c).ID, st)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

// agentWithPresence is an agent in the agents list.
type agentWithPresence struct {
	session.Agent
	Presence session.Presence `json:"presence"`
}

func (s *Server) listAgents(c *fiber.Ctx) error {
	agents, err := s.Directory.List(c.UserContext())
	if err != nil {
		return err
	}
	ids := make([]string, len(agents))
	for i, a := range agents {
		ids[i] = a.ID
	}
	pres, err := s.Presences.All(c.UserContext(), ids...)
	if err != nil {
		return err
	}
	items := make([]agentWithPresence, len(agents))
	for i, a := range agents {
		items[i] = agentWithPresence{a, pres[a.ID]}
	}
	return c.JSON(fiber.Map{"items": items})
}

func (s *Server) createAgent(c *fiber.Ctx) error {
	if agentOf(c).Role != session.RoleAdmin {
		return fiber.NewError(fiber.StatusForbidden, "only admins manage agents")
	}
	var in struct {
		session.Agent
		Password string `json:"password"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	a := in.Agent
	a.Password = in.Password
	for _, t := range a.Teams {
		if !s.knownTeam(t) {
			return fmt.Errorf("%w: unknown team %q", errBadInput, t)
		}
	}
	if _, err := s.Directory.Get(c.UserContext(), a.ID); err == nil {
		return fiber.NewError(fiber.StatusConflict, "an agent with this id exists")
	}
	if err := s.Directory.Put(c.UserContext(), &a); err != nil {
		return fmt.Errorf("%w: %v", errBadInput, err)
	}
	return c.Status(fiber.StatusCreated).JSON(a)
}

func (s *Server) knownTeam(id string) bool {
	for _, t := range s.Router.Teams() {
		if t.ID == id {
			return true
		}
	}
	return false
}

func (s *Server) listTeams(c *fiber.Ctx) error {
	teams := s.Router.Teams()
	if teams == nil {
		teams = []session.Team{}
	}
	return c.JSON(fiber.Map{"items": teams})
}
