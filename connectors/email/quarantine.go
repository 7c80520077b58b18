package email

// The quarantine: mail that cannot be taken, kept for an operator.
//
//	{em:ID}:quarantine  stream, about 10,000 entries per mailbox, each with
//	                    reason, at (ms), source (smtp or imap), sender (the
//	                    envelope sender, "<>" for the null sender), from_name,
//	                    from_addr and subject (decoded from the header when it
//	                    can be read), size (the mail's bytes), bytes (the
//	                    bytes kept) and blob (the kept mail in the blob store,
//	                    "" without a store).
//
// The connector implements connectors.Quarantine on it, which the server's
// /api/v1/email/quarantine routes use. Dismissing an entry deletes it from
// the stream; the kept mail stays in the blob store (where the same mail
// quarantined again shares it) until the store's bound trims it, and only
// the quarantine routes, for supervisors and admins, name it.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/connectors/email/mailparse"
	"switchboard/internal/blob"
)

const (
	// quarantineLen is about how many entries a mailbox's quarantine keeps.
	quarantineLen = 10000
	// quarantineHeaderBytes bounds the header read for the list's From and
	// Subject.
	quarantineHeaderBytes = 64 << 10
	// quarantineMaxList is the most entries one Quarantined call returns.
	quarantineMaxList = 500
)

var _ connectors.Quarantine = (*Connector)(nil)

func (c *Connector) quarantineKey(box *Mailbox) string {
	return c.env.Prefix + "{em:" + box.ID + "}:quarantine"
}

// quarantine keeps a mail that cannot be taken, with its reason, where an
// operator can see it; the sender is told it was accepted, since a retry
// would fail the same way.
func (c *Connector) quarantine(ctx context.Context, box *Mailbox, raw []byte, env envelope, reason string) error {
	return c.quarantineKept(ctx, box, raw, int64(len(raw)), env, reason)
}

// quarantineKept quarantines the kept bytes of a mail of size bytes (its
// header only, when the mail is too large to keep).
func (c *Connector) quarantineKept(ctx context.Context, box *Mailbox, kept []byte, size int64, env envelope, reason string) error {
	ref := ""
	if c.env.Blobs != nil {
		id := blob.IDFor("email-quarantine", box.ID, hash(string(kept), 40))
		if _, err := c.env.Blobs.Put(ctx, id, bytes.NewReader(kept), "quarantined.eml", "message/rfc822"); err == nil {
			ref = id
		} else {
			c.env.Log.Warn("email: quarantined mail not kept in the blob store; its entry has no raw mail", "mailbox", box.ID, "err", err)
		}
	}
	h := quarantineHeaderOf(kept)
	source, sender := "imap", h.returnPath
	if env.known {
		source, sender = "smtp", env.from
		if sender == "" {
			sender = "<>"
		}
	}
	err := c.env.Redis.XAdd(ctx, &redis.XAddArgs{Stream: c.quarantineKey(box), MaxLen: quarantineLen, Approx: true,
		Values: []any{"reason", reason, "blob", ref, "bytes", len(kept), "size", size, "at", c.env.Now().UnixMilli(),
			"source", source, "sender", cut(sender, 320), "from_name", cut(h.fromName, 200), "from_addr", cut(h.fromAddr, 320),
			"subject", cut(h.subject, 500)}}).Err()
	if err != nil {
		return fmt.Errorf("email: quarantine: %w", err)
	}
	c.m.mails.WithLabelValues(box.ID, "quarantined").Inc()
	c.env.Log.Warn("email: mail quarantined", "mailbox", box.ID, "reason", reason)
	return nil
}

// quarantinedHeader is what the quarantine shows of a mail's header.
type quarantinedHeader struct {
	fromName, fromAddr, subject string
	// returnPath is "<>" for "Return-Path: <>", else the address, or "".
	returnPath string
}

// quarantineHeaderOf decodes the From, Subject and Return-Path of a mail
// that may not parse as a whole (a mail bomb): only its header block is
// read, at most quarantineHeaderBytes of it. Fields it cannot read stay "".
func quarantineHeaderOf(raw []byte) quarantinedHeader {
	var head bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 4096), quarantineHeaderBytes)
	for sc.Scan() {
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(line) == 0 || head.Len()+len(line) > quarantineHeaderBytes {
			break
		}
		head.Write(line)
		head.WriteString("\r\n")
	}
	if head.Len() == 0 {
		return quarantinedHeader{}
	}
	head.WriteString("\r\n")
	m, err := mailparse.Parse(head.Bytes(), mailparse.Limits{})
	if err != nil {
		return quarantinedHeader{}
	}
	h := quarantinedHeader{fromName: m.From.Name, fromAddr: m.From.Addr, subject: m.Subject, returnPath: m.ReturnPath}
	if m.NullReturnPath {
		h.returnPath = "<>"
	}
	return h
}

// validEntryID reports whether id is a stream entry id: two decimal numbers
// that fit 64 bits, joined by "-".
func validEntryID(id string) bool {
	l, r, ok := strings.Cut(id, "-")
	return ok && decimal64(l) && decimal64(r)
}

