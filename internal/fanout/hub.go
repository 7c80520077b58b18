package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/rdb"
)

// publishLua appends an event to a topic stream and announces it on the
// pub/sub channel of the same name, atomically, so subscribers see events
// in stream order.
//
// KEYS[1] topic stream
// ARGV[1] type, ARGV[2] data, ARGV[3] MAXLEN (~), ARGV[4] TTL seconds (0: none)
var publishLua = rdb.NewScript(`
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 't', ARGV[1], 'd', ARGV[2])
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
redis.call('PUBLISH', KEYS[1], id .. '\n' .. ARGV[1] .. '\n' .. ARGV[2])
return id
`)

// Options tunes a Hub.
type Options struct {
	// MaxLen caps each topic stream (approximately). Default 1000.
	MaxLen int64
	// TTL, when set, expires an idle topic stream.
	TTL time.Duration
	// Buffer is each subscriber's live buffer. Default 64.
	Buffer int
	Log    *slog.Logger
}

// Hub publishes to topics and fans them out to this process's subscribers.
// One Hub holds one pub/sub connection; Run must be running for live
// delivery.
type Hub struct {
	rdb    redis.UniversalClient
	opts   Options
	ps     *redis.PubSub
	commit *rdb.Committer

	// subMu serializes add and remove, so that the SUBSCRIBE and UNSUBSCRIBE
	// of a topic reach Redis in the order its subscriber set became
	// non-empty and empty. Without it, a subscriber joining just as the
	// last one leaves could be followed by the leaver's UNSUBSCRIBE and
	// never get a live event. mu alone guards topics, so delivery does not
	// wait for these round trips.
	subMu  sync.Mutex
	mu     sync.Mutex
	topics map[string]map[*Sub]struct{}
}

