package fanout

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

const catchUpBatch = 200

// Sub is one subscriber to one topic. Next returns its events in order;
// one goroutine calls Next at a time. Close releases it.
type Sub struct {
	h       *Hub
	topic   string
	durable bool
	live    chan string
	wake    chan struct{}
	gap     atomic.Bool
	last    string // id of the last event handed out (durable only)
	queue   []queued
	catchUp bool
}

// queued is an event waiting to be handed out; live says it came over
// pub/sub rather than from the stream.
type queued struct {
	Event
	live bool
}

// Subscribe follows a durable topic. after is the last event id the caller
// has seen: events after it are delivered first. An empty after starts
// with the next event published.
func (h *Hub) Subscribe(ctx context.Context, topic, after string) (*Sub, error) {
	s := &Sub{h: h, topic: topic, durable: true, live: make(chan string, h.opts.Buffer), wake: make(chan struct{}, 1)}
	if after != "" && !ValidID(after) {
		return nil, fmt.Errorf("fanout: bad event id %q", after)
	}
	if err := h.add(ctx, s); err != nil {
		return nil, err
	}
	// The subscription is registered before the stream is read, so nothing
	// published from here on is missed; anything older comes from the
	// stream.
	newest, err := h.newest(ctx, topic)
	if err != nil {
		s.Close()
		return nil, err
	}
	switch {
	case after == "":
		s.last = newest
	case newest == "0-0" && after != "0-0":
		// The topic is gone (expired or flushed): what the caller saw is lost.
		s.queue = append(s.queue, queued{Event{Type: Resync}, false})
		s.last = newest
	case !After(newest, after):
		s.last = after // nothing newer than the caller's position
	default:
		oldest, err := h.oldest(ctx, topic)
		if err != nil {
			s.Close()
			return nil, err
		}
		if After(oldest, after) {
			// What came right after `after` may be trimmed away.
			s.queue = append(s.queue, queued{Event{Type: Resync}, false})
			s.last = newest
		} else {
			s.last = after
			s.catchUp = true
		}
	}
	return s, nil
}

// Watch follows an ephemeral channel: only events published with Notify
// while the watch is open arrive, with no catch-up.
func (h *Hub) Watch(ctx context.Context, channel string) (*Sub, error) {
	s := &Sub{h: h, topic: channel, live: make(chan string, h.opts.Buffer), wake: make(chan struct{}, 1)}
	if err := h.add(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// signal marks that the subscriber may have missed live events (its buffer
// overflowed, or pub/sub reconnected) and wakes it to catch up.
func (s *Sub) signal() {
	s.gap.Store(true)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Topic returns the topic or channel the subscriber follows.
func (s *Sub) Topic() string { return s.topic }

// Close stops the subscription.
func (s *Sub) Close() { s.h.remove(s) }

// Next blocks until the next event or until ctx ends.
//
// Invariant: while catching up, the queue holds only events read from the
// stream, contiguous after s.last; live copies are dropped and read again
// from the stream, so no event is skipped or repeated.
func (s *Sub) Next(ctx context.Context) (Event, error) {
	for {
		if s.durable && s.gap.Swap(false) {
			s.startCatchUp()
		}
		if len(s.queue) > 0 {
			ev := s.queue[0].Event
			s.queue = s.queue[1:]
			if s.durable && ev.ID != "" {
				if !After(ev.ID, s.last) {
					continue // already handed out
				}
				s.last = ev.ID
			}
			return ev, nil
		}
		if s.catchUp {
			if err := s.readStream(ctx); err != nil {
				return Event{}, err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case p := <-s.live:
			if ev, ok := decode(p); ok {
				s.queue = append(s.queue, queued{ev, true})
			}
		case <-s.wake:
		}
	}
}

func (s *Sub) startCatchUp() {
	s.catchUp = true
	kept := s.queue[:0]
	for _, q := range s.queue {
		if !q.live {
			kept = append(kept, q)
		}
	}
	s.queue = kept
}

// readStream loads the next batch after s.last from the stream.
//
// When the stream no longer keeps s.last, the events right after it may
// have been trimmed away while the subscriber lagged behind: as in
// Subscribe, it gets a Resync and follows on from the newest event rather
// than a silent gap. ("0-0", a subscriber that started on an empty topic
// and has had nothing yet, cannot tell trimmed events from new ones.)
func (s *Sub) readStream(ctx context.Context) error {
	pipe := s.h.rdb.Pipeline()
	first := pipe.XRangeN(ctx, s.topic, "-", "+", 1)
	batch := pipe.XRangeN(ctx, s.topic, "("+s.last, "+", catchUpBatch)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("fanout: catch up: %w", err)
	}
	msgs := batch.Val()
	if f := first.Val(); len(f) > 0 && s.last != "0-0" && After(f[0].ID, s.last) {
		newest, err := s.h.newest(ctx, s.topic)
		if err != nil {
			return err
		}
		s.queue = append(s.queue, queued{Event{Type: Resync}, false})
		s.last, msgs = newest, nil
	}
	for _, m := range msgs {
		s.queue = append(s.queue, queued{fromStream(m), false})
	}
	s.catchUp = len(msgs) == catchUpBatch
	// Live events waiting now are copies of what was just read or newer.
	// Newer ones are contiguous only once the stream is exhausted; before
	// that they are dropped and read from the stream later.
	for drained := false; !drained; {
		select {
		case p := <-s.live:
			if ev, ok := decode(p); ok && !s.catchUp {
				s.queue = append(s.queue, queued{ev, true})
			}
		default:
			drained = true
		}
	}
	return nil
}

func fromStream(m redis.XMessage) Event {
	ev := Event{ID: m.ID}
	if t, ok := m.Values["t"].(string); ok {
		ev.Type = t
	}
	if d, ok := m.Values["d"].(string); ok && d != "" {
		ev.Data = []byte(d)
	}
	return ev
}

func (h *Hub) newest(ctx context.Context, topic string) (string, error) {
	return h.edge(ctx, topic, true)
}

func (h *Hub) oldest(ctx context.Context, topic string) (string, error) {
	return h.edge(ctx, topic, false)
}

func (h *Hub) edge(ctx context.Context, topic string, newest bool) (string, error) {
	var msgs []redis.XMessage
	var err error
	if newest {
		msgs, err = h.rdb.XRevRangeN(ctx, topic, "+", "-", 1).Result()
	} else {
		msgs, err = h.rdb.XRangeN(ctx, topic, "-", "+", 1).Result()
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("fanout: read %s: %w", topic, err)
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}
