package mailparse

import (
	"bytes"
	"regexp"
	"strings"
)

// Kind is what sort of sender a mail comes from.
type Kind string

// The kinds Classify tells apart.
const (
	// Human is mail a person wrote: it may open or update a ticket.
	Human Kind = "human"
	// AutoReply is automatic mail: an out-of-office or vacation reply, a
	// read receipt, or anything else a machine sent (RFC 3834
	// Auto-Submitted other than "no"). It must not open a ticket nor be
	// answered.
	AutoReply Kind = "auto-reply"
	// Bulk is list or bulk mail (Precedence, List-* headers). Note that a
	// support address behind a mailing-list service (a Google Group, say)
	// makes every customer mail look like this.
	Bulk Kind = "bulk"
	// Bounce is a delivery failure report (or a delay warning: see
	// Bounce.Action) about a mail that was sent from here.
	Bounce Kind = "bounce"
)

// Class is the verdict of Classify.
type Class struct {
	Kind Kind
	// Reason names the header (and value) that decided, for logs and the
	// UI, e.g. "Auto-Submitted: auto-replied". "" for Human.
	Reason string
	// Bounce is set for Kind Bounce.
	Bounce *BounceReport
}

// BounceReport is what a bounce says about the mail it reports.
type BounceReport struct {
	// OriginalMessageIDs are the bare Message-IDs of the reported mail,
	// from its enclosed header (text/rfc822-headers or message/rfc822), or
	// from "Message-ID:" lines in the text of a bounce without a report.
	OriginalMessageIDs []string
	// Recipients are the per-recipient blocks of the delivery status.
	Recipients []BounceRecipient
	// Action, Status and Diagnostic are those of the first failed
	// recipient (or of the first recipient when none failed): e.g.
	// "failed", "5.1.1", "550 5.1.1 <x@example.net>: User unknown". All
	// "" when the bounce has no delivery-status part.
	Action     string
	Status     string
	Diagnostic string
}

// BounceRecipient is one per-recipient block of a DSN (RFC 3464).
type BounceRecipient struct {
	// Addr is the Final-Recipient (or Original-Recipient), lower case.
	Addr string
	// Action is "failed", "delayed", "delivered", "relayed" or "expanded".
	Action string
	// Status is the enhanced status code, e.g. "5.1.1".
	Status string
	// Diagnostic is the Diagnostic-Code text without its type ("smtp;").
	Diagnostic string
}

const maxReason = 120

var (
	autoSubject = regexp.MustCompile(`(?i)^\s*(automatic reply|auto[- ]?reply|auto[- ]?response|out of (the )?office( auto[- ]?reply)?|vacation (auto[- ]?)?reply|abwesenheitsnotiz|r[ée]ponse automatique|自动回复|自動回覆|自动答复|自動回復|自動答覆|自動応答)\s*[:：]`)
	// Outlook's English OOF subject has no colon after "AutoReply".
	oofSubject = regexp.MustCompile(`(?i)^\s*out of office autoreply\b`)
)

// Classify tells human mail from automatic, bulk and bounce mail, and says
// which header decided. Checks, in order:
//
//   - bounce: a multipart/report of report-type delivery-status (or a
//     message/delivery-status part), an X-Failed-Recipients header, a
//     MAILER-DAEMON sender, or a postmaster sender with a null Return-Path
//     or an enclosed mail;
//   - auto-reply: a read receipt (report-type disposition-notification),
//     Auto-Submitted other than "no", X-Autoreply, X-Autorespond and kin,
//     Exchange's out-of-office pair (X-MS-Exchange-Inbox-Rules-Loop with
//     X-Auto-Response-Suppress), an auto-reply subject ("Automatic reply:",
//     "自动回复:", …), a null Return-Path;
//   - bulk: Precedence bulk, junk or list; List-Id, List-Unsubscribe and the
//     other list headers.
//
// X-Auto-Response-Suppress alone does not make a mail automatic: it is a
// request not to answer, which people's Outlook also sends.
func Classify(m *Mail) Class {
	if m == nil {
		return Class{Kind: Human}
	}
	h := m.Header
	if r := bounceReason(m); r != "" {
		return Class{Kind: Bounce, Reason: r, Bounce: bounceReport(m)}
	}
	if r := autoReason(m); r != "" {
		return Class{Kind: AutoReply, Reason: r}
	}
	if p := firstWord(h.Get("Precedence")); p == "bulk" || p == "junk" || p == "list" {
		return Class{Kind: Bulk, Reason: "Precedence: " + p}
	}
	for _, k := range []string{"List-Id", "List-Unsubscribe", "List-Post", "List-Help",
		"List-Owner", "List-Archive", "List-Subscribe", "Mailing-List", "X-Mailing-List", "X-ML-Name"} {
		if h.Has(k) {
			return Class{Kind: Bulk, Reason: k}
		}
	}
	return Class{Kind: Human}
}