// New returns a Hub on c.
func New(c redis.UniversalClient, opts Options) *Hub {
	if opts.MaxLen <= 0 {
		opts.MaxLen = 1000
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 64
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Hub{rdb: c, opts: opts, ps: c.Subscribe(context.Background()), topics: map[string]map[*Sub]struct{}{},
		commit: rdb.NewCommitter(c, 1)}
}

// Publish appends an event to topic and announces it. It returns the event id.
func (h *Hub) Publish(ctx context.Context, topic, typ string, data []byte) (string, error) {
	id, err := publishLua.Run(ctx, h.rdb, []string{topic}, typ, data, h.opts.MaxLen, int64(h.opts.TTL/time.Second)).Text()
	if err != nil {
		return "", fmt.Errorf("fanout: publish %s: %w", typ, err)
	}
	return id, nil
}

// QueuePublish adds a Publish to a batch, to share a round trip with other
// writes.
func (h *Hub) QueuePublish(ctx context.Context, b *rdb.Batch, topic, typ string, data []byte) *redis.Cmd {
	return b.Run(ctx, publishLua, []string{topic}, typ, data, h.opts.MaxLen, int64(h.opts.TTL/time.Second))
}

// publishOnceLua is publishLua guarded by a marker key, so a retried
// publish of the same message (an outbox retry) appears once.
//
// KEYS[1] topic stream  KEYS[2] marker (same hash slot)
// ARGV as publishLua, then ARGV[5] marker TTL seconds
var publishOnceLua = rdb.NewScript(`
local prev = redis.call('GET', KEYS[2])
if prev then return prev end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 't', ARGV[1], 'd', ARGV[2])
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
redis.call('SET', KEYS[2], id, 'EX', ARGV[5])
redis.call('PUBLISH', KEYS[1], id .. '\n' .. ARGV[1] .. '\n' .. ARGV[2])
return id
`)

// PublishOnce is Publish for an event that must appear once however often
// it is published: marker is a key in the topic's hash slot that remembers
// the event for a day.
func (h *Hub) PublishOnce(ctx context.Context, topic, marker, typ string, data []byte) (string, error) {
	// Through the group commit: concurrent publishes share a round trip.
	b := rdb.NewBatch(h.rdb)
	cmd := b.Run(ctx, publishOnceLua, []string{topic, marker}, typ, data, h.opts.MaxLen,
		int64(h.opts.TTL/time.Second), int64(24*time.Hour/time.Second))
	if err := h.commit.Exec(ctx, b); err != nil {
		return "", fmt.Errorf("fanout: publish %s: %w", typ, err)
	}
	return cmd.Text()
}

// Read returns up to count events of topic after the id after ("" for
// the oldest kept), for clients that poll.
func (h *Hub) Read(ctx context.Context, topic, after string, count int64) ([]Event, error) {
	start := "-"
	if after != "" {
		if !ValidID(after) {
			return nil, fmt.Errorf("fanout: bad event id %q", after)
		}
		start = "(" + after
	}
	msgs, err := h.rdb.XRangeN(ctx, topic, start, "+", count).Result()
	if err != nil {
		return nil, fmt.Errorf("fanout: read %s: %w", topic, err)
	}
	out := make([]Event, len(msgs))
	for i, m := range msgs {
		out[i] = fromStream(m)
	}
	return out, nil
}

// Notify announces an ephemeral event on channel: live subscribers get it,
// nothing is stored.
func (h *Hub) Notify(ctx context.Context, channel, typ string, data []byte) error {
	return h.rdb.Publish(ctx, channel, Encode("", typ, data)).Err()
}

// Run reads pub/sub until ctx ends and hands messages to subscribers.
func (h *Hub) Run(ctx context.Context) error {
	// A blocked receive does not watch ctx; closing the connection ends it.
	stop := context.AfterFunc(ctx, func() { _ = h.ps.Close() })
	defer stop()
	defer h.ps.Close()
	defer h.commit.Close()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		msg, err := h.ps.ReceiveTimeout(ctx, 30*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var nerr interface{ Timeout() bool }
			if errors.As(err, &nerr) && nerr.Timeout() {
				_ = h.ps.Ping(ctx) // keep the connection honest; a dead one errors next
				continue
			}
			h.opts.Log.Warn("fanout: pub/sub receive failed; reconnecting", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Message:
			h.deliver(m.Channel, m.Payload)
		case *redis.Subscription:
			// A (re)subscription: events may have been published while the
			// channel was not followed, so subscribers catch up.
			if m.Kind == "subscribe" {
				h.kick(m.Channel)
			}
		}
	}
	return nil
}

func (h *Hub) deliver(topic, payload string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.topics[topic] {
		select {
		case s.live <- payload:
		default:
			s.signal() // full: it catches up from the stream instead
		}
	}
}

func (h *Hub) kick(topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.topics[topic] {
		s.signal()
	}
}

func (h *Hub) add(ctx context.Context, s *Sub) error {
	h.subMu.Lock()
	defer h.subMu.Unlock()
	h.mu.Lock()
	subs, ok := h.topics[s.topic]
	if !ok {
		subs = map[*Sub]struct{}{}
		h.topics[s.topic] = subs
	}
	subs[s] = struct{}{}
	h.mu.Unlock()
	if ok {
		return nil
	}
	if err := h.ps.Subscribe(ctx, s.topic); err != nil {
		h.removeLocked(s)
		return fmt.Errorf("fanout: subscribe: %w", err)
	}
	return nil
}

func (h *Hub) remove(s *Sub) {
	h.subMu.Lock()
	defer h.subMu.Unlock()
	h.removeLocked(s)
}

// removeLocked is remove with h.subMu held.
func (h *Hub) removeLocked(s *Sub) {
	h.mu.Lock()
	subs := h.topics[s.topic]
	delete(subs, s)
	last := len(subs) == 0
	if last {
		delete(h.topics, s.topic)
	}
	h.mu.Unlock()
	if last {
		_ = h.ps.Unsubscribe(context.Background(), s.topic)
	}
}
