// Package lease is a Redis lease that lets one replica at a time do a job
// (poll a mailbox, follow an Asterisk manager): a string key holding the
// holder's token, taken with SET NX and a TTL, renewed by a
// compare-and-PEXPIRE script and released by a compare-and-DEL script, so
// only the holder can extend or drop it. Every command touches the one
// key, so it works on Redis Cluster (one hash slot).
//
// It does not fence: there is no fencing token, and holding the lease a
// moment ago does not mean holding it now (a replica paused past the TTL
// has lost it without knowing). A caller that writes under the lease must
// check it in the same script as the write, comparing the key with Token
// (as the IMAP poller's watermark script does). Nor does it wait for the
// lease, log, count or back off: that is the caller's.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	// renewScript extends the lease if the caller still holds it.
	// KEYS[1] lease; ARGV[1] token, ARGV[2] TTL (ms). Returns 1 or 0.
	renewScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)
	// releaseScript deletes the lease if the caller holds it.
	// KEYS[1] lease; ARGV[1] token. Returns 1 or 0.
	releaseScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)
)

// Lease is one holder's handle on a lease key. It holds no state beyond
// its key, TTL and token, and is safe for concurrent use.
type Lease struct {
	rdb   redis.UniversalClient
	key   string
	ttl   time.Duration
	token string
}

// New returns a handle on the lease at key with the given TTL, under a new
// random holder token ("host:pid:random"). It does not touch Redis.
func New(rdb redis.UniversalClient, key string, ttl time.Duration) *Lease {
	host, _ := os.Hostname()
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Lease{rdb: rdb, key: key, ttl: ttl,
		token: host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b[:])}
}

// Token returns this holder's token, the lease key's value while it holds
// the lease.
func (l *Lease) Token() string { return l.token }

// Acquire takes the lease if nobody holds it (SET NX with the TTL), and
// reports whether it did. It returns false when anybody holds it, this
// holder included.
func (l *Lease) Acquire(ctx context.Context) (bool, error) {
	return l.rdb.SetNX(ctx, l.key, l.token, l.ttl).Result()
}

// Renew resets the lease's TTL if this holder still holds it, and reports
// whether it did; false means the lease is someone else's or gone.
func (l *Lease) Renew(ctx context.Context) (bool, error) {
	n, err := renewScript.Run(ctx, l.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
	return n == 1, err
}

// Release deletes the lease if this holder holds it, and does nothing
// otherwise.
func (l *Lease) Release(ctx context.Context) error {
	return releaseScript.Run(ctx, l.rdb, []string{l.key}, l.token).Err()
}

// Keep renews the lease every third of its TTL until ctx ends, when it
// returns false, or the lease is lost, when it returns true: found to be
// someone else's or gone, or not renewed for two thirds of its TTL because
// Renew kept failing (it may have expired). failed, when not nil, is told
// each failed Renew. Keep neither takes nor releases the lease.
func (l *Lease) Keep(ctx context.Context, failed func(error)) (lost bool) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		ok, err := l.Renew(ctx)
		switch {
		case ctx.Err() != nil:
			return false
		case err == nil && ok:
			last = time.Now()
		case err == nil:
			return true
		default:
			if failed != nil {
				failed(err)
			}
			if time.Since(last) >= l.ttl*2/3 {
				return true
			}
		}
	}
}
