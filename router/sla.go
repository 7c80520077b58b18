package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/rdb"
	"switchboard/tickets"
)

// SLA timers. Every ticket with a policy has one wake-up in the sorted set
// {sla}:timers (its next warning or due time, or "now" when something
// happened that may start, pause or stop a clock). Each replica moves due
// wake-ups to the stream {sla}:work (sla_claim.lua); the consumer group
// "sla" syncs each ticket: it folds the events since the last sync
// (sla_fold.go) and stores the result only if nothing moved meanwhile
// (sla_commit.lua). Outcomes are written once, as history entries; their
// notifications go out after the store and are marked sent, so a replica
// that dies in between leaves them to whoever syncs the ticket next.

const (
	// slaTick is how often a replica claims due wake-ups.
	slaTick = 200 * time.Millisecond
	// slaSweep is how often one replica checks the tickets with live
	// clocks for events no wake-up announced (a replica died between a
	// change and its wake-up).
	slaSweep = time.Minute
)

// slaSettle is how far behind the clock a sync decides.
const slaSettle = 2 * time.Second

// slaReadMax bounds the entries a sync reads per stream (a variable for
// tests).
var slaReadMax = 5000

// queueSLAWake adds to p a wake-up of conversation conv at t, unless it
// already has an earlier one.
func (r *Router) queueSLAWake(ctx context.Context, p redis.Pipeliner, conv string, t time.Time) {
	p.ZAddLT(ctx, r.k.slaTimers(), redis.Z{Score: float64(ms(t)), Member: conv})
}

// wakeSLA wakes conversation conv's SLA sync now.
func (r *Router) wakeSLA(ctx context.Context, conv string) error {
	return r.rdb.ZAddLT(ctx, r.k.slaTimers(), redis.Z{Score: float64(ms(r.now())), Member: conv}).Err()
}

// slaClaimTick hands due wake-ups to the sync workers.
func (r *Router) slaClaimTick(ctx context.Context) error {
	for {
		n, err := slaClaimLua.Run(ctx, r.rdb, []string{r.k.slaTimers(), r.k.slaWork()}, ms(r.now()), 500).Int()
		if err != nil || n < 500 {
			return err
		}
	}
}

// handleSLA syncs the conversation a work entry names.
func (r *Router) handleSLA(ctx context.Context, m redis.XMessage) error {
	conv := str(m.Values, "conv")
	if conv == "" {
		return nil
	}
	return r.syncSLA(ctx, conv)
}

// slaRead is what one sync read.
type slaRead struct {
	fields            map[string]string
	history, messages [][]string
	notices           [][]string // outcomes stored and not told
	historyTail       string
	transcriptTail    string
}

var slaFieldNames = []string{"number", "status", "priority", "team", "channel", "customer_id",
	"created_at", "sla", "sla_h", "sla_m", "sla_n", "assignee", "bot", "sla_policy", "sla_due", "sla_flag"}

func (r *Router) readSLA(ctx context.Context, id string) (slaRead, error) {
	v, err := slaReadLua.Run(ctx, r.rdb, []string{r.k.conv(id), r.k.convHistory(id), r.k.convMessages(id)}, slaReadMax).Slice()
	if err != nil {
		return slaRead{}, fmt.Errorf("router: read sla: %w", err)
	}
	if len(v) != 6 {
		return slaRead{}, fmt.Errorf("router: read sla: unexpected reply %v", v)
	}
	out := slaRead{fields: map[string]string{}}
	for i, f := range v[0].([]any) {
		s, _ := f.(string)
		out.fields[slaFieldNames[i]] = s
	}
	rows := func(x any) [][]string {
		var rs [][]string
		for _, row := range x.([]any) {
			var r []string
			for _, c := range row.([]any) {
				s, _ := c.(string)
				r = append(r, s)
			}
			rs = append(rs, r)
		}
		return rs
	}
	out.history, out.messages, out.notices = rows(v[1]), rows(v[2]), rows(v[5])
	out.historyTail, _ = v[3].(string)
	out.transcriptTail, _ = v[4].(string)
	return out, nil
}

// streamIDAfter reports whether stream id a comes after b.
func streamIDAfter(a, b string) bool {
	if b == "" {
		return a != ""
	}
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	ami, _ := strconv.ParseUint(am, 10, 64)
	bmi, _ := strconv.ParseUint(bm, 10, 64)
	if ami != bmi {
		return ami > bmi
	}
	asi, _ := strconv.ParseUint(as, 10, 64)
	bsi, _ := strconv.ParseUint(bs, 10, 64)
	return asi > bsi
}

