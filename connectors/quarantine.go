package connectors

import (
	"context"
	"errors"
	"io"
	"time"
)

// Quarantine is implemented by connectors that keep inbound messages they
// could not take (e-mail: a mail bomb, a mail without From, a mail that
// kept failing) where an operator can look at them. The server lists them,
// serves the raw message and dismisses them, for supervisors and admins
// only: a quarantined message may hold any team's customer data.
type Quarantine interface {
	// Quarantined lists up to limit entries of every account, newest
	// first, after cursor ("" for the newest; else the next of a previous
	// call). next is "" when there is nothing after the page. A cursor the
	// connector did not make is ErrQuarantineBadID.
	Quarantined(ctx context.Context, cursor string, limit int) (items []Quarantined, next string, err error)
	// QuarantinedRaw opens the raw message of one entry, as it was kept;
	// the caller closes it. The entry's Kept is its length.
	QuarantinedRaw(ctx context.Context, account, id string) (io.ReadCloser, Quarantined, error)
	// Dismiss removes one entry.
	Dismiss(ctx context.Context, account, id string) error
}

// Quarantined is one message in a quarantine. Everything but Account, ID,
// At, Size, Kept and HasRaw is untrusted text from the message or about it.
type Quarantined struct {
	// Account is the connector's account (an e-mail mailbox id) and
	// AccountAddress its address.
	Account, AccountAddress string
	// ID names the entry within Account.
	ID string
	// At is when the message was quarantined.
	At time.Time
	// Reason says why, safe to show to supervisors.
	Reason string
	// Source is how the message came: "smtp" or "imap".
	Source string
	// Sender is the envelope sender (SMTP MAIL FROM, or a fetched mail's
	// Return-Path); "<>" for the null sender, "" when unknown.
	Sender string
	// FromName, FromAddress and Subject are decoded from the message's
	// header, "" when it could not be read.
	FromName, FromAddress, Subject string
	// Size is the message's size in bytes; Kept is how much of it was kept
	// (less when only its header was, for a message over a size limit).
	Size, Kept int64
	// HasRaw reports whether the kept bytes can be had (QuarantinedRaw).
	HasRaw bool
}

// Errors of a Quarantine.
var (
	// ErrQuarantineNotFound is an unknown account or entry, or a raw
	// message no longer kept.
	ErrQuarantineNotFound = errors.New("connectors: no such quarantined message")
	// ErrQuarantineBadID is an account, id or cursor of the wrong form.
	ErrQuarantineBadID = errors.New("connectors: malformed quarantine account, id or cursor")
)
