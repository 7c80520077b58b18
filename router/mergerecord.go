package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
)

// Every merge, automatic or by an agent, leaves a record on the winner's
// slot ({u:W}:merge:ULID): who decided it, when, why, and exactly what it
// moved, written before each thing moves. The record is what an agent
// sees in the audit and what an unmerge (unmerge.go) undoes.
//
// What moved is kept in fields of the record hash:
//
//	i:HANDLE  a handle of the loser, with flags: "s" the winner did not
//	          have it and got it; "p" its identity pointed at the loser
//	          and was re-pointed; "-" neither
//	c:CONV    a conversation of the loser (value: its score in :convs)
//	k:CALL    a call of the loser's list ("score", or "score|a" when the
//	          winner's list had it too)
//	was:F     the winner's profile field F before the merge ("=value", or
//	          "" when it had none)
//	set:F     what the merge set F to
//	l:CONV    a conversation opened after the merge by one of the loser's
//	          identities, which went back with the loser at the unmerge

// Scripts of merge records (loaded on first use, not with the router's
// others).
var (
	mergeClaimLua = script("merge_claim")
	auditOnceLua  = script("audit_once")
	// mergeCheckSrc is ingest's look at a customer it wrote a new
	// conversation to, sent with EVAL (queueMergeCheck).
	mergeCheckSrc = func() string {
		b, err := luaFiles.ReadFile("lua/merge_check.lua")
		if err != nil {
			panic("router: missing script merge_check")
		}
		return string(b)
	}()
)

// Why customers were merged (MergeRecord.Why).
const (
	MergeManual   = "manual"   // an agent merged them
	MergeUnionID  = "unionid"  // a WeChat unionid showed they are one person
	MergeIdentity = "identity" // another identity a channel reported for both
)

// States of a merge record (MergeRecord.State).
const (
	MergeMerging   = "merging"   // decided, being carried out
	MergeMerged    = "merged"    // done
	MergeUnmerging = "unmerging" // an unmerge is being carried out
	MergeUnmerged  = "unmerged"  // undone
	// MergeAbandoned is a merge that was decided but never carried out:
	// its loser went to another merge first.
	MergeAbandoned = "abandoned"
)

// MergeRecord is one merge of customer From into customer Into.
type MergeRecord struct {
	// ID names the merge: the winner's id, a dot, and a ULID.
	ID   string `json:"id"`
	From string `json:"from"`
	Into string `json:"into"`
	// Who is the agent who merged, or "system" for an automatic merge.
	Who string `json:"who"`
	// Why is manual, unionid or identity; Reason says more ("same WeChat
	// unionid …", or what the agent wrote).
	Why       string     `json:"why"`
	Reason    string     `json:"reason,omitempty"`
	State     string     `json:"state"`
	StartedAt time.Time  `json:"started_at"`
	MergedAt  *time.Time `json:"merged_at,omitempty"`
	// Identities are the loser's handles that moved: added to Into, or
	// whose identity was re-pointed from From to Into.
	Identities []Identity `json:"identities"`
	// Conversations and Calls moved from From to Into.
	Conversations []string `json:"conversations"`
	Calls         []string `json:"calls"`
	// Fields are the profile fields of Into filled from From.
	Fields   []string   `json:"fields"`
	UndoneBy string     `json:"undone_by,omitempty"`
	UndoneAt *time.Time `json:"undone_at,omitempty"`
	// Later are conversations opened after the merge by one of From's
	// identities, which went back to From with the unmerge.
	Later []string `json:"later_conversations,omitempty"`
}

// mergeIDRe is a merge id: a customer id, a dot, a ULID.
var mergeIDRe = regexp.MustCompile(`^([A-Za-z0-9_.-]{1,64})\.([0-9A-HJKMNP-TV-Z]{26})$`)

// newMergeID names a new merge into customer winner. The id says where
// its record is.
func newMergeID(winner string) string { return winner + "." + ulid.Make().String() }

