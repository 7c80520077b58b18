package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"switchboard/kb"
	"switchboard/router"
	"switchboard/session"
	"switchboard/tickets"
)

// Environment variables that override the file.
const (
	EnvConfig   = "SWITCHBOARD_CONFIG"
	EnvRedisURL = "SWITCHBOARD_REDIS_URL"
	EnvListen   = "SWITCHBOARD_LISTEN"
)

// Config is Switchboard's configuration file.
type Config struct {
	Listen string `yaml:"listen"`
	// RedisURL is empty for the embedded, in-process Redis.
	RedisURL string `yaml:"redis_url"`
	// RedisPrefix starts every key; replicas sharing a Redis must agree.
	RedisPrefix string `yaml:"redis_prefix"`
	// PublicURL is the external base URL, used in links.
	PublicURL string `yaml:"public_url"`
	// DefaultRegion is the ISO country code for phone numbers without one.
	DefaultRegion string `yaml:"default_region"`
	// Timezone is where routing rules' hours are read.
	Timezone string `yaml:"timezone"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// BodyLimit caps request bodies, in bytes, except agents' uploads
	// (POST /api/v1/blobs), which may carry an image of up to
	// min(blobs.max_blob_bytes, 10 MiB) or a document of up to
	// min(blobs.max_blob_bytes, 15 MiB).
	BodyLimit    int                  `yaml:"body_limit"`
	Teams        []session.Team       `yaml:"teams"`
	Agents       []session.Agent      `yaml:"agents"`
	Channels     map[string]yaml.Node `yaml:"channels"`
	RoutingRules []router.Rule        `yaml:"routing_rules"`
	SLAPolicies  []tickets.SLAPolicy  `yaml:"sla_policies"`
	// Surveys configures the satisfaction surveys sent when a ticket
	// resolves (docs/surveys.md).
	Surveys router.SurveyConfig `yaml:"surveys"`
	// Bot configures the FAQ bot that answers from the knowledge base on
	// the channels it names (docs/kb.md).
	Bot kb.BotConfig `yaml:"bot"`
	// Calendars are the business-hours calendars that teams (teams[].calendar)
	// and SLA policies (sla_policies[].calendar) name; see docs/sla.md.
	Calendars []tickets.CalendarConfig `yaml:"calendars"`
	// Blobs is where files that come with messages are kept.
	Blobs Blobs `yaml:"blobs"`
	// Proxy names the reverse proxies in front of Switchboard, whose word
	// on the client's address is believed (rate limits and logs use it).
	Proxy Proxy `yaml:"proxy"`

	// Location is Timezone, loaded.
	Location *time.Location `yaml:"-"`
	// BusinessCalendars are Calendars, built, by id.
	BusinessCalendars map[string]*tickets.Calendar `yaml:"-"`
	// Path is the file the configuration came from, if any.
	Path string `yaml:"-"`
}

// Blobs configures the store of files that come with messages (media,
// attachments).
type Blobs struct {
	// Dir holds the files; a relative path is relative to the working
	// directory. Replicas must share it (a volume all of them mount).
	Dir string `yaml:"dir"`
	// MaxBytes bounds the directory; past it the oldest files are removed.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxBlobBytes bounds one file; a larger one is not kept.
	MaxBlobBytes int64 `yaml:"max_blob_bytes"`
}

// Proxy tells which request header carries the client's address and
// from which peers it is believed. Both are set, or neither.
type Proxy struct {
	// Header is set by the proxy to the client's address, overwriting any
	// the client sent: X-Real-IP (nginx: proxy_set_header X-Real-IP
	// $remote_addr). X-Forwarded-For is read by its first address, which a
	// client can forge unless the proxy replaces the header.
	Header string `yaml:"header"`
	// Trusted lists the proxies' addresses or CIDR ranges; from any other
	// peer the header is ignored and the peer's own address counts.
	Trusted []string `yaml:"trusted"`
}

// httpToken reports whether s is a valid HTTP header name.
func httpToken(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return s != ""
}

// Default returns the configuration used when a key is not given.
func Default() *Config {
	return &Config{Listen: ":8080", RedisPrefix: "sb:", PublicURL: "http://localhost:8080",
		DefaultRegion: "CN", Timezone: "Asia/Shanghai", LogLevel: "info", BodyLimit: 1 << 20,
		Blobs: Blobs{Dir: "data/blobs", MaxBytes: 1 << 30, MaxBlobBytes: 20 << 20}}
}

// Load reads the file at path (or, when path is empty, the one named by
// SWITCHBOARD_CONFIG; with neither, only defaults), then applies the
// environment overrides and checks the result. Every error names the key.
func Load(path string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if path == "" {
		path = getenv(EnvConfig)
	}
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := DecodeBytes(data, c); err != nil {
			return nil, fmt.Errorf("config %s:\n%w", path, err)
		}
		c.Path = path
	}
	if v := getenv(EnvRedisURL); v != "" {
		c.RedisURL = v
	}
	if v := getenv(EnvListen); v != "" {
		c.Listen = v
	}
	if err := c.check(); err != nil {
		where := path
		if where == "" {
			where = "(defaults and environment)"
		}
		return nil, fmt.Errorf("config %s:\n%w", where, err)
	}
	return c, nil
}

// check validates what needs the whole file: references between sections,
// uniqueness, and values with a format.
func (c *Config) check() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not host:port (e.g. \":8080\")", c.Listen)
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("public_url", "%q is not an http(s) URL", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.RedisPrefix == "" || strings.ContainsAny(c.RedisPrefix, "{} ") {
		bad("redis_prefix", "%q must be non-empty, without braces or spaces", c.RedisPrefix)
	}
	if len(c.DefaultRegion) != 2 || strings.ToUpper(c.DefaultRegion) != c.DefaultRegion {
		bad("default_region", "%q is not a two-letter country code like CN", c.DefaultRegion)
	}
	switch {
	case c.Proxy.Header != "" && len(c.Proxy.Trusted) == 0:
		bad("proxy.trusted", "list the proxies' addresses: proxy.header %q is believed only from them", c.Proxy.Header)
	case c.Proxy.Header == "" && len(c.Proxy.Trusted) > 0:
		bad("proxy.header", "name the header the proxies set to the client's address (e.g. X-Real-IP)")
	case c.Proxy.Header != "" && !httpToken(c.Proxy.Header):
		bad("proxy.header", "%q is not a header name", c.Proxy.Header)
	}
	for i, t := range c.Proxy.Trusted {
		if _, err := netip.ParsePrefix(t); err != nil {
			if _, err := netip.ParseAddr(t); err != nil {
				bad(fmt.Sprintf("proxy.trusted[%d]", i), "%q is neither an IP address nor a CIDR range", t)
			}
		}
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		bad("timezone", "%q is not a known time zone (e.g. Asia/Shanghai)", c.Timezone)
	}
	c.Location = loc
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.BodyLimit < 4096 || c.BodyLimit > 64<<20 {
		bad("body_limit", "%d is outside 4096–67108864 bytes", c.BodyLimit)
	}
	if strings.TrimSpace(c.Blobs.Dir) == "" {
		bad("blobs.dir", "must name a directory (e.g. \"data/blobs\")")
	}
	if c.Blobs.MaxBytes <= 0 {
		bad("blobs.max_bytes", "%d is not a positive number of bytes", c.Blobs.MaxBytes)
	}
	switch {
	case c.Blobs.MaxBlobBytes <= 0:
		bad("blobs.max_blob_bytes", "%d is not a positive number of bytes", c.Blobs.MaxBlobBytes)
	case c.Blobs.MaxBytes > 0 && c.Blobs.MaxBlobBytes > c.Blobs.MaxBytes:
		bad("blobs.max_blob_bytes", "%d is more than blobs.max_bytes (%d)", c.Blobs.MaxBlobBytes, c.Blobs.MaxBytes)
	}
	teams := map[string]bool{}
	for i, t := range c.Teams {
		switch {
		case !session.ValidID(t.ID):
			bad(fmt.Sprintf("teams[%d].id", i), "%q is not a valid id", t.ID)
		case teams[t.ID]:
			bad(fmt.Sprintf("teams[%d].id", i), "%q is used twice", t.ID)
		}
		teams[t.ID] = true
	}
	ids, emails := map[string]bool{}, map[string]bool{}
	for i, a := range c.Agents {
		at := fmt.Sprintf("agents[%d]", i)
		if ids[a.ID] {
			bad(at+".id", "%q is used twice", a.ID)
		}
		ids[a.ID] = true
		e := strings.ToLower(a.Email)
		if emails[e] {
			bad(at+".email", "%q is used twice", a.Email)
		}
		emails[e] = true
		for j, t := range a.Teams {
			if !teams[t] {
				bad(fmt.Sprintf("%s.teams[%d]", at, j), "unknown team %q", t)
			}
		}
	}
	if len(c.Agents) > 0 && len(c.Teams) == 0 {
		bad("teams", "at least one team is needed when agents are configured")
	}
	errs = append(errs, c.checkSLA(teams)...)
	if _, err := router.NewRules(c.RoutingRules, c.Teams, time.UTC, c.ruleOptions()); err != nil {
		errs = append(errs, err)
	}
	if err := c.Surveys.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Bot.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("bot.%w", err))
	}
	return errors.Join(errs...)
}

// checkSLA builds the calendars into BusinessCalendars and checks the
// references of teams and SLA policies to calendars and teams.
func (c *Config) checkSLA(teams map[string]bool) []error {
	var errs []error
	// under puts the *tickets.FieldErrors joined in err under the key path.
	under := func(path string, err error) {
		list := []error{err}
		if m, ok := err.(interface{ Unwrap() []error }); ok {
			list = m.Unwrap()
		}
		for _, e := range list {
			if fe, ok := errors.AsType[*tickets.FieldError](e); ok {
				errs = append(errs, fmt.Errorf("%s: %s", joinPath(path, fe.Field), fe.Msg))
			} else {
				errs = append(errs, fmt.Errorf("%s: %w", path, e))
			}
		}
	}
	c.BusinessCalendars = map[string]*tickets.Calendar{}
	known := map[string]bool{}
	for i, cc := range c.Calendars {
		at := fmt.Sprintf("calendars[%d]", i)
		if known[cc.ID] {
			errs = append(errs, fmt.Errorf("%s.id: %q is used twice", at, cc.ID))
		}
		known[cc.ID] = true
		cal, err := tickets.NewCalendar(cc, c.Location)
		if err != nil {
			under(at, err)
			continue
		}
		c.BusinessCalendars[cc.ID] = cal
	}
	for i, t := range c.Teams {
		if t.Calendar != "" && !known[t.Calendar] {
			errs = append(errs, fmt.Errorf("teams[%d].calendar: unknown calendar %q", i, t.Calendar))
		}
	}
	if err := tickets.ValidatePolicies(c.SLAPolicies, teams, known); err != nil {
		under("sla_policies", err)
	}
	return errs
}

// ruleOptions are the calendars and SLA policies routing rules are checked
// against, after checkSLA. A calendar that failed to build is there as
// nil, so that its own error is not followed by "unknown calendar".
func (c *Config) ruleOptions() router.RuleOptions {
	cals := make(map[string]*tickets.Calendar, len(c.Calendars))
	for _, cc := range c.Calendars {
		cals[cc.ID] = c.BusinessCalendars[cc.ID]
	}
	return router.RuleOptions{Calendars: cals, SLAPolicies: c.SLAPolicies}
}

// Section returns a decoder for channels.<name>, for the connector factory.
func (c *Config) Section(name string) func(v any) error {
	node := c.Channels[name]
	return func(v any) error { return Decode(&node, v, "channels."+name) }
}
