package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"switchboard/config"
	"switchboard/connectors"
	"switchboard/connectors/all"
	"switchboard/internal/blob"
	"switchboard/internal/rdb"
	"switchboard/kb"
	"switchboard/kpi"
	"switchboard/router"
	"switchboard/server"
	"switchboard/session"
)

// serve is the composition root: it builds every part, runs them, and
// shuts them down in order when ctx ends.
// kpiFresh is how long one read of the KPI event log serves the reports
// of the same period (docs/kpis.md).
const kpiFresh = 10 * time.Second

func serve(ctx context.Context, cfg *config.Config) error {
	log := newLogger(cfg.LogLevel)
	blobs, err := openBlobs(log, cfg.Blobs)
	if err != nil {
		return err
	}
	conn, err := rdb.Open(ctx, cfg.RedisURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	if conn.Embedded {
		log.Warn("NO REDIS URL: running on an embedded in-process Redis. NOTHING SURVIVES A RESTART. " +
			"Set SWITCHBOARD_REDIS_URL (or redis_url) to a real Redis with AOF for anything but a demo.")
	} else {
		log.Info("connected to redis", "url", rdb.Redact(cfg.RedisURL), "cluster", conn.Cluster)
	}

	dir := session.NewDirectory(conn, cfg.RedisPrefix, log)
	if err := dir.Seed(ctx, cfg.Agents); err != nil {
		return fmt.Errorf("agents: %w", err)
	}
	presences := session.NewPresences(conn, cfg.RedisPrefix)
	events := session.NewEvents(conn, cfg.RedisPrefix, log)

	// The knowledge base: Redis holds it; this replica searches its own
	// in-memory index of it, built here and kept in step by kbStore.Run.
	kbStore, err := kb.New(ctx, conn, cfg.RedisPrefix, log)
	if err != nil {
		return fmt.Errorf("knowledge base: %w", err)
	}
	kbStore.SetBot(cfg.Bot) // the FAQ bot's thresholds decide its answers' confidence
	reg := connectors.NewRegistry()
	all.Register(reg)
	metrics := router.NewMetrics()
	rt, err := router.New(router.Config{Prefix: cfg.RedisPrefix, Teams: cfg.Teams, Rules: cfg.RoutingRules,
		SLA: cfg.SLAPolicies, Calendars: cfg.BusinessCalendars, Surveys: cfg.Surveys, PublicURL: cfg.PublicURL,
		Bot: cfg.Bot, Location: cfg.Location, DefaultRegion: cfg.DefaultRegion},
		router.Deps{Redis: conn, Registry: reg, Directory: dir, Presences: presences, Events: events, Metrics: metrics,
			Log: log, FAQ: kbStore})
	if err != nil {
		return err
	}
	promReg := prometheus.NewRegistry()
	env := connectors.Env{In: rt, Redis: conn, Prefix: cfg.RedisPrefix, HTTP: &http.Client{Timeout: 10 * time.Second},
		Log: log, PublicURL: cfg.PublicURL, Region: cfg.DefaultRegion, Now: time.Now, Blobs: blobs, Metrics: promReg}
	sections := map[connectors.Channel]func(any) error{}
	for name := range cfg.Channels {
		sections[connectors.Channel(name)] = cfg.Section(name)
	}
	if err := reg.Build(env, sections); err != nil {
		return err
	}
	if err := checkCallTeams(reg, rt); err != nil {
		return err
	}
	// Connectors are built one by one and know nothing of each other: one
	// that sends notices through another (QR through an e-mail mailbox,
	// channels.qr.notify_mailbox) is handed the built Notifiers here, and
	// a notify_mailbox that cannot send fails start-up with its key.
	if err := connectors.LinkNotifiers(reg); err != nil {
		return err
	}

	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), rt.Collector(),
		rt.CallCollector(), kpi.NewCollector(rt.KPIEvents(), kpi.CollectorOptions{Location: cfg.Location, Log: log}))
	if err := metrics.Register(promReg); err != nil {
		return err
	}
	sockets := &session.Sockets{Events: events, Presences: presences, Log: log, LiveChannel: rt.LiveChannel}
	srv := server.New(server.Options{Listen: cfg.Listen, PublicURL: cfg.PublicURL, BodyLimit: cfg.BodyLimit,
		ProxyHeader: cfg.Proxy.Header, TrustedProxies: cfg.Proxy.Trusted, Location: cfg.Location},
		server.Deps{Router: rt, Auth: session.NewAuth(dir), Directory: dir, Presences: presences, Sockets: sockets,
			Registry: reg, Redis: conn, Metrics: promReg, Log: log, Blobs: blobs, KB: kbStore, KPIs: kpi.Cached(rt.KPIEvents(), kpiFresh)})

	// Background work stops only after the server has finished the
	// requests in flight, so nothing is left half-written.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	g, gctx := errgroup.WithContext(bg)
	g.Go(func() error { return rt.Run(gctx) })
	g.Go(func() error { return events.Run(gctx) })
	g.Go(func() error { return kbStore.Run(gctx) })
	for _, c := range reg.All() {
		if r, ok := c.(connectors.Runner); ok {
			g.Go(func() error { return r.Run(gctx) })
		}
	}
	if addr := os.Getenv("SWITCHBOARD_PPROF"); addr != "" {
		startPprof(log, addr)
	}
	log.Info("switchboard is up", "listen", cfg.Listen, "inbox", cfg.PublicURL+"/", "agents", len(cfg.Agents))
	if conn.Embedded {
		demoBanner(cfg)
	}
	for name := range cfg.Channels {
		log.Info("channel enabled", "channel", name)
	}

	serveErr := srv.Run(ctx)
	log.Info("http server stopped; finishing background work")
	stopBG()
	if err := g.Wait(); err != nil && serveErr == nil {
		serveErr = err
	}
	rt.Close()
	log.Info("switchboard stopped")
	return serveErr
}

