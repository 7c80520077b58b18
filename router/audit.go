package router

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/rdb"
	"switchboard/session"
)

// Every change to who a customer is goes into the customer's audit
// stream ({u:ID}:audit), never trimmed: identities an agent linked or
// unlinked, customers an agent created, merges (on both customers) and
// unmerges (on both). Each entry has action, who (an agent id, or
// "system") and when (ms), and what the action needs: the identity
// (type, value), or the merge (merge, from, into, why, reason and how
// much moved).

// Audit actions (AuditEntry.Action).
const (
	AuditCreate  = "create"
	AuditLink    = "link"
	AuditUnlink  = "unlink"
	AuditMerge   = "merge"
	AuditUnmerge = "unmerge"
)

// AuditEntry is one change to a customer.
type AuditEntry struct {
	// ID is the entry's stream id.
	ID     string    `json:"id"`
	Action string    `json:"action"`
	Who    string    `json:"who"`
	At     time.Time `json:"at"`
	// Type and Value name the identity linked or unlinked (and those a
	// created customer started with); Name a created customer's name.
	Type  string `json:"type,omitempty"`
	Value string `json:"value,omitempty"`
	Name  string `json:"name,omitempty"`
	// MergeID, From and Into name a merge, and its unmerge.
	MergeID string `json:"merge_id,omitempty"`
	From    string `json:"from,omitempty"`
	Into    string `json:"into,omitempty"`
	// Why (manual, unionid, identity) and Reason say why a merge was made.
	Why    string `json:"why,omitempty"`
	Reason string `json:"reason,omitempty"`
	// How much a merge moved, or an unmerge gave back; Later counts the
	// conversations opened after the merge that went back too.
	Identities    int      `json:"identities,omitempty"`
	Conversations int      `json:"conversations,omitempty"`
	Calls         int      `json:"calls,omitempty"`
	Fields        []string `json:"fields,omitempty"`
	Later         int      `json:"later,omitempty"`
}

// customerIDRe is what a customer id in a request may look like.
var customerIDRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Audit returns customer id's audit, newest first, at most limit entries
// (1–500, default 100). The audit of a customer merged into another is
// its own, not the other's.
func (r *Router) Audit(ctx context.Context, id string, limit int) ([]AuditEntry, error) {
	if !customerIDRe.MatchString(id) {
		return nil, ErrNotFound
	}
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	n, err := r.rdb.Exists(ctx, r.k.customer(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("router: audit: %w", err)
	}
	if n == 0 {
		return nil, ErrNotFound
	}
	xs, err := r.rdb.XRevRangeN(ctx, r.k.customerAudit(id), "+", "-", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("router: audit: %w", err)
	}
	out := make([]AuditEntry, len(xs))
	for i, x := range xs {
		out[i] = auditFrom(x.ID, x.Values)
	}
	return out, nil
}

// auditFrom reads one audit entry. Merge entries written before merge
// records had the reason in why.
func auditFrom(id string, v map[string]any) AuditEntry {
	num := func(k string) int { n, _ := strconv.Atoi(str(v, k)); return n }
	e := AuditEntry{ID: id, Action: str(v, "action"), Who: str(v, "who"), At: msTime(str(v, "when")),
		Type: str(v, "type"), Value: str(v, "value"), Name: str(v, "name"), MergeID: str(v, "merge"),
		From: str(v, "from"), Into: str(v, "into"), Why: str(v, "why"), Reason: str(v, "reason"),
		Identities: num("identities"), Conversations: num("conversations"), Calls: num("calls"), Later: num("later")}
	if f := str(v, "fields"); f != "" {
		e.Fields = strings.Split(f, ",")
	}
	switch e.Why {
	case "", MergeManual, MergeUnionID, MergeIdentity:
	default:
		e.Why, e.Reason = mergeKind(e.Why), e.Why
	}
	return e
}

// announce tells every agent that customers changed (customer.updated),
// so open views reload them. A failure is logged: the change is stored.
func (r *Router) announce(ctx context.Context, cust string, changed, merged, unmerged []string) {
	if changed == nil {
		changed = []string{}
	}
	data, _ := json.Marshal(customerEvent{CustomerID: cust, Changed: changed, Merged: merged, Unmerged: unmerged})
	b := rdb.NewBatch(r.rdb)
	r.events.QueueToInbox(ctx, b, session.EventCustomerUpdated, data)
	if err := r.commit.Exec(ctx, b); err != nil {
		r.log.Warn("router: announce customer", "customer", cust, "err", err)
	}
}
