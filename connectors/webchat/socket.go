package webchat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"switchboard/connectors"
	"switchboard/internal/fanout"
	"switchboard/internal/wsout"
)

const (
	socketReadTimeout = 90 * time.Second // the widget pings every 25 s
	socketQueue       = 64
)

// clientFrame is what the widget sends over its socket.
type clientFrame struct {
	Type     string `json:"type"`
	ClientID string `json:"client_id"`
	Text     string `json:"text"`
	Name     string `json:"name"`
}

// parseFrame reads one frame from the widget. Frames of an unknown type
// parse and are ignored; what is not JSON of the right shape is an error.
func parseFrame(data []byte) (clientFrame, error) {
	var f clientFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return clientFrame{}, err
	}
	return f, nil
}

// post is a message frame as the body of a post by visitor.
func (f clientFrame) post(visitor string) postBody {
	return postBody{VisitorID: visitor, Text: f.Text, ClientID: f.ClientID, Name: f.Name}
}

// acceptSocket checks the site, the origin and the visitor before the
// upgrade, so a refused socket gets a plain HTTP status.
func (c *Connector) acceptSocket(_ context.Context, r *connectors.Request) (*connectors.Response, error) {
	if _, err := c.site(r); err != nil {
		return nil, err
	}
	if !visitorPattern.MatchString(r.Query.Get("visitor_id")) {
		return nil, connectors.Refuse(http.StatusBadRequest, "visitor_id must be 16–64 characters of A–Z a–z 0–9 _ -")
	}
	if a := r.Query.Get("after"); a != "" && !fanout.ValidID(a) {
		return nil, connectors.Refuse(http.StatusBadRequest, "after is not an event id")
	}
	return nil, nil
}

// socket serves one widget connection: the visitor's thread from `after`
// on, live, and the visitor's messages in.
func (c *Connector) socket(ctx context.Context, r *connectors.Request, conn connectors.Conn) error {
	s := c.sites[r.Params["site"]]
	visitor := r.Query.Get("visitor_id")
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sub, err := c.hub.Subscribe(ctx, c.topic(s.ID, visitor), r.Query.Get("after"))
	if err != nil {
		return err
	}
	defer sub.Close()

	w := wsout.Start(ctx, cancel, conn, socketQueue)
	defer w.Wait()
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		return w.Send(b) // too slow: the widget reconnects and resumes
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				return
			}
			if ev.Type == fanout.Resync {
				send(map[string]string{"type": fanout.Resync})
				continue
			}
			if !send(eventOf(ev)) {
				return
			}
		}
	}()

	for ctx.Err() == nil {
		_ = conn.SetReadDeadline(time.Now().Add(socketReadTimeout))
		_, data, err := conn.ReadMessage()
		if err != nil {
			break
		}
		f, err := parseFrame(data)
		if err != nil {
			send(errorFrame("", "bad_request", "frames are JSON objects"))
			continue
		}
		switch f.Type {
		case "ping":
			send(map[string]string{"type": "pong"})
		case "message":
			acc, err := c.accept(ctx, s, f.post(visitor), data)
			if err != nil {
				code, msg := "unavailable", "the message could not be stored; try again"
				var ce *connectors.Error
				if errors.As(err, &ce) && ce.Status > 0 && ce.Status < 500 {
					code, msg = "bad_request", ce.Msg
				} else {
					c.env.Log.Error("webchat: ingest failed", "err", err)
				}
				send(errorFrame(f.ClientID, code, msg))
				continue
			}
			send(map[string]string{"type": "ack", "client_id": f.ClientID, "message_id": acc.MessageID,
				"conversation_id": acc.ConversationID})
		}
	}
	// The widget left: stop the writer and the pump now, or the deferred
	// wg.Wait waits for them forever and the subscription is never closed.
	cancel(nil)
	return nil
}

func errorFrame(clientID, code, msg string) map[string]string {
	f := map[string]string{"type": "error", "code": code, "message": msg}
	if clientID != "" {
		f["client_id"] = clientID
	}
	return f
}
