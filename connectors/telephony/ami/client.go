package ami

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/lease"
)

// Options is what a Client needs.
type Options struct {
	// Source is the CTI source's config id (channels.cti[].id); it names
	// the lease, the log lines and the metrics, and is every CallEvent's
	// Source.
	Source string
	Config Config
	// Redis holds the lease that lets one replica at a time connect.
	Redis redis.UniversalClient
	// Prefix is put before every Redis key the client owns.
	Prefix string
	// Log receives the client's log lines; nil: slog.Default().
	Log *slog.Logger
	// Handle takes each call event, one at a time and in order. An error is
	// retried for a while with backoff, unless it is a *connectors.Error
	// that is not Temporary; see the package doc.
	Handle func(ctx context.Context, ev connectors.CallEvent) error
	// Metrics, when set, registers the switchboard_ami_* series.
	Metrics prometheus.Registerer
}

// ErrAuth means the manager refused the login: a wrong user or secret, or
// a user not permitted from this address.
var ErrAuth = errors.New("ami: login refused")

// Client follows one Asterisk's calls through its manager interface and
// hands them to Options.Handle as call events.
type Client struct {
	o     Options
	cfg   Config // with defaults
	bad   error  // the config's error, returned by Run
	ext   *regexp.Regexp
	log   *slog.Logger
	m     *metrics
	tune  tuning
	queue chan connectors.CallEvent
	lease *lease.Lease // made by Run, with the TTL of c.tune then
	token string       // this client's lease value (Run)
	ids   atomic.Uint64
	// shedding counts the events dropped since the queue was last found
	// full (queue.go); the reader's alone.
	shedding int

	mu  sync.Mutex
	err error // why the last session failed; nil while logged in
}

// tuning holds the client's timings; tests shorten them.
type tuning struct {
	lease                  time.Duration // lease TTL; renewed every third of it
	backoffMin, backoffMax time.Duration // reconnect delays
	dialTimeout            time.Duration
	loginTimeout           time.Duration // banner and login
	pingGrace              time.Duration // a connection silent for Ping plus this is dropped
	writeTimeout           time.Duration
	handleRetry            time.Duration // how long a failing Handle is retried
	handleBackoffMax       time.Duration
	tls                    *tls.Config // base TLS config (tests: their CA)
	// note, when set, is told what the client does: "lease" (taken),
	// "busy" (held by another), "lost" (lost or released), "login",
	// "down" (a session ended, with its error), "event" (an AMI event
	// read), "full" (the queue is full), "drop", "refused" (Handle failed
	// for good).
	note func(what string, err error)
}

func defaultTuning() tuning {
	return tuning{lease: 30 * time.Second, backoffMin: time.Second, backoffMax: time.Minute,
		dialTimeout: 10 * time.Second, loginTimeout: 10 * time.Second, pingGrace: 10 * time.Second,
		writeTimeout: 10 * time.Second, handleRetry: time.Minute, handleBackoffMax: 5 * time.Second}
}

// New returns a client for o. Nothing happens until Run; a bad config is
// reported by Run.
func New(o Options) *Client {
	c := &Client{o: o, cfg: o.Config.withDefaults(), log: o.Log, tune: defaultTuning()}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("source", o.Source)
	c.bad = o.Config.Validate()
	switch {
	case o.Source == "":
		c.bad = errors.New("ami: no source id")
	case o.Redis == nil:
		c.bad = errors.New("ami: no Redis")
	case o.Handle == nil:
		c.bad = errors.New("ami: no Handle")
	}
	if c.bad == nil {
		c.ext = regexp.MustCompile(c.cfg.Extensions) // checked by Validate
	}
	c.m = newMetrics(o.Metrics, o.Source)
	c.queue = make(chan connectors.CallEvent, max(c.cfg.QueueSize, 0))
	return c
}

// Run follows the calls until ctx ends, then returns nil. It waits for the
// source's lease, and while it holds it keeps one connection to the
// manager, made again with backoff whenever it fails. It returns an error
// at once only for a bad config.
func (c *Client) Run(ctx context.Context) error {
	if c.bad != nil {
		return c.bad
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return err
	}
	c.lease = lease.New(c.o.Redis, c.leaseKey(), c.tune.lease)
	c.token = c.lease.Token()
	var wg sync.WaitGroup
	wg.Go(func() { c.dispatch(ctx) })
	defer wg.Wait()
	warned := false
	for ctx.Err() == nil {
		ok, err := c.lease.Acquire(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !warned {
				c.log.Warn("ami: lease not checked; retrying", "err", err)
				warned = true
			}
		case ok:
			warned = false
			c.hold(ctx, tlsCfg)
		case err == nil:
			c.notify("busy", nil)
		}
		_ = sleep(ctx, c.tune.lease/3)
	}
	return nil
}

// Err returns why the last connection failed (wrapping ErrAuth for a
// refused login), or nil while logged in and before the first attempt.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// connect keeps a session to the manager until ctx ends, connecting again
// with exponential backoff and jitter after each failure. The tracker
// lives across sessions: a call that goes on through a reconnect is
// followed on.
func (c *Client) connect(ctx context.Context, tlsCfg *tls.Config, tr *tracker) {
	delay := c.tune.backoffMin
	for {
		healthy, err := c.session(ctx, tlsCfg, tr)
		c.m.connected.Set(0)
		if ctx.Err() != nil {
			return
		}
		c.setErr(err)
		c.m.failures.Inc()
		if healthy {
			delay = c.tune.backoffMin
		}
		// Up to a fifth less, so that replicas and sources spread out.
		wait := delay - time.Duration(mrand.Int64N(int64(delay/5)+1))
		if errors.Is(err, ErrAuth) {
			c.log.Error("ami: login refused; check ami.user, ami.secret and the user's permit in manager.conf",
				"addr", c.cfg.Addr, "user", c.cfg.User, "in", wait, "err", err)
		} else {
			c.log.Warn("ami: connection failed; connecting again", "addr", c.cfg.Addr, "in", wait, "err", err)
		}
		c.notify("down", err)
		if sleep(ctx, wait) != nil {
			return
		}
		delay = min(2*delay, c.tune.backoffMax)
	}
}

// tlsConfig returns the TLS config for the manager, nil without TLS.
func (c *Client) tlsConfig() (*tls.Config, error) {
	if !c.cfg.TLS {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.tune.tls != nil {
		cfg = c.tune.tls.Clone()
	}
	cfg.ServerName, _, _ = net.SplitHostPort(c.cfg.Addr)
	if c.cfg.TLSCA != "" {
		pem, err := os.ReadFile(c.cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("ami.tls_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ami.tls_ca %s: no PEM certificate in it", c.cfg.TLSCA)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// nextID returns a new ActionID.
func (c *Client) nextID() string {
	return "switchboard-" + strconv.FormatUint(c.ids.Add(1), 10)
}

func (c *Client) notify(what string, err error) {
	if f := c.tune.note; f != nil {
		f(what, err)
	}
}

// sleep waits for d or the end of ctx, and returns ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
