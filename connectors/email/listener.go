package email

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// server is one SMTP listener for the mailboxes that share its address.
func (c *Connector) server(boxes []*Mailbox) *smtp.Server {
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{c: c, boxes: boxes}, nil
	}))
	s.Domain = boxes[0].domain
	var limit int64
	for _, b := range boxes {
		limit = max(b.MaxMessageBytes, limit)
	}
	// Data refuses mail over a mailbox's limit with 552 once it has read
	// it (a sender that is cut off mid-DATA retries; one told 552 does
	// not); past twice the limit the server itself stops reading.
	s.MaxMessageBytes = 2*limit + 1<<20
	s.MaxRecipients = 50
	s.ReadTimeout = 2 * time.Minute
	s.WriteTimeout = time.Minute
	return s
}

// session is one SMTP transaction at a time.
type session struct {
	c     *Connector
	boxes []*Mailbox
	from  string
	rcpts []rcpt
}

type rcpt struct {
	box *Mailbox
	tag string
}

var (
	errNoMailbox = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox here"}
	errTooBig    = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	errLongLine  = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Line too long"}
	errTryLater  = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Not stored; try again later"}
)

func (s *session) Reset()        { s.from, s.rcpts = "", nil }
func (s *session) Logout() error { return nil }

// Mail notes the envelope sender ("" for a bounce).
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = strings.ToLower(from)
	return nil
}

// Rcpt takes only this listener's mailboxes (550 otherwise).
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	to = strings.ToLower(strings.TrimSpace(to))
	for _, b := range s.boxes {
		if tag, ok := b.accepts(to); ok {
			s.rcpts = append(s.rcpts, rcpt{b, tag})
			return nil
		}
	}
	return errNoMailbox
}

// Data reads the mail (552 beyond the limit) and answers 250 only once
// every mailbox it was addressed to has stored it; a transient failure is
// 451, so the sender tries again.
func (s *session) Data(r io.Reader) error {
	limit := int64(0)
	for _, rc := range s.rcpts {
		limit = max(limit, rc.box.MaxMessageBytes)
	}
	raw, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return err
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			// RFC 5321 lines are at most 1,000 octets: sending it again
			// will not help.
			return errLongLine
		}
		return errTryLater
	}
	if int64(len(raw)) > limit {
		_, _ = io.Copy(io.Discard, r) // bounded by the server's own limit
		return errTooBig
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := map[string]bool{}
	for _, rc := range s.rcpts {
		if done[rc.box.ID] {
			continue
		}
		done[rc.box.ID] = true
		if err := s.c.take(ctx, rc.box, raw, smtpEnvelope(s.from), rc.tag); err != nil {
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				return se
			}
			s.c.env.Log.Warn("email: mail not stored", "mailbox", rc.box.ID, "err", err)
			return errTryLater
		}
	}
	return nil
}