// syncSLA brings conversation id's clocks up to date: it folds the events
// since the last sync, stores the outcome, schedules the next wake-up and
// tells people about warnings and breaches.
func (r *Router) syncSLA(ctx context.Context, id string) error {
	// One sync of a ticket at a time, across replicas: the outcomes a sync
	// stores are told by it alone.
	release, ok, err := r.lockConversation(ctx, id, "sla")
	if err != nil {
		return err
	}
	if !ok {
		// Another replica is on it: look again shortly, for what it may
		// not have read.
		p := r.rdb.Pipeline()
		r.queueSLAWake(ctx, p, id, r.now().Add(time.Second))
		_, err := p.Exec(ctx)
		return err
	}
	defer release()
	for attempt := 0; attempt < 5; attempt++ {
		done, err := r.trySyncSLA(ctx, id)
		if err != nil || done {
			return err
		}
	}
	// Kept moving under us: look again shortly.
	return r.wakeSLA(ctx, id)
}

func (r *Router) trySyncSLA(ctx context.Context, id string) (bool, error) {
	rd, err := r.readSLA(ctx, id)
	if err != nil {
		return false, err
	}
	f := rd.fields
	if f["number"] == "" {
		return true, nil // no ticket yet (or gone): openTicket wakes it
	}
	var st slaState
	if f["sla"] != "" {
		if err := json.Unmarshal([]byte(f["sla"]), &st); err != nil {
			r.log.Warn("router: unreadable sla state, starting over", "conversation", id, "err", err)
			return false, r.resetSLA(ctx, id)
		}
	}
	// A ticket with more events since the last sync than one read returns
	// (a long conversation when SLA policies were first configured) is
	// folded in steps: up to the last instant both streams were read to,
	// then again at once.
	created, _ := strconv.ParseInt(f["created_at"], 10, 64)
	for _, h := range rd.history {
		// The clocks start at the first message, not at the numbering
		// (see evOpened below): so the steps order it.
		if h[2] == "ticket" && created > 0 && f["bot"] == "" {
			h[1] = strconv.FormatInt(min(created, parseMS(h[1])), 10)
		}
	}
	cut, truncated := int64(math.MaxInt64), false
	for _, rows := range [][][]string{rd.history, rd.messages} {
		if len(rows) == slaReadMax {
			cut, truncated = min(cut, parseMS(rows[len(rows)-1][1])), true
		}
	}
	if truncated {
		rd.history, rd.messages = upTo(rd.history, cut), upTo(rd.messages, cut)
	}
	var events []slaEvent
	var pending []slaNotice // outcomes stored by an earlier sync, not yet told
	seq := 0
	fresh := !st.Started && st.Status == ""
	for _, n := range rd.notices {
		t, _ := strconv.ParseInt(n[1], 10, 64)
		pending = append(pending, slaNotice{id: n[0], at: t, value: n[4]})
	}
	for _, h := range rd.history {
		at, field, from, to := h[1], h[2], h[3], h[4]
		t, _ := strconv.ParseInt(at, 10, 64)
		seq++
		ev := slaEvent{At: t, From: from, To: to, seq: seq}
		switch field {
		case "ticket":
			// Dated above at the customer's first message, or, when the
			// FAQ bot had the conversation first, at its handoff.
			ev.Kind = evOpened
		case "status":
			ev.Kind = evStatus
		case "priority":
			ev.Kind = evPriority
		case "team":
			ev.Kind = evTeam
		default:
			continue
		}
		events = append(events, ev)
	}
	for _, m := range rd.messages {
		at, dir, author, kind, passive := m[1], m[2], m[3], m[4], m[5]
		t, _ := strconv.ParseInt(at, 10, 64)
		seq++
		switch {
		case dir == "in" && passive != "1" && kind != "event":
			events = append(events, slaEvent{At: t, Kind: evCustomer, seq: seq})
		case dir == "out" && author != "" && author != "system" && author != botAuthor:
			events = append(events, slaEvent{At: t, Kind: evReply, seq: seq})
		}
	}
	if fresh {
		// The first sync: the ticket's values before any change it reads.
		st.Status, st.Priority, st.Team = "new", f["priority"], f["team"]
		for i := len(events) - 1; i >= 0; i-- {
			switch events[i].Kind {
			case evPriority:
				st.Priority = events[i].From
			case evTeam:
				st.Team = events[i].From
			case evStatus:
				st.Status = events[i].From
			}
		}
		st.Channel, st.Named = f["channel"], f["sla_policy"]
		if f["customer_id"] != "" {
			lv, err := r.rdb.HGet(ctx, r.k.customer(f["customer_id"]), "level").Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return false, fmt.Errorf("router: sla: customer level: %w", err)
			}
			st.Level = lv
		}
	}
	// A message's time is taken just before it is stored: decide nothing
	// about the last two seconds, which a reply may still be on its way
	// into (the next wake-up comes after them).
	now := ms(r.now()) - slaSettle.Milliseconds()
	if truncated {
		now = min(now, cut) // decide nothing past what was read
	}
	fold := slaFolder{st: &st, policy: r.slaPolicy(st.Channel, st.Level, st.Named)}
	outcomes, next := fold.fold(events, now)

	state, _ := json.Marshal(st)
	due, flag := "", slaFlag(&st)
	if next > 0 {
		due = strconv.FormatInt(nextDue(&st), 10)
	}
	newM := f["sla_m"]
	if n := len(rd.messages); n > 0 {
		newM = rd.messages[n-1][0]
	}
	newH := f["sla_h"]
	if n := len(rd.history); n > 0 {
		newH = rd.history[n-1][0]
	}
	args := []any{f["sla_h"], f["sla_m"], rd.historyTail, rd.transcriptTail, string(state), due, flag, newM, newH}
	for _, o := range outcomes {
		args = append(args, o.At, o.historyValue())
	}
	b := rdb.NewBatch(r.rdb)
	res := b.Run(ctx, slaCommitLua, []string{r.k.conv(id), r.k.convHistory(id), r.k.convMessages(id)}, args...)
	if err := r.commit.Exec(ctx, b); err != nil {
		return false, fmt.Errorf("router: store sla: %w", err)
	}
	v, err := res.Slice()
	if err != nil {
		return false, fmt.Errorf("router: store sla: %w", err)
	}
	if v[0].(int64) == 0 {
		return false, nil // moved meanwhile: read again
	}
	for i, o := range outcomes {
		pending = append(pending, slaNotice{id: v[i+1].(string), at: o.At, value: o.historyValue()})
	}
	if err := r.scheduleSLA(ctx, id, &st, next, due, outcomes); err != nil {
		return true, err
	}
	if truncated {
		if err := r.wakeSLA(ctx, id); err != nil {
			return true, err
		}
	}
	if len(pending) > 0 {
		return true, r.tellSLA(ctx, id, fold.pol, pending)
	}
	if due != f["sla_due"] || flag != f["sla_flag"] {
		// A new due time (the clocks started, resumed, or changed policy):
		// the lists show it.
		conv, err := r.load(ctx, id)
		if err != nil {
			return true, err
		}
		r.reindex(ctx, change{conv: conv, prevStatus: string(conv.Status), prevAssignee: conv.Assignee, changed: []string{"sla"}})
	}
	return true, nil
}

