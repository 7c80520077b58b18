package ami

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// The lease lets one replica at a time connect to a source's manager (two
// would hand every call event twice):
//
//	PREFIX{cti:SOURCE}:ami:lease  string: the holder's token
//	                              ("host:pid:random"), SET NX PX 30 s,
//	                              renewed every 10 s by a compare-and-PEXPIRE
//	                              script, released on shutdown by a
//	                              compare-and-DEL script.
//
// A replica that finds it taken tries again every 10 s, so when the holder
// dies another takes over within about 40 s; the calls' events of that gap
// are lost (AMI has no replay), and calls in progress are adopted by the
// new holder from their next event.

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

var errLeaseLost = errors.New("ami: lease lost")

// leaseKey is the source's lease; its hash tag puts it on one slot.
func (c *Client) leaseKey() string {
	return c.o.Prefix + "{cti:" + c.o.Source + "}:ami:lease"
}

// hold connects to the manager while the lease is ours, and releases it
// when ctx ends.
func (c *Client) hold(ctx context.Context, tlsCfg *tls.Config) {
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.log.Info("ami: lease taken; this replica follows the calls", "holder", c.token)
	c.notify("lease", nil)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		c.keepLease(lctx, cancel)
	}()
	c.connect(lctx, tlsCfg, newTracker(c.o.Source, c.ext, c.cfg.InboundContexts, c.log))
	lost := context.Cause(lctx)
	cancel(nil)
	<-renewed
	if errors.Is(lost, errLeaseLost) {
		c.log.Warn("ami: lease lost; another replica may follow the calls now")
	} else {
		rctx, done := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		err := releaseScript.Run(rctx, c.o.Redis, []string{c.leaseKey()}, c.token).Err()
		done()
		if err != nil {
			c.log.Warn("ami: lease not released; it expires by itself", "err", err)
		}
	}
	c.notify("lost", lost)
}

// keepLease renews the lease every third of its TTL, and cancels ctx with
// errLeaseLost once it is someone else's or could not be renewed for two
// thirds of its TTL (it may have expired).
func (c *Client) keepLease(ctx context.Context, cancel context.CancelCauseFunc) {
	ttl := c.tune.lease
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := renewScript.Run(ctx, c.o.Redis, []string{c.leaseKey()}, c.token, ttl.Milliseconds()).Int()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && n == 1:
			last = time.Now()
		case err == nil:
			cancel(errLeaseLost)
			return
		default:
			c.log.Warn("ami: lease not renewed", "err", err)
			if time.Since(last) >= ttl*2/3 {
				cancel(errLeaseLost)
				return
			}
		}
	}
}
