package router

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/rdb"
	"switchboard/tickets"
)

// handleDispatch processes one dispatch entry. Every kind is idempotent,
// so a reclaimed entry is simply done again.
func (r *Router) handleDispatch(ctx context.Context, m redis.XMessage) error {
	v := m.Values
	conv := str(v, "conv")
	if conv == "" {
		return nil
	}
	switch kind := str(v, "kind"); kind {
	case "assigned":
		return r.mirrorOwner(ctx, conv, str(v, "actor"))
	case "survey":
		return r.askSurvey(ctx, conv, streamTime(m.ID))
	case "new", "reopen", "repair", "overflow", "transfer", "bot":
		err := r.route(ctx, conv, kind, v)
		if at := msTime(str(v, "at")); kind == "new" && err == nil && !at.IsZero() {
			r.metrics.dispatchTime.Observe(r.now().Sub(at).Seconds())
		}
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	default:
		r.log.Warn("router: unknown dispatch entry", "kind", kind, "id", m.ID)
		return nil
	}
}

// route decides team, skills and priority for a conversation, gives it a
// ticket number, then assigns it or queues it.
func (r *Router) route(ctx context.Context, id, kind string, v map[string]any) error {
	conv, err := r.load(ctx, id)
	for wait := 10 * time.Millisecond; errors.Is(err, ErrNotFound) && kind == "new" && wait < time.Second; wait *= 2 {
		// On Redis Cluster the entry can arrive before the conversation it
		// names (another node, same pipeline): give it a moment.
		time.Sleep(wait)
		conv, err = r.load(ctx, id)
	}
	if err != nil {
		return err
	}
	if !conv.Status.Active() {
		return nil // resolved or closed meanwhile: nothing to dispatch
	}
	if conv.fields["bot"] == "active" && conv.TicketID == "" && kind != "new" && kind != "bot" {
		return nil // the FAQ bot has it: only its handoff routes it (a repair after a duplicate, say)
	}
	if kind == "new" || kind == "bot" {
		// The FAQ bot may take the turn (bot.go); a handoff goes on here,
		// routed by the conversation's first message.
		if done, err := r.botTurn(ctx, conv, kind, v); err != nil || done {
			return err
		}
		if kind == "bot" {
			v = map[string]any{"text": conv.fields["subject"], "asset": "", "team": ""}
		}
	}
	cust, err := r.rdb.HMGet(ctx, r.k.customer(conv.CustomerID), "level", "region", "last_agent").Result()
	if err != nil {
		return fmt.Errorf("router: load customer: %w", err)
	}
	level, region, lastAgent := asString(cust[0]), asString(cust[1]), asString(cust[2])

	route := Route{Team: conv.Team, Priority: conv.Priority, Skills: splitList(conv.fields["skills"])}
	switch {
	case kind == "overflow" || kind == "transfer":
		route.Team = str(v, "team")
	case conv.TicketID == "": // first dispatch: the rules decide
		text := str(v, "text")
		if text == "" {
			text = conv.Preview
		}
		tags, err := r.rdb.SMembers(ctx, r.k.customerTags(conv.CustomerID)).Result()
		if err != nil {
			return fmt.Errorf("router: customer tags: %w", err)
		}
		if region == "" && conv.identity.Type == "phone" {
			region = RegionOfPhone(conv.identity.Value)
		}
		asset := str(v, "asset")
		var matched []string
		route, matched = r.rules.Route(Facts{Channel: string(conv.Channel), Account: conv.Account, Text: text,
			Level: level, Region: region, Tags: tags, Asset: asset, AssetCategory: asset, At: r.now()})
		route = r.withTeamHint(route, r.rules.teamRule(matched), str(v, "team"))
		if err := r.ruleActions(ctx, conv, route); err != nil {
			return err
		}
	}
	if route.Team == "" {
		route.Team = r.rules.def.Team
	}
	if route.Priority == "" {
		route.Priority = tickets.Normal
	}
	if conv.TicketID == "" {
		if err := r.openTicket(ctx, &conv, route); err != nil {
			return err
		}
	} else {
		// A dispatch that died after numbering left the index unwritten,
		// or the SLA clocks unwoken: both are cheap to repeat.
		if err := r.rdb.SetNX(ctx, r.k.ticketNumber(conv.TicketID), conv.ID, 0).Err(); err != nil {
			return fmt.Errorf("router: index ticket: %w", err)
		}
		if r.slaOn() {
			if err := r.wakeSLA(ctx, conv.ID); err != nil {
				return fmt.Errorf("router: wake sla: %w", err)
			}
		}
	}

	// Prefer the agent who had this conversation (a reopen) or this
	// customer (stickiness), when eligible.
	sticky := conv.Assignee
	if sticky == "" {
		sticky = lastAgent
	}
	if kind == "transfer" {
		sticky = "" // the conversation was sent away from its agent on purpose
	}
	eligible, err := r.dir.Eligible(ctx, route.Team, route.Skills)
	if err != nil {
		return err
	}
	cands := make([]any, 0, len(eligible))
	stickyOK := false
	for _, a := range eligible {
		if a.ID == sticky {
			stickyOK = true
		}
		cands = append(cands, a.ID)
	}
	if !stickyOK {
		sticky = ""
	}
	now := r.now()
	enq := str(v, "enq")
	if enq == "" {
		enq = strconv.FormatInt(ms(conv.CreatedAt), 10)
	}
	overflowAt, overflowTeam := "", ""
	if route.OverflowAfter > 0 && kind != "overflow" {
		overflowAt = strconv.FormatInt(ms(now.Add(route.OverflowAfter)), 10)
		overflowTeam = route.OverflowTeam
	}
	meta := strings.Join([]string{route.Team, strconv.Itoa(route.Priority.Rank()), strings.Join(route.Skills, ","), enq, overflowTeam}, "|")
	args := append([]any{id, ms(now), r.cfg.Grace.Milliseconds(), sticky, meta, overflowAt, r.k.queue("")}, cands...)
	res, err := claimLua.Run(ctx, r.rdb, []string{r.k.owner(), r.sk.Load(), r.sk.Capacity(),
		r.sk.Presence(), r.sk.Seen(), r.k.queue(route.Team), r.k.queueMeta(), r.k.overflow()}, args...).Slice()
	if err != nil {
		return fmt.Errorf("router: claim: %w", err)
	}
	agent := res[1].(string)
	// An agent may have taken it since (a take or a transfer): the owner
	// record is the truth, never overwrite it.
	if own, err := r.rdb.HGet(ctx, r.k.owner(), id).Result(); err == nil {
		agent = own
	}
	fields := []field{{"team", route.Team}, {"priority", string(route.Priority)}, {"assignee", agent}}
	if agent != "" {
		r.metrics.dispatched.WithLabelValues("assigned").Inc()
		if conv.Status == tickets.New {
			fields = append(fields, field{"status", string(tickets.Open)})
		}
	} else {
		r.metrics.dispatched.WithLabelValues("queued").Inc()
	}
	c, err := r.apply(ctx, id, "system", nil, fields...)
	if err != nil {
		return err
	}
	if agent != "" && !c.conv.Status.Active() {
		// Resolved or closed while being claimed: give the slot back.
		return r.release(ctx, id)
	}
	if len(c.changed) == 0 {
		// Queued with nothing new on the conversation (its ticket already
		// carries team and priority): still tell the inbox it waits.
		r.reindex(ctx, c)
	}
	if agent != "" {
		return r.rdb.HSet(ctx, r.k.customer(conv.CustomerID), "last_agent", agent).Err()
	}
	return nil
}

