package qr

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
)

// Send puts an agent's reply on the customer's tracking page, where the
// page's script shows it within seconds and a reload shows it always. A
// retried send of the same message appears once. A satisfaction survey
// goes with its page, for the score links (survey.go). Then, with
// notify_mailbox, a customer who left an e-mail address is told by mail
// (notifyReply).
func (c *Connector) Send(ctx context.Context, m *connectors.Outbound) (connectors.Receipt, error) {
	if len(m.Attachments) > 0 {
		// The tracking page shows text only; the router refuses such
		// replies (QR is no connectors.Attacher), so this is a safeguard.
		return connectors.Receipt{}, connectors.Permanent("attachments_unsupported",
			errors.New("qr: the tracking page shows text only; send text"))
	}
	if m.Kind != "" && m.Kind != connectors.KindText && m.Kind != connectors.KindSurvey {
		return connectors.Receipt{}, connectors.ErrUnsupported
	}
	tok, err := c.env.Redis.Get(ctx, c.convKey(m.ConversationID)).Result()
	if errors.Is(err, redis.Nil) {
		return connectors.Receipt{}, connectors.Permanent("no_tracking_page",
			fmt.Errorf("qr: conversation %s has no tracking page (it expired after %d days without activity)", m.ConversationID, c.cfg.TrackDays))
	}
	if err != nil {
		return connectors.Receipt{}, connectors.Temporary("redis", err)
	}
	at := m.Time
	if at.IsZero() {
		at = c.now()
	}
	id, err := c.publish(ctx, tok, threadEvent{MessageID: m.ID, Direction: "out", Text: m.Text, Author: m.Author, CreatedAt: at.UTC(),
		Survey: surveyOf(m, at)})
	if err != nil {
		return connectors.Receipt{}, connectors.Temporary("redis", err)
	}
	c.touch(ctx, tok, m.ConversationID)
	// The reply is on the page: a failed notice never undoes that, and a
	// retried send finds the reply there and notifies at most once.
	if err := c.notifyReply(ctx, tok, m); err != nil {
		return connectors.Receipt{}, err
	}
	return connectors.Receipt{ExternalID: id}, nil
}
