package rdb

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Committer sends the batches of many concurrent callers together, one
// pipeline for as many batches as are waiting (group commit): under load a
// message costs a fraction of a round trip, and Redis and the gateway
// make far fewer system calls. Each caller still gets its own results, in
// its own order, after Redis has them.
type Committer struct {
	c       redis.Cmdable
	in      chan *Batch
	maxCmds int
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	// mu makes handing over and closing exclusive: once closed is set,
	// nothing enters in, and the workers drain what did before they stop.
	mu     sync.RWMutex
	closed bool
}

// NewCommitter starts workers pipelines in flight at once on c. Close
// stops it.
func NewCommitter(c redis.Cmdable, workers int) *Committer {
	cm := &Committer{c: c, in: make(chan *Batch, 1024), maxCmds: 512, stop: make(chan struct{})}
	for i := 0; i < workers; i++ {
		cm.wg.Add(1)
		go cm.loop()
	}
	return cm
}

// Close stops the workers after the batches already handed over.
func (cm *Committer) Close() {
	cm.once.Do(func() {
		cm.mu.Lock()
		cm.closed = true
		close(cm.stop)
		cm.mu.Unlock()
	})
	cm.wg.Wait()
}

// handOver puts b on the queue; false means the committer is closed and
// the caller must send b itself.
func (cm *Committer) handOver(ctx context.Context, b *Batch) (bool, error) {
	cm.mu.RLock()
	defer cm.mu.RUnlock()
	if cm.closed {
		return false, nil
	}
	select {
	case cm.in <- b: // blocks when 1024 batches wait: back-pressure
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Exec sends b with whatever other batches are waiting and returns once
// Redis answered b. The error is as Batch.Exec's.
func (cm *Committer) Exec(ctx context.Context, b *Batch) error {
	if b.pipe.Len() == 0 {
		return nil
	}
	b.done = make(chan struct{})
	queued, err := cm.handOver(ctx, b)
	if err != nil {
		return err
	}
	if !queued {
		return b.Exec(ctx) // closed: go alone
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		// The batch is in a pipeline already; it completes without us.
		return ctx.Err()
	}
}

// Go hands b over without waiting for Redis: for work that need not hold
// up the caller (telling agents about a message already stored). onErr,
// when set, hears of a failure. Close still waits for it.
func (cm *Committer) Go(b *Batch, onErr func(error)) {
	if b.pipe.Len() == 0 {
		return
	}
	b.done, b.onErr = make(chan struct{}), onErr
	if queued, _ := cm.handOver(context.Background(), b); queued {
		return
	}
	// Closed: send it alone, now.
	if err := b.Exec(context.Background()); err != nil && onErr != nil {
		onErr(err)
	}
}

func (cm *Committer) loop() {
	defer cm.wg.Done()
	for {
		var first *Batch
		select {
		case first = <-cm.in:
		case <-cm.stop:
			// Finish what was handed over before stopping.
			for {
				select {
				case b := <-cm.in:
					cm.commit([]*Batch{b})
				default:
					return
				}
			}
		}
		group, n := []*Batch{first}, first.pipe.Len()
		for n < cm.maxCmds {
			select {
			case b := <-cm.in:
				group = append(group, b)
				n += b.pipe.Len()
				continue
			default:
			}
			break
		}
		cm.commit(group)
	}
}

// commit runs a group in one pipeline; a batch that met an empty script
// cache is replayed alone, so the rule of Batch.Exec holds per batch.
func (cm *Committer) commit(group []*Batch) {
	ctx := context.Background()
	pipe := cm.c.Pipeline()
	for _, b := range group {
		for _, c := range b.pipe.Cmds() {
			_ = pipe.Process(ctx, c)
		}
	}
	_, _ = pipe.Exec(ctx)
	for _, b := range group {
		cmds := b.pipe.Cmds()
		if anyNoScript(cmds) {
			b.err = b.replay(ctx, cmds)
		} else {
			b.err = firstError(cmds)
		}
		close(b.done)
		if b.err != nil && b.onErr != nil {
			b.onErr(b.err)
		}
	}
}

func firstError(cmds []redis.Cmder) error {
	for _, c := range cmds {
		if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) {
			return fmt.Errorf("rdb: %s: %w", c.Name(), e)
		}
	}
	return nil
}