// openTicket gives a conversation its number, and wakes its SLA sync,
// which sets its targets (sla.go).
func (r *Router) openTicket(ctx context.Context, conv *Conversation, route Route) error {
	n, err := r.rdb.Incr(ctx, r.k.ticketSeq()).Result()
	if err != nil {
		return fmt.Errorf("router: ticket number: %w", err)
	}
	num, err := openTicketLua.Run(ctx, r.rdb, []string{r.k.conv(conv.ID), r.k.convHistory(conv.ID)},
		tickets.Number(n), string(route.Priority), route.Team, strings.Join(route.Skills, ","),
		"", "", ms(r.now())).Text()
	if err != nil {
		return fmt.Errorf("router: open ticket: %w", err)
	}
	if err := r.rdb.SetNX(ctx, r.k.ticketNumber(num), conv.ID, 0).Err(); err != nil {
		return fmt.Errorf("router: index ticket: %w", err)
	}
	if r.slaOn() {
		if err := r.wakeSLA(ctx, conv.ID); err != nil {
			return fmt.Errorf("router: wake sla: %w", err)
		}
	}
	conv.TicketID = num
	return nil
}

// mirrorOwner copies the assignment the dispatch slot holds onto the
// conversation, after a backfill or a transfer, in the name of actor (the
// agent who decided a take or transfer, whose own write may come second;
// "" for the system).
func (r *Router) mirrorOwner(ctx context.Context, id, actor string) error {
	if actor == "" {
		actor = "system"
	}
	agent, err := r.rdb.HGet(ctx, r.k.owner(), id).Result()
	if errors.Is(err, redis.Nil) {
		return nil // released meanwhile
	}
	if err != nil {
		return err
	}
	conv, err := r.load(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	fields := []field{{"assignee", agent}}
	if conv.Status == tickets.New {
		fields = append(fields, field{"status", string(tickets.Open)})
	}
	if _, err := r.apply(ctx, id, actor, nil, fields...); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return r.rdb.HSet(ctx, r.k.customer(conv.CustomerID), "last_agent", agent).Err()
}

// release frees the capacity a conversation holds and lets the agent take
// the next waiting one.
func (r *Router) release(ctx context.Context, id string) error {
	who, err := releaseLua.Run(ctx, r.rdb, []string{r.k.owner(), r.sk.Load(), r.k.queueMeta(), r.k.overflow()},
		id, r.k.queue("")).Text()
	if err != nil {
		return fmt.Errorf("router: release: %w", err)
	}
	if who != "" {
		r.backfill(ctx, who)
	}
	return nil
}

// agentAvailable runs when an agent goes online.
func (r *Router) agentAvailable(ctx context.Context, agent string) { r.backfill(ctx, agent) }

// backfill hands an agent waiting conversations while they have room.
func (r *Router) backfill(ctx context.Context, agent string) {
	a, err := r.dir.Get(ctx, agent)
	if err != nil {
		return
	}
	keys := []string{r.k.owner(), r.sk.Load(), r.sk.Capacity(), r.sk.Presence(), r.sk.Seen(),
		r.k.queueMeta(), r.k.overflow(), r.k.dispatch()}
	for _, t := range a.Teams {
		keys = append(keys, r.k.queue(t))
	}
	if len(keys) == 8 {
		return
	}
	skills := "," + strings.Join(a.Skills, ",") + ","
	for i := 0; i <= a.Capacity; i++ {
		conv, err := backfillLua.Run(ctx, r.rdb, keys, agent, ms(r.now()), r.cfg.Grace.Milliseconds(), skills).Text()
		if err != nil || conv == "" {
			return
		}
		// backfill.lua queued an "assigned" entry; mirror now for speed.
		if err := r.mirrorOwner(ctx, conv, ""); err != nil {
			r.log.Warn("router: mirror backfill", "conversation", conv, "err", err)
		}
	}
}

// queueTick overflows conversations that waited too long and offers the
// waiting ones to agents with room, in case an event was missed.
func (r *Router) queueTick(ctx context.Context) error {
	if _, err := overflowLua.Run(ctx, r.rdb, []string{r.k.overflow(), r.k.queueMeta(), r.k.dispatch()},
		ms(r.now()), r.k.queue("")).Result(); err != nil {
		return fmt.Errorf("router: overflow: %w", err)
	}
	pipe := r.rdb.Pipeline()
	counts := map[string]*redis.IntCmd{}
	for _, t := range r.cfg.Teams {
		counts[t.ID] = pipe.ZCard(ctx, r.k.queue(t.ID))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	waiting := map[string]bool{}
	for t, c := range counts {
		if c.Val() > 0 {
			waiting[t] = true
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	agents, err := r.dir.List(ctx)
	if err != nil {
		return err
	}
	var ids []string
	for _, a := range agents {
		for _, t := range a.Teams {
			if waiting[t] {
				ids = append(ids, a.ID)
				break
			}
		}
	}
	pres, err := r.presences.All(ctx, ids...)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if p := pres[id]; p.Status == "online" && p.Load < p.Capacity {
			r.backfill(ctx, id)
		}
	}
	return nil
}

// repairTick finds conversations that wait with no agent and no queue
// place (a replica died between steps) and dispatches them again, and
// mirrors assignments the conversation missed.
func (r *Router) repairTick(ctx context.Context) error {
	ids, err := r.rdb.ZRange(ctx, r.k.indexUnassigned(), 0, 199).Result()
	if err != nil || len(ids) == 0 {
		return err
	}
	b := rdb.NewBatch(r.rdb)
	owners := b.Pipe().HMGet(ctx, r.k.owner(), ids...)
	metas := b.Pipe().HMGet(ctx, r.k.queueMeta(), ids...)
	if err := r.commit.Exec(ctx, b); err != nil {
		return err
	}
	cutoff := r.now().Add(-10 * time.Second)
	for i, id := range ids {
		if agent := asString(owners.Val()[i]); agent != "" {
			if err := r.mirrorOwner(ctx, id, ""); err != nil {
				return err
			}
			continue
		}
		if asString(metas.Val()[i]) != "" {
			continue
		}
		conv, err := r.load(ctx, id)
		if errors.Is(err, ErrNotFound) {
			r.rdb.ZRem(ctx, r.k.indexUnassigned(), id)
			continue
		}
		if err != nil {
			return err
		}
		if !conv.Status.Active() || conv.Assignee != "" || conv.fields["bot"] == "active" {
			// Not waiting for an agent: the FAQ bot has it, or people do.
			r.rdb.ZRem(ctx, r.k.indexUnassigned(), id)
			continue
		}
		if conv.LastMessageAt.Before(cutoff) {
			r.rdb.XAdd(ctx, &redis.XAddArgs{Stream: r.k.dispatch(), MaxLen: 100000, Approx: true,
				Values: []any{"conv", id, "kind", "repair"}})
		}
	}
	return nil
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// streamTime is the time in a stream entry's id.
func streamTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	return msTime(ms)
}
