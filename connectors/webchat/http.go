package webchat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"switchboard/connectors"
	"switchboard/internal/fanout"
)

// visitorEvent is one entry of a visitor's thread as the widget sees it.
type visitorEvent struct {
	Type      string    `json:"type"`
	ID        string    `json:"id,omitempty"`
	MessageID string    `json:"message_id"`
	Direction string    `json:"direction"` // in: from the visitor; out: from an agent
	Text      string    `json:"text"`
	Author    string    `json:"author,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Survey is set on a satisfaction survey: the widget shows its
	// question with a button per score.
	Survey *surveyEvent `json:"survey,omitempty"`
}

func eventOf(ev fanout.Event) visitorEvent {
	var v visitorEvent
	_ = json.Unmarshal(ev.Data, &v)
	v.Type, v.ID = ev.Type, ev.ID
	return v
}

// site finds the site of a request and checks its origin.
func (c *Connector) site(r *connectors.Request) (*Site, error) {
	s := c.sites[r.Params["site"]]
	if s == nil {
		return nil, connectors.Refuse(http.StatusNotFound, "no such web-chat site")
	}
	if o := r.Header.Get("Origin"); o != "" && !c.originAllowed(s, o) {
		return nil, connectors.Refuse(http.StatusForbidden, "this page's origin may not use this web-chat site")
	}
	return s, nil
}

func (c *Connector) originAllowed(s *Site, origin string) bool {
	if origin == c.env.PublicURL {
		return true // the gateway's own pages (the demo)
	}
	for _, o := range s.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// cors answers a cross-origin browser with the headers it needs.
func cors(r *connectors.Request, resp *connectors.Response) *connectors.Response {
	if o := r.Header.Get("Origin"); o != "" {
		if resp.Header == nil {
			resp.Header = http.Header{}
		}
		resp.Header.Set("Access-Control-Allow-Origin", o)
		resp.Header.Add("Vary", "Origin")
	}
	return resp
}

func jsonResponse(status int, v any) *connectors.Response {
	b, _ := json.Marshal(v)
	return &connectors.Response{Status: status, ContentType: "application/json; charset=utf-8", Body: b}
}

func (c *Connector) preflight(_ context.Context, r *connectors.Request) (*connectors.Response, error) {
	if _, err := c.site(r); err != nil {
		return nil, err
	}
	// Header is made here: cors adds none without an Origin, and a nil
	// map would panic below.
	resp := cors(r, &connectors.Response{Status: http.StatusNoContent, Header: http.Header{}})
	resp.Header.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	resp.Header.Set("Access-Control-Allow-Headers", "Content-Type")
	resp.Header.Set("Access-Control-Max-Age", "600")
	return resp, nil
}

// accepted is the answer to a visitor's message.
type accepted struct {
	MessageID      string `json:"message_id"`
	ConversationID string `json:"conversation_id"`
}

// postBody is what a visitor sends.
type postBody struct {
	VisitorID string `json:"visitor_id"`
	Text      string `json:"text"`
	ClientID  string `json:"client_id"`
	Name      string `json:"name"`
}

func (c *Connector) post(ctx context.Context, r *connectors.Request) (*connectors.Response, error) {
	s, err := c.site(r)
	if err != nil {
		return nil, err
	}
	// Like the agent API: a body declared as anything but JSON is refused
	// (415), not guessed at.
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return nil, connectors.Refuse(http.StatusUnsupportedMediaType, "send application/json")
	}
	var b postBody
	if err := decodeJSON(r.Body, &b); err != nil {
		return nil, err
	}
	acc, err := c.accept(ctx, s, b, r.Body)
	if err != nil {
		return nil, err
	}
	return cors(r, jsonResponse(http.StatusAccepted, accepted{MessageID: acc.MessageID, ConversationID: acc.ConversationID})), nil
}

func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return connectors.Refuse(http.StatusBadRequest, "malformed JSON: "+err.Error())
	}
	if dec.More() {
		return connectors.Refuse(http.StatusBadRequest, "malformed JSON: more than one value")
	}
	return nil
}

// validate checks a visitor's message and returns its text, trimmed. A
// refusal is a *connectors.Error with a 4xx status.
func validate(b postBody) (string, error) {
	text := strings.TrimSpace(b.Text)
	switch {
	case !visitorPattern.MatchString(b.VisitorID):
		return "", connectors.Refuse(http.StatusBadRequest, "visitor_id must be 16–64 characters of A–Z a–z 0–9 _ -")
	case text == "":
		return "", connectors.Refuse(http.StatusBadRequest, "text is empty")
	case !utf8.ValidString(text):
		return "", connectors.Refuse(http.StatusBadRequest, "text is not UTF-8")
	case utf8.RuneCountInString(text) > MaxTextRunes:
		return "", connectors.Refuse(http.StatusRequestEntityTooLarge, "text is longer than 4000 characters")
	case b.ClientID != "" && !clientIDRe.MatchString(b.ClientID):
		return "", connectors.Refuse(http.StatusBadRequest, "client_id must be at most 64 characters of A–Z a–z 0–9 _ . : -")
	case utf8.RuneCountInString(b.Name) > 64:
		return "", connectors.Refuse(http.StatusBadRequest, "name is longer than 64 characters")
	}
	return text, nil
}

// accept checks a visitor's message, ingests it, and puts it on the
// visitor's thread so their other tabs see it.
func (c *Connector) accept(ctx context.Context, s *Site, b postBody, raw []byte) (connectors.Accepted, error) {
	text, err := validate(b)
	if err != nil {
		return connectors.Accepted{}, err
	}
	now := time.Now()
	if c.env.Now != nil {
		now = c.env.Now()
	}
	acc, err := c.env.In.Ingest(ctx, &connectors.Message{
		Channel: connectors.WebChat, Account: s.ID, ExternalID: b.ClientID,
		From: connectors.Identity{Type: "visitor", Value: b.VisitorID, Name: strings.TrimSpace(b.Name)},
		Kind: connectors.KindText, Text: text, Time: now, Raw: raw,
	})
	if err != nil {
		return connectors.Accepted{}, err
	}
	// The visitor's own message goes on their thread before the
	// acknowledgement: the thread is what the widget shows after a reload,
	// so an acknowledged message must be on it. Keyed by the message, a
	// channel's retry (a duplicate) completes a lost echo and never
	// doubles one.
	echo, _ := json.Marshal(visitorEvent{MessageID: acc.MessageID, Direction: "in", Text: text, CreatedAt: now.UTC()})
	if _, err := c.hub.PublishOnce(ctx, c.topic(s.ID, b.VisitorID), c.marker(s.ID, b.VisitorID, acc.MessageID), "message", echo); err != nil {
		return connectors.Accepted{}, fmt.Errorf("webchat: echo: %w", err)
	}
	return acc, nil
}

func (c *Connector) list(ctx context.Context, r *connectors.Request) (*connectors.Response, error) {
	s, err := c.site(r)
	if err != nil {
		return nil, err
	}
	visitor := r.Query.Get("visitor_id")
	if !visitorPattern.MatchString(visitor) {
		return nil, connectors.Refuse(http.StatusBadRequest, "visitor_id must be 16–64 characters of A–Z a–z 0–9 _ -")
	}
	after := r.Query.Get("after")
	if after != "" && !fanout.ValidID(after) {
		return nil, connectors.Refuse(http.StatusBadRequest, "after is not an event id")
	}
	evs, err := c.hub.Read(ctx, c.topic(s.ID, visitor), after, 200)
	if err != nil {
		if strings.Contains(err.Error(), "ERR") { // Redis refused the id
			return nil, connectors.Refuse(http.StatusBadRequest, "after is not an event id")
		}
		return nil, err
	}
	items := make([]visitorEvent, 0, len(evs))
	last := after
	for _, ev := range evs {
		items = append(items, eventOf(ev))
		last = ev.ID
	}
	return cors(r, jsonResponse(http.StatusOK, map[string]any{"items": items, "last_id": last})), nil
}
