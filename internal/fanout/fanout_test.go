package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/rdb"
	"switchboard/internal/redistest"
)

// wait bounds every blocking step, so a lost event fails the test with a
// message instead of hanging it. It is never a timing assertion.
const wait = 15 * time.Second

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startHub returns a Hub whose Run follows pub/sub until the test ends.
func startHub(t *testing.T, c redis.UniversalClient, opts Options) *Hub {
	t.Helper()
	if opts.Log == nil {
		opts.Log = quiet()
	}
	h := New(c, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Errorf("Hub.Run did not return %v after its context ended", wait)
		}
	})
	return h
}

func subscribe(t *testing.T, h *Hub, topic, after string) *Sub {
	t.Helper()
	s, err := h.Subscribe(context.Background(), topic, after)
	if err != nil {
		t.Fatalf("Subscribe(%q, %q): %v", topic, after, err)
	}
	t.Cleanup(s.Close)
	return s
}

// nextWithin returns the subscriber's next event, or an error if none comes
// within the bound. Other goroutines than the test's may call it.
func nextWithin(s *Sub) (Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return s.Next(ctx)
}

// next returns the subscriber's next event, failing the test if none comes.
func next(t *testing.T, s *Sub) Event {
	t.Helper()
	ev, err := nextWithin(s)
	if err != nil {
		t.Fatalf("Next on %s: %v (no event within %v)", s.Topic(), err, wait)
	}
	return ev
}

func data(n int) []byte { return []byte(fmt.Sprintf(`{"n":%d}`, n)) }

// publish publishes n events numbered from..from+n-1 and returns their ids.
func publish(t *testing.T, h *Hub, topic, typ string, from, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := from; i < from+n; i++ {
		id, err := h.Publish(context.Background(), topic, typ, data(i))
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		ids = append(ids, id)
	}
	return ids
}

// expectIDs reads len(ids) events and checks they are exactly ids, in order.
func expectIDs(t *testing.T, s *Sub, ids []string) []Event {
	t.Helper()
	got := make([]Event, 0, len(ids))
	for i, want := range ids {
		ev := next(t, s)
		if ev.ID != want {
			t.Fatalf("event %d of %d on %s: id %q (type %q), want %q", i+1, len(ids), s.Topic(), ev.ID, ev.Type, want)
		}
		got = append(got, ev)
	}
	return got
}

// expectNothingBefore publishes a sentinel and checks it is the very next
// event: whatever arrived before it would be a duplicate or a stray.
func expectNothingBefore(t *testing.T, h *Hub, s *Sub) {
	t.Helper()
	id, err := h.Publish(context.Background(), s.Topic(), "sentinel", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, s); ev.ID != id || ev.Type != "sentinel" {
		t.Fatalf("got %q (%s) before the sentinel %q: a duplicate or unexpected event", ev.ID, ev.Type, id)
	}
}

// waitFor polls cond until it holds, failing after the bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ownServer returns a client to a redis-server of the test's own, for tests
// that act on the whole server.
func ownServer(t *testing.T) redis.UniversalClient { return redistest.Own(t) }

func numSub(t *testing.T, c redis.UniversalClient, channel string) int64 {
	t.Helper()
	m, err := c.PubSubNumSub(context.Background(), channel).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m[channel]
}

func TestSubscribeFromNowGetsOnlyNewEventsInOrderOnce(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	h := startHub(t, c, Options{})
	topic := p + "t"
	publish(t, h, topic, "old", 0, 5)

	s := subscribe(t, h, topic, "")
	ids := publish(t, h, topic, "new", 5, 20)
	got := expectIDs(t, s, ids)
	for i, ev := range got {
		if ev.Type != "new" || string(ev.Data) != string(data(5+i)) {
			t.Fatalf("event %d = %s %s, want new %s", i, ev.Type, ev.Data, data(5+i))
		}
	}
	expectNothingBefore(t, h, s)
}

