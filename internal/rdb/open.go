package rdb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Conn is an open Redis connection.
type Conn struct {
	redis.UniversalClient
	// Embedded is true when the connection goes to an in-process miniredis
	// that keeps nothing across restarts.
	Embedded bool
	// Cluster is true when the URL named a Redis Cluster.
	Cluster bool
	mini    *miniredis.Miniredis
}

// Close closes the client and, for the embedded server, stops it.
func (c *Conn) Close() error {
	err := c.UniversalClient.Close()
	if c.mini != nil {
		c.mini.Close()
	}
	return err
}

// Open connects to rawURL and checks the connection with PING. An empty
// rawURL starts an embedded miniredis on a loopback port.
//
// Accepted forms: redis://[user:pass@]host:port/db, rediss://… (TLS), a
// comma-separated list of such URLs or host:port pairs (Redis Cluster
// seeds), and redis+cluster://host:port[,host:port…] (rediss+cluster for
// TLS).
func Open(ctx context.Context, rawURL string) (*Conn, error) {
	c, err := open(rawURL)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("rdb: ping %s: %w", Redact(rawURL), err)
	}
	return c, nil
}

func open(rawURL string) (*Conn, error) {
	rawURL = strings.TrimSpace(rawURL)
	if rawURL == "" {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("rdb: start embedded redis: %w", err)
		}
		// Let keys expire with the wall clock, as they do in real Redis.
		m.ClockTTL(true)
		return &Conn{UniversalClient: redis.NewClient(&redis.Options{Addr: m.Addr()}), Embedded: true, mini: m}, nil
	}
	if u, ok := clusterURL(rawURL); ok {
		opts, err := redis.ParseClusterURL(u)
		if err != nil {
			return nil, fmt.Errorf("rdb: cluster url %s: %w", Redact(rawURL), scrub(err))
		}
		return &Conn{UniversalClient: redis.NewClusterClient(opts), Cluster: true}, nil
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("rdb: url %s: %w", Redact(rawURL), scrub(err))
	}
	return &Conn{UniversalClient: redis.NewClient(opts)}, nil
}

// clusterURL rewrites the cluster forms into the single URL with addr=
// parameters that go-redis parses. ok is false for a single-server URL.
func clusterURL(raw string) (string, bool) {
	scheme := "redis"
	switch {
	case strings.HasPrefix(raw, "redis+cluster://"):
		raw = strings.TrimPrefix(raw, "redis+cluster://")
	case strings.HasPrefix(raw, "rediss+cluster://"):
		scheme, raw = "rediss", strings.TrimPrefix(raw, "rediss+cluster://")
	case strings.Contains(raw, ","):
		if strings.HasPrefix(raw, "rediss://") {
			scheme = "rediss"
		}
	default:
		return "", false
	}
	var hosts []string
	var userinfo, query string
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		part = strings.TrimPrefix(strings.TrimPrefix(part, "rediss://"), "redis://")
		if i := strings.Index(part, "?"); i >= 0 {
			query, part = part[i+1:], part[:i]
		}
		if i := strings.LastIndex(part, "@"); i >= 0 {
			userinfo, part = part[:i+1], part[i+1:]
		}
		part = strings.TrimSuffix(part, "/")
		if i := strings.Index(part, "/"); i >= 0 {
			part = part[:i] // a cluster has no database number
		}
		if part != "" {
			hosts = append(hosts, part)
		}
	}
	if len(hosts) == 0 {
		return scheme + "://", true
	}
	q := url.Values{}
	if query != "" {
		if parsed, err := url.ParseQuery(query); err == nil {
			q = parsed
		}
	}
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	out := scheme + "://" + userinfo + hosts[0]
	if enc := q.Encode(); enc != "" {
		out += "?" + enc
	}
	return out, true
}

// scrub drops the URL a parse error quotes, which may hold a password.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return errors.New("malformed URL")
}

// Redact hides the password of a Redis URL so it can be logged.
func Redact(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			scheme := ""
			if j := strings.Index(p, "://"); j >= 0 && j < at {
				scheme = p[:j+3]
			}
			parts[i] = scheme + "***@" + p[at+1:]
		}
	}
	return strings.Join(parts, ",")
}
