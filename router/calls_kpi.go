package router

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
)

// Call KPIs are kept per day (the configured time zone, the day the call
// started) as sets of call ids and a hash of talk times, so counting a
// call twice (a repeated event, two replicas) counts it once:
//
//	{kc:DAY}:in, {kc:DAY}:out   calls by direction
//	{kc:DAY}:answered           calls answered (Call.Answered)
//	{kc:DAY}:missed             inbound calls never answered (not forwarded)
//	{kc:DAY}:talk               call id → talk seconds, once it ended
//
// Answered and missed counts are SCARDs; AHT is the sum of talk over the
// answered calls that ended. A call whose answer event was lost (only its
// hangup said who answered) counts as answered, not missed, and has no
// talk time: it is left out of AHT.

// callDayOf is the KPI day of a call.
func (r *Router) callDayOf(c Call) string {
	t := c.StartedAt
	if t.IsZero() {
		t = r.now()
	}
	return t.In(r.cfg.Location).Format(time.DateOnly)
}

// countCall queues the KPI writes of call c on p.
func (r *Router) countCall(ctx context.Context, p redis.Pipeliner, c Call) {
	day := r.callDayOf(c)
	key := func(what string) string { return r.k.callDay(day, what) }
	var touched []string
	add := func(what string) {
		p.SAdd(ctx, key(what), c.ID)
		touched = append(touched, key(what))
	}
	switch c.Direction {
	case connectors.CallInbound:
		add("in")
	case connectors.CallOutbound:
		add("out")
	}
	if c.Answered() {
		add("answered")
	}
	if c.State == CallMissed {
		add("missed")
	} else {
		p.SRem(ctx, key("missed"), c.ID) // a late newCall said it was outbound
	}
	if c.Answered() && c.EndedAt != nil && !c.TalkUnknown {
		p.HSet(ctx, key("talk"), c.ID, c.Duration)
		touched = append(touched, key("talk"))
	}
	for _, k := range touched {
		p.Expire(ctx, k, callKPITTL)
	}
}

// CallKPI is one day's call counts.
type CallKPI struct {
	Day         string `json:"day"`
	Inbound     int64  `json:"inbound"`
	Outbound    int64  `json:"outbound"`
	Answered    int64  `json:"answered"`
	Missed      int64  `json:"missed"`
	TalkSeconds int64  `json:"talk_seconds"`
	// Talked counts the answered calls that ended, whose talk time is in
	// TalkSeconds: AHT is TalkSeconds / Talked.
	Talked int64 `json:"talked"`
}

// CallKPIs reads the call counts of day (YYYY-MM-DD in the configured
// time zone).
func (r *Router) CallKPIs(ctx context.Context, day string) (CallKPI, error) {
	pipe := r.rdb.Pipeline()
	in := pipe.SCard(ctx, r.k.callDay(day, "in"))
	out := pipe.SCard(ctx, r.k.callDay(day, "out"))
	ans := pipe.SCard(ctx, r.k.callDay(day, "answered"))
	missed := pipe.SCard(ctx, r.k.callDay(day, "missed"))
	talk := pipe.HVals(ctx, r.k.callDay(day, "talk"))
	if _, err := pipe.Exec(ctx); err != nil {
		return CallKPI{}, err
	}
	k := CallKPI{Day: day, Inbound: in.Val(), Outbound: out.Val(), Answered: ans.Val(), Missed: missed.Val()}
	for _, v := range talk.Val() {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			k.TalkSeconds += s
			k.Talked++
		}
	}
	return k, nil
}

var (
	callsTodayDesc = prometheus.NewDesc("switchboard_calls_today",
		"Telephone calls today (configured time zone), by outcome: inbound, outbound, answered, missed.",
		[]string{"outcome"}, nil)
	talkTodayDesc = prometheus.NewDesc("switchboard_call_talk_seconds_today",
		"Talk time of the answered calls of today that ended, in seconds (AHT = this / switchboard_calls_talked_today).", nil, nil)
	talkedTodayDesc = prometheus.NewDesc("switchboard_calls_talked_today",
		"Answered calls of today that ended.", nil, nil)
)

// CallCollector reports today's call KPIs, read from Redis at scrape time
// so every replica reports the shared numbers.
func (r *Router) CallCollector() prometheus.Collector { return callStats{r} }

type callStats struct{ r *Router }

func (s callStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- callsTodayDesc
	ch <- talkTodayDesc
	ch <- talkedTodayDesc
}

func (s callStats) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	k, err := s.r.CallKPIs(ctx, s.r.now().In(s.r.cfg.Location).Format(time.DateOnly))
	if err != nil {
		return
	}
	for outcome, n := range map[string]int64{"inbound": k.Inbound, "outbound": k.Outbound, "answered": k.Answered, "missed": k.Missed} {
		ch <- prometheus.MustNewConstMetric(callsTodayDesc, prometheus.GaugeValue, float64(n), outcome)
	}
	ch <- prometheus.MustNewConstMetric(talkTodayDesc, prometheus.GaugeValue, float64(k.TalkSeconds))
	ch <- prometheus.MustNewConstMetric(talkedTodayDesc, prometheus.GaugeValue, float64(k.Talked))
}
