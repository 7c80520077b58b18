package router

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the router's Prometheus instruments.
type Metrics struct {
	ingested     *prometheus.CounterVec
	duplicates   *prometheus.CounterVec
	dispatched   *prometheus.CounterVec
	dispatchTime prometheus.Histogram
	sent         *prometheus.CounterVec
	failures     *prometheus.CounterVec
	slaWarnings  *prometheus.CounterVec
	slaBreaches  *prometheus.CounterVec
	surveys      *prometheus.CounterVec
}

// NewMetrics creates the instruments; Register adds them to a registry.
func NewMetrics() *Metrics {
	return &Metrics{
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_ingested_messages_total",
			Help: "Inbound messages stored, by channel."}, []string{"channel"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_duplicate_messages_total",
			Help: "Inbound messages dropped as duplicates, by channel."}, []string{"channel"}),
		dispatched: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_dispatch_total",
			Help: "Dispatch decisions, by outcome (assigned, queued)."}, []string{"outcome"}),
		dispatchTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "switchboard_dispatch_latency_seconds",
			Help:    "Time from a conversation's first message to its dispatch decision.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_outbox_sent_total",
			Help: "Outbound messages the channel accepted, by channel."}, []string{"channel"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_outbox_failures_total",
			Help: "Outbound send attempts that failed, by channel and kind (temporary, permanent)."}, []string{"channel", "kind"}),
		slaWarnings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_sla_warnings_total",
			Help: "SLA warnings told, by target (first_response, next_response, resolution)."}, []string{"target"}),
		slaBreaches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_sla_breaches_total",
			Help: "SLA breaches told, by target (first_response, next_response, resolution)."}, []string{"target"}),
		surveys: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_survey_responses_total",
			Help: "Survey scores recorded, by kind (csat, nps) and how they came (typed, page)."}, []string{"kind", "via"}),
	}
}

// Register adds the instruments to reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.ingested, m.duplicates, m.dispatched, m.dispatchTime, m.sent, m.failures, m.slaWarnings, m.slaBreaches, m.surveys} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
