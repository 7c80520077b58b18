package rdb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Script is a Lua script that can run alone or inside a pipeline.
type Script struct {
	*redis.Script
	src string
}

// NewScript wraps Lua source.
func NewScript(src string) *Script { return &Script{Script: redis.NewScript(src), src: src} }

// IsNoScript reports whether err says the script cache lacks the script.
func IsNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// Pending is a script call queued in a pipeline, remembered so it can be
// retried as EVAL.
type Pending struct {
	Cmd    *redis.Cmd
	script *Script
	keys   []string
	args   []any
}

// Batch queues script calls in a pipeline and repairs NOSCRIPT failures.
type Batch struct {
	c       redis.Cmdable
	pipe    redis.Pipeliner
	pending []*Pending
}

// NewBatch starts a pipeline on c.
func NewBatch(c redis.Cmdable) *Batch { return &Batch{c: c, pipe: c.Pipeline()} }

// Pipe exposes the pipeline for plain commands.
func (b *Batch) Pipe() redis.Pipeliner { return b.pipe }

// Run queues one script call.
func (b *Batch) Run(ctx context.Context, s *Script, keys []string, args ...any) *redis.Cmd {
	p := &Pending{Cmd: s.EvalSha(ctx, b.pipe, keys, args...), script: s, keys: keys, args: args}
	b.pending = append(b.pending, p)
	return p.Cmd
}

// Exec sends the pipeline in one round trip. Script calls that failed with
// NOSCRIPT (a restarted or failed-over Redis) run again with EVAL, which
// also loads them, and their results replace the failed ones. The error is
// the first failure of any command other than redis.Nil.
func (b *Batch) Exec(ctx context.Context) error {
	if b.pipe.Len() == 0 {
		return nil
	}
	cmds := b.pipe.Cmds()
	_, _ = b.pipe.Exec(ctx) // errors are read per command below
	for _, p := range b.pending {
		if IsNoScript(p.Cmd.Err()) {
			*p.Cmd = *p.script.Script.Eval(ctx, b.c, p.keys, p.args...)
		}
	}
	for _, c := range cmds {
		if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) {
			return fmt.Errorf("rdb: %s: %w", c.Name(), e)
		}
	}
	return nil
}
