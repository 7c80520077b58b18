package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	netmail "net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"switchboard/connectors"
)

var _ connectors.Notifier = (*Connector)(nil)

// CanNotify reports why mailbox account cannot send notices: it is not
// configured, or it has no smtp_relay.
func (c *Connector) CanNotify(account string) error {
	box := c.box(account)
	if box == nil {
		ids := make([]string, len(c.boxes))
		for i, b := range c.boxes {
			ids[i] = b.ID
		}
		return fmt.Errorf("%q is not a mailbox of channels.email (configured: %s)", account, strings.Join(ids, ", "))
	}
	if box.SMTPRelay == nil {
		return fmt.Errorf("mailbox %q has no smtp_relay to send notices through", account)
	}
	return nil
}

// Notify mails n from mailbox account through its relay, as a standalone
// automatic mail (connectors.Notifier): a Message-ID of its own made of
// n.ID, no In-Reply-To or References, no quoted history, and
// Auto-Submitted: auto-generated (RFC 3834: made by a program, not in
// answer to a mail of the recipient's) with X-Auto-Response-Suppress: All,
// so auto-responders and Exchange's out-of-office stay quiet. It is filed
// nowhere: its Message-ID is not indexed and its recipient becomes no
// participant of any thread, so an answer to it, or its bounce, threads
// into no conversation; an answer is an ordinary new mail to the mailbox.
// There is no Reply-To: an answer reaches the mailbox and a person.
//
// The address must be a single bare address and not one of the
// connector's own mailboxes (a loop). Nothing from n reaches a header
// unencoded: the name and the subject become one line, encoded words
// where they are not ASCII.
func (c *Connector) Notify(ctx context.Context, account string, n connectors.Notice) error {
	if err := c.CanNotify(account); err != nil {
		return connectors.Permanent("", fmt.Errorf("email: %w", err))
	}
	box := c.box(account)
	to, ok := bareAddress(n.To)
	switch {
	case !ok:
		return connectors.Permanent("bad_address", fmt.Errorf("email: notice: %q is not an address", oneLine(n.To)))
	case c.ours(to):
		return connectors.Permanent("own_mailbox", fmt.Errorf("email: notice: %s is one of the connector's own mailboxes", to))
	}
	id := safeID(n.ID)
	if id == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	raw, err := composeNotice(box, n, to, "notice-"+id+"@"+box.domain, c.env.Now())
	if err != nil {
		return connectors.Permanent("", fmt.Errorf("email: compose notice: %w", err))
	}
	return c.relay(ctx, box, to, raw)
}

// bareAddress returns s lower-cased when it is one bare address
// (local@domain, no name, no brackets, nothing that could end a header).
func bareAddress(s string) (string, bool) {
	if s == "" || len(s) > 254 || strings.ContainsAny(s, "\r\n<>,;\" ") {
		return "", false
	}
	a, err := netmail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || !strings.Contains(s, "@") {
		return "", false
	}
	return strings.ToLower(s), true
}

// langTag is what a Content-Language header may carry (RFC 5646, loosely).
var langTag = regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$`)

// composeNotice writes a notice as a single text/plain part in UTF-8, its
// link on a line of its own at the end unless the text holds it.
func composeNotice(box *Mailbox, n connectors.Notice, to, msgID string, now time.Time) ([]byte, error) {
	var h mail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{{Name: oneLine(box.Name), Address: box.Address}})
	h.SetAddressList("To", []*mail.Address{{Name: oneLine(n.Name), Address: to}})
	subject := oneLine(n.Subject)
	if subject == "" {
		subject = oneLine(box.Name)
	}
	h.SetSubject(subject)
	h.SetMessageID(msgID)
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("X-Auto-Response-Suppress", "All")
	if langTag.MatchString(n.Lang) {
		h.Set("Content-Language", n.Lang)
	}

	text := strings.ReplaceAll(strings.ReplaceAll(n.Text, "\r\n", "\n"), "\r", "\n")
	if link := oneLine(n.Link); link != "" && !strings.Contains(text, link) {
		text = strings.TrimRight(text, "\n") + "\n\n" + link
	}
	text = strings.TrimRight(text, "\n") + "\n"
	body := []byte(strings.ReplaceAll(text, "\n", "\r\n"))
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", textEncoding(body))

	var b bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&b, h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(body); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