// openBlobs opens the store of files that come with messages. A relative
// directory is relative to the working directory.
func openBlobs(log *slog.Logger, c config.Blobs) (*blob.Store, error) {
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("blobs.dir %q: %w", c.Dir, err)
	}
	store, err := blob.Open(dir, blob.Options{MaxTotal: c.MaxBytes, MaxBlob: c.MaxBlobBytes})
	if err != nil {
		return nil, fmt.Errorf("blobs.dir %q: %w", c.Dir, err)
	}
	log.Info("blob store ready", "dir", dir, "max_bytes", c.MaxBytes, "max_blob_bytes", c.MaxBlobBytes)
	return store, nil
}

// demoBanner tells whoever ran `make run` where to go and how to log in.
// It prints plain-text demo passwords from the config only, and only on the
// embedded Redis, which is for demos.
func demoBanner(cfg *config.Config) {
	fmt.Fprintf(os.Stderr, "\n  Switchboard demo — nothing is kept after a restart\n  Inbox:   %s/\n", cfg.PublicURL)
	if node, ok := cfg.Channels[string(connectors.WebChat)]; ok {
		var sites []struct {
			ID   string `yaml:"id"`
			Demo bool   `yaml:"demo"`
		}
		_ = node.Decode(&sites) // validated already by the connector
		for _, s := range sites {
			if s.Demo {
				fmt.Fprintf(os.Stderr, "  Widget:  %s/webchat/%s/demo\n", cfg.PublicURL, s.ID)
			}
		}
	}
	for _, a := range cfg.Agents {
		if !session.IsHash(a.Password) {
			fmt.Fprintf(os.Stderr, "  Login:   %s / %s  (%s)\n", a.Email, a.Password, a.Name)
		}
	}
	fmt.Fprintln(os.Stderr)
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// checkCallTeams fails start-up when a CTI source names a team that is
// not configured (channels.cti[].team, channels.cti[].numbers[].team).
func checkCallTeams(reg *connectors.Registry, rt *router.Router) error {
	c, ok := reg.Get(connectors.CTI)
	if !ok {
		return nil
	}
	tc, ok := c.(interface {
		CheckTeams(known func(team string) bool) error
	})
	if !ok {
		return nil
	}
	known := map[string]bool{}
	for _, t := range rt.Teams() {
		known[t.ID] = true
	}
	if err := tc.CheckTeams(func(team string) bool { return known[team] }); err != nil {
		return fmt.Errorf("channels.%s: %w", connectors.CTI, err)
	}
	return nil
}