func decimal64(s string) bool {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// quarantineBox returns the mailbox id names: ErrQuarantineBadID for an id
// of the wrong form, ErrQuarantineNotFound for one not configured.
func (c *Connector) quarantineBox(id string) (*Mailbox, error) {
	if !idPattern.MatchString(id) {
		return nil, connectors.ErrQuarantineBadID
	}
	for _, b := range c.boxes {
		if b.ID == id {
			return b, nil
		}
	}
	return nil, connectors.ErrQuarantineNotFound
}

// Quarantined lists the quarantined mail of every mailbox, newest first;
// entries quarantined in the same millisecond come in mailbox order. The
// cursor is "<entry id>.<mailbox>" of the page's last entry.
func (c *Connector) Quarantined(ctx context.Context, cursor string, limit int) ([]connectors.Quarantined, string, error) {
	limit = min(max(limit, 1), quarantineMaxList)
	var afterID, afterBox string
	if cursor != "" {
		var ok bool
		afterID, afterBox, ok = strings.Cut(cursor, ".")
		if !ok || !validEntryID(afterID) || !idPattern.MatchString(afterBox) {
			return nil, "", connectors.ErrQuarantineBadID
		}
	}
	p := c.env.Redis.Pipeline()
	cmds := make([]*redis.XMessageSliceCmd, len(c.boxes))
	for i, b := range c.boxes {
		end := "+"
		switch {
		case cursor == "":
		case b.ID > afterBox: // its entry of the same millisecond comes after the cursor
			end = afterID
		default:
			end = "(" + afterID
		}
		cmds[i] = p.XRevRangeN(ctx, c.quarantineKey(b), end, "-", int64(limit+1))
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, "", fmt.Errorf("email: quarantine list: %w", err)
	}
	type found struct {
		box *Mailbox
		msg redis.XMessage
	}
	var all []found
	for i, b := range c.boxes {
		for _, m := range cmds[i].Val() {
			all = append(all, found{b, m})
		}
	}
	slices.SortFunc(all, func(a, b found) int {
		if n := compareIDs(b.msg.ID, a.msg.ID); n != 0 {
			return n
		}
		return cmp.Compare(a.box.ID, b.box.ID)
	})
	next := ""
	if len(all) > limit {
		all = all[:limit]
		last := all[limit-1]
		next = last.msg.ID + "." + last.box.ID
	}
	out := make([]connectors.Quarantined, len(all))
	for i, f := range all {
		out[i] = c.quarantined(f.box, f.msg)
	}
	return out, next, nil
}

// compareIDs orders two stream ids by time, then sequence.
func compareIDs(a, b string) int {
	ams, aseq := splitID(a)
	bms, bseq := splitID(b)
	if n := cmp.Compare(ams, bms); n != 0 {
		return n
	}
	return cmp.Compare(aseq, bseq)
}

func splitID(id string) (ms, seq uint64) {
	l, r, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(l, 10, 64)
	seq, _ = strconv.ParseUint(r, 10, 64)
	return ms, seq
}

// quarantined is a stream entry as the interface shows it.
func (c *Connector) quarantined(box *Mailbox, m redis.XMessage) connectors.Quarantined {
	s := func(k string) string { v, _ := m.Values[k].(string); return v }
	n := func(k string) int64 { v, _ := strconv.ParseInt(s(k), 10, 64); return v }
	at := n("at")
	if at <= 0 {
		ms, _ := splitID(m.ID)
		at = int64(ms)
	}
	kept := n("bytes")
	size := n("size")
	if size == 0 {
		size = kept
	}
	source := s("source")
	if source == "" {
		source = "smtp"
	}
	ref := s("blob")
	return connectors.Quarantined{Account: box.ID, AccountAddress: box.Address, ID: m.ID, At: time.UnixMilli(at).UTC(),
		Reason: s("reason"), Source: source, Sender: s("sender"), FromName: s("from_name"), FromAddress: s("from_addr"),
		Subject: s("subject"), Size: size, Kept: kept, HasRaw: ref != "" && c.env.Blobs != nil && c.env.Blobs.Exists(ref)}
}

// quarantineEntry reads one entry of a mailbox's quarantine.
func (c *Connector) quarantineEntry(ctx context.Context, account, id string) (*Mailbox, redis.XMessage, error) {
	box, err := c.quarantineBox(account)
	if err != nil {
		return nil, redis.XMessage{}, err
	}
	if !validEntryID(id) {
		return nil, redis.XMessage{}, connectors.ErrQuarantineBadID
	}
	ms, err := c.env.Redis.XRange(ctx, c.quarantineKey(box), id, id).Result()
	if err != nil {
		return nil, redis.XMessage{}, fmt.Errorf("email: quarantine: %w", err)
	}
	if len(ms) == 0 {
		return nil, redis.XMessage{}, connectors.ErrQuarantineNotFound
	}
	return box, ms[0], nil
}

// QuarantinedRaw opens the kept mail of one entry.
func (c *Connector) QuarantinedRaw(ctx context.Context, account, id string) (io.ReadCloser, connectors.Quarantined, error) {
	box, m, err := c.quarantineEntry(ctx, account, id)
	if err != nil {
		return nil, connectors.Quarantined{}, err
	}
	q := c.quarantined(box, m)
	ref, _ := m.Values["blob"].(string)
	if !q.HasRaw {
		return nil, q, connectors.ErrQuarantineNotFound
	}
	f, meta, err := c.env.Blobs.Open(ref)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, q, connectors.ErrQuarantineNotFound
	}
	if err != nil {
		return nil, q, fmt.Errorf("email: quarantine: %w", err)
	}
	q.Kept = meta.Size
	return f, q, nil
}

// Dismiss deletes one entry from its mailbox's quarantine.
func (c *Connector) Dismiss(ctx context.Context, account, id string) error {
	box, err := c.quarantineBox(account)
	if err != nil {
		return err
	}
	if !validEntryID(id) {
		return connectors.ErrQuarantineBadID
	}
	n, err := c.env.Redis.XDel(ctx, c.quarantineKey(box), id).Result()
	if err != nil {
		return fmt.Errorf("email: quarantine dismiss: %w", err)
	}
	if n == 0 {
		return connectors.ErrQuarantineNotFound
	}
	return nil
}
