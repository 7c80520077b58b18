// Package qr is the QR self-service channel: QR codes stuck on devices and
// places lead customers to a mobile form (GET|POST /s/{code}) that works
// without JavaScript, in Chinese and English. A submitted form becomes a
// conversation and ticket with the code's asset on it, its photos in the
// blob store; the customer is sent to an unguessable tracking page
// (/s/t/{token}) that shows the ticket's number and status and a thread
// of their messages and agents' replies, where they can write more.
// GET /qr/{code}.png is the code's image and /qr/print a printable sheet
// of codes for admins. The codes themselves are package codes.
package qr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"switchboard/connectors"
	"switchboard/connectors/qr/codes"
	"switchboard/internal/fanout"
)

// Config is the `channels.qr` section.
type Config struct {
	// PhoneRegion is the region of phone numbers written without a
	// country code (default CN).
	PhoneRegion string `yaml:"phone_region"`
	// MaxPhotos is how many photos one form may carry (default 3; 0–10).
	MaxPhotos int `yaml:"max_photos"`
	// MaxPhotoBytes bounds one photo (default 8 MiB), MaxTotalBytes all of
	// them together (default 20 MiB, at most 64 MiB).
	MaxPhotoBytes int64 `yaml:"max_photo_bytes"`
	MaxTotalBytes int64 `yaml:"max_total_bytes"`
	// SubmitsPerIPHour and SubmitsPerCodeHour bound new reports from one
	// address (an IPv6 /64) and on one code, per clock hour (defaults 20
	// and 60).
	SubmitsPerIPHour   int `yaml:"submits_per_ip_hour"`
	SubmitsPerCodeHour int `yaml:"submits_per_code_hour"`
	// MessagesPerHour bounds a customer's further messages on one
	// tracking page, per clock hour (default 30).
	MessagesPerHour int `yaml:"messages_per_hour"`
	// TrackDays is how long a tracking page lives after its last activity
	// (default 180).
	TrackDays int `yaml:"track_days"`
	// TimeZone is the zone of the times a tracking page shows without
	// JavaScript (default Asia/Shanghai); with it, the browser's own.
	TimeZone string `yaml:"time_zone"`
	// NotifyMailbox, when set, is the id of a `channels.email` mailbox
	// with an smtp_relay: a customer who left an e-mail address is told
	// through it when an agent replies (notify.go).
	NotifyMailbox string `yaml:"notify_mailbox"`

	loc *time.Location
}

func (c *Config) check() error {
	var errs []error
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if c.PhoneRegion == "" {
		c.PhoneRegion = "CN"
	}
	c.PhoneRegion = strings.ToUpper(c.PhoneRegion)
	if phonenumbers.GetCountryCodeForRegion(c.PhoneRegion) == 0 {
		errs = append(errs, fmt.Errorf("phone_region: %q is not a region code like CN", c.PhoneRegion))
	}
	def(&c.MaxPhotos, 3)
	if c.MaxPhotos < 0 || c.MaxPhotos > 10 {
		errs = append(errs, fmt.Errorf("max_photos: %d is outside 0–10", c.MaxPhotos))
	}
	if c.MaxPhotoBytes == 0 {
		c.MaxPhotoBytes = 8 << 20
	}
	if c.MaxTotalBytes == 0 {
		c.MaxTotalBytes = 20 << 20
	}
	if c.MaxPhotoBytes < 64<<10 || c.MaxPhotoBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("max_photo_bytes: %d is outside 65536–67108864", c.MaxPhotoBytes))
	}
	if c.MaxTotalBytes < c.MaxPhotoBytes || c.MaxTotalBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("max_total_bytes: %d is outside max_photo_bytes–67108864", c.MaxTotalBytes))
	}
	def(&c.SubmitsPerIPHour, 20)
	def(&c.SubmitsPerCodeHour, 60)
	def(&c.MessagesPerHour, 30)
	def(&c.TrackDays, 180)
	if c.TimeZone == "" {
		c.TimeZone = "Asia/Shanghai"
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		errs = append(errs, fmt.Errorf("time_zone: %q is not a time zone like Asia/Shanghai", c.TimeZone))
		loc = time.UTC
	}
	c.loc = loc
	if c.NotifyMailbox != "" && !mailboxID.MatchString(c.NotifyMailbox) {
		errs = append(errs, fmt.Errorf("notify_mailbox: %q is not a mailbox id (the id of a channels.email entry)", c.NotifyMailbox))
	}
	for key, v := range map[string]int{"submits_per_ip_hour": c.SubmitsPerIPHour, "submits_per_code_hour": c.SubmitsPerCodeHour,
		"messages_per_hour": c.MessagesPerHour, "track_days": c.TrackDays} {
		if v < 1 || v > 100000 {
			errs = append(errs, fmt.Errorf("%s: %d is outside 1–100000", key, v))
		}
	}
	return errors.Join(errs...)
}

