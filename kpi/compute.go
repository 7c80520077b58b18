package kpi

import (
	"maps"
	"math"
	"slices"
	"time"
)

// Compute works out the report of f from events. The events may hold any
// number of tickets in any order; each ticket's events are taken in time
// order (events of the same instant keep their order). Events at or
// after f.To are left out before anything else, so the report of a past
// period does not change when its tickets move on.
func Compute(events []Event, f Filter) Report {
	loc := f.Location
	if loc == nil {
		loc = time.UTC
	}
	c := &computer{f: f, loc: loc,
		byChannel: map[string]*Counts{}, byTeam: map[string]*Counts{}, byAgent: map[string]*Counts{}}
	for _, evs := range byTicket(events, f.To) {
		c.ticket(evs)
	}
	return c.report()
}

// byTicket groups events by ticket (by conversation for events without a
// ticket number), drops those at or after to (unless to is zero), and
// sorts each group by time. Groups come in the order of their first
// event.
func byTicket(events []Event, to time.Time) [][]Event {
	index := map[string]int{}
	var out [][]Event
	for _, e := range events {
		if !to.IsZero() && !e.At.Before(to) {
			continue
		}
		key := "t" + e.Ticket
		if e.Ticket == "" {
			key = "c" + e.Conv
		}
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], e)
	}
	for _, evs := range out {
		slices.SortStableFunc(evs, func(a, b Event) int { return a.At.Compare(b.At) })
	}
	return out
}

// computer gathers the figures while the tickets go by.
type computer struct {
	f   Filter
	loc *time.Location

	csat, frt, resolution, handle, talk []float64
	nps                                 NPSStats
	fcr                                 FCRStats
	sla                                 SLAStats
	bot                                 BotStats
	calls                               CallCounts

	total                      Counts
	byChannel, byTeam, byAgent map[string]*Counts
	byHour                     [24]Counts
}

// counts reports whether e is in the period and matches the team and
// agent filters (the channel filter applies to whole tickets).
func (c *computer) counts(e *Event) bool {
	f := c.f
	return (f.From.IsZero() || !e.At.Before(f.From)) && (f.To.IsZero() || e.At.Before(f.To)) &&
		(f.Team == "" || e.Team == f.Team) && (f.Agent == "" || e.Agent == f.Agent)
}

// ticket adds one ticket's events.
func (c *computer) ticket(evs []Event) {
	channel := channelOf(evs)
	if c.f.Channel != "" && channel != c.f.Channel {
		return
	}
	for i := range evs {
		if c.counts(&evs[i]) {
			c.event(&evs[i], channel)
		}
	}
	c.resolved(evs, channel)
	c.botConversation(evs)
}

// channelOf is a ticket's channel: that of its first event naming one.
func channelOf(evs []Event) string {
	for _, e := range evs {
		if e.Channel != "" {
			return e.Channel
		}
	}
	return ""
}

// event adds the figures that one event makes on its own.
func (c *computer) event(e *Event, channel string) {
	switch e.Kind {
	case Opened:
		c.volume(e, channel, func(n *Counts) { n.Opened++ })
	case CustomerMsg:
		c.volume(e, channel, func(n *Counts) { n.CustomerMsgs++ })
	case AgentReply:
		c.volume(e, channel, func(n *Counts) { n.AgentReplies++ })
	case FirstResponse:
		if seconds(e.Value) {
			c.frt = append(c.frt, e.Value)
		}
	case CSAT:
		if e.Value >= 1 && e.Value <= 5 {
			c.csat = append(c.csat, e.Value)
		}
	case NPS:
		c.npsAnswer(e.Value)
	case SLAMet, SLABreached:
		c.slaOutcome(e.Target, e.Kind == SLAMet)
	case CallAnswered:
		c.calls.Answered++
		if seconds(e.Value) {
			c.talk = append(c.talk, e.Value)
		}
	case CallMissed:
		c.calls.Missed++
	}
}

// seconds reports whether v is a usable duration.
func seconds(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }

