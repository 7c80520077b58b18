package lease_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/lease"
	"switchboard/internal/redistest"
)

// guard bounds every wait; it only turns a hang into a failure, the tests
// assert no timings.
const guard = 10 * time.Second

// waitFor polls cond until it holds, failing t after guard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", guard, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func holder(t *testing.T, rdb redis.UniversalClient, key string) string {
	t.Helper()
	v, err := rdb.Get(context.Background(), key).Result()
	if errors.Is(err, redis.Nil) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestToken(t *testing.T) {
	a := lease.New(nil, "k", time.Second)
	b := lease.New(nil, "k", time.Second)
	if a.Token() == b.Token() {
		t.Fatalf("two holders share the token %q", a.Token())
	}
	host, _ := os.Hostname()
	want := host + ":" + strconv.Itoa(os.Getpid()) + ":"
	if !strings.HasPrefix(a.Token(), want) || len(a.Token()) == len(want) {
		t.Fatalf("token %q, want %q and a random part", a.Token(), want+"...")
	}
}

// One of two holders takes the lease; only it can renew or release it.
func TestOneHolder(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	key := prefix + "{job}:lease"
	a := lease.New(rdb, key, time.Minute)
	b := lease.New(rdb, key, time.Minute)

	if ok, err := a.Acquire(ctx); err != nil || !ok {
		t.Fatalf("a.Acquire = %v, %v; want true", ok, err)
	}
	if ok, err := b.Acquire(ctx); err != nil || ok {
		t.Fatalf("b.Acquire = %v, %v; want false while a holds it", ok, err)
	}
	if ok, err := a.Acquire(ctx); err != nil || ok {
		t.Fatalf("a.Acquire again = %v, %v; want false", ok, err)
	}
	if h := holder(t, rdb, key); h != a.Token() {
		t.Fatalf("lease %q, want a's token %q", h, a.Token())
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("lease TTL %v, want up to a minute", ttl)
	}

	if ok, err := b.Renew(ctx); err != nil || ok {
		t.Fatalf("b.Renew = %v, %v; want false", ok, err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatalf("b.Release: %v", err)
	}
	if h := holder(t, rdb, key); h != a.Token() {
		t.Fatalf("after b's release the lease is %q, want a's", h)
	}

	// Renew sets the TTL again.
	if err := rdb.PExpire(ctx, key, 2*time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.Renew(ctx); err != nil || !ok {
		t.Fatalf("a.Renew = %v, %v; want true", ok, err)
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("renewed TTL %v, want up to a minute", ttl)
	}

	if err := a.Release(ctx); err != nil {
		t.Fatalf("a.Release: %v", err)
	}
	if h := holder(t, rdb, key); h != "" {
		t.Fatalf("after a's release the lease is %q", h)
	}
	if ok, err := a.Renew(ctx); err != nil || ok {
		t.Fatalf("a.Renew after release = %v, %v; want false", ok, err)
	}
	if ok, err := b.Acquire(ctx); err != nil || !ok {
		t.Fatalf("b.Acquire after a's release = %v, %v; want true", ok, err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("a.Release of b's lease: %v", err)
	}
	if h := holder(t, rdb, key); h != b.Token() {
		t.Fatalf("after a released b's lease it is %q, want b's", h)
	}
}

// A lease that is not renewed expires and another holder takes it; the
// old holder can then neither renew nor release it.
func TestExpiry(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	key := prefix + "{job}:lease"
	a := lease.New(rdb, key, 100*time.Millisecond)
	b := lease.New(rdb, key, time.Minute)
	if ok, err := a.Acquire(ctx); err != nil || !ok {
		t.Fatalf("a.Acquire = %v, %v", ok, err)
	}
	waitFor(t, "b takes the expired lease", func() bool {
		ok, err := b.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
	if ok, err := a.Renew(ctx); err != nil || ok {
		t.Fatalf("a.Renew of b's lease = %v, %v; want false", ok, err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if h := holder(t, rdb, key); h != b.Token() {
		t.Fatalf("lease %q, want b's", h)
	}
}

// keep runs l.Keep in the background; the channel gets its result.
func keep(ctx context.Context, l *lease.Lease, failed func(error)) <-chan bool {
	done := make(chan bool, 1)
	go func() { done <- l.Keep(ctx, failed) }()
	return done
}

func result(t *testing.T, done <-chan bool) bool {
	t.Helper()
	select {
	case lost := <-done:
		return lost
	case <-time.After(guard):
		t.Fatalf("Keep did not return within %s", guard)
		return false
	}
}

// Keep renews the lease until ctx ends, and leaves it in place then.
func TestKeepRenews(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	key := prefix + "{job}:lease"
	a := lease.New(rdb, key, 600*time.Millisecond)
	if ok, err := a.Acquire(context.Background()); err != nil || !ok {
		t.Fatalf("a.Acquire = %v, %v", ok, err)
	}
	// A TTL far above the lease's: only a renewal brings it back down.
	if err := rdb.PExpire(context.Background(), key, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := keep(ctx, a, func(err error) { t.Errorf("Renew failed: %v", err) })
	waitFor(t, "Keep renews the lease", func() bool {
		ttl := rdb.PTTL(context.Background(), key).Val()
		return ttl > 0 && ttl <= 600*time.Millisecond
	})
	cancel()
	if lost := result(t, done); lost {
		t.Fatal("Keep reported the lease lost when ctx ended")
	}
	if h := holder(t, rdb, key); h != a.Token() {
		t.Fatalf("lease %q after Keep, want a's", h)
	}
}

// Keep reports the lease lost once it is someone else's.
func TestKeepTakenOver(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	key := prefix + "{job}:lease"
	a := lease.New(rdb, key, 300*time.Millisecond)
	if ok, err := a.Acquire(context.Background()); err != nil || !ok {
		t.Fatalf("a.Acquire = %v, %v", ok, err)
	}
	done := keep(context.Background(), a, nil)
	if err := rdb.Set(context.Background(), key, "someone else", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if lost := result(t, done); !lost {
		t.Fatal("Keep returned without the lease lost")
	}
	if h := holder(t, rdb, key); h != "someone else" {
		t.Fatalf("lease %q, want the other holder's", h)
	}
}

// Keep reports the lease lost when Renew keeps failing, telling failed.
func TestKeepFailing(t *testing.T) {
	opts, err := redis.ParseURL("redis://127.0.0.1:1/0") // nothing listens on port 1
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries = -1
	down := redis.NewClient(opts)
	defer down.Close()
	a := lease.New(down, "{job}:lease", 300*time.Millisecond)
	failures := make(chan error, 100)
	done := keep(context.Background(), a, func(err error) {
		select {
		case failures <- err:
		default:
		}
	})
	if lost := result(t, done); !lost {
		t.Fatal("Keep returned without the lease lost")
	}
	if len(failures) == 0 {
		t.Fatal("failed was not told")
	}
}
