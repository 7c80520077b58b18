package webchat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"switchboard/connectors"
	"switchboard/internal/fanout"
)

// Site is one web-chat site from `channels.webchat`.
type Site struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// AllowedOrigins lists the origins (scheme://host[:port]) of pages
	// that may embed the widget; "*" allows any.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// Demo serves a demo page with the widget at /webchat/{site}/demo.
	Demo bool `yaml:"demo"`
}

// Limits on what visitors send.
const (
	MaxTextRunes = 4000
	threadMaxLen = 500
	threadTTL    = 30 * 24 * time.Hour
)

var (
	idPattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	visitorPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)
	clientIDRe     = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
)

// Connector serves every configured site.
type Connector struct {
	env   connectors.Env
	sites map[string]*Site
	hub   *fanout.Hub
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.HTTP      = (*Connector)(nil)
	_ connectors.Runner    = (*Connector)(nil)
)

// New builds the connector from its config section, a list of sites.
func New(env connectors.Env, decode func(v any) error) (connectors.Connector, error) {
	var sites []Site
	if err := decode(&sites); err != nil {
		return nil, err
	}
	if env.Log == nil {
		env.Log = slog.Default() // the connector logs; a nil logger would panic
	}
	c := &Connector{env: env, sites: map[string]*Site{},
		hub: fanout.New(env.Redis, fanout.Options{MaxLen: threadMaxLen, TTL: threadTTL, Log: env.Log})}
	var errs []error
	for i := range sites {
		s := &sites[i]
		switch {
		case !idPattern.MatchString(s.ID):
			errs = append(errs, fmt.Errorf("[%d].id: %q is not a valid id", i, s.ID))
		case c.sites[s.ID] != nil:
			errs = append(errs, fmt.Errorf("[%d].id: %q is used twice", i, s.ID))
		}
		for j, o := range s.AllowedOrigins {
			if o != "*" && !validOrigin(o) {
				errs = append(errs, fmt.Errorf("[%d].allowed_origins[%d]: %q is not an origin like https://www.example.com", i, j, o))
			}
		}
		if s.Name == "" {
			s.Name = s.ID
		}
		c.sites[s.ID] = s
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// Channel names the channel.
func (c *Connector) Channel() connectors.Channel { return connectors.WebChat }

// Run follows pub/sub so this replica's sockets get replies live.
func (c *Connector) Run(ctx context.Context) error { return c.hub.Run(ctx) }

// Endpoints lists the routes of the widget and the customer API.
func (c *Connector) Endpoints() []connectors.Endpoint {
	return []connectors.Endpoint{
		{Method: "GET", Path: "/webchat/:site/widget.js", Handle: c.asset("widget.js", "application/javascript; charset=utf-8")},
		{Method: "GET", Path: "/webchat/:site/demo", Handle: c.demo},
		{Method: "GET", Path: "/webchat/:site/demo.css", Handle: c.asset("demo.css", "text/css; charset=utf-8")},
		{Method: "POST", Path: "/channels/webchat/:site/messages", Handle: c.post},
		{Method: "GET", Path: "/channels/webchat/:site/messages", Handle: c.list},
		{Method: "OPTIONS", Path: "/channels/webchat/:site/messages", Handle: c.preflight},
		{Method: "GET", Path: "/channels/webchat/:site/ws", Accept: c.acceptSocket, Socket: c.socket},
	}
}

// topic is the visitor's thread stream (and pub/sub channel).
func (c *Connector) topic(site, visitor string) string {
	return c.env.Prefix + "{w:" + site + ":" + visitor + "}:events"
}

// marker remembers that a message was put on a visitor's thread.
func (c *Connector) marker(site, visitor, msgID string) string {
	return c.env.Prefix + "{w:" + site + ":" + visitor + "}:m:" + msgID
}

func validOrigin(o string) bool {
	scheme, rest, ok := strings.Cut(o, "://")
	return ok && (scheme == "http" || scheme == "https") && rest != "" && !strings.ContainsAny(rest, "/?# ")
}
