package server

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/connectors"
)

// The e-mail quarantine: mail the connector could not take (a mail bomb,
// no From, a fetched mail that kept failing), for supervisors and admins
// only, since it may hold any team's customer data. The connector answers
// through connectors.Quarantine; without an e-mail connector the list is
// empty.

// quarantineItem is one quarantined mail in the API.
type quarantineItem struct {
	ID             string    `json:"id"`
	Mailbox        string    `json:"mailbox"`
	MailboxAddress string    `json:"mailbox_address"`
	At             time.Time `json:"at"`
	Reason         string    `json:"reason"`
	Source         string    `json:"source"`
	Sender         string    `json:"sender"`
	FromName       string    `json:"from_name"`
	FromAddress    string    `json:"from_address"`
	Subject        string    `json:"subject"`
	Size           int64     `json:"size"`
	Kept           int64     `json:"kept"`
	HeaderOnly     bool      `json:"header_only"`
	// RawURL downloads the kept mail (message/rfc822); absent when it is
	// not kept.
	RawURL string `json:"raw_url,omitempty"`
}

func quarantineJSON(q connectors.Quarantined) quarantineItem {
	it := quarantineItem{ID: q.ID, Mailbox: q.Account, MailboxAddress: q.AccountAddress, At: q.At.UTC(), Reason: q.Reason,
		Source: q.Source, Sender: q.Sender, FromName: q.FromName, FromAddress: q.FromAddress, Subject: q.Subject,
		Size: q.Size, Kept: q.Kept, HeaderOnly: q.Kept < q.Size}
	if q.HasRaw {
		it.RawURL = "/api/v1/email/quarantine/" + url.PathEscape(q.Account) + "/" + url.PathEscape(q.ID) + "/raw"
	}
	return it
}

// supervisorsOnly lets only supervisors and admins through.
func supervisorsOnly(c *fiber.Ctx) error {
	if a := agentOf(c); !a.Supervises() {
		return fiber.NewError(fiber.StatusForbidden, "only supervisors and admins may see quarantined mail")
	}
	return c.Next()
}

// emailQuarantine is the e-mail connector's quarantine, nil without one.
func (s *Server) emailQuarantine() connectors.Quarantine {
	c, ok := s.Registry.Get(connectors.Email)
	if !ok {
		return nil
	}
	q, _ := c.(connectors.Quarantine)
	return q
}

// quarantineError turns the connector's errors into answers.
func quarantineError(err error) error {
	switch {
	case errors.Is(err, connectors.ErrQuarantineNotFound):
		return fiber.NewError(fiber.StatusNotFound, "not found")
	case errors.Is(err, connectors.ErrQuarantineBadID):
		return fmt.Errorf("%w: malformed mailbox, id or cursor", errBadInput)
	}
	return err
}

// listQuarantine lists quarantined mail of every mailbox, newest first:
// limit 1–200 (default 50), before the next_before of a previous page.
func (s *Server) listQuarantine(c *fiber.Ctx) error {
	limit, err := queryLimit(c, 50, 200)
	if err != nil {
		return err
	}
	items := []quarantineItem{}
	q := s.emailQuarantine()
	if q == nil {
		return c.JSON(fiber.Map{"items": items})
	}
	list, next, err := q.Quarantined(c.UserContext(), c.Query("before"), limit)
	if err != nil {
		return quarantineError(err)
	}
	for _, e := range list {
		items = append(items, quarantineJSON(e))
	}
	out := fiber.Map{"items": items}
	if next != "" {
		out["next_before"] = next
	}
	return c.JSON(out)
}

// getQuarantinedRaw serves the kept mail as a download, never rendered.
func (s *Server) getQuarantinedRaw(c *fiber.Ctx) error {
	q := s.emailQuarantine()
	if q == nil {
		return fiber.ErrNotFound
	}
	mailbox, id := c.Params("mailbox"), c.Params("id")
	f, e, err := q.QuarantinedRaw(c.UserContext(), mailbox, id)
	if err != nil {
		return quarantineError(err)
	}
	c.Set(fiber.HeaderContentType, "message/rfc822")
	c.Set(fiber.HeaderContentDisposition, disposition(false, "quarantined-"+e.Account+"-"+e.ID+".eml"))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentSecurityPolicy, "sandbox")
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	return c.SendStream(f, int(e.Kept))
}

// dismissQuarantined removes one entry from the list.
func (s *Server) dismissQuarantined(c *fiber.Ctx) error {
	q := s.emailQuarantine()
	if q == nil {
		return fiber.ErrNotFound
	}
	mailbox, id := c.Params("mailbox"), c.Params("id")
	if err := q.Dismiss(c.UserContext(), mailbox, id); err != nil {
		return quarantineError(err)
	}
	s.log.Info("quarantined mail dismissed", "mailbox", mailbox, "id", id, "by", agentOf(c).ID)
	return c.SendStatus(fiber.StatusNoContent)
}