func TestSubscribeOnEmptyTopic(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	h := startHub(t, c, Options{})
	s := subscribe(t, h, p+"fresh", "")
	expectIDs(t, s, publish(t, h, p+"fresh", "e", 0, 3))
	expectNothingBefore(t, h, s)
}

func TestSubscribePositions(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	h := startHub(t, c, Options{})
	for _, tt := range []struct {
		name  string
		after func(ids []string) string
		want  func(ids []string) []string // kept events delivered before live ones
	}{
		{"from the middle", func(ids []string) string { return ids[1] }, func(ids []string) []string { return ids[2:] }},
		{"from the oldest", func(ids []string) string { return ids[0] }, func(ids []string) []string { return ids[1:] }},
		{"from the newest", func(ids []string) string { return ids[4] }, func([]string) []string { return nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			topic := p + "pos:" + tt.name
			ids := publish(t, h, topic, "e", 0, 5)
			s := subscribe(t, h, topic, tt.after(ids))
			expectIDs(t, s, tt.want(ids))
			// Then live events, no resync and nothing twice.
			expectIDs(t, s, publish(t, h, topic, "live", 5, 3))
			expectNothingBefore(t, h, s)
		})
	}
	for _, bad := range []string{"abc", "1-2-3", "-1", "1 2", "1-x", "0x10"} {
		if _, err := h.Subscribe(context.Background(), p+"bad", bad); err == nil {
			t.Errorf("Subscribe(after=%q) accepted a bad id", bad)
		}
	}
	// A refused Subscribe leaves no subscriber behind.
	h.mu.Lock()
	n := len(h.topics[p+"bad"])
	h.mu.Unlock()
	if n != 0 {
		t.Fatalf("refused Subscribe calls left %d subscribers", n)
	}
}

func TestResumeGetsMissedEventsThenLiveOnes(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	h := startHub(t, c, Options{})
	topic := p + "t"

	first := subscribe(t, h, topic, "")
	ids := publish(t, h, topic, "e", 0, 10)
	expectIDs(t, first, ids[:4])
	last := ids[3]
	first.Close()
	ids = append(ids, publish(t, h, topic, "e", 10, 6)...)

	again := subscribe(t, h, topic, last)
	got := expectIDs(t, again, ids[4:])
	for i, ev := range got {
		if string(ev.Data) != string(data(4+i)) {
			t.Fatalf("resumed event %d has data %s, want %s", i, ev.Data, data(4+i))
		}
	}
	expectIDs(t, again, publish(t, h, topic, "e", 16, 5))
	expectNothingBefore(t, h, again)
}

// A resume across several catch-up batches while events keep coming: the
// hand-over from the stream to pub/sub loses and repeats nothing.
func TestResumeWhilePublishing(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	h := startHub(t, c, Options{Buffer: 8})
	topic := p + "t"
	ids := publish(t, h, topic, "e", 0, 451)

	s := subscribe(t, h, topic, ids[0])
	more := make(chan []string, 1)
	go func() {
		var out []string
		for i := 0; i < 300; i++ {
			id, err := h.Publish(context.Background(), topic, "e", data(451+i))
			if err != nil {
				t.Errorf("Publish: %v", err)
				break
			}
			out = append(out, id)
		}
		more <- out
	}()
	expectIDs(t, s, ids[1:])
	var live []string
	select {
	case live = <-more:
	case <-time.After(wait):
		t.Fatal("publisher did not finish")
	}
	expectIDs(t, s, live)
	expectNothingBefore(t, h, s)
}

