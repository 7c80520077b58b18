package kpi

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultCollectorTTL is how long a Collector reuses a computed report.
const DefaultCollectorTTL = 15 * time.Second

// CollectorOptions configures a Collector.
type CollectorOptions struct {
	// Location is the zone whose "today" is reported; UTC when nil.
	Location *time.Location
	// TTL is how long one computed report serves scrapes
	// (DefaultCollectorTTL when 0), so scrapes cannot hammer the Source.
	TTL time.Duration
	// Timeout bounds one computation (5 s when 0).
	Timeout time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Log gets failures to read the Source (slog.Default when nil).
	Log *slog.Logger
}

// Collector is a prometheus.Collector of today's KPIs so far, from
// midnight in the configured zone: the CSAT average, SLA attainment per
// target, survey responses, bot deflection and the NPS score. A gauge
// with nothing to average (no survey answered yet today) is left out
// rather than reported as NaN; the ratios are the report's percentages
// divided by 100. When the Source fails, the last report of
// the same day keeps being served, and the next try waits a TTL.
type Collector struct {
	src  Source
	opts CollectorOptions

	mu  sync.Mutex // held while computing: concurrent scrapes share one
	at  time.Time  // when rep was computed or last tried
	rep *Report
}

var (
	csatAverageDesc = prometheus.NewDesc("switchboard_csat_average",
		"Average CSAT answer (1–5) of today so far.", nil, nil)
	slaAttainmentDesc = prometheus.NewDesc("switchboard_sla_attainment_ratio",
		"Share of today's SLA outcomes that met their target (0–1), by target (first_response, next_response, resolution, overall).",
		[]string{"target"}, nil)
	surveyResponsesDesc = prometheus.NewDesc("switchboard_survey_responses_today",
		"Survey answers received today so far, by kind (csat, nps).", []string{"kind"}, nil)
	botDeflectionDesc = prometheus.NewDesc("switchboard_bot_deflection_ratio",
		"Share of today's bot conversations the bot settled without people (0–1).", nil, nil)
	npsScoreDesc = prometheus.NewDesc("switchboard_nps_score",
		"Net promoter score of today so far (−100 to 100).", nil, nil)
)

// NewCollector returns a Collector reading src.
func NewCollector(src Source, o CollectorOptions) *Collector {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.TTL <= 0 {
		o.TTL = DefaultCollectorTTL
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Collector{src: src, opts: o}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{csatAverageDesc, slaAttainmentDesc, surveyResponsesDesc, botDeflectionDesc, npsScoreDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	r := c.report()
	if r == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	ratio := func(d *prometheus.Desc, pct *float64, labels ...string) {
		if pct != nil {
			gauge(d, *pct/100, labels...)
		}
	}
	if r.CSAT.Average != nil {
		gauge(csatAverageDesc, *r.CSAT.Average)
	}
	if r.NPS.Score != nil {
		gauge(npsScoreDesc, *r.NPS.Score)
	}
	gauge(surveyResponsesDesc, float64(r.CSAT.Responses), "csat")
	gauge(surveyResponsesDesc, float64(r.NPS.Responses), "nps")
	ratio(slaAttainmentDesc, r.SLA.FirstResponse.AttainmentPct, TargetFirstResponse)
	ratio(slaAttainmentDesc, r.SLA.NextResponse.AttainmentPct, TargetNextResponse)
	ratio(slaAttainmentDesc, r.SLA.Resolution.AttainmentPct, TargetResolution)
	ratio(slaAttainmentDesc, r.SLA.Overall.AttainmentPct, "overall")
	ratio(botDeflectionDesc, r.Bot.DeflectionPct)
}

// report is today's report, computed at most once a TTL; nil when the
// Source never answered.
func (c *Collector) report() *Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	if d := now.Sub(c.at); !c.at.IsZero() && d >= 0 && d < c.opts.TTL {
		return c.rep
	}
	c.at = now
	from := StartOfDay(now, c.opts.Location)
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	events, err := c.src.Events(ctx, from, now)
	if err != nil {
		c.opts.Log.Warn("kpi: today's KPIs unavailable for /metrics", "err", err)
		if c.rep != nil && !c.rep.From.Equal(from) {
			c.rep = nil // yesterday's
		}
		return c.rep
	}
	r := Compute(events, Filter{From: from, To: now, Location: c.opts.Location})
	c.rep = &r
	return c.rep
}

// StartOfDay is midnight of t's day in loc.
func StartOfDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}
