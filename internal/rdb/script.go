package rdb

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Script is a Lua script that can run alone or inside a pipeline.
type Script struct{ *redis.Script }

// NewScript wraps Lua source.
func NewScript(src string) *Script { return &Script{redis.NewScript(src)} }

// IsNoScript reports whether err says the script cache lacks the script.
func IsNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// Batch queues script calls and plain commands in one pipeline, one
// round trip.
//
// When Redis lacks a script (it restarted, or failed over, and its script
// cache is empty), the script calls fail with NOSCRIPT while the plain
// commands after them have already run. Exec then loads the scripts and
// sends the whole batch again, in order, so no command ever sees the
// effects of a later one without those of an earlier one. Every command
// in a batch must therefore be safe to run twice (SET NX, ZADD, HSET, an
// XADD whose consumer is idempotent, …).
type Batch struct {
	c       redis.Cmdable
	pipe    redis.Pipeliner
	scripts []*Script
	// done and err carry the outcome when a Committer sends the batch.
	done  chan struct{}
	err   error
	onErr func(error)
}

// NewBatch starts a pipeline on c.
func NewBatch(c redis.Cmdable) *Batch { return &Batch{c: c, pipe: c.Pipeline()} }

// Pipe exposes the pipeline for plain commands.
func (b *Batch) Pipe() redis.Pipeliner { return b.pipe }

// Run queues one script call.
func (b *Batch) Run(ctx context.Context, s *Script, keys []string, args ...any) *redis.Cmd {
	b.scripts = append(b.scripts, s)
	return s.EvalSha(ctx, b.pipe, keys, args...)
}

// Exec sends the batch. The error is the first failure of any command
// other than redis.Nil; each command's own result stays readable.
func (b *Batch) Exec(ctx context.Context) error {
	if b.pipe.Len() == 0 {
		return nil
	}
	cmds := b.pipe.Cmds()
	_, _ = b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range cmds {
			_ = p.Process(ctx, c)
		}
		return nil
	}) // errors are read per command below
	if anyNoScript(cmds) {
		return b.replay(ctx, cmds)
	}
	return firstError(cmds)
}

// replay loads the batch's scripts and sends all of its commands again,
// in order, after some met an empty script cache.
func (b *Batch) replay(ctx context.Context, cmds []redis.Cmder) error {
	for _, s := range b.scripts {
		if err := s.Load(ctx, b.c).Err(); err != nil {
			return fmt.Errorf("rdb: load script: %w", err)
		}
	}
	_, _ = b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range cmds {
			c.SetErr(nil)
			_ = p.Process(ctx, c)
		}
		return nil
	})
	return firstError(cmds)
}

func anyNoScript(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if IsNoScript(c.Err()) {
			return true
		}
	}
	return false
}

// LoadAll puts scripts into Redis's script cache (on every master of a
// cluster), so the first requests after start need no reload.
func LoadAll(ctx context.Context, c redis.Scripter, scripts ...*Script) error {
	for _, s := range scripts {
		if err := s.Load(ctx, c).Err(); err != nil {
			return fmt.Errorf("rdb: load script: %w", err)
		}
	}
	return nil
}
