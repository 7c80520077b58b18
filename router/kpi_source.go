package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/rdb"
	"switchboard/kpi"
)

// The KPIs are computed from the tickets' own event logs: each ticket's
// history stream (status, assignment, team and priority changes, SLA
// outcomes, survey answers, the bot's steps) and its transcript (customer
// messages and agent replies), both written by the same scripts that make
// the changes. A per-day set of the tickets with any activity that day
// finds them: {ka:DAY}, kept 400 days.

// activityTTL is how long a day's activity index is kept.
const activityTTL = 400 * 24 * time.Hour

// kpiReadMax bounds the entries read per ticket stream: a longer one is
// read as its oldest half (the opening, the first response) and its
// newest half (the latest changes). A variable for the tests.
var kpiReadMax = 20000

// queueActivity adds to p that conversation conv had activity at t. The
// day's set gets its TTL with the first write, whichever replica makes it
// (EXPIRE NX, so a set restored without one gets it back at the next).
func (r *Router) queueActivity(ctx context.Context, p redis.Pipeliner, conv string, t time.Time) {
	day := t.In(r.cfg.Location).Format(time.DateOnly)
	key := r.k.activityDay(day)
	p.SAdd(ctx, key, conv)
	p.ExpireNX(ctx, key, activityTTL)
}

// KPIEvents is the router as a kpi.Source.
func (r *Router) KPIEvents() kpi.Source { return kpiSource{r} }

type kpiSource struct{ r *Router }

