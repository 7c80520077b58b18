package session

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"switchboard/internal/fanout"
	"switchboard/internal/wsout"
)

// Conn is the part of a WebSocket connection the agent socket uses. Only
// one goroutine writes at a time.
type Conn interface {
	ReadMessage() (messageType int, p []byte, err error)
	WriteMessage(messageType int, data []byte) error
	SetReadDeadline(t time.Time) error
	Close() error
}

// Frame is one message on the agent socket, server to client.
type Frame struct {
	Stream string          `json:"stream,omitempty"`
	ID     string          `json:"id,omitempty"`
	Type   string          `json:"type"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// AppendJSON appends the frame's JSON to b, as json.Marshal would render
// it. Data is put in as it is: it is JSON this gateway wrote. (Marshal
// would re-validate and compact it for every socket; inbox events go to
// every agent's socket, so that cost was paid once per agent.)
func (f Frame) AppendJSON(b []byte) []byte {
	if b == nil {
		b = make([]byte, 0, len(f.Stream)+len(f.ID)+len(f.Type)+len(f.Data)+48)
	}
	b = append(b, '{')
	if f.Stream != "" {
		b = appendJSONField(b, "stream", f.Stream)
		b = append(b, ',')
	}
	if f.ID != "" {
		b = appendJSONField(b, "id", f.ID)
		b = append(b, ',')
	}
	b = appendJSONField(b, "type", f.Type)
	if len(f.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, f.Data...)
	}
	return append(b, '}')
}

// appendJSONField appends "name":"value", escaping value as JSON does.
func appendJSONField(b []byte, name, value string) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":`...)
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			q, _ := json.Marshal(value) // rare: ids and types are plain ASCII
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, value...)
	return append(b, '"')
}

// clientFrame is one message from the client.
type clientFrame struct {
	Type           string `json:"type"`
	ConversationID string `json:"conversation_id"`
	Status         string `json:"status"`
}

const (
	socketReadTimeout = 75 * time.Second // the client pings every 20 s
	socketQueue       = 256
)

// Sockets serves the agent socket.
type Sockets struct {
	Events    *Events
	Presences *Presences
	Log       *slog.Logger
	// LiveChannel names the live channel of a conversation, for watch.
	LiveChannel func(conversationID string) string
	// CanWatch reports whether the agent may watch a conversation.
	CanWatch func(ctx context.Context, a Agent, conversationID string) bool
}

// ErrSlowClient closes a socket whose client does not keep up; it
// reconnects and resumes from its last event ids.
var ErrSlowClient = wsout.ErrSlowClient

// Serve runs one agent socket until the client leaves or ctx ends.
// lastAgent and lastInbox are the event ids the client saw last.
func (s *Sockets) Serve(ctx context.Context, a Agent, c Conn, lastAgent, lastInbox string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	agentSub, err := s.Events.agents.Subscribe(ctx, s.Events.k.AgentEvents(a.ID), lastAgent)
	if err != nil {
		return err
	}
	defer agentSub.Close()
	inboxSub, err := s.Events.inbox.Subscribe(ctx, s.Events.k.InboxEvents(), lastInbox)
	if err != nil {
		return err
	}
	defer inboxSub.Close()

	w := wsout.Start(ctx, cancel, c, socketQueue)
	defer w.Wait()
	send := func(f Frame) bool { return w.Send(f.AppendJSON(nil)) }

	var wg sync.WaitGroup
	defer wg.Wait()
	pump := func(stream string, sub *fanout.Sub) {
		defer wg.Done()
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				cancel(err)
				return
			}
			if !send(Frame{Stream: stream, ID: ev.ID, Type: ev.Type, Data: ev.Data}) {
				return
			}
		}
	}
	// The hello is queued before the pumps start, so it is the first frame
	// even when missed events or a resync are waiting.
	_ = s.Presences.Heartbeat(ctx, a.ID)
	pr, _ := s.Presences.Get(ctx, a.ID)
	hello, _ := json.Marshal(map[string]any{"agent": a, "presence": pr})
	send(Frame{Type: "hello", Data: hello})

	wg.Add(2)
	go pump("agent", agentSub)
	go pump("inbox", inboxSub)

	var watch *fanout.Sub
	var stopWatch context.CancelFunc
	defer func() {
		if stopWatch != nil {
			stopWatch()
		}
	}()
	for ctx.Err() == nil {
		_ = c.SetReadDeadline(time.Now().Add(socketReadTimeout))
		_, msg, err := c.ReadMessage()
		if err != nil {
			break
		}
		var f clientFrame
		if json.Unmarshal(msg, &f) != nil {
			send(Frame{Type: "error", Data: json.RawMessage(`{"code":"bad_request","message":"frames are JSON objects"}`)})
			continue
		}
		switch f.Type {
		case "ping":
			_ = s.Presences.Heartbeat(ctx, a.ID)
			send(Frame{Type: "pong"})
		case "presence":
			st, err := ParseStatus(f.Status)
			if err != nil {
				continue
			}
			if pr, err := s.Presences.Set(ctx, a.ID, st); err == nil {
				b, _ := json.Marshal(pr)
				send(Frame{Type: "presence", Data: b})
			}
		case "watch":
			if stopWatch != nil {
				stopWatch()
				stopWatch, watch = nil, nil
			}
			if f.ConversationID == "" || s.LiveChannel == nil {
				continue
			}
			if s.CanWatch != nil && !s.CanWatch(ctx, a, f.ConversationID) {
				continue
			}
			wctx, wcancel := context.WithCancel(ctx)
			w, err := s.Events.agents.Watch(wctx, s.LiveChannel(f.ConversationID))
			if err != nil {
				wcancel()
				continue
			}
			watch, stopWatch = w, func() { wcancel(); w.Close() }
			wg.Add(1)
			go func(w *fanout.Sub) {
				defer wg.Done()
				for {
					ev, err := w.Next(wctx)
					if err != nil {
						return
					}
					if !send(Frame{Stream: "watch", Type: ev.Type, Data: ev.Data}) {
						return
					}
				}
			}(watch)
		}
	}
	cancel(nil)
	if cause := context.Cause(ctx); errors.Is(cause, ErrSlowClient) && s.Log != nil {
		s.Log.Info("agent socket closed: client too slow", "agent", a.ID)
	}
	return nil
}
