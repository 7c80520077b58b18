package email

import (
	"fmt"
	"net"
	"net/mail"
	"regexp"
	"strings"
)

// Mailbox is one support address from `channels.email`.
type Mailbox struct {
	// ID names the mailbox in config, metrics and keys.
	ID string `yaml:"id"`
	// Address is the support address customers write to.
	Address string `yaml:"address"`
	Name    string `yaml:"name"`
	// IMAP polls a mailbox on a mail server. Not available yet: mail comes
	// in through SMTPListen.
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

	local, domain string // of Address
}

// IMAP is a mailbox on a mail server.
type IMAP struct {
	Addr     string `yaml:"addr"`
	TLS      bool   `yaml:"tls"`
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	Folder   string `yaml:"folder"`
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
		bad("imap", "IMAP mailboxes are not supported by this version yet; hand mail to smtp_listen")
	}
	if m.SMTPListen == "" {
		bad("smtp_listen", "is required (the address an MTA hands mail to, e.g. \":2525\")")
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
	if m.Name == "" {
		m.Name = m.ID
	}
	return errs
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