// Live events that arrive while a long catch-up is under way wait until the
// stream is read up to them: handing one out early would skip the rest of
// the stream.
func TestCatchUpHoldsLiveEventsBack(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	h := startHub(t, c, Options{Buffer: 64})
	topic := p + "t"
	ids := publish(t, h, topic, "e", 0, 451) // more than two catch-up batches

	s := subscribe(t, h, topic, ids[0])
	// The subscription is confirmed (its catch-up signal is in) before the
	// live events come, so nothing but the stream order decides.
	waitFor(t, "the subscription to be confirmed", func() bool { return s.gap.Load() })
	live := publish(t, h, topic, "live", 451, 10)
	waitFor(t, "the live events to be buffered", func() bool { return len(s.live) == len(live) })

	expectIDs(t, s, append(ids[1:], live...))
	expectNothingBefore(t, h, s)
}

func TestOverflowCatchesUpFromStream(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	h := startHub(t, c, Options{Buffer: 2})
	topic := p + "t"
	slow := subscribe(t, h, topic, "")
	fast := subscribe(t, h, topic, "")

	// The fast subscriber reads while events are published; the slow one
	// reads nothing at all until the fast one has everything.
	const total = 500
	fastGot := make(chan []Event, 1)
	go func() {
		var got []Event
		for len(got) < total {
			ev, err := nextWithin(fast)
			if err != nil {
				t.Errorf("fast subscriber stuck after %d of %d events: %v", len(got), total, err)
				break
			}
			got = append(got, ev)
		}
		fastGot <- got
	}()
	ids := publish(t, h, topic, "e", 0, total)
	got := <-fastGot
	if len(got) != total {
		t.FailNow()
	}
	for i, ev := range got {
		if ev.ID != ids[i] {
			t.Fatalf("fast subscriber: event %d is %q, want %q", i, ev.ID, ids[i])
		}
	}
	// The slow subscriber's buffer did overflow, so what follows exercises
	// the catch-up path.
	waitFor(t, "the slow subscriber's buffer to overflow", func() bool { return slow.gap.Load() })

	for i, ev := range expectIDs(t, slow, ids) {
		if ev.Type != "e" || string(ev.Data) != string(data(i)) {
			t.Fatalf("slow subscriber event %d = %s %s, want e %s", i, ev.Type, ev.Data, data(i))
		}
	}
	// Both are now at the end, with nothing pending.
	sentinel := publish(t, h, topic, "sentinel", total, 1)
	expectIDs(t, slow, sentinel)
	expectIDs(t, fast, sentinel)
}

// Many publishers, a subscriber with a one-event buffer reading as they go:
// overflow, catch-up and live delivery interleave every which way, and the
// subscriber still sees the stream exactly, in stream order.
func TestConcurrentPublishersTinyBuffer(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	h := startHub(t, c, Options{Buffer: 1, MaxLen: 10000})
	ctx := context.Background()
	topic := p + "t"
	s := subscribe(t, h, topic, "")
	const publishers, each = 4, 300
	var wg sync.WaitGroup
	for w := 0; w < publishers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := h.Publish(ctx, topic, "e", data(w*each+i)); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		}()
	}
	got := make([]Event, 0, publishers*each)
	for len(got) < publishers*each {
		got = append(got, next(t, s))
	}
	wg.Wait()
	stored, err := c.XRange(ctx, topic, "-", "+").Result()
	if err != nil || len(stored) != publishers*each {
		t.Fatalf("stream holds %d events (%v), want %d", len(stored), err, publishers*each)
	}
	for i, m := range stored {
		if got[i].ID != m.ID || string(got[i].Data) != m.Values["d"] {
			t.Fatalf("event %d = %q %s, want %q %v", i, got[i].ID, got[i].Data, m.ID, m.Values["d"])
		}
	}
	expectNothingBefore(t, h, s)
}