// parseMergeID splits a merge id into the winner and the record's ULID.
func parseMergeID(id string) (winner, u string, ok bool) {
	m := mergeIDRe.FindStringSubmatch(id)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// recordKey is the key of merge id's record ("" for a malformed id).
func (r *Router) recordKey(id string) string {
	w, u, ok := parseMergeID(id)
	if !ok {
		return ""
	}
	return r.k.customerMergeRecord(w, u)
}

// mergeEntry is a merge's entry in the winner's journal (JSON). Entries
// written before merge records existed read "started ms|why".
type mergeEntry struct {
	ID     string `json:"id"`
	At     int64  `json:"at"`
	Who    string `json:"who"`
	Why    string `json:"why"`
	Reason string `json:"reason,omitempty"`
}

// parseEntry reads a journal entry; ok is false for "" or garbage. An
// entry from before merge records has no ID.
func parseEntry(s string) (e mergeEntry, ok bool) {
	if strings.HasPrefix(s, "{") {
		return e, json.Unmarshal([]byte(s), &e) == nil && e.ID != ""
	}
	started, why, found := strings.Cut(s, "|")
	if !found {
		return e, false
	}
	e.At, _ = strconv.ParseInt(started, 10, 64)
	e.Who, e.Why, e.Reason = "system", mergeKind(why), why
	return e, true
}

// mergeKind tells an automatic merge's kind by its reason (mergeReason).
func mergeKind(reason string) string {
	if strings.HasPrefix(reason, "same WeChat unionid ") {
		return MergeUnionID
	}
	return MergeIdentity
}

// loadRecord reads merge id's record, as stored.
func (r *Router) loadRecord(ctx context.Context, id string) (map[string]string, error) {
	key := r.recordKey(id)
	if key == "" {
		return nil, fmt.Errorf("%w: merge %q", ErrNotFound, id)
	}
	h, err := r.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("router: merge record: %w", err)
	}
	if h["id"] == "" {
		return nil, fmt.Errorf("%w: merge %q", ErrNotFound, id)
	}
	return h, nil
}

// MergeRecord returns the record of merge id.
func (r *Router) MergeRecord(ctx context.Context, id string) (MergeRecord, error) {
	h, err := r.loadRecord(ctx, id)
	if err != nil {
		return MergeRecord{}, err
	}
	return recordFrom(h), nil
}

// recordFrom builds a MergeRecord from its hash.
func recordFrom(h map[string]string) MergeRecord {
	m := MergeRecord{ID: h["id"], From: h["from"], Into: h["into"], Who: h["who"], Why: h["why"], Reason: h["reason"],
		State: h["state"], StartedAt: msTime(h["started"]), UndoneBy: h["undone_by"],
		Identities: []Identity{}, Conversations: []string{}, Calls: []string{}, Fields: []string{}}
	if t := msTime(h["merged_at"]); !t.IsZero() {
		m.MergedAt = &t
	}
	if t := msTime(h["undone_at"]); !t.IsZero() {
		m.UndoneAt = &t
	}
	if m.State != MergeUnmerging && m.State != MergeUnmerged {
		m.UndoneBy = "" // an unmerge refused, or still to be decided
	}
	for f, v := range h {
		kind, name, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		switch kind {
		case "i":
			if v == "-" {
				continue
			}
			if p := strings.SplitN(name, "|", 4); len(p) == 4 {
				m.Identities = append(m.Identities, Identity{Channel: connectors.Channel(p[0]), Account: p[1], Type: p[2], Value: p[3]})
			}
		case "c":
			m.Conversations = append(m.Conversations, name)
		case "k":
			m.Calls = append(m.Calls, name)
		case "set":
			if name != "name_source" {
				m.Fields = append(m.Fields, name)
			}
		case "l":
			m.Later = append(m.Later, name)
		}
	}
	sort.Slice(m.Identities, func(i, j int) bool {
		a, b := m.Identities[i], m.Identities[j]
		return a.Type+a.Value+string(a.Channel)+a.Account < b.Type+b.Value+string(b.Channel)+b.Account
	})
	for _, l := range [][]string{m.Conversations, m.Calls, m.Fields, m.Later} {
		sort.Strings(l)
	}
	return m
}

// recordHandles are the handles a record noted, with their flags.
func recordHandles(h map[string]string) map[string]string {
	out := map[string]string{}
	for f, v := range h {
		if name, ok := strings.CutPrefix(f, "i:"); ok {
			out[name] = v
		}
	}
	return out
}

// recordScores are the members a record noted under prefix (c:, k:, l:)
// with their scores; flag says which carried "|a".
func recordScores(h map[string]string, prefix string) (scores map[string]float64, flag map[string]bool) {
	scores, flag = map[string]float64{}, map[string]bool{}
	for f, v := range h {
		name, ok := strings.CutPrefix(f, prefix)
		if !ok {
			continue
		}
		s, a, _ := strings.Cut(v, "|")
		scores[name], _ = strconv.ParseFloat(s, 64)
		flag[name] = a == "a"
	}
	return scores, flag
}

// abandonRecord marks the record of a merge that was never carried out.
func (r *Router) abandonRecord(ctx context.Context, id string) error {
	key := r.recordKey(id)
	if key == "" {
		return nil
	}
	st, err := r.rdb.HGet(ctx, key, "state").Result()
	if errors.Is(err, redis.Nil) || st != MergeMerging {
		return nil
	}
	if err != nil {
		return err
	}
	return r.rdb.HSet(ctx, key, "state", MergeAbandoned).Err()
}
