// Package wechat connects WeChat official accounts (公众号/服务号) and
// mini-programs (小程序) to Switchboard: it verifies and decrypts their
// pushes (plaintext, compatible and safe mode), normalizes every message and
// event into the conversation model, acknowledges WeChat only once Redis
// holds the message, fetches media after the acknowledgement, and sends
// agents' replies through the customer-service message API with one access
// token per app shared by all replicas.
//
// Signatures and AES come from github.com/silenceper/wechat/v2/util. Its API
// clients are not used: they share one process-wide HTTP client and fixed
// host names, take no context, and refresh tokens per process, where
// Switchboard needs a base URL per app, deadlines, and one refresh across
// replicas.
package wechat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"switchboard/connectors"
	"switchboard/internal/jobs"
)

// ReplyWindow is how long after a customer's last message WeChat accepts
// customer-service messages to them.
const ReplyWindow = 48 * time.Hour

// Connector serves every configured app of one kind: official accounts
// (channel wechat_oa) or mini-programs (wechat_mp).
type Connector struct {
	ch      connectors.Channel
	env     connectors.Env
	apps    map[string]*App
	clients map[string]*client
	m       *metrics
	host    string // this process, in job consumer names
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.HTTP      = (*Connector)(nil)
	_ connectors.Runner    = (*Connector)(nil)
	_ connectors.Windowed  = (*Connector)(nil)
	_ connectors.Attacher  = (*Connector)(nil)
)

// NewOA builds the official-account connector from `channels.wechat_oa`.
func NewOA(env connectors.Env, decode func(v any) error) (connectors.Connector, error) {
	return build(connectors.WeChatOA, env, decode)
}

// NewMP builds the mini-program connector from `channels.wechat_mp`.
func NewMP(env connectors.Env, decode func(v any) error) (connectors.Connector, error) {
	return build(connectors.WeChatMP, env, decode)
}

func build(ch connectors.Channel, env connectors.Env, decode func(v any) error) (*Connector, error) {
	var apps []App
	if err := decode(&apps); err != nil {
		return nil, err
	}
	if env.Log == nil {
		env.Log = slog.Default()
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.HTTP == nil {
		env.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	host, _ := os.Hostname()
	c := &Connector{ch: ch, env: env, apps: map[string]*App{}, clients: map[string]*client{},
		m: newMetrics(env.Metrics), host: host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 36)}
	var errs []error
	for i := range apps {
		a := &apps[i]
		for _, err := range a.check() {
			errs = append(errs, fmt.Errorf("[%d].%w", i, err))
		}
		if c.apps[a.ID] != nil {
			errs = append(errs, fmt.Errorf("[%d].id: %q is used twice", i, a.ID))
		}
		c.apps[a.ID] = a
		c.clients[a.ID] = newClient(a, env, c.m)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// Channel names the channel.
func (c *Connector) Channel() connectors.Channel { return c.ch }

// ReplyWindow is WeChat's 48 hours for every app.
func (c *Connector) ReplyWindow(string) time.Duration { return ReplyWindow }

// CanAttach reports whether replies on account may carry images: the app
// is configured and there is a blob store to read them from.
func (c *Connector) CanAttach(account string) bool {
	return c.apps[account] != nil && c.env.Blobs != nil
}

// Endpoints lists the callback URL of every app: GET for WeChat's URL
// check, POST for pushes.
func (c *Connector) Endpoints() []connectors.Endpoint {
	path := "/channels/wechat/oa/:app"
	if c.ch == connectors.WeChatMP {
		path = "/channels/wechat/mp/:app"
	}
	return []connectors.Endpoint{
		{Method: "GET", Path: path, Handle: c.verifyURL},
		{Method: "POST", Path: path, Handle: c.receive},
	}
}

// Run works through the after-acknowledgement jobs (media, profiles)
// until ctx ends.
func (c *Connector) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return jobs.Queue{Redis: c.env.Redis, Stream: c.jobStream(), Group: "wechat", Consumer: c.host,
			MinIdle: time.Minute, Handle: c.handleJob, Log: c.env.Log, Parallel: 4}.Run(ctx)
	})
	return g.Wait()
}

// jobStream is the connector's queue of after-acknowledgement work.
func (c *Connector) jobStream() string { return c.env.Prefix + "{wx:" + string(c.ch) + "}:jobs" }

// metrics are the connector's Prometheus series, shared by both kinds.
type metrics struct {
	pushes   *prometheus.CounterVec
	rejected *prometheus.CounterVec
	api      *prometheus.CounterVec
	tokens   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_wechat_pushes_total",
			Help: "WeChat pushes accepted, by channel and message type."}, []string{"channel", "type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_wechat_rejected_total",
			Help: "WeChat pushes refused, by channel and reason (signature, decrypt, malformed, unknown_app, too_large)."}, []string{"channel", "reason"}),
		api: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_wechat_api_errors_total",
			Help: "WeChat API calls that failed, by endpoint and errcode (http for transport failures)."}, []string{"endpoint", "errcode"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_wechat_token_fetches_total",
			Help: "Access tokens fetched from WeChat by this process, by app."}, []string{"app"}),
	}
	if reg != nil {
		m.pushes = register(reg, m.pushes)
		m.rejected = register(reg, m.rejected)
		m.api = register(reg, m.api)
		m.tokens = register(reg, m.tokens)
	}
	return m
}

// register registers v, or returns the one registered before it (the
// official-account and mini-program connectors share their series).
func register(reg prometheus.Registerer, v *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(v); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if prev, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return prev
			}
		}
	}
	return v
}
