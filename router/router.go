package router

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"switchboard/connectors"
	"switchboard/internal/rdb"
	"switchboard/kb"
	"switchboard/session"
	"switchboard/tickets"
)

// Errors the API maps to status codes.
var (
	ErrNotFound  = errors.New("router: not found")
	ErrForbidden = errors.New("router: not allowed")
	ErrConflict  = errors.New("router: conflicts with the current state")
	ErrInvalid   = errors.New("router: invalid request")
	// ErrWindowClosed refuses a reply on a channel that accepts replies
	// only for a while after the customer's last message (see
	// connectors.Windowed), once that time has passed.
	ErrWindowClosed = errors.New("router: reply window closed")
	// ErrAttachUnsupported refuses a reply with attachments on a channel
	// that cannot carry them (its connector is no connectors.Attacher).
	ErrAttachUnsupported = errors.New("router: the channel cannot carry attachments")
)

// Config is what the router needs from the configuration.
type Config struct {
	// Prefix starts every key, e.g. "sb:".
	Prefix string
	Teams  []session.Team
	Rules  []Rule
	SLA    []tickets.SLAPolicy
	// Calendars are the business-hours calendars by id, which SLA
	// policies and teams name.
	Calendars map[string]*tickets.Calendar
	// Surveys configures the satisfaction surveys sent at resolve.
	Surveys SurveyConfig
	// PublicURL is the external base URL, for links in surveys.
	PublicURL string
	// Bot configures the FAQ bot (bot.go); it answers only with Deps.FAQ.
	Bot      kb.BotConfig
	Location *time.Location
	// Grace is how long an agent counts as online after a heartbeat.
	Grace time.Duration
	// DefaultRegion is the ISO country code for phone numbers an agent
	// links without one (the top-level default_region); "CN" when empty.
	DefaultRegion string
}

// Router is the core: ingest, dispatch, replies and queries.
type Router struct {
	rdb       redis.UniversalClient
	k         keys
	sk        session.Keys
	cfg       Config
	rules     *Rules
	reg       *connectors.Registry
	dir       *session.Directory
	presences *session.Presences
	events    *session.Events
	metrics   *Metrics
	log       *slog.Logger
	now       func() time.Time
	consumer  string
	commit    *rdb.Committer
	faq       FAQ
	// svSecret caches the survey tokens' key (survey.go).
	svSecret atomic.Pointer[[]byte]
}

// Deps are the router's collaborators.
type Deps struct {
	Redis     redis.UniversalClient
	Registry  *connectors.Registry
	Directory *session.Directory
	Presences *session.Presences
	Events    *session.Events
	Metrics   *Metrics
	Log       *slog.Logger
	// FAQ is the knowledge base the FAQ bot answers from; nil: no bot.
	FAQ FAQ
}

// New returns a router.
func New(cfg Config, d Deps) (*Router, error) {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Grace <= 0 {
		cfg.Grace = session.DefaultGrace
	}
	rules, err := NewRules(cfg.Rules, cfg.Teams, cfg.Location, RuleOptions{Calendars: cfg.Calendars, SLAPolicies: cfg.SLA})
	if err != nil {
		return nil, err
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics()
	}
	host, _ := os.Hostname()
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	r := &Router{
		rdb: d.Redis, k: keys{cfg.Prefix}, sk: session.Keys{P: cfg.Prefix}, cfg: cfg, rules: rules,
		reg: d.Registry, dir: d.Directory, presences: d.Presences, events: d.Events,
		metrics: d.Metrics, log: d.Log, now: time.Now, faq: d.FAQ,
		consumer: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(rnd[:])),
		commit:   rdb.NewCommitter(d.Redis, 4),
	}
	if d.Presences != nil {
		d.Presences.OnAvailable = r.agentAvailable
	}
	return r, nil
}

// Close stops the router's group commit; call it after the HTTP server
// and Run have finished.
func (r *Router) Close() { r.commit.Close() }

// Run runs the router's background work until ctx ends: the dispatch and
// outbox consumers and the periodic queue, retry and repair ticks.
func (r *Router) Run(ctx context.Context) error {
	if err := r.ensureGroups(ctx); err != nil {
		return err
	}
	if err := rdb.LoadAll(ctx, r.rdb, allScripts...); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.consume(ctx, r.k.dispatch(), "dispatch", 30*time.Second, nil, r.handleDispatch) })
	g.Go(func() error { return r.consume(ctx, r.k.outbox(), "outbox", 2*time.Minute, outboxKey, r.handleOutbox) })
	g.Go(func() error { return r.every(ctx, time.Second, r.queueTick) })
	g.Go(func() error { return r.every(ctx, 500*time.Millisecond, r.retryTick) })
	g.Go(func() error { return r.every(ctx, 15*time.Second, r.repairTick) })
	g.Go(func() error {
		return r.consume(ctx, r.k.slaWork(), "sla", 5*time.Second, slaKey, r.handleSLA)
	})
	g.Go(func() error { return r.every(ctx, slaTick, r.slaClaimTick) })
	g.Go(func() error { return r.every(ctx, slaSweep, r.slaSweepTick) })
	return g.Wait()
}

func (r *Router) every(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := f(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("router: periodic task failed", "err", err)
			}
		}
	}
}

// LiveChannel names the pub/sub channel agents watch a conversation on.
func (r *Router) LiveChannel(conversationID string) string { return r.k.convLive(conversationID) }

// Teams returns the configured teams.
func (r *Router) Teams() []session.Team { return r.cfg.Teams }

func newID() string { return ulid.Make().String() }

func ms(t time.Time) int64 { return t.UnixMilli() }