func TestResyncWhenPositionIsTrimmed(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	h := startHub(t, c, Options{MaxLen: 10})
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		after  int  // index of the caller's position among 50 events; 40–49 are kept
		resync bool // else the kept events after it come first
	}{
		{"long gone", 0, true},
		{"just trimmed", 38, true},
		{"oldest kept", 40, false},
		{"newest", 49, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			topic := p + tt.name
			ids := publish(t, h, topic, "e", 0, 50)
			// XADD MAXLEN ~ trims lazily, by whole nodes: trim exactly.
			if err := c.XTrimMaxLen(ctx, topic, 10).Err(); err != nil {
				t.Fatal(err)
			}
			s := subscribe(t, h, topic, ids[tt.after])
			if tt.resync {
				ev := next(t, s)
				if ev.Type != Resync || ev.ID != "" || ev.Data != nil {
					t.Fatalf("first event = %+v, want a bare resync", ev)
				}
			} else {
				expectIDs(t, s, ids[tt.after+1:])
			}
			// Live events follow; nothing kept is replayed after a resync.
			expectIDs(t, s, publish(t, h, topic, "live", 0, 2))
			expectNothingBefore(t, h, s)
		})
	}
}

// A subscriber that lags so far behind that the events after its position
// are trimmed away gets a resync, not a silent gap.
func TestLaggingSubscriberTrimmedGetsResync(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	h := startHub(t, c, Options{MaxLen: 10, Buffer: 2})
	topic := p + "t"
	s := subscribe(t, h, topic, "")
	expectIDs(t, s, publish(t, h, topic, "e", 0, 1))

	publish(t, h, topic, "e", 1, 100) // not read
	if err := c.XTrimMaxLen(context.Background(), topic, 10).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscriber's buffer to overflow", func() bool { return s.gap.Load() })
	if ev := next(t, s); ev.Type != Resync || ev.ID != "" {
		t.Fatalf("after 90 of its events were trimmed away, the subscriber got %q (%s), want a resync", ev.ID, ev.Type)
	}
	// Then it follows on from the newest event.
	expectIDs(t, s, publish(t, h, topic, "live", 101, 3))
	expectNothingBefore(t, h, s)
}

func TestResyncWhenTopicIsGone(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	h := startHub(t, c, Options{})
	topic := p + "t"
	ids := publish(t, h, topic, "e", 0, 5)
	if err := c.Del(context.Background(), topic).Err(); err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, h, topic, ids[2])
	if ev := next(t, s); ev.Type != Resync || ev.ID != "" {
		t.Fatalf("first event after the topic was deleted = %+v, want resync", ev)
	}
	expectIDs(t, s, publish(t, h, topic, "live", 5, 3))
	expectNothingBefore(t, h, s)

	// "0-0" on a missing topic means "from the very start": nothing lost.
	s0 := subscribe(t, h, p+"never", "0-0")
	expectIDs(t, s0, publish(t, h, p+"never", "e", 0, 2))
	expectNothingBefore(t, h, s0)
}

// Killing the pub/sub connection while events keep coming: the Hub
// resubscribes and the subscriber catches up, so every event still arrives
// exactly once and in order.
func TestPubSubReconnect(t *testing.T) {
	t.Parallel()
	c := ownServer(t) // CLIENT KILL TYPE pubsub must not hit other tests
	h := startHub(t, c, Options{})
	ctx := context.Background()
	topic := "t"
	s := subscribe(t, h, topic, "")
	waitFor(t, "the hub to subscribe", func() bool { return numSub(t, c, topic) == 1 })

	const rounds, batch = 4, 50
	total := (2*rounds + 1) * batch
	gotc := make(chan []Event, 1)
	go func() { // reads throughout, so events arrive live and by catch-up
		var got []Event
		for len(got) < total {
			ev, err := nextWithin(s)
			if err != nil {
				t.Errorf("subscriber stuck after %d of %d events: %v", len(got), total, err)
				break
			}
			got = append(got, ev)
		}
		gotc <- got
	}()

	var ids []string
	for round := 0; round < rounds; round++ {
		ids = append(ids, publish(t, h, topic, "e", len(ids), batch)...)
		n, err := c.ClientKillByFilter(ctx, "TYPE", "pubsub").Result()
		if err != nil || n < 1 {
			t.Fatalf("CLIENT KILL TYPE pubsub = %d, %v", n, err)
		}
		// Published while the hub is (likely) not subscribed.
		ids = append(ids, publish(t, h, topic, "e", len(ids), batch)...)
		waitFor(t, "the hub to resubscribe", func() bool { return numSub(t, c, topic) == 1 })
	}
	ids = append(ids, publish(t, h, topic, "e", len(ids), batch)...)

	got := <-gotc
	if len(got) != total {
		t.FailNow()
	}
	for i := range ids {
		if got[i].ID != ids[i] || string(got[i].Data) != string(data(i)) {
			t.Fatalf("event %d = %q %s, want %q %s", i, got[i].ID, got[i].Data, ids[i], data(i))
		}
	}
	expectNothingBefore(t, h, s)
}

