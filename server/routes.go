package server

import (
	"context"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"switchboard/connectors"
)

// routes is the whole URL table.
func (s *Server) routes() {
	a := s.app
	a.Use(s.recoverPanics, refuseEncodedBodies)
	a.Get("/healthz", s.healthz)
	a.Get("/readyz", s.readyz)
	if s.Metrics != nil {
		a.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{})))
	}

	for _, c := range s.Registry.All() {
		if h, ok := c.(connectors.HTTP); ok {
			for _, e := range h.Endpoints() {
				s.mount(e)
			}
		}
	}

	api := a.Group("/api/v1", s.timeout)
	api.Post("/auth/login", s.login)
	api.Get("/inbox/ws", s.agentSocketAuth, websocket.New(s.agentSocket, s.wsConfig()))
	auth := api.Group("", s.authenticate)
	auth.Post("/auth/logout", s.logout)
	auth.Get("/me", s.me)
	auth.Put("/me/presence", s.setPresence)
	auth.Get("/agents", s.listAgents)
	auth.Post("/agents", s.createAgent)
	auth.Get("/teams", s.listTeams)
	auth.Get("/conversations", s.listConversations)
	auth.Get("/conversations/:id", s.getConversation)
	auth.Patch("/conversations/:id", s.patchConversation)
	auth.Get("/conversations/:id/messages", s.listMessages)
	auth.Post("/conversations/:id/messages", s.postMessage)
	auth.Get("/tickets/:id", s.getTicket)
	auth.Patch("/tickets/:id", s.patchTicket)
	auth.Get("/customers/:id", s.getCustomer)
	auth.Patch("/customers/:id", s.patchCustomer)
	auth.Post("/blobs", s.postBlob)
	auth.Get("/blobs/:id", s.getBlob)
	auth.Get("/email/quarantine", supervisorsOnly, s.listQuarantine)
	auth.Get("/email/quarantine/:mailbox/:id/raw", supervisorsOnly, s.getQuarantinedRaw)
	auth.Delete("/email/quarantine/:mailbox/:id", supervisorsOnly, s.dismissQuarantined)
	s.callRoutes(auth)
	s.customerMergeRoutes(auth)
	s.qrRoutes(auth)
	s.kbRoutes(auth)
	s.kpiRoutes(auth)
	api.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })

	s.surveyRoutes()
	s.inboxRoutes() // last: it ends with the catch-all for unknown paths
}

func (s *Server) recoverPanics(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("handler panicked", "path", logPath(c.Path()), "panic", r)
			err = fiber.ErrInternalServerError
		}
	}()
	return c.Next()
}

// timeout bounds an API request's work.
func (s *Server) timeout(c *fiber.Ctx) error {
	if websocket.IsWebSocketUpgrade(c) {
		return c.Next() // a socket lives as long as its client
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), s.opts.HandlerTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

func (s *Server) healthz(c *fiber.Ctx) error { return c.SendString("ok") }

func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := s.Redis.Ping(ctx).Err(); err != nil {
		return c.Status(fiber.StatusServiceUnavailable).SendString("redis unreachable")
	}
	return c.SendString("ready")
}
