package ami

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"switchboard/connectors"
)

// The queue between the socket's reader and Handle. AMI has no replay: an
// event not read in time is lost, and a manager whose writes to a slow
// reader time out drops the session. So the reader never waits on Handle
// for long:
//
//   - An event that finds the queue full waits up to Config.QueueWait for
//     room (a brief stall of Handle loses nothing), with a warning and
//     switchboard_ami_queue_full_total.
//   - If the queue is still full, the event is dropped, and so is every
//     event after it while the queue stays full, so the reader keeps up
//     with the manager and the calls after the stall are whole. Each drop
//     counts in switchboard_ami_call_events_dropped_total{reason="queue_full"};
//     the first is logged as an error, the number dropped once room is back.
//
// One dispatcher hands the queue's events to Handle in the order they were
// read, so each call's events stay in order.

// enqueue puts ev in the queue, as above. It returns an error only when
// ctx ends. The reader calls it; one reader at a time.
func (c *Client) enqueue(ctx context.Context, ev connectors.CallEvent) error {
	select {
	case c.queue <- ev:
		c.shed()
		return nil
	default:
	}
	if c.shedding > 0 {
		c.drop(ev)
		return nil
	}
	c.m.waits.Inc()
	c.notify("full", nil)
	c.log.Warn("ami: call-event queue full (Handle is slow); reading paused", "size", cap(c.queue), "for_at_most", c.cfg.QueueWait)
	t := time.NewTimer(c.cfg.QueueWait)
	defer t.Stop()
	select {
	case c.queue <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	c.log.Error("ami: call events dropped: the queue stayed full; dropping until there is room", "call", ev.CallID, "type", ev.Type,
		"waited", c.cfg.QueueWait)
	c.drop(ev)
	return nil
}

// drop counts ev as lost to a full queue.
func (c *Client) drop(ev connectors.CallEvent) {
	c.shedding++
	c.m.dropped.WithLabelValues("queue_full").Inc()
	c.log.Debug("ami: call event dropped", "call", ev.CallID, "type", ev.Type)
	c.notify("drop", nil)
}

// shed ends a time of dropping once the queue has room again.
func (c *Client) shed() {
	if c.shedding == 0 {
		return
	}
	c.log.Warn("ami: call-event queue has room again", "dropped", c.shedding)
	c.shedding = 0
}

// dispatch hands queued events to Handle, one at a time, until ctx ends.
func (c *Client) dispatch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			if n := len(c.queue); n > 0 {
				c.log.Warn("ami: stopping with call events not handled", "events", n)
			}
			return
		case ev := <-c.queue:
			c.deliver(ctx, ev)
		}
	}
}

// deliver hands ev to Handle, retrying a failure with backoff for up to
// tuning.handleRetry (Handle is idempotent: a repeat changes nothing). A
// *connectors.Error that is not Temporary, or a panic, is not retried.
func (c *Client) deliver(ctx context.Context, ev connectors.CallEvent) {
	start, delay := time.Now(), 100*time.Millisecond
	for attempt := 1; ; attempt++ {
		err := c.handle(ctx, ev)
		if err == nil {
			c.m.calls.WithLabelValues(string(ev.Type)).Inc()
			return
		}
		if ctx.Err() != nil {
			return
		}
		var ce *connectors.Error
		final := errors.As(err, &ce) && !ce.Temporary || errors.Is(err, errPanic)
		if final || time.Since(start) >= c.tune.handleRetry {
			c.m.dropped.WithLabelValues("refused").Inc()
			c.log.Error("ami: call event not handled; dropped", "call", ev.CallID, "type", ev.Type, "attempts", attempt, "err", err)
			c.notify("refused", err)
			return
		}
		if attempt == 1 {
			c.log.Warn("ami: call event not handled; retrying", "call", ev.CallID, "type", ev.Type, "err", err)
		}
		if sleep(ctx, delay) != nil {
			return
		}
		delay = min(2*delay, c.tune.handleBackoffMax)
	}
}

// errPanic marks a panic of Handle, which is not retried.
var errPanic = errors.New("ami: Handle panicked")

// handle calls Handle once, turning a panic into an error.
func (c *Client) handle(ctx context.Context, ev connectors.CallEvent) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("ami: Handle panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	return c.o.Handle(ctx, ev)
}
