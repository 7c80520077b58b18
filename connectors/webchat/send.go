package webchat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"switchboard/connectors"
)

// Send puts an agent's reply on the visitor's thread, where every open tab
// gets it live and a closed widget finds it when it comes back. A retried
// send of the same message appears once. A satisfaction survey goes with
// its question and score range, which the widget shows as buttons.
func (c *Connector) Send(ctx context.Context, m *connectors.Outbound) (connectors.Receipt, error) {
	if m.To.Type != "visitor" || !visitorPattern.MatchString(m.To.Value) {
		return connectors.Receipt{}, connectors.Permanent("bad_recipient", fmt.Errorf("webchat: %q is not a visitor", m.To.String()))
	}
	if c.sites[m.Account] == nil {
		return connectors.Receipt{}, connectors.Permanent("unknown_site", fmt.Errorf("webchat: no site %q", m.Account))
	}
	if len(m.Attachments) > 0 {
		// The widget shows text only; the router refuses such replies
		// (web chat is no connectors.Attacher), so this is a safeguard.
		return connectors.Receipt{}, connectors.Permanent("attachments_unsupported",
			errors.New("webchat: web chat cannot carry attachments; send text only"))
	}
	if m.Kind != "" && m.Kind != connectors.KindText && m.Kind != connectors.KindSurvey {
		return connectors.Receipt{}, connectors.ErrUnsupported
	}
	at := m.Time
	if at.IsZero() {
		at = time.Now()
	}
	data, _ := json.Marshal(visitorEvent{MessageID: m.ID, Direction: "out", Text: m.Text, Author: m.Author, CreatedAt: at.UTC(),
		Survey: surveyOf(m)})
	id, err := c.hub.PublishOnce(ctx, c.topic(m.Account, m.To.Value), c.marker(m.Account, m.To.Value, m.ID), "message", data)
	if err != nil {
		return connectors.Receipt{}, connectors.Temporary("redis", err)
	}
	return connectors.Receipt{ExternalID: id}, nil
}
