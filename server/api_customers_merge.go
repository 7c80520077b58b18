package server

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"switchboard/router"
)

// Who a customer is: agents make records of new customers (a caller's),
// find customers by phone or e-mail, link identities to customers and
// unlink them, and merge two customers; supervisors and admins undo
// merges. Every change is audited on the customers. Nothing is merged on
// a shared attribute: linking an identity of another customer answers 409
// identity_taken with that customer's id, and the agent decides.
//
// Roles (the router checks): an agent may link, unlink and merge
// customers with a conversation that is theirs, their team's or not
// routed yet, and customers without conversations; supervisors and
// admins any. Only supervisors and admins undo merges. Creating,
// finding and reading the audit is for every agent, like the customer
// view itself.

// customerMergeRoutes mounts these routes on the authenticated group.
func (s *Server) customerMergeRoutes(auth fiber.Router) {
	auth.Get("/customers", s.findCustomers)
	auth.Post("/customers", s.createCustomer)
	auth.Post("/customers/:id/identities", s.linkIdentity)
	auth.Delete("/customers/:id/identities/:type/:value", s.unlinkIdentity)
	auth.Post("/customers/:id/merge", s.mergeCustomers)
	auth.Get("/customers/:id/audit", s.customerAudit)
	auth.Post("/merges/:id/undo", s.undoMerge)
}

// findCustomers looks a customer up by exactly one of phone= and email=:
// {"items":[Customer]}, empty when the identity belongs to nobody.
func (s *Server) findCustomers(c *fiber.Ctx) error {
	ph, em := c.Query("phone"), c.Query("email")
	if (ph == "") == (em == "") {
		return fmt.Errorf("%w: give exactly one of phone and email", errBadInput)
	}
	typ, value := router.IdentityPhone, ph
	if em != "" {
		typ, value = router.IdentityEmail, em
	}
	found, err := s.Router.FindCustomers(c.UserContext(), typ, value)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": found})
}

// createCustomer makes the record of a new customer: {"name","phone",
// "email"}, the identities optional.
func (s *Server) createCustomer(c *fiber.Ctx) error {
	var in struct {
		Name  string `json:"name"`
		Phone string `json:"phone"`
		Email string `json:"email"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	cust, err := s.Router.CreateCustomer(c.UserContext(), agentOf(c), in.Name, in.Phone, in.Email)
	if err != nil {
		return identityTaken(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(cust)
}

// linkIdentity links {"type","value"} (phone or email) to the customer.
func (s *Server) linkIdentity(c *fiber.Ctx) error {
	var in struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	cust, err := s.Router.LinkIdentity(c.UserContext(), agentOf(c), c.Params("id"), in.Type, in.Value)
	if err != nil {
		return identityTaken(c, err)
	}
	return c.JSON(cust)
}

// unlinkIdentity frees one of the customer's identities; type and value
// are percent-encoded path segments.
func (s *Server) unlinkIdentity(c *fiber.Ctx) error {
	typ, err1 := url.PathUnescape(c.Params("type"))
	value, err2 := url.PathUnescape(c.Params("value"))
	if err := errors.Join(err1, err2); err != nil || typ == "" || value == "" {
		return fmt.Errorf("%w: the identity's type and value must be percent-encoded", errBadInput)
	}
	cust, err := s.Router.UnlinkIdentity(c.UserContext(), agentOf(c), c.Params("id"), typ, value)
	if err != nil {
		return err
	}
	return c.JSON(cust)
}

// mergeCustomers merges customer {"from"} into the customer of the path,
// with an optional {"reason"}, and answers the merge's record.
func (s *Server) mergeCustomers(c *fiber.Ctx) error {
	var in struct {
		From   string `json:"from"`
		Reason string `json:"reason"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.From == "" {
		return fmt.Errorf("%w: from is required", errBadInput)
	}
	rec, err := s.Router.MergeCustomers(c.UserContext(), agentOf(c), c.Params("id"), in.From, strings.TrimSpace(in.Reason))
	if err != nil {
		return err
	}
	return c.JSON(rec)
}

// customerAudit lists the customer's audit, newest first: limit 1–500
// (default 100).
func (s *Server) customerAudit(c *fiber.Ctx) error {
	limit, err := queryLimit(c, 0, 500)
	if err != nil {
		return err
	}
	items, err := s.Router.Audit(c.UserContext(), c.Params("id"), limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": items})
}

// undoMerge undoes a merge and answers its record.
func (s *Server) undoMerge(c *fiber.Ctx) error {
	rec, err := s.Router.Unmerge(c.UserContext(), agentOf(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(rec)
}

// identityTaken answers a refused link with 409 identity_taken and the
// id of the customer the identity belongs to, so the inbox can offer to
// merge the two; other errors go to the error handler.
func identityTaken(c *fiber.Ctx, err error) error {
	var taken *router.IdentityTakenError
	if !errors.As(err, &taken) {
		return err
	}
	return c.Status(fiber.StatusConflict).JSON(fiber.Map{"error": fiber.Map{
		"code": "identity_taken", "message": clean(err), "customer_id": taken.CustomerID,
	}})
}
