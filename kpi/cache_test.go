package kpi

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingSource answers one event per read, stamped with the read's
// number, and counts the reads.
type countingSource struct {
	reads atomic.Int32
	fail  atomic.Bool
	gate  chan struct{}
}

func (s *countingSource) Events(_ context.Context, from, to time.Time) ([]Event, error) {
	n := s.reads.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	if s.fail.Load() {
		return nil, errors.New("redis down")
	}
	return []Event{{At: from, Ticket: "t", Value: float64(n)}}, nil
}

func TestCachedSharesRecentReads(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	day := t0.Add(-10 * time.Hour)
	cases := []struct {
		name      string
		after     time.Duration // since the first read
		from      time.Time
		to        time.Duration // since t0
		wantReads int32
	}{
		{"the same period at once", 0, day, 0, 1},
		{"a later to within fresh", 5 * time.Second, day, 5 * time.Second, 1},
		{"a to beyond fresh", 5 * time.Second, day, 20 * time.Second, 2},
		{"an earlier to", time.Second, day, -time.Second, 2},
		{"the read grew stale", 16 * time.Second, day, 16 * time.Second, 2},
		{"another from", time.Second, day.Add(time.Hour), time.Second, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := &countingSource{}
			c := Cached(src, 15*time.Second).(*cached)
			now := t0
			c.now = func() time.Time { return now }
			if _, err := c.Events(context.Background(), day, t0); err != nil {
				t.Fatal(err)
			}
			now = t0.Add(tc.after)
			evs, err := c.Events(context.Background(), tc.from, t0.Add(tc.to))
			if err != nil {
				t.Fatal(err)
			}
			if got := src.reads.Load(); got != tc.wantReads {
				t.Errorf("%d reads, want %d", got, tc.wantReads)
			}
			if len(evs) != 1 || evs[0].Value != float64(tc.wantReads) || !evs[0].At.Equal(tc.from) {
				t.Errorf("events %+v, want those of read %d", evs, tc.wantReads)
			}
		})
	}
}

func TestCachedOneReadForConcurrentRequests(t *testing.T) {
	src := &countingSource{gate: make(chan struct{})}
	c := Cached(src, 15*time.Second)
	from, to := time.Unix(1000, 0), time.Unix(2000, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Events(context.Background(), from, to)
			errs <- err
		}()
	}
	// Let the first read start, then release it.
	for src.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(src.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := src.reads.Load(); n > 2 {
		// Requests that arrived after the read ended but before it was
		// stored may read again; never one per request.
		t.Errorf("%d reads for 8 concurrent requests", n)
	}
}

func TestCachedKeepsNoFailure(t *testing.T) {
	src := &countingSource{}
	src.fail.Store(true)
	c := Cached(src, 15*time.Second)
	from, to := time.Unix(1000, 0), time.Unix(2000, 0)
	if _, err := c.Events(context.Background(), from, to); err == nil {
		t.Fatal("the failing read's error was lost")
	}
	src.fail.Store(false)
	evs, err := c.Events(context.Background(), from, to)
	if err != nil || len(evs) != 1 || src.reads.Load() != 2 {
		t.Errorf("after a failure: %v %v, %d reads; want a fresh read", evs, err, src.reads.Load())
	}
}

func TestCachedBounded(t *testing.T) {
	src := &countingSource{}
	c := Cached(src, time.Minute).(*cached)
	for i := range 3 * maxCacheEntries {
		if _, err := c.Events(context.Background(), time.Unix(int64(i), 0), time.Unix(5000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.entries); n > maxCacheEntries {
		t.Errorf("%d entries kept, want at most %d", n, maxCacheEntries)
	}
}
