package rdb

import (
	"context"
	"strings"
	"testing"

	"switchboard/internal/redistest"
)

// After a script cache flush (a Redis restart), a batch must still run its
// commands in order: a plain command queued after a script sees the
// script's effect.
func TestBatchReplaysInOrderAfterNoScript(t *testing.T) {
	c, p := redistest.Own(t), "" // its SCRIPT FLUSH must not reach other tests
	ctx := context.Background()
	set := NewScript(`redis.call('SET', KEYS[1], ARGV[1]); return 1`)
	for round := 0; round < 2; round++ {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		c.Del(ctx, p+"k", p+"log")
		b := NewBatch(c)
		res := b.Run(ctx, set, []string{p + "k"}, "v1")
		get := b.Pipe().Get(ctx, p+"k")
		if err := b.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := res.Int(); n != 1 {
			t.Fatalf("script result %v, %v", res.Val(), res.Err())
		}
		if get.Val() != "v1" {
			t.Fatalf("round %d: command after the script saw %q, want the script's write", round, get.Val())
		}
	}
	// With the script cached, one execution.
	b := NewBatch(c)
	b.Run(ctx, set, []string{p + "k"}, "v2")
	incr := b.Pipe().Incr(ctx, p+"n")
	if err := b.Exec(ctx); err != nil || incr.Val() != 1 {
		t.Fatalf("cached script batch ran plain commands %d times (%v)", incr.Val(), err)
	}
}

func TestClusterURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis+cluster://a:7000,b:7001":            "redis://a:7000?addr=b%3A7001",
		"rediss+cluster://u:p@a:7000,b:7001":       "rediss://u:p@a:7000?addr=b%3A7001",
		"redis://a:7000,redis://b:7001,c:7002":     "redis://a:7000?addr=b%3A7001&addr=c%3A7002",
		"redis+cluster://a:7000/0?dial_timeout=3s": "redis://a:7000?dial_timeout=3s",
	} {
		got, ok := clusterURL(in)
		if !ok || got != want {
			t.Errorf("clusterURL(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := clusterURL("redis://a:6379/0"); ok {
		t.Error("a single URL was taken for a cluster")
	}
	if got := Redact("redis://u:secret@h:1/0,redis://:pw@h2:2"); got != "redis://***@h:1/0,redis://***@h2:2" {
		t.Errorf("Redact = %q", got)
	}
}

// A URL that does not parse must not put its password in the error.
func TestOpenErrorHidesPassword(t *testing.T) {
	_, err := Open(context.Background(), "redis://:s3cr%zzet@127.0.0.1:1/0")
	if err == nil {
		t.Fatal("a malformed URL was accepted")
	}
	if strings.Contains(err.Error(), "s3cr") {
		t.Fatalf("error shows the password: %v", err)
	}
}
