package rdb

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"switchboard/internal/redistest"
)

// Many callers at once: each batch's results are its own and in its own
// order, even after the script cache was flushed mid-way; Go batches are
// all applied by the time Close returns.
func TestCommitterGroupsBatches(t *testing.T) {
	c, p := redistest.Own(t), "" // its SCRIPT FLUSH must not reach other tests
	ctx := context.Background()
	cm := NewCommitter(c, 2)
	incr := NewScript(`return redis.call('INCRBY', KEYS[1], ARGV[1])`)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		if i == 100 {
			c.ScriptFlush(ctx)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			key := fmt.Sprintf("%sk%d", p, i)
			b := NewBatch(c)
			first := b.Run(ctx, incr, []string{key}, i)
			get := b.Pipe().Get(ctx, key)
			second := b.Run(ctx, incr, []string{key}, 1)
			if err := cm.Exec(ctx, b); err != nil {
				errs <- err
				return
			}
			if first.Val() != int64(i) || get.Val() != fmt.Sprint(i) || second.Val() != int64(i+1) {
				errs <- fmt.Errorf("batch %d saw %v, %q, %v", i, first.Val(), get.Val(), second.Val())
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := 0; i < 50; i++ {
		b := NewBatch(c)
		b.Pipe().Incr(ctx, p+"later")
		cm.Go(b, func(err error) { t.Error(err) })
	}
	cm.Close()
	if n, _ := c.Get(ctx, p+"later").Int(); n != 50 {
		t.Fatalf("%d of 50 fire-and-forget batches applied by Close", n)
	}
	// After Close, batches still go out (alone).
	b := NewBatch(c)
	inc := b.Pipe().Incr(ctx, p+"after")
	if err := cm.Exec(ctx, b); err != nil || inc.Val() != 1 {
		t.Fatalf("after Close: %v, %v", inc.Val(), err)
	}
}
