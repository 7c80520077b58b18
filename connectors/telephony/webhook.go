package telephony

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"switchboard/connectors"
)

// Endpoints lists the webhook.
func (c *Connector) Endpoints() []connectors.Endpoint {
	return []connectors.Endpoint{{Method: "POST", Path: "/channels/cti/:source/events", Handle: c.webhook}}
}

// webhook takes one call event from a PBX, in the shape of Zammad's
// generic CTI API. It answers 200 {} once the router stored the event;
// every refusal is {"error": "…"} and stores nothing.
func (c *Connector) webhook(ctx context.Context, r *connectors.Request) (*connectors.Response, error) {
	s := c.sources[r.Params["source"]]
	if s == nil {
		return answer(http.StatusNotFound, map[string]string{"error": "Unknown CTI source"}), nil
	}
	if !s.authorized(r) {
		c.events.WithLabelValues(s.ID, "", "refused").Inc()
		return answer(http.StatusUnauthorized, map[string]string{"error": "Invalid token, please contact your admin!"}), nil
	}
	ev, err := c.read(r)
	var ref *refusal
	if errors.As(err, &ref) {
		c.events.WithLabelValues(s.ID, string(ev.Type), "refused").Inc()
		return answer(ref.status, map[string]string{"error": ref.msg}), nil
	}
	if err := c.deliver(ctx, s, ev); err != nil {
		c.env.Log.Error("cti: storing a call event failed", "source", s.ID, "event", string(ev.Type), "err", err)
		return answer(http.StatusInternalServerError, map[string]string{"error": "The event could not be stored; try again"}), nil
	}
	return answer(http.StatusOK, map[string]string{}), nil
}

// read parses and checks a webhook request.
func (c *Connector) read(r *connectors.Request) (connectors.CallEvent, error) {
	vals, err := parseBody(r.Header.Get("Content-Type"), r.Body)
	if err != nil {
		return connectors.CallEvent{}, err
	}
	return readEvent(vals, r.Query)
}

// authorized checks the source's secret, sent as ?token=, X-CTI-Token or
// Authorization: Bearer, in constant time.
func (s *Source) authorized(r *connectors.Request) bool {
	tok := r.Query.Get("token")
	if tok == "" {
		tok = r.Header.Get("X-CTI-Token")
	}
	if tok == "" {
		if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			tok = strings.TrimSpace(b)
		}
	}
	if tok == "" {
		return false
	}
	// Hashing first makes the comparison's time independent of the
	// lengths too.
	got, want := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(s.Secret))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func answer(status int, body map[string]string) *connectors.Response {
	b, _ := json.Marshal(body)
	return &connectors.Response{Status: status, ContentType: "application/json; charset=utf-8", Body: b,
		Header: http.Header{"Cache-Control": {"no-store"}}}
}