func bounceReason(m *Mail) string {
	local := strings.ToLower(m.From.Addr)
	if i := strings.IndexByte(local, '@'); i >= 0 {
		local = local[:i]
	}
	switch {
	case m.report.reportType == "delivery-status":
		return "Content-Type: multipart/report; report-type=delivery-status"
	case len(m.report.dsn) > 0:
		return "Content-Type: message/delivery-status"
	case m.Header.Has("X-Failed-Recipients"):
		return "X-Failed-Recipients"
	case local == "mailer-daemon":
		return "From: MAILER-DAEMON"
	case local == "postmaster" && (m.NullReturnPath || len(m.report.embedded) > 0):
		return "From: postmaster"
	}
	return ""
}

func autoReason(m *Mail) string {
	h := m.Header
	if m.report.reportType == "disposition-notification" || m.report.mdn {
		return "Content-Type: multipart/report; report-type=disposition-notification"
	}
	if v := firstWord(h.Get("Auto-Submitted")); v != "" && v != "no" {
		return clip("Auto-Submitted: " + v)
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply", "X-Autogenerated", "X-Amazon-Auto-Reply"} {
		if h.Has(k) {
			if v := firstWord(h.Get(k)); v != "no" && v != "false" && v != "0" {
				return clip(k + ": " + strings.TrimSpace(h.Get(k)))
			}
		}
	}
	if h.Has("X-MS-Exchange-Inbox-Rules-Loop") && h.Has("X-Auto-Response-Suppress") {
		return "X-MS-Exchange-Inbox-Rules-Loop with X-Auto-Response-Suppress (Exchange out of office)"
	}
	// The reason quotes the matched prefix only, not the customer's words.
	if p := autoSubject.FindString(m.Subject); p != "" {
		return clip("Subject: " + strings.TrimSpace(p))
	}
	if p := oofSubject.FindString(m.Subject); p != "" {
		return clip("Subject: " + strings.TrimSpace(p))
	}
	if m.NullReturnPath {
		return "Return-Path: <>"
	}
	return ""
}

// firstWord returns the lower-cased value up to the first ';', '(' or
// whitespace: "auto-replied" of "auto-replied; owner-email=…".
func firstWord(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if i := strings.IndexAny(v, "; \t("); i >= 0 {
		v = v[:i]
	}
	return v
}

func clip(s string) string {
	var cut bool
	return cutUTF8(s, maxReason, &cut)
}

func bounceReport(m *Mail) *BounceReport {
	b := &BounceReport{}
	seen := map[string]bool{}
	for _, eh := range m.report.embedded {
		for _, id := range parseMsgIDs(eh.Get("Message-ID")) {
			if !seen[id] {
				seen[id] = true
				b.OriginalMessageIDs = append(b.OriginalMessageIDs, id)
			}
		}
	}
	if len(b.OriginalMessageIDs) == 0 {
		// A bounce without a report (qmail, old Exim) quotes the header in
		// its text.
		for _, l := range strings.Split(m.Text, "\n") {
			l = strings.TrimSpace(strings.TrimLeft(l, "> "))
			if len(l) > 11 && strings.EqualFold(l[:11], "message-id:") {
				for _, id := range parseMsgIDs(l[11:]) {
					if !seen[id] && len(b.OriginalMessageIDs) < maxIDs {
						seen[id] = true
						b.OriginalMessageIDs = append(b.OriginalMessageIDs, id)
					}
				}
			}
		}
	}
	for _, blk := range m.report.dsn {
		rcpt := blk.Get("Final-Recipient")
		if rcpt == "" {
			rcpt = blk.Get("Original-Recipient")
		}
		if rcpt == "" && !blk.Has("Action") && !blk.Has("Status") {
			continue // the per-message block
		}
		r := BounceRecipient{
			Addr:       clip(cleanAddr(afterType(rcpt))),
			Action:     clip(firstWord(blk.Get("Action"))),
			Status:     clip(firstWord(blk.Get("Status"))),
			Diagnostic: clipLong(afterType(blk.Get("Diagnostic-Code"))),
		}
		b.Recipients = append(b.Recipients, r)
	}
	if len(b.Recipients) > 0 {
		pick := b.Recipients[0]
		for _, r := range b.Recipients {
			if r.Action == "failed" {
				pick = r
				break
			}
		}
		b.Action, b.Status, b.Diagnostic = pick.Action, pick.Status, pick.Diagnostic
	}
	return b
}

// afterType drops the type of a DSN field: "rfc822; x@y" → "x@y".
func afterType(v string) string {
	if _, after, ok := strings.Cut(v, ";"); ok {
		return strings.TrimSpace(after)
	}
	return strings.TrimSpace(v)
}

func clipLong(s string) string {
	var cut bool
	return cutUTF8(strings.Join(strings.Fields(s), " "), 1000, &cut)
}

// parseDSN reads the blocks of a message/delivery-status body: the
// per-message fields, then one block per recipient, separated by empty
// lines.
func parseDSN(b []byte, maxHeader int) []Header {
	var out []Header
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	for _, blk := range bytes.Split(b, []byte("\n\n")) {
		if len(bytes.TrimSpace(blk)) == 0 || len(blk) > maxHeader {
			continue
		}
		if h := parseHeader(blk, ""); len(h) > 0 {
			out = append(out, h)
		}
		if len(out) >= maxAddresses {
			break
		}
	}
	return out
}