// Connector serves the QR codes, the form, and the tracking pages.
type Connector struct {
	env    connectors.Env
	cfg    Config
	codes  *codes.Store
	hub    *fanout.Hub
	secret secret
	// states tells the ticket's number and status; nil when the Ingester
	// cannot.
	states connectors.TicketStates
	// notify mails a notice through notify_mailbox; nil when replies are
	// not notified. Set once by UseNotifiers, before anything runs.
	notify func(ctx context.Context, n connectors.Notice) error
}

var (
	_ connectors.Connector    = (*Connector)(nil)
	_ connectors.HTTP         = (*Connector)(nil)
	_ connectors.Runner       = (*Connector)(nil)
	_ connectors.LargeBodies  = (*Connector)(nil)
	_ connectors.NotifierUser = (*Connector)(nil)
)

// threadMaxLen caps a tracking page's thread.
const threadMaxLen = 500

// New builds the connector from `channels.qr`.
func New(env connectors.Env, decode func(v any) error) (connectors.Connector, error) {
	var cfg Config
	if err := decode(&cfg); err != nil {
		return nil, err
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if env.Log == nil {
		env.Log = slog.Default()
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	c := &Connector{env: env, cfg: cfg, codes: codes.NewStore(env.Redis, env.Prefix),
		hub:    fanout.New(env.Redis, fanout.Options{MaxLen: threadMaxLen, TTL: cfg.trackTTL(), Log: env.Log}),
		secret: secret{rdb: env.Redis, key: env.Prefix + "{qr}:secret"}}
	c.states, _ = env.In.(connectors.TicketStates)
	return c, nil
}

func (c *Config) trackTTL() time.Duration { return time.Duration(c.TrackDays) * 24 * time.Hour }

// Channel names the channel.
func (c *Connector) Channel() connectors.Channel { return connectors.QR }

// Codes is the store of codes, for the agent API.
func (c *Connector) Codes() *codes.Store { return c.codes }

// FormURL is the address a code's QR image encodes.
func (c *Connector) FormURL(code string) string { return c.env.PublicURL + "/s/" + code }

// Run follows pub/sub for the tracking pages' live updates.
func (c *Connector) Run(ctx context.Context) error { return c.hub.Run(ctx) }

// Endpoints lists the images, the form, the tracking page and the
// printable sheet.
func (c *Connector) Endpoints() []connectors.Endpoint {
	return []connectors.Endpoint{
		{Method: "GET", Path: "/qr/print", Handle: c.printSheet},
		{Method: "GET", Path: "/qr/static/:name", Handle: c.static},
		{Method: "GET", Path: "/qr/:file", Handle: c.image},
		{Method: "GET", Path: "/qr/:code/wechat.png", Handle: c.wechatImage},
		{Method: "GET", Path: "/s/:code", Handle: c.form},
		{Method: "POST", Path: "/s/:code", Handle: c.submit},
		{Method: "GET", Path: "/s/t/:token", Handle: c.track},
		{Method: "POST", Path: "/s/t/:token", Handle: c.follow},
		{Method: "GET", Path: "/s/t/:token/events", Handle: c.events},
	}
}

// bodySlack is room for the form's other inputs and the multipart
// envelope around the photos.
const bodySlack = 1 << 20

// uploadReadTimeout is how long a form with photos may take to arrive:
// photos from a phone on a slow mobile link take minutes, not the
// server's 30 seconds.
const uploadReadTimeout = 5 * time.Minute

// MaxBody lets a form's post carry its photos: up to max_total_bytes and
// room for the rest, arriving within uploadReadTimeout. Only a
// multipart/form-data POST to a live code gets that (one Redis read, here
// before the body is read); anything else, or a code that is unknown or
// disabled, or Redis in doubt, keeps the server's limits, so a larger
// body is refused by the server before the connector sees it. The server
// also bounds how many such bodies it reads at once.
func (c *Connector) MaxBody(ctx context.Context, r connectors.BodyRequest) connectors.BodyLimit {
	if r.Method != "POST" || !c.photosAllowed() {
		return connectors.BodyLimit{}
	}
	rest, ok := strings.CutPrefix(r.Path, "/s/")
	if !ok || !codes.Valid(rest) {
		return connectors.BodyLimit{}
	}
	if mt, _, err := mime.ParseMediaType(r.ContentType); err != nil || mt != "multipart/form-data" {
		return connectors.BodyLimit{}
	}
	code, err := c.codes.Get(ctx, rest)
	if err != nil || code.Disabled {
		return connectors.BodyLimit{}
	}
	return connectors.BodyLimit{Max: c.cfg.MaxTotalBytes + bodySlack, ReadTimeout: uploadReadTimeout}
}

// now is the connector's clock.
func (c *Connector) now() time.Time { return c.env.Now() }