func parseMS(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}

// upTo keeps the stream rows (id, at, …) up to the first whose time is
// after cut.
func upTo(rows [][]string, cut int64) [][]string {
	for i, row := range rows {
		if at, _ := strconv.ParseInt(row[1], 10, 64); at > cut {
			return rows[:i]
		}
	}
	return rows
}

// resetSLA drops a state that cannot be read, so the next sync folds the
// ticket from its start.
func (r *Router) resetSLA(ctx context.Context, id string) error {
	return r.rdb.HDel(ctx, r.k.conv(id), "sla", "sla_h", "sla_m", "sla_n", "sla_due", "sla_flag").Err()
}

// scheduleSLA sets the next wake-up and the lists' due index.
func (r *Router) scheduleSLA(ctx context.Context, id string, st *slaState, next int64, due string, outcomes []slaOutcome) error {
	p := r.rdb.Pipeline()
	for _, o := range outcomes {
		r.queueActivity(ctx, p, id, time.UnixMilli(o.At))
	}
	if next > 0 {
		r.queueSLAWake(ctx, p, id, time.UnixMilli(next).Add(slaSettle))
	}
	live := false
	for _, t := range slaTargets {
		if st.clock(t).live() {
			live = true
		}
	}
	if live {
		p.SAdd(ctx, r.k.slaLive(), id)
	} else {
		p.SRem(ctx, r.k.slaLive(), id)
	}
	if due != "" {
		d, _ := strconv.ParseInt(due, 10, 64)
		p.ZAdd(ctx, r.k.indexSLADue(), redis.Z{Score: float64(d), Member: id})
	} else {
		p.ZRem(ctx, r.k.indexSLADue(), id)
	}
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("router: schedule sla: %w", err)
	}
	return nil
}

