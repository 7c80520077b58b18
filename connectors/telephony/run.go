package telephony

import (
	"context"
	"errors"

	"golang.org/x/sync/errgroup"

	"switchboard/connectors"
	"switchboard/connectors/telephony/ami"
)

// Run follows the calls of every source with `ami` configured, one AMI
// client per source (each holds a Redis lease, so one replica at a time
// connects to a PBX), until ctx ends. Without any it returns at once.
func (c *Connector) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, s := range c.order {
		if s.AMI == nil {
			continue
		}
		cl := ami.New(ami.Options{Source: s.ID, Config: *s.AMI, Redis: c.env.Redis, Prefix: c.env.Prefix,
			Log: c.env.Log.With("source", s.ID), Metrics: c.env.Metrics, Handle: c.handleAMI(s)})
		g.Go(func() error { return cl.Run(ctx) })
	}
	return g.Wait()
}

// handleAMI is a source's AMI client's Handle: the events go to the
// router like the webhook's. An event the router refuses as invalid will
// not get better by retrying and is dropped; anything else is retried by
// the client.
func (c *Connector) handleAMI(s *Source) func(ctx context.Context, ev connectors.CallEvent) error {
	return func(ctx context.Context, ev connectors.CallEvent) error {
		if ev.CallID == "" || !validField(ev.CallID) {
			return connectors.Permanent("", errors.New("cti: an AMI event without a usable call id"))
		}
		return c.deliver(ctx, s, ev)
	}
}