func TestWatchGetsNotificationsAndStoresNothing(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	h := startHub(t, c, Options{})
	ctx := context.Background()
	ch := p + "live:c1"
	if err := h.Notify(ctx, ch, "before", nil); err != nil {
		t.Fatal(err)
	}
	w, err := h.Watch(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the watch to subscribe", func() bool { return numSub(t, c, ch) == 1 })
	for i := 0; i < 3; i++ {
		if err := h.Notify(ctx, ch, "typing", data(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		ev := next(t, w)
		if ev.ID != "" || ev.Type != "typing" || string(ev.Data) != string(data(i)) {
			t.Fatalf("notification %d = %+v, want typing %s without id", i, ev, data(i))
		}
	}
	if n, err := c.Exists(ctx, ch).Result(); err != nil || n != 0 {
		t.Fatalf("Notify stored a key (%d, %v)", n, err)
	}
	w.Close()
	waitFor(t, "the watch to unsubscribe on Close", func() bool { return numSub(t, c, ch) == 0 })
}

// Batched publishes (QueuePublish), also after a script cache flush, are
// delivered once each.
func TestQueuePublish(t *testing.T) {
	t.Parallel()
	c, p := ownServer(t), "" // SCRIPT FLUSH must not hit other tests
	h := startHub(t, c, Options{})
	ctx := context.Background()
	topic := p + "t"
	s := subscribe(t, h, topic, "")
	for round := 0; round < 2; round++ {
		if round == 1 {
			if err := c.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		b := rdb.NewBatch(c)
		var cmds []*redis.Cmd
		for i := 0; i < 3; i++ {
			cmds = append(cmds, h.QueuePublish(ctx, b, topic, "b", data(i)))
		}
		if err := b.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, cmd := range cmds {
			id, err := cmd.Text()
			if err != nil || !ValidID(id) {
				t.Fatalf("QueuePublish result %q, %v", id, err)
			}
			ids = append(ids, id)
		}
		expectIDs(t, s, ids)
		if n := c.XLen(ctx, topic).Val(); n != int64(3*(round+1)) {
			t.Fatalf("round %d: stream holds %d events, want %d", round, n, 3*(round+1))
		}
	}
	expectNothingBefore(t, h, s)
}

// A subscriber that arrives while the topic's last one leaves must still
// follow the topic: the SUBSCRIBE of the one must not reach Redis before
// the UNSUBSCRIBE of the other. Several workers widen the race window.
func TestSubscribeWhileLastSubscriberLeaves(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	h := startHub(t, c, Options{})
	const workers, rounds = 8, 150
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				if err := joinWhileLeaving(c, h, fmt.Sprintf("%s%d:%d", p, w, i)); err != nil {
					t.Errorf("worker %d, round %d: %v", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func joinWhileLeaving(c redis.UniversalClient, h *Hub, topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	numSub := func(ch string) int64 { return c.PubSubNumSub(ctx, ch).Val()[ch] }
	poll := func(ch string, want int64) error {
		for numSub(ch) != want {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: waiting for %d pub/sub subscribers: %w", ch, want, ctx.Err())
			}
			time.Sleep(2 * time.Millisecond)
		}
		return nil
	}
	a, err := h.Subscribe(ctx, topic, "")
	if err != nil {
		return err
	}
	if err := poll(topic, 1); err != nil {
		return err
	}
	// Both start at once, so that b's add often lands between a's removal
	// from the topic and a's UNSUBSCRIBE.
	start, closed := make(chan struct{}), make(chan struct{})
	go func() { <-start; a.Close(); close(closed) }()
	var b *Sub
	joined := make(chan error, 1)
	go func() {
		<-start
		var err error
		b, err = h.Subscribe(ctx, topic, "")
		joined <- err
	}()
	close(start)
	<-closed
	if err := <-joined; err != nil {
		return err
	}
	defer b.Close()
	// A barrier on the same pub/sub connection: once it is subscribed,
	// Redis has handled both commands above.
	w, err := h.Watch(ctx, topic+":barrier")
	if err != nil {
		return err
	}
	err = poll(topic+":barrier", 1)
	w.Close()
	if err != nil {
		return err
	}
	if n := numSub(topic); n != 1 {
		return fmt.Errorf("a subscriber follows %s but the hub has %d pub/sub subscriptions to it", topic, n)
	}
	// And so live events reach it (the first may come by catch-up).
	for i := 0; i < 2; i++ {
		id, err := h.Publish(ctx, topic, "e", nil)
		if err != nil {
			return err
		}
		ev, err := b.Next(ctx)
		if err != nil || ev.ID != id {
			return fmt.Errorf("event %d: got %+v, %v; want %s", i, ev, err, id)
		}
	}
	return nil
}

func TestNextHonoursContext(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	h := startHub(t, c, Options{})
	s := subscribe(t, h, p+"t", "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next on a cancelled context = %v, want context.Canceled", err)
	}
	// The subscriber still works afterwards.
	expectIDs(t, s, publish(t, h, p+"t", "e", 0, 1))
}

func TestAfter(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"2-0", "1-0", true},
		{"1-0", "2-0", false},
		{"1-1", "1-0", true},
		{"1-0", "1-1", false},
		{"1-5", "1-5", false},
		{"1-10", "1-9", true}, // numeric, not lexical
		{"10-0", "9-0", true},
		{"9-0", "10-0", false},
		{"5", "4-9", true}, // a bare ms is ms-0
		{"5", "5-0", false},
		{"5-1", "5", true},
		{"1-0", "0-0", true},
		{"0-0", "0-0", false},
		{"18446744073709551615-18446744073709551615", "18446744073709551615-18446744073709551614", true},
		{"18446744073709551616-0", "1-0", false}, // overflows: does not parse
		{"x", "1-0", false},
		{"1-0", "x", false},
		{"", "", false},
		{"2-0", "", false},
		{"-1", "0-0", false},
	} {
		if got := After(tt.a, tt.b); got != tt.want {
			t.Errorf("After(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestValidID(t *testing.T) {
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"0-0", true},
		{"1732345678901-0", true},
		{"1732345678901-42", true},
		{"1732345678901", true},
		{"", false},
		{"-", false},
		{"-1", false},
		{"1-", false},
		{"1-2-3", false},
		{"a-1", false},
		{"1-b", false},
		{"+1-0", false},
		{" 1-0", false},
		{"1-0 ", false},
		{"1-0\n", false},
		{"1\n-0", false},
		{"0x10-0", false},
		{"1_000-0", false},
		{"18446744073709551616-0", false},
		{"$", false},
		{"+", false},
		{">", false},
	} {
		if got := ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	for _, tt := range []struct {
		name          string
		id, typ, data string
		payload       string
	}{
		{"durable", "1-2", "message.new", `{"a":1}`, "1-2\nmessage.new\n{\"a\":1}"},
		{"ephemeral", "", "typing", `{}`, "\ntyping\n{}"},
		{"no data", "5-0", "ping", "", "5-0\nping\n"},
		{"newlines in data", "1-0", "t", "{\n\"a\":\n1}", "1-0\nt\n{\n\"a\":\n1}"},
		{"empty", "", "", "", "\n\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Encode(tt.id, tt.typ, []byte(tt.data))
			if got != tt.payload {
				t.Fatalf("Encode = %q, want %q", got, tt.payload)
			}
			ev, ok := decode(got)
			if !ok || ev.ID != tt.id || ev.Type != tt.typ || string(ev.Data) != tt.data {
				t.Fatalf("decode(%q) = %+v, %v", got, ev, ok)
			}
			if (ev.Data == nil) != (tt.data == "") {
				t.Fatalf("decode(%q).Data = %#v: want nil exactly when there is no data", got, ev.Data)
			}
		})
	}
	for _, bad := range []string{"", "1-0", "1-0typing", "1-0\ntyping"} {
		if ev, ok := decode(bad); ok {
			t.Errorf("decode(%q) = %+v, true; want a refusal", bad, ev)
		}
	}
}

// The Lua script and Encode must agree on the pub/sub format: a raw pub/sub
// message from Publish decodes to the stored event.
func TestPublishPayloadMatchesEncode(t *testing.T) {
	t.Parallel()
	c, p := redistest.Client(t)
	ctx := context.Background()
	ps := c.Subscribe(ctx, p+"t")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil { // subscription confirmed
		t.Fatal(err)
	}
	h := New(c, Options{Log: quiet()})
	id, err := h.Publish(ctx, p+"t", "message.new", []byte(`{"x":"a\nb"}`))
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	msg, err := ps.ReceiveMessage(rctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := Encode(id, "message.new", []byte(`{"x":"a\nb"}`)); msg.Payload != want {
		t.Fatalf("pub/sub payload %q, want %q", msg.Payload, want)
	}
	// Data is raw JSON, passed through untouched.
	var v struct{ X string }
	if ev, ok := decode(msg.Payload); !ok || json.Unmarshal(ev.Data, &v) != nil || v.X != "a\nb" {
		t.Fatalf("decode(%q) = %+v, %v", msg.Payload, ev, ok)
	}
}

// FuzzDecode feeds the pub/sub decoder arbitrary payloads (it parses what
// comes from Redis) and arbitrary Encode inputs.
func FuzzDecode(f *testing.F) {
	f.Add("1-0\nmessage.new\n{}", "1-0", "message.new", []byte(`{}`))
	f.Add("", "", "", []byte(nil))
	f.Add("\n\n", "1", "t", []byte("\n\n"))
	f.Add("a\nb", "x\ny", "t", []byte("d"))
	f.Fuzz(func(t *testing.T, payload, id, typ string, data []byte) {
		ev, ok := decode(payload)
		if ok != (strings.Count(payload, "\n") >= 2) {
			t.Fatalf("decode(%q) ok = %v", payload, ok)
		}
		if ok {
			if back := Encode(ev.ID, ev.Type, ev.Data); back != payload {
				t.Fatalf("decode(%q) = %+v does not re-encode (%q)", payload, ev, back)
			}
			if strings.Contains(ev.ID, "\n") || strings.Contains(ev.Type, "\n") {
				t.Fatalf("decode(%q) = %+v: newline in id or type", payload, ev)
			}
		} else if ev.ID != "" || ev.Type != "" || ev.Data != nil {
			t.Fatalf("refused payload %q still gave %+v", payload, ev)
		}

		if strings.Contains(id, "\n") || strings.Contains(typ, "\n") {
			return
		}
		enc := Encode(id, typ, data)
		ev, ok = decode(enc)
		if !ok || ev.ID != id || ev.Type != typ || string(ev.Data) != string(data) || (ev.Data == nil) != (len(data) == 0) {
			t.Fatalf("Encode(%q, %q, %q) = %q decodes to %+v, %v", id, typ, data, enc, ev, ok)
		}
	})
}
