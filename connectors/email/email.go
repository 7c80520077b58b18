// Package email takes customers' mail for the configured support
// mailboxes (`channels.email`) from an SMTP listener that an MTA or MX
// hands it to, or from a folder on an IMAP server (imap.go), parses it
// (package mailparse), keeps automatic mail, lists and bounces from ever
// opening a ticket, threads replies into their conversation by Message-ID,
// ticket token or +tag — only for the thread's participants — and
// acknowledges the SMTP transaction, or marks the IMAP mail done, only
// once Redis holds the message.
package email

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"switchboard/connectors"
)

// Connector serves every configured mailbox.
type Connector struct {
	env   connectors.Env
	boxes []*Mailbox
	m     *metrics

	mu      sync.Mutex
	servers []*smtp.Server
	// listening is closed once every listener is bound (tests wait on it).
	listening chan struct{}
	addrs     map[string]string // configured smtp_listen -> bound address

	tune imapTuning // IMAP pollers' timings
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Runner    = (*Connector)(nil)
)

// New builds the connector from `channels.email`, a list of mailboxes.
func New(env connectors.Env, decode func(v any) error) (connectors.Connector, error) {
	var boxes []Mailbox
	if err := decode(&boxes); err != nil {
		return nil, err
	}
	if env.Log == nil {
		env.Log = slog.Default()
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	c := &Connector{env: env, m: newMetrics(env.Metrics), listening: make(chan struct{}), addrs: map[string]string{},
		tune: defaultIMAPTuning()}
	var errs []error
	seen := map[string]bool{}
	for i := range boxes {
		b := &boxes[i]
		for _, err := range b.check() {
			errs = append(errs, fmt.Errorf("[%d].%w", i, err))
		}
		if seen[b.ID] {
			errs = append(errs, fmt.Errorf("[%d].id: %q is used twice", i, b.ID))
		}
		if b.Address != "" && seen["@"+b.Address] {
			errs = append(errs, fmt.Errorf("[%d].address: %q is used twice", i, b.Address))
		}
		seen[b.ID], seen["@"+b.Address] = true, true
		c.boxes = append(c.boxes, b)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// Channel names the channel.
func (c *Connector) Channel() connectors.Channel { return connectors.Email }

// Run serves the SMTP listeners and runs a poller for each IMAP mailbox
// (imap.go) until ctx ends, then lets the SMTP sessions in progress finish
// (up to 30 s).
func (c *Connector) Run(ctx context.Context) error {
	byAddr := map[string][]*Mailbox{}
	for _, b := range c.boxes {
		if b.SMTPListen != "" {
			byAddr[b.SMTPListen] = append(byAddr[b.SMTPListen], b)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, b := range c.boxes {
		if b.IMAP != nil {
			g.Go(func() error {
				c.pollIMAP(gctx, b)
				return nil
			})
		}
	}
	for addr, boxes := range byAddr {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("email: smtp_listen %s: %w", addr, err)
		}
		s := c.server(boxes)
		c.mu.Lock()
		c.servers = append(c.servers, s)
		c.addrs[addr] = l.Addr().String()
		c.mu.Unlock()
		c.env.Log.Info("email: SMTP listener up", "addr", l.Addr().String(), "mailboxes", len(boxes))
		g.Go(func() error {
			if err := s.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
				return fmt.Errorf("email: smtp %s: %w", addr, err)
			}
			return nil
		})
	}
	close(c.listening)
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.servers {
			_ = s.Shutdown(sctx)
		}
		return nil
	})
	return g.Wait()
}

// metrics are the connector's Prometheus series.
type metrics struct {
	mails *prometheus.CounterVec
	// imapFetched counts mail taken from IMAP folders (stored, or
	// quarantined, or not filed as automatic mail), imapErrors the IMAP
	// connections that failed (connect, login, a command, a mail not
	// stored), by mailbox.
	imapFetched, imapErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		mails: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_email_inbound_total",
			Help: "Inbound mail by mailbox and outcome (stored, threaded, auto_reply, bulk, bounce, quarantined, refused, deferred)."},
			[]string{"mailbox", "outcome"})),
		imapFetched: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_email_imap_fetched_total",
			Help: "Mail taken from a mailbox's IMAP folder, by mailbox."}, []string{"mailbox"})),
		imapErrors: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_email_imap_errors_total",
			Help: "IMAP connections of a mailbox that failed and were retried, by mailbox."}, []string{"mailbox"})),
	}
}

// register registers v with reg, or returns the series registered before
// under its name (a second connector in the same process, tests).
func register(reg prometheus.Registerer, v *prometheus.CounterVec) *prometheus.CounterVec {
	if reg == nil {
		return v
	}
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
