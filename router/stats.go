package router

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	queueDepthDesc = prometheus.NewDesc("switchboard_queue_depth",
		"Conversations waiting for an agent, by team.", []string{"team"}, nil)
	onlineAgentsDesc = prometheus.NewDesc("switchboard_online_agents",
		"Agents online (with a recent heartbeat).", nil, nil)
)

// Collector reports queue depth and online agents, read from Redis at
// scrape time so every replica reports the shared truth.
func (r *Router) Collector() prometheus.Collector { return stats{r} }

type stats struct{ r *Router }

func (s stats) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- onlineAgentsDesc
}

func (s stats) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r := s.r
	for _, t := range r.cfg.Teams {
		if n, err := r.rdb.ZCard(ctx, r.k.queue(t.ID)).Result(); err == nil {
			ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(n), t.ID)
		}
	}
	agents, err := r.dir.List(ctx)
	if err != nil {
		return
	}
	ids := make([]string, len(agents))
	for i, a := range agents {
		ids[i] = a.ID
	}
	pres, err := r.presences.All(ctx, ids...)
	if err != nil {
		return
	}
	online := 0
	for _, p := range pres {
		if p.Status == "online" {
			online++
		}
	}
	ch <- prometheus.MustNewConstMetric(onlineAgentsDesc, prometheus.GaugeValue, float64(online))
}
