package email

import (
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Mailbox is one support address from `channels.email`.
type Mailbox struct {
	// ID names the mailbox in config, metrics and keys.
	ID string `yaml:"id"`
	// Address is the support address customers write to.
	Address string `yaml:"address"`
	Name    string `yaml:"name"`
	// IMAP fetches the mailbox's mail from a folder on a mail server (see
	// imap.go). A mailbox needs IMAP or SMTPListen, or both.
	IMAP *IMAP `yaml:"imap"`
	// SMTPListen is where an MTA or MX hands mail for Address straight to
	// Switchboard, e.g. ":2525". Mailboxes may share a listener.
	SMTPListen string `yaml:"smtp_listen"`
	// SMTPRelay sends agents' replies.
	SMTPRelay *Relay `yaml:"smtp_relay"`
	// PlusAddress threads mail to support+10042@… into ticket 10042.
	PlusAddress bool `yaml:"plus_address"`
	// MaxMessageBytes refuses larger mail (552); default 25 MiB.
	MaxMessageBytes int64 `yaml:"max_message_bytes"`
	// PerSenderPerHour bounds the mail one sender may open conversations
	// with in an hour (a loop, a flood); more is deferred with 450.
	// Default 60.
	PerSenderPerHour int `yaml:"per_sender_per_hour"`
	// QuoteHistory appends the customer's latest mail to agents' replies,
	// below an attribution line and quoted with "> ", as mail clients do;
	// default true. Automatic mail never quotes.
	QuoteHistory *bool `yaml:"quote_history"`
	// Language picks the attribution line of quoted history: "en" for
	// "On <date>, <name> wrote:", "zh" for "在 <date>，<name> 写道：", or ""
	// (the default) to follow the thread: Chinese when the customer's
	// subject or mail has Chinese characters (and no Japanese kana).
	Language string `yaml:"language"`

	local, domain string // of Address
}

// IMAP is a folder on a mail server that the connector takes mail from.
type IMAP struct {
	// Addr is the server's host:port, e.g. "imap.example.com:993".
	Addr string `yaml:"addr"`
	// TLS is implicit TLS (usually port 993), the default unless StartTLS
	// or InsecurePlain is set.
	TLS *bool `yaml:"tls"`
	// StartTLS upgrades a plain connection (usually port 143) with STARTTLS.
	StartTLS bool `yaml:"starttls"`
	// InsecurePlain speaks IMAP without TLS: password and mail in clear
	// text. It is refused unless Addr's host is a loopback address (a local
	// Dovecot, a test).
	InsecurePlain bool   `yaml:"insecure_plain"`
	User          string `yaml:"user"`
	// Password is never logged.
	Password string `yaml:"password"`
	// Folder is where the mail is taken from; default INBOX.
	Folder string `yaml:"folder"`
	// MoveTo, when set, is the folder mail is moved to once it is stored
	// (created when missing); otherwise it stays in Folder, marked \Seen.
	MoveTo string `yaml:"move_to"`
	// Poll is how often the folder is checked when the server cannot IDLE;
	// default 60s, at least 1s.
	Poll time.Duration `yaml:"poll"`

	security string // "tls", "starttls" or "plain", from the three above
}

// Relay is the SMTP server replies go out through.
type Relay struct {
	Addr     string `yaml:"addr"`
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// Security is "starttls" (default), "tls" (implicit, port 465) or
	// "none" (loopback and tests only).
	Security string `yaml:"security"`
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// check validates m and fills in defaults. Errors name the key.
func (m *Mailbox) check() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !idPattern.MatchString(m.ID) {
		bad("id", "%q is not a valid id (letters, digits, _ and -)", m.ID)
	}
	a, err := mail.ParseAddress(m.Address)
	if err != nil || a.Name != "" || strings.ContainsAny(a.Address, "+ ") {
		bad("address", "%q is not a plain e-mail address (without a +tag)", m.Address)
	} else {
		m.Address = strings.ToLower(a.Address)
		m.local, m.domain, _ = strings.Cut(m.Address, "@")
	}
	if m.IMAP != nil {
		errs = append(errs, m.IMAP.check()...)
	}
	if m.SMTPListen == "" {
		if m.IMAP == nil {
			bad("smtp_listen", "or imap is required: smtp_listen is where an MTA hands mail over (e.g. \":2525\"), "+
				"imap a mail server folder Switchboard fetches it from")
		}
	} else if _, _, err := net.SplitHostPort(m.SMTPListen); err != nil {
		bad("smtp_listen", "%q is not host:port", m.SMTPListen)
	}
	if r := m.SMTPRelay; r != nil {
		if _, _, err := net.SplitHostPort(r.Addr); err != nil {
			bad("smtp_relay.addr", "%q is not host:port", r.Addr)
		}
		switch r.Security {
		case "":
			r.Security = "starttls"
		case "starttls", "tls", "none":
		default:
			bad("smtp_relay.security", "must be starttls, tls or none, not %q", r.Security)
		}
	}
	if m.MaxMessageBytes == 0 {
		m.MaxMessageBytes = 25 << 20
	}
	if m.MaxMessageBytes < 0 {
		bad("max_message_bytes", "must be positive")
	}
	if m.PerSenderPerHour == 0 {
		m.PerSenderPerHour = 60
	}
	if m.PerSenderPerHour < 0 {
		bad("per_sender_per_hour", "must be positive")
	}
	if m.QuoteHistory == nil {
		quote := true
		m.QuoteHistory = &quote
	}
	switch m.Language {
	case "", "en", "zh":
	default:
		bad("language", "must be en, zh or empty (follow the thread), not %q", m.Language)
	}
	if m.Name == "" {
		m.Name = m.ID
	}
	return errs
}

// check validates an imap section and fills in defaults. Errors name the
// key, below imap.
func (im *IMAP) check() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("imap.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	host, port, err := net.SplitHostPort(im.Addr)
	if err != nil || host == "" || port == "" {
		bad("addr", "%q is not host:port (e.g. \"imap.example.com:993\")", im.Addr)
	}
	implicit := im.TLS == nil || *im.TLS
	switch {
	case im.StartTLS && im.InsecurePlain:
		bad("starttls", "and insecure_plain exclude each other")
	case im.TLS != nil && *im.TLS && (im.StartTLS || im.InsecurePlain):
		bad("tls", "true (implicit TLS) excludes starttls and insecure_plain; set tls: false with them")
	case im.StartTLS:
		im.security = "starttls"
	case im.InsecurePlain:
		im.security = "plain"
		if err == nil && !loopback(host) {
			bad("insecure_plain", "is only allowed for a loopback host (localhost, 127.0.0.1, ::1), not %q: "+
				"the password and the mail would cross the network in clear text; use tls or starttls", host)
		}
	case implicit:
		im.security = "tls"
	default:
		bad("tls", "false needs starttls: true, or insecure_plain: true for a loopback host")
	}
	if im.User == "" {
		bad("user", "is required")
	}
	if im.Password == "" {
		bad("password", "is required")
	}
	if im.Folder == "" {
		im.Folder = "INBOX"
	}
	// Folder names are case-sensitive, except INBOX.
	if im.MoveTo == im.Folder || strings.EqualFold(im.MoveTo, "INBOX") && strings.EqualFold(im.Folder, "INBOX") {
		bad("move_to", "%q is the folder mail is taken from", im.MoveTo)
	}
	switch {
	case im.Poll == 0:
		im.Poll = time.Minute
	case im.Poll < time.Second:
		bad("poll", "must be at least 1s, not %s", im.Poll)
	}
	return errs
}

// loopback reports whether host is localhost or a loopback IP address.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// accepts reports whether rcpt (lower-cased) is this mailbox: its address,
// or with PlusAddress a +tag of it; tag is the part after the "+".
func (m *Mailbox) accepts(rcpt string) (tag string, ok bool) {
	local, domain, found := strings.Cut(rcpt, "@")
	if !found || domain != m.domain {
		return "", false
	}
	if local == m.local {
		return "", true
	}
	if base, t, plus := strings.Cut(local, "+"); plus && base == m.local && m.PlusAddress {
		return t, true
	}
	return "", false
}