// Events returns the events of every ticket with activity in [from, to)
// and of the calls that started then.
func (s kpiSource) Events(ctx context.Context, from, to time.Time) ([]kpi.Event, error) {
	r := s.r
	ids, err := r.activeConversations(ctx, from, to)
	if err != nil {
		return nil, err
	}
	var out []kpi.Event
	for len(ids) > 0 {
		n := min(len(ids), 200)
		evs, err := r.ticketEvents(ctx, ids[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
		ids = ids[n:]
	}
	calls, err := r.callEvents(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return append(out, calls...), nil
}

// days lists the days (in the configured zone) that [from, to) touches.
func (r *Router) days(from, to time.Time) []string {
	var out []string
	d := from.In(r.cfg.Location)
	d = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, r.cfg.Location)
	for ; d.Before(to); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out
}

// activeConversations are the conversations with activity in [from, to):
// those in the days' activity sets, and those whose last activity falls
// in the period (which covers tickets from before the index existed).
func (r *Router) activeConversations(ctx context.Context, from, to time.Time) ([]string, error) {
	p := r.rdb.Pipeline()
	var sets []*redis.StringSliceCmd
	for _, day := range r.days(from, to) {
		sets = append(sets, p.SMembers(ctx, r.k.activityDay(day)))
	}
	// Conversations last active within the period; one active in it and
	// again later is in the days' sets.
	recent := p.ZRangeByScore(ctx, r.k.indexAll(), &redis.ZRangeBy{Min: strconv.FormatInt(ms(from), 10),
		Max: "(" + strconv.FormatInt(ms(to), 10)})
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("router: kpi tickets: %w", err)
	}
	seen := map[string]bool{}
	var ids []string
	for _, c := range append(sets, recent) {
		for _, id := range c.Val() {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// ticketEvents reads and replays the given conversations' logs.
func (r *Router) ticketEvents(ctx context.Context, ids []string) ([]kpi.Event, error) {
	b := rdb.NewBatch(r.rdb) // reloads the script and replays if Redis lost it
	cmds := make([]*redis.Cmd, len(ids))
	for i, id := range ids {
		cmds[i] = b.Run(ctx, kpiReadLua, []string{r.k.conv(id), r.k.convHistory(id), r.k.convMessages(id)}, kpiReadMax)
	}
	if err := b.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("router: kpi read: %w", err)
	}
	var out []kpi.Event
	for i, c := range cmds {
		v, err := c.Slice()
		if err != nil || len(v) != 3 {
			return nil, fmt.Errorf("router: kpi read %s: %v %w", ids[i], v, err)
		}
		out = append(out, replayTicket(ids[i], stringRows(v[0]), rows(v[1]), rows(v[2]))...)
	}
	return out, nil
}

func stringRows(x any) []string {
	var out []string
	for _, c := range x.([]any) {
		s, _ := c.(string)
		out = append(out, s)
	}
	return out
}

func rows(x any) [][]string {
	var out [][]string
	for _, row := range x.([]any) {
		out = append(out, stringRows(row))
	}
	return out
}

// replayTicket turns one ticket's history and transcript into KPI events,
// in time order, each with the team and assignee of its moment. Only the
// last verdict on the resolution target counts: a reopened ticket's
// earlier "met" is taken back by the next resolve's.
func replayTicket(conv string, f []string, hist, msgs [][]string) []kpi.Event {
	number, channel, created, team, assignee := f[0], f[1], f[2], f[3], f[4]
	if number == "" {
		// Never numbered: only a conversation the FAQ bot kept counts,
		// by its bot steps.
		var out []kpi.Event
		for _, h := range hist {
			if h[1] == "bot" {
				at, _ := strconv.ParseInt(h[0], 10, 64)
				if k, ok := botKinds[h[3]]; ok {
					out = append(out, kpi.Event{At: time.UnixMilli(at).UTC(), Conv: conv, Kind: k, Channel: channel})
				}
			}
		}
		return out
	}
	type step struct {
		at   int64
		seq  int
		hist []string
		msg  []string
	}
	var steps []step
	// At the same millisecond a message comes before the changes it
	// caused (the reopen, the SLA verdict on a reply).
	for i, m := range msgs {
		at, _ := strconv.ParseInt(m[0], 10, 64)
		steps = append(steps, step{at: at, seq: i, msg: m})
	}
	for i, h := range hist {
		at, _ := strconv.ParseInt(h[0], 10, 64)
		steps = append(steps, step{at: at, seq: len(msgs) + i, hist: h})
	}
	sort.SliceStable(steps, func(i, j int) bool {
		if steps[i].at != steps[j].at {
			return steps[i].at < steps[j].at
		}
		return steps[i].seq < steps[j].seq
	})
	// The team and assignee before the first change of each.
	for i := len(hist) - 1; i >= 0; i-- {
		switch hist[i][1] {
		case "team":
			team = hist[i][2]
		case "assignee":
			assignee = hist[i][2]
		}
	}
	openedAt, _ := strconv.ParseInt(created, 10, 64)
	for _, h := range hist {
		if h[1] == "ticket" && slices.ContainsFunc(hist, func(x []string) bool { return x[1] == "bot" }) {
			// The FAQ bot had it first: the ticket opened at the handoff,
			// as its SLA clocks did.
			openedAt, _ = strconv.ParseInt(h[0], 10, 64)
		}
	}
	var out []kpi.Event
	emit := func(at int64, k kpi.Kind, agent string, value float64, target string) {
		out = append(out, kpi.Event{At: time.UnixMilli(at).UTC(), Ticket: number, Conv: conv, Kind: k,
			Channel: channel, Team: team, Agent: agent, Value: value, Target: target})
	}
	lastResolution := -1
	replied := false
	opened := false
	for _, s := range steps {
		if m := s.msg; m != nil {
			dir, author, kind, passive := m[1], m[2], m[3], m[4]
			switch {
			case dir == "in" && passive != "1" && kind != "event":
				emit(s.at, kpi.CustomerMsg, assignee, 0, "")
			case dir == "out" && author != "" && author != "system" && author != botAuthor:
				if !replied && openedAt > 0 {
					replied = true
					emit(s.at, kpi.FirstResponse, author, float64(s.at-openedAt)/1000, "")
				}
				emit(s.at, kpi.AgentReply, author, 0, "")
			}
			continue
		}
		field, from, to := s.hist[1], s.hist[2], s.hist[3]
		switch field {
		case "ticket":
			if !opened {
				opened = true
				at := s.at
				if openedAt > 0 && openedAt < at {
					at = openedAt
				}
				emit(at, kpi.Opened, assignee, 0, "")
			}
		case "team":
			team = to
			if from != "" && from != to {
				emit(s.at, kpi.Transferred, assignee, 0, "")
			}
		case "assignee":
			prev := assignee
			assignee = to
			if to != "" {
				emit(s.at, kpi.Assigned, to, 0, "")
			}
			if prev != "" && prev != to {
				emit(s.at, kpi.Transferred, to, 0, "")
			}
		case "status":
			switch {
			case to == "resolved":
				emit(s.at, kpi.Resolved, assignee, 0, "")
			case to == "closed":
				emit(s.at, kpi.Closed, assignee, 0, "")
			case from == "resolved" && (to == "open" || to == "new"):
				emit(s.at, kpi.Reopened, assignee, 0, "")
			}
		case "sla":
			what, target, _ := parseSLAValue(to)
			k := kpi.SLAMet
			switch what {
			case "met":
			case "breached":
				k = kpi.SLABreached
			default:
				continue
			}
			if target == "resolution" {
				if lastResolution >= 0 {
					out = append(out[:lastResolution], out[lastResolution+1:]...)
				}
				lastResolution = len(out)
			}
			emit(s.at, k, assignee, 0, string(target))
		case "csat", "nps":
			v, err := strconv.ParseFloat(to, 64)
			if err != nil {
				continue
			}
			k := kpi.CSAT
			if field == "nps" {
				k = kpi.NPS
			}
			emit(s.at, k, assignee, v, "")
		case "bot":
			if k, ok := botKinds[to]; ok {
				emit(s.at, k, "", 0, "")
			}
		}
	}
	return out
}

// botKinds maps the bot's history steps to KPI events.
var botKinds = map[string]kpi.Kind{"engaged": kpi.BotEngaged, "answered": kpi.BotAnswered, "handoff": kpi.BotHandoff}

// callEvents are the answered and missed calls that started in [from,
// to), each its own "ticket" (the call id) on the phone channel.
func (r *Router) callEvents(ctx context.Context, from, to time.Time) ([]kpi.Event, error) {
	p := r.rdb.Pipeline()
	var sets []*redis.StringSliceCmd
	for _, day := range r.days(from, to) {
		sets = append(sets, p.SMembers(ctx, r.k.callDay(day, "answered")), p.SMembers(ctx, r.k.callDay(day, "missed")))
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("router: kpi calls: %w", err)
	}
	var ids []string
	for _, s := range sets {
		ids = append(ids, s.Val()...)
	}
	calls, err := r.loadCalls(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []kpi.Event
	for _, c := range calls {
		if c.StartedAt.Before(from) || !c.StartedAt.Before(to) {
			continue
		}
		e := kpi.Event{At: c.StartedAt, Ticket: "call:" + c.ID, Conv: "call:" + c.ID, Channel: "cti"}
		switch {
		case c.Answered():
			e.Kind, e.Agent, e.Value = kpi.CallAnswered, c.AnsweredAgent, float64(c.Duration)
			if c.AnsweredAt != nil {
				e.At = *c.AnsweredAt
			}
		case c.State == CallMissed:
			e.Kind = kpi.CallMissed
		default:
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}
