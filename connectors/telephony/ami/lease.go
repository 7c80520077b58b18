package ami

import (
	"context"
	"crypto/tls"
	"errors"
	"time"
)

// The lease lets one replica at a time connect to a source's manager (two
// would hand every call event twice):
//
//	PREFIX{cti:SOURCE}:ami:lease  string: the holder's token
//	                              ("host:pid:random"), SET NX PX 30 s,
//	                              renewed every 10 s by a compare-and-PEXPIRE
//	                              script, released on shutdown by a
//	                              compare-and-DEL script
//	                              (internal/lease).
//
// A replica that finds it taken tries again every 10 s, so when the holder
// dies another takes over within about 40 s; the calls' events of that gap
// are lost (AMI has no replay), and calls in progress are adopted by the
// new holder from their next event.

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
		if c.lease.Keep(lctx, func(err error) { c.log.Warn("ami: lease not renewed", "err", err) }) {
			cancel(errLeaseLost)
		}
	}()
	c.connect(lctx, tlsCfg, newTracker(c.o.Source, c.ext, c.cfg.InboundContexts, c.log))
	lost := context.Cause(lctx)
	cancel(nil)
	<-renewed
	if errors.Is(lost, errLeaseLost) {
		c.log.Warn("ami: lease lost; another replica may follow the calls now")
	} else {
		rctx, done := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		err := c.lease.Release(rctx)
		done()
		if err != nil {
			c.log.Warn("ami: lease not released; it expires by itself", "err", err)
		}
	}
	c.notify("lost", lost)
}