func (c *computer) npsAnswer(v float64) {
	switch {
	case !(v >= 0 && v <= 10): // also NaN
		return
	case v >= 9:
		c.nps.Promoters++
	case v >= 7:
		c.nps.Passives++
	default:
		c.nps.Detractors++
	}
	c.nps.Responses++
}

func (c *computer) slaOutcome(target string, met bool) {
	add := func(a *Attainment) {
		if met {
			a.Met++
		} else {
			a.Breached++
		}
	}
	switch target {
	case TargetFirstResponse:
		add(&c.sla.FirstResponse)
	case TargetNextResponse:
		add(&c.sla.NextResponse)
	case TargetResolution:
		add(&c.sla.Resolution)
	}
	add(&c.sla.Overall)
}

// volume counts e with inc in the total and in its channel's, team's,
// agent's and hour's buckets.
func (c *computer) volume(e *Event, channel string, inc func(*Counts)) {
	inc(&c.total)
	for _, b := range []struct {
		m   map[string]*Counts
		key string
	}{{c.byChannel, channel}, {c.byTeam, e.Team}, {c.byAgent, e.Agent}} {
		n := b.m[b.key]
		if n == nil {
			n = &Counts{}
			b.m[b.key] = n
		}
		inc(n)
	}
	inc(&c.byHour[e.At.In(c.loc).Hour()])
}

// story is what a ticket's events say about its resolution.
type story struct {
	opened *Event
	// final is the last Resolved event when nothing reopened the ticket
	// after it, else nil.
	final *Event
	// reopened and transferred: before final.
	reopened, transferred bool
	// firstAgent is the first agent who answered (a reply or an answered
	// call) before final, answered whether anyone did.
	firstAgent string
	answered   bool
	// handle is the handle time in seconds: the sum over the ticket's
	// rounds (open or reopened until resolved) of the time from the
	// round's first answer to its resolution; handled whether any round
	// had an answer.
	handle  float64
	handled bool
}

func tell(evs []Event) story {
	var s story
	var roundStart time.Time
	inRound := false
	for i := range evs {
		e := &evs[i]
		switch e.Kind {
		case Opened:
			if s.opened == nil {
				s.opened = e
			}
		case AgentReply, CallAnswered:
			if s.final != nil {
				break // an answer to a resolved ticket starts no round
			}
			if !s.answered {
				s.answered, s.firstAgent = true, e.Agent
			}
			if !inRound {
				roundStart, inRound = e.At, true
			}
		case Resolved:
			if inRound {
				s.handle += e.At.Sub(roundStart).Seconds()
				s.handled, inRound = true, false
			}
			s.final = e
		case Reopened:
			s.reopened, s.final, inRound = true, nil, false
		case Transferred:
			if s.final == nil {
				s.transferred = true
			}
		}
	}
	return s
}

// resolved adds the resolution figures of a ticket whose final
// resolution falls in the period: resolved volume, resolution time,
// handle time and first-contact resolution.
func (c *computer) resolved(evs []Event, channel string) {
	s := tell(evs)
	if s.final == nil || !c.counts(s.final) {
		return
	}
	c.volume(s.final, channel, func(n *Counts) { n.Resolved++ })
	if s.opened != nil {
		c.resolution = append(c.resolution, max(0, s.final.At.Sub(s.opened.At).Seconds()))
	}
	if s.handled {
		c.handle = append(c.handle, s.handle)
	}
	if s.answered {
		c.fcr.Resolved++
		if !s.reopened && !s.transferred && s.firstAgent != "" && s.final.Agent == s.firstAgent {
			c.fcr.FirstContact++
		}
	}
}

