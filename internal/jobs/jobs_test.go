package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/redistest"
)

// run starts q and returns a function that stops it and waits.
func run(t *testing.T, q Queue) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Every entry is handled; entries with one key are handled one at a time,
// in stream order, while other keys proceed in parallel.
func TestEntriesHandledKeyedInOrder(t *testing.T) {
	c, prefix := redistest.Client(t)
	ctx := context.Background()
	stream := prefix + "{j}:jobs"
	var mu sync.Mutex
	seen := map[string][]int{}
	busy := map[string]bool{}
	var overlap bool
	stop := run(t, Queue{Redis: c, Stream: stream, Group: "g", Consumer: "c1", MinIdle: time.Minute,
		Key: func(m redis.XMessage) string { return m.Values["k"].(string) },
		Handle: func(_ context.Context, m redis.XMessage) error {
			k := m.Values["k"].(string)
			var n int
			fmt.Sscan(m.Values["n"].(string), &n)
			mu.Lock()
			if busy[k] {
				overlap = true
			}
			busy[k] = true
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			busy[k] = false
			seen[k] = append(seen[k], n)
			mu.Unlock()
			return nil
		}})
	defer stop()
	for i := 0; i < 200; i++ {
		c.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"k", fmt.Sprint("key", i%5), "n", i}})
	}
	waitFor(t, "200 entries", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, v := range seen {
			n += len(v)
		}
		return n == 200
	})
	mu.Lock()
	defer mu.Unlock()
	if overlap {
		t.Error("two entries of one key ran at once")
	}
	for k, v := range seen {
		for i := 1; i < len(v); i++ {
			if v[i] < v[i-1] {
				t.Fatalf("key %s out of order: %v", k, v)
			}
		}
	}
	pending, _ := c.XPending(ctx, stream, "g").Result()
	if pending.Count != 0 {
		t.Errorf("%d entries left unacknowledged", pending.Count)
	}
}

// A failed entry stays pending and is tried again after MinIdle; one whose
// consumer died is taken over by another consumer.
func TestFailedAndOrphanedEntriesAreRetried(t *testing.T) {
	c, prefix := redistest.Client(t)
	ctx := context.Background()
	stream := prefix + "{j}:jobs"
	if err := EnsureGroup(ctx, c, stream, "g"); err != nil {
		t.Fatal(err)
	}
	// A consumer that read an entry and died before acknowledging it.
	c.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"id", "orphan"}})
	if _, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "dead", Streams: []string{stream, ">"}, Count: 1}).Result(); err != nil {
		t.Fatal(err)
	}
	c.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"id", "flaky"}})
	var mu sync.Mutex
	tries := map[string]int{}
	stop := run(t, Queue{Redis: c, Stream: stream, Group: "g", Consumer: "alive", MinIdle: 300 * time.Millisecond,
		Handle: func(_ context.Context, m redis.XMessage) error {
			id := m.Values["id"].(string)
			mu.Lock()
			defer mu.Unlock()
			tries[id]++
			if id == "flaky" && tries[id] == 1 {
				return errors.New("first try fails")
			}
			return nil
		}})
	defer stop()
	waitFor(t, "both entries done", func() bool {
		p, _ := c.XPending(ctx, stream, "g").Result()
		mu.Lock()
		defer mu.Unlock()
		return p.Count == 0 && tries["orphan"] >= 1 && tries["flaky"] >= 2
	})
}

// Run recreates a stream and group that Redis lost.
func TestGroupRecreatedAfterLoss(t *testing.T) {
	c, prefix := redistest.Client(t)
	ctx := context.Background()
	stream := prefix + "{j}:jobs"
	var mu sync.Mutex
	got := 0
	stop := run(t, Queue{Redis: c, Stream: stream, Group: "g", Consumer: "c1", MinIdle: time.Minute,
		Handle: func(context.Context, redis.XMessage) error { mu.Lock(); got++; mu.Unlock(); return nil }})
	defer stop()
	c.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"a", 1}})
	waitFor(t, "the first entry", func() bool { mu.Lock(); defer mu.Unlock(); return got == 1 })
	c.Del(ctx, stream) // a flush, a restart without AOF
	waitFor(t, "the group to come back", func() bool {
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: stream, NoMkStream: true, Values: []any{"a", 2}}).Err(); err != nil {
			return false
		}
		return true
	})
	waitFor(t, "an entry after the loss", func() bool { mu.Lock(); defer mu.Unlock(); return got >= 2 })
}

// A slow backlog: entries waiting in a worker's buffer past MinIdle are
// found idle by the reclaim, but are not handed out a second time.
func TestReclaimSkipsEntriesInHand(t *testing.T) {
	c, prefix := redistest.Client(t)
	ctx := context.Background()
	stream := prefix + "{j}:jobs"
	var mu sync.Mutex
	runs := map[string]int{}
	stop := run(t, Queue{Redis: c, Stream: stream, Group: "g", Consumer: "c1", MinIdle: 150 * time.Millisecond, Parallel: 1,
		Handle: func(_ context.Context, m redis.XMessage) error {
			time.Sleep(100 * time.Millisecond)
			mu.Lock()
			runs[m.ID]++
			mu.Unlock()
			return nil
		}})
	defer stop()
	// Entries keep arriving, so the read loop turns (and reclaims) while
	// the one worker is behind.
	for i := 0; i < 12; i++ {
		c.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"n", i}})
		time.Sleep(40 * time.Millisecond)
	}
	waitFor(t, "twelve entries", func() bool {
		p, _ := c.XPending(ctx, stream, "g").Result()
		mu.Lock()
		defer mu.Unlock()
		return len(runs) == 12 && p.Count == 0
	})
	time.Sleep(300 * time.Millisecond) // a second run would have started by now
	mu.Lock()
	defer mu.Unlock()
	for id, n := range runs {
		if n != 1 {
			t.Errorf("entry %s handled %d times", id, n)
		}
	}
}
