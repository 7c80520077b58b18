package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ceiling makes the Redis writes the gateway makes for one web-chat message
// in an assigned conversation (15 commands: what the ingest scripts, the
// visitor's echo and the agent's announcement write, without their reads),
// as one raw pipeline per message from o.senders goroutines, for
// o.duration.
func ceiling(ctx context.Context, c *redis.Client, o options) (result, error) {
	var seq atomic.Int64
	seq.Store(time.Now().UnixNano()) // fresh dedup keys every run
	text := "你好，我的订单还没有到，请帮我查一下"
	payload := `{"conversation_id":"c","message":{"id":"m","direction":"in","kind":"text","text":"` + text + `"}}`
	one := func(ctx context.Context) error {
		n := seq.Add(1)
		v := strconv.FormatInt(n%int64(o.visitors), 10)
		agent := "bench:{a:" + strconv.FormatInt(n%int64(o.visitors)%int64(o.agents), 10) + "}:events"
		conv := "bench:{c:" + v + "}"
		thread := "bench:{w:s:" + v + "}"
		msg := strconv.FormatInt(n, 36)
		now := time.Now().UnixMilli()
		p := c.Pipeline()
		// Identity step: the dedup record.
		p.SetArgs(ctx, "bench:{i:"+v+"}:seen:"+msg, conv, redis.SetArgs{Mode: "NX", TTL: time.Hour})
		// Conversation step: external id, transcript, hash, live channel.
		p.SAdd(ctx, conv+":ext", msg)
		p.XAdd(ctx, &redis.XAddArgs{Stream: conv + ":msgs", Values: []any{"id", msg, "dir", "in", "kind", "text", "text", text, "at", now}})
		p.HSet(ctx, conv, "last_message_at", now, "last_in_at", now, "preview", "你好，我的订单还没有到")
		p.HIncrBy(ctx, conv, "msg_count", 1)
		p.Publish(ctx, conv+":live", payload)
		// The visitor's echo: thread stream, its expiry, the once-marker, pub/sub.
		p.XAdd(ctx, &redis.XAddArgs{Stream: thread + ":events", MaxLen: 500, Approx: true, Values: []any{"t", "message", "d", payload}})
		p.Expire(ctx, thread+":events", 30*24*time.Hour)
		p.SetArgs(ctx, thread+":m:"+msg, "1", redis.SetArgs{TTL: 24 * time.Hour})
		p.Publish(ctx, thread+":events", payload)
		// Announcement: list indexes, the agent's event stream, pub/sub.
		p.ZAdd(ctx, "bench:{x}:all", redis.Z{Score: float64(now), Member: conv})
		p.ZAdd(ctx, "bench:{x}:status:open", redis.Z{Score: float64(now), Member: conv})
		p.ZAdd(ctx, "bench:{x}:agent", redis.Z{Score: float64(now), Member: conv})
		p.XAdd(ctx, &redis.XAddArgs{Stream: agent, MaxLen: 1000, Approx: true, Values: []any{"t", "message.new", "d", payload}})
		p.Publish(ctx, agent, payload)
		_, err := p.Exec(ctx)
		if errors.Is(err, redis.Nil) {
			err = nil // SET NX found the key: a normal dedup answer
		}
		return err
	}
	return drive(ctx, "ceiling", c, o, func(ctx context.Context, _ int) (time.Duration, error) {
		t := time.Now()
		err := one(ctx)
		return time.Since(t), err
	}, hooks{})
}

// hooks let a run follow the measured window.
type hooks struct {
	start, end func(time.Time)
	finish     func(*result)
}

// drive runs send from o.senders goroutines: o.warmup unmeasured, then
// o.duration measured; the hooks run at the window's edges and after it.
func drive(ctx context.Context, kind string, c *redis.Client, o options,
	send func(ctx context.Context, worker int) (time.Duration, error), h hooks) (result, error) {
	res := result{kind: kind}
	var mu sync.Mutex
	var measuring, stop atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < o.senders; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var acks []time.Duration
			n, errs := 0, 0
			var firstErr error
			for !stop.Load() {
				m := measuring.Load()
				d, err := send(ctx, w)
				if !m || !measuring.Load() {
					continue
				}
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				n++
				acks = append(acks, d)
			}
			mu.Lock()
			res.msgs += n
			res.errors += errs
			res.ack = append(res.ack, acks...)
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			mu.Unlock()
		}(w)
	}
	time.Sleep(o.warmup)
	r0, c0, err := counters(ctx, c)
	if err != nil {
		return res, err
	}
	cs0, cpu0, err := commandStats(ctx, c)
	if err != nil {
		return res, err
	}
	start := time.Now()
	if h.start != nil {
		h.start(start)
	}
	measuring.Store(true)
	time.Sleep(o.duration)
	measuring.Store(false)
	end := time.Now()
	if h.end != nil {
		h.end(end)
	}
	r1, c1, err := counters(ctx, c)
	cs1, cpu1, err2 := commandStats(ctx, c)
	stop.Store(true)
	wg.Wait()
	if err := errors.Join(err, err2); err != nil {
		return res, err
	}
	res.elapsed, res.reads, res.commands = end.Sub(start), r1-r0, c1-c0
	res.redisCPU, res.cmdStats = cpu1-cpu0, deltaStats(cs0, cs1)
	if h.finish != nil {
		h.finish(&res)
	}
	if res.msgs == 0 {
		return res, fmt.Errorf("%s: no message got through (%d errors; first: %v)", kind, res.errors, res.firstErr)
	}
	return res, nil
}
