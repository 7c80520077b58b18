package kpi

import (
	"context"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Cached wraps a Source so that reports asked for within fresh of each
// other share one read of the event log: a dashboard open on several
// supervisors' screens, each refreshing, reads Redis once per period
// instead of once per screen. A read for [from, to) serves a later
// request with the same from and a to at most fresh later (the events
// of that last stretch show on the next read), while it is younger than
// fresh. Requests that arrive together for the same period wait for one
// read. The events returned are shared: callers must not change them.
func Cached(src Source, fresh time.Duration) Source {
	return &cached{src: src, fresh: fresh, now: time.Now, entries: map[int64]cacheEntry{}}
}

// maxCacheEntries bounds the periods kept at once.
const maxCacheEntries = 32

type cached struct {
	src   Source
	fresh time.Duration
	now   func() time.Time
	group singleflight.Group

	mu      sync.Mutex
	entries map[int64]cacheEntry // by from, in ns
}

type cacheEntry struct {
	to     time.Time
	read   time.Time
	events []Event
}

// Events returns the events of [from, to), from a recent read when one
// covers the period.
func (c *cached) Events(ctx context.Context, from, to time.Time) ([]Event, error) {
	now := c.now()
	key := from.UnixNano()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Sub(e.read) < c.fresh && !to.Before(e.to) && to.Sub(e.to) < c.fresh {
		return e.events, nil
	}
	v, err, _ := c.group.Do(strconv.FormatInt(key, 10)+"-"+strconv.FormatInt(to.UnixNano(), 10), func() (any, error) {
		// The read serves every waiting request: one leaving must not
		// cancel it for the others.
		evs, err := c.src.Events(context.WithoutCancel(ctx), from, to)
		if err != nil {
			return nil, err
		}
		c.store(key, cacheEntry{to: to, read: now, events: evs})
		return evs, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]Event), nil
}

// store keeps an entry, dropping stale ones and, when full, the oldest.
func (c *cached) store(key int64, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var oldest int64
	first := true
	for k, x := range c.entries {
		if e.read.Sub(x.read) >= c.fresh {
			delete(c.entries, k)
			continue
		}
		if first || x.read.Before(c.entries[oldest].read) {
			oldest, first = k, false
		}
	}
	if len(c.entries) >= maxCacheEntries && !first {
		delete(c.entries, oldest)
	}
	c.entries[key] = e
}