// botConversation adds the bot figures of a ticket the bot took in the
// period.
func (c *computer) botConversation(evs []Event) {
	var engaged *Event
	var answered, handedOff, reopened, person bool
	for i := range evs {
		switch evs[i].Kind {
		case BotEngaged:
			if engaged == nil {
				engaged = &evs[i]
			}
		case BotAnswered:
			answered = true
		case BotHandoff:
			handedOff = true
		case Reopened:
			reopened = true
		case AgentReply, CallAnswered:
			person = true
		}
	}
	if engaged == nil || !c.counts(engaged) {
		return
	}
	c.bot.Engaged++
	if answered {
		c.bot.Answered++
	}
	if handedOff {
		c.bot.HandedOff++
	}
	if answered && !handedOff && !reopened && !person {
		c.bot.Deflected++
	}
}

// report rounds off what was gathered.
func (c *computer) report() Report {
	f := c.f
	r := Report{From: f.From, To: f.To, TimeZone: c.loc.String(), Channel: f.Channel, Team: f.Team, Agent: f.Agent}

	r.CSAT.Responses = len(c.csat)
	r.CSAT.Average = mean(c.csat)
	for _, v := range c.csat {
		if v >= 4 {
			r.CSAT.Satisfied++
		}
	}
	r.CSAT.SatisfiedPct = pct(r.CSAT.Satisfied, r.CSAT.Responses)

	r.NPS = c.nps
	if n := c.nps.Responses; n > 0 {
		r.NPS.Score = round(100 * float64(c.nps.Promoters-c.nps.Detractors) / float64(n))
	}

	r.FCR = c.fcr
	r.FCR.Pct = pct(c.fcr.FirstContact, c.fcr.Resolved)
	r.AHT = AHTStats{Tickets: len(c.handle), AvgSeconds: mean(c.handle), MedianSeconds: median(c.handle)}
	r.CallTalk = TalkStats{Calls: len(c.talk), AvgSeconds: mean(c.talk)}
	r.FirstResponse = summary(c.frt)
	r.ResolutionTime = summary(c.resolution)

	r.SLA = c.sla
	for _, a := range []*Attainment{&r.SLA.FirstResponse, &r.SLA.NextResponse, &r.SLA.Resolution, &r.SLA.Overall} {
		a.AttainmentPct = pct(a.Met, a.Met+a.Breached)
	}
	r.Bot = c.bot
	r.Bot.DeflectionPct = pct(c.bot.Deflected, c.bot.Engaged)
	r.Calls = c.calls

	r.Volumes.Counts = c.total
	r.Volumes.ByChannel = sorted(c.byChannel)
	r.Volumes.ByTeam = sorted(c.byTeam)
	r.Volumes.ByAgent = sorted(c.byAgent)
	for h := range r.Volumes.ByHour {
		r.Volumes.ByHour[h] = HourVolume{Hour: h, Counts: c.byHour[h]}
	}
	return r
}

// sorted turns buckets into a list sorted by key.
func sorted(m map[string]*Counts) []Volume {
	out := make([]Volume, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, Volume{Key: k, Counts: *m[k]})
	}
	return out
}

// summary is count, mean, median and 90th percentile of xs.
func summary(xs []float64) Durations {
	return Durations{Count: len(xs), AvgSeconds: mean(xs), MedianSeconds: median(xs), P90Seconds: p90(xs)}
}

func mean(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return round(sum / float64(len(xs)))
}

// median is the middle value, or the mean of the two middle values.
func median(xs []float64) *float64 {
	n := len(xs)
	if n == 0 {
		return nil
	}
	s := slices.Sorted(slices.Values(xs))
	if n%2 == 1 {
		return round(s[n/2])
	}
	return round((s[n/2-1] + s[n/2]) / 2)
}

// p90 is the nearest-rank 90th percentile: the smallest value that at
// least 90 % of the values do not exceed.
func p90(xs []float64) *float64 {
	n := len(xs)
	if n == 0 {
		return nil
	}
	s := slices.Sorted(slices.Values(xs))
	return round(s[(9*n+9)/10-1])
}

// pct is part out of whole in percent, nil when whole is 0.
func pct(part, whole int) *float64 {
	if whole == 0 {
		return nil
	}
	return round(100 * float64(part) / float64(whole))
}

// round rounds to two decimals.
func round(v float64) *float64 {
	r := math.Round(v*100) / 100
	return &r
}