// nextDue is the earliest due time of a running clock (ms), for the lists.
func nextDue(st *slaState) int64 {
	var n int64
	for _, t := range slaTargets {
		c := st.clock(t)
		if c.State == clockRunning && c.Due > 0 && (n == 0 || c.Due < n) {
			n = c.Due
		}
	}
	return n
}

// slaFlag is what the lists show of a ticket's SLA: "breached" when a
// clock breached and still matters (the ticket is not resolved),
// "warning" when a running clock passed a warning threshold, else "".
func slaFlag(st *slaState) string {
	flag := ""
	for _, t := range slaTargets {
		c := st.clock(t)
		switch {
		case c.State == clockBreached && tickets.Status(st.Status).Active():
			return "breached"
		case c.State == clockRunning && c.Warned > 0:
			flag = "warning"
		}
	}
	return flag
}

// slaPolicy returns the policy lookup for a ticket of channel and
// customer level: the policy named by a routing rule (named), else the
// first that matches its priority and team; with the calendar that
// counts its business time.
func (r *Router) slaPolicy(channel, level, named string) func(prio, team string) (*tickets.SLAPolicy, businessTime) {
	return func(prio, team string) (*tickets.SLAPolicy, businessTime) {
		var p *tickets.SLAPolicy
		for i := range r.cfg.SLA {
			if named != "" && r.cfg.SLA[i].Name == named {
				p = &r.cfg.SLA[i]
			}
		}
		if p == nil {
			p = tickets.MatchSLA(r.cfg.SLA, tickets.SLAFacts{Priority: tickets.Priority(prio), Level: level,
				Channel: channel, Team: team})
		}
		if p == nil {
			return nil, (*tickets.Calendar)(nil)
		}
		teamCal := ""
		for _, t := range r.cfg.Teams {
			if t.ID == team {
				teamCal = t.Calendar
			}
		}
		return p, p.CalendarFor(r.cfg.Calendars, teamCal)
	}
}

// slaSweepTick, on one replica a minute, wakes every ticket with a live
// clock whose streams moved past what its last sync read: the change was
// stored but its wake-up was lost with the replica that made it.
func (r *Router) slaSweepTick(ctx context.Context) error {
	ok, err := r.rdb.SetNX(ctx, r.k.slaSweepLock(), r.consumer, slaSweep-time.Second).Result()
	if err != nil || !ok {
		return err
	}
	var cursor uint64
	for {
		ids, next, err := r.rdb.SScan(ctx, r.k.slaLive(), cursor, "", 500).Result()
		if err != nil {
			return err
		}
		if err := r.sweepSLA(ctx, ids); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

func (r *Router) sweepSLA(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	p := r.rdb.Pipeline()
	type probe struct {
		cur        *redis.SliceCmd
		hist, msgs *redis.XMessageSliceCmd
	}
	probes := make([]probe, len(ids))
	for i, id := range ids {
		probes[i] = probe{
			cur:  p.HMGet(ctx, r.k.conv(id), "sla_h", "sla_m", "number"),
			hist: p.XRevRangeN(ctx, r.k.convHistory(id), "+", "-", 1),
			msgs: p.XRevRangeN(ctx, r.k.convMessages(id), "+", "-", 1),
		}
	}
	if _, err := p.Exec(ctx); err != nil && err != redis.Nil {
		return fmt.Errorf("router: sweep sla: %w", err)
	}
	w := r.rdb.Pipeline()
	for i, id := range ids {
		cur := probes[i].cur.Val()
		if len(cur) != 3 || cur[2] == nil {
			w.SRem(ctx, r.k.slaLive(), id) // the conversation is gone
			continue
		}
		h, _ := cur[0].(string)
		m, _ := cur[1].(string)
		stale := false
		if hs := probes[i].hist.Val(); len(hs) == 1 && streamIDAfter(hs[0].ID, h) {
			stale = true
		}
		if ms := probes[i].msgs.Val(); len(ms) == 1 && streamIDAfter(ms[0].ID, m) {
			stale = true
		}
		if stale {
			r.queueSLAWake(ctx, w, id, r.now())
		}
	}
	if _, err := w.Exec(ctx); err != nil {
		return fmt.Errorf("router: sweep sla: %w", err)
	}
	return nil
}

// slaKey keeps one conversation's syncs in order on a replica.
func slaKey(m redis.XMessage) string { return str(m.Values, "conv") }

// slaOn reports whether any SLA policy is configured; without one no
// ticket is synced.
func (r *Router) slaOn() bool { return len(r.cfg.SLA) > 0 }
