package ami

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is the `ami` section of a CTI source: where the Asterisk Manager
// Interface listens and how to log in. Only Addr, User and Secret are
// required.
type Config struct {
	// Addr is the manager's host:port, e.g. "10.0.0.5:5038".
	Addr string `yaml:"addr"`
	// User and Secret are a manager.conf user's name and secret. The
	// secret is never logged.
	User   string `yaml:"user"`
	Secret string `yaml:"secret"`

	// TLS speaks AMI over TLS (manager.conf tlsenable, usually port 5039).
	// The server's certificate is checked against the system's roots, or
	// TLSCA when set, for Addr's host.
	TLS bool `yaml:"tls"`
	// TLSCA is a PEM file with the CA certificates that sign the
	// manager's certificate (a self-signed one, too).
	TLSCA string `yaml:"tls_ca"`

	// Extensions matches the device names of the PBX's own phones (the
	// part of a channel name between the technology and the unique suffix:
	// PJSIP/8001-00000013 → 8001). Default `^[0-9]{3,4}$`. A channel of a
	// device that does not match is a trunk.
	Extensions string `yaml:"extensions"`
	// InboundContexts, when set, are the dialplan contexts whose new
	// channels are inbound calls (e.g. from-trunk, from-pstn). When empty,
	// any new channel of a trunk is an inbound call. Outbound calls are
	// always found the same way: an extension's channel dialing a number
	// that is not an extension.
	InboundContexts []string `yaml:"inbound_contexts"`

	// Ping is how often the client pings the manager to learn that the
	// connection still works; default 20s, at least 1s. A connection
	// silent for Ping plus 10 s is dropped and made again.
	Ping time.Duration `yaml:"ping"`
	// QueueSize bounds the call events read but not yet handled; default
	// 4096. QueueWait is how long reading waits for room when the queue is
	// full before the event is dropped; default 5s. See the package doc.
	QueueSize int           `yaml:"queue_size"`
	QueueWait time.Duration `yaml:"queue_wait"`
}

// Defaults of the optional keys.
const (
	DefaultExtensions = `^[0-9]{3,4}$`
	DefaultPing       = 20 * time.Second
	DefaultQueueSize  = 4096
	DefaultQueueWait  = 5 * time.Second
)

// Validate checks the config and names the first bad key.
func (c Config) Validate() error {
	if c.Addr == "" {
		return errors.New("ami.addr: missing (host:port of the Asterisk manager, e.g. 10.0.0.5:5038)")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("ami.addr %q: %w", c.Addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
		return fmt.Errorf("ami.addr %q: want host:port", c.Addr)
	}
	if c.User == "" {
		return errors.New("ami.user: missing (a user of Asterisk's manager.conf)")
	}
	if !printable(c.User) {
		return errors.New("ami.user: must be printable, without line breaks")
	}
	if c.Secret == "" {
		return errors.New("ami.secret: missing")
	}
	if !printable(c.Secret) {
		return errors.New("ami.secret: must be printable, without line breaks") // never echo it
	}
	if c.TLSCA != "" && !c.TLS {
		return errors.New("ami.tls_ca: set, but ami.tls is not")
	}
	if c.Extensions != "" {
		if _, err := regexp.Compile(c.Extensions); err != nil {
			return fmt.Errorf("ami.extensions: %w", err)
		}
	}
	for _, ctx := range c.InboundContexts {
		if strings.TrimSpace(ctx) == "" {
			return errors.New("ami.inbound_contexts: an empty context")
		}
	}
	if c.Ping != 0 && c.Ping < time.Second {
		return fmt.Errorf("ami.ping %s: at least 1s", c.Ping)
	}
	if c.QueueSize < 0 {
		return fmt.Errorf("ami.queue_size %d: must not be negative", c.QueueSize)
	}
	if c.QueueWait < 0 {
		return fmt.Errorf("ami.queue_wait %s: must not be negative", c.QueueWait)
	}
	return nil
}

// withDefaults fills the optional keys left empty.
func (c Config) withDefaults() Config {
	if c.Extensions == "" {
		c.Extensions = DefaultExtensions
	}
	if c.Ping == 0 {
		c.Ping = DefaultPing
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.QueueWait == 0 {
		c.QueueWait = DefaultQueueWait
	}
	return c
}

// printable reports whether s has no control characters: a value written
// into an AMI action must not end its line early.
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
