package ami

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// session is one connection to the manager: connect, read the banner, log
// in, then read events until an error or the end of ctx, pinging all the
// while. healthy reports that the login succeeded.
func (c *Client) session(ctx context.Context, tlsCfg *tls.Config, tr *tracker) (healthy bool, err error) {
	conn, err := c.dial(ctx, tlsCfg)
	if err != nil {
		return false, fmt.Errorf("ami: connect to %s: %w", c.cfg.Addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	r := newReader(conn)
	_ = conn.SetDeadline(time.Now().Add(c.tune.loginTimeout))
	banner, err := r.banner()
	if err != nil {
		return false, c.ended(ctx, err)
	}
	if err := c.login(conn, r); err != nil {
		return false, c.ended(ctx, err)
	}
	_ = conn.SetDeadline(time.Time{})
	c.setErr(nil)
	c.m.connected.Set(1)
	c.log.Info("ami: logged in", "addr", c.cfg.Addr, "user", c.cfg.User, "banner", banner)
	c.notify("login", nil)

	pctx, stopPing := context.WithCancel(ctx)
	pinged := make(chan struct{})
	go func() {
		defer close(pinged)
		c.ping(pctx, conn)
	}()
	err = c.read(ctx, conn, r, tr)
	stopPing()
	<-pinged
	return true, c.ended(ctx, err)
}

// dial connects to Addr, over TLS when tlsCfg is set.
func (c *Client) dial(ctx context.Context, tlsCfg *tls.Config) (net.Conn, error) {
	d := &net.Dialer{Timeout: c.tune.dialTimeout}
	if tlsCfg == nil {
		return d.DialContext(ctx, "tcp", c.cfg.Addr)
	}
	td := &tls.Dialer{NetDialer: d, Config: tlsCfg}
	return td.DialContext(ctx, "tcp", c.cfg.Addr)
}

// login sends the Login action and waits for its response. Only call and
// agent events are asked for.
func (c *Client) login(conn net.Conn, r *reader) error {
	id := c.nextID()
	b, err := encode(field{"Action", "Login"}, field{"ActionID", id}, field{"Username", c.cfg.User},
		field{"Secret", c.cfg.Secret}, field{"Events", "call,agent"})
	if err != nil {
		return fmt.Errorf("ami: login: %w", err)
	}
	if _, err := conn.Write(b); err != nil {
		return fmt.Errorf("ami: sending the login: %w", err)
	}
	for {
		p, err := r.packet()
		if err != nil {
			return fmt.Errorf("ami: waiting for the login's answer: %w", err)
		}
		resp := p.get("Response")
		if resp == "" || p.get("ActionID") != id {
			continue
		}
		if strings.EqualFold(resp, "Success") {
			return nil
		}
		return fmt.Errorf("%w as %q: %s", ErrAuth, c.cfg.User, cut(p.get("Message"), 200))
	}
}

// ping sends Action: Ping every Config.Ping until ctx ends; the answers
// keep the reader's deadline from passing on a quiet line. A failed write
// closes the connection, which ends the reader.
func (c *Client) ping(ctx context.Context, conn net.Conn) {
	t := time.NewTicker(c.cfg.Ping)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b, _ := encode(field{"Action", "Ping"}, field{"ActionID", c.nextID()})
		_ = conn.SetWriteDeadline(time.Now().Add(c.tune.writeTimeout))
		if _, err := conn.Write(b); err != nil {
			if ctx.Err() == nil {
				c.log.Warn("ami: ping not sent; dropping the connection", "err", err)
			}
			_ = conn.Close()
			return
		}
	}
}

// read reads packets until the connection fails: events go through the
// tracker into the queue; a refused action is logged.
func (c *Client) read(ctx context.Context, conn net.Conn, r *reader, tr *tracker) error {
	for {
		_ = conn.SetReadDeadline(time.Now().Add(c.cfg.Ping + c.tune.pingGrace))
		p, err := r.packet()
		if err != nil {
			return err
		}
		if name := p.get("Event"); name != "" {
			c.m.events.Inc()
			if name == "Shutdown" {
				c.log.Warn("ami: Asterisk is shutting down", "shutdown", p.get("Shutdown"), "restart", p.get("Restart"))
			}
			for _, ev := range tr.event(p, time.Now()) {
				if err := c.enqueue(ctx, ev); err != nil {
					return err
				}
			}
			c.notify("event", nil)
			continue
		}
		if resp := p.get("Response"); resp != "" && !strings.EqualFold(resp, "Success") {
			c.log.Warn("ami: action refused", "action_id", p.get("ActionID"), "message", cut(p.get("Message"), 200))
		}
	}
}

// ended turns how a session ended into its error.
func (c *Client) ended(ctx context.Context, err error) error {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("ami: connection closed: %w", err)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("ami: no answer from the manager (pings unanswered, or a stalled login): %w", err)
	}
	return err
}
