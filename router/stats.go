package router

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

var (
	queueDepthDesc = prometheus.NewDesc("switchboard_queue_depth",
		"Conversations waiting for an agent, by team.", []string{"team"}, nil)
	onlineAgentsDesc = prometheus.NewDesc("switchboard_online_agents",
		"Agents online (with a recent heartbeat).", nil, nil)
	oldestWaitDesc = prometheus.NewDesc("switchboard_queue_oldest_wait_seconds",
		"How long the longest-waiting conversation of a team's queue has waited (0 when none waits).", []string{"team"}, nil)
	slaRunningDesc = prometheus.NewDesc("switchboard_sla_running",
		"Tickets with a running SLA clock, and of those the ones past due or past a warning.", []string{"state"}, nil)
)

// Collector reports queue depth and online agents, read from Redis at
// scrape time so every replica reports the shared truth.
func (r *Router) Collector() prometheus.Collector { return stats{r} }

type stats struct{ r *Router }

func (s stats) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- onlineAgentsDesc
	ch <- oldestWaitDesc
	ch <- slaRunningDesc
}

func (s stats) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r := s.r
	now := ms(r.now())
	for _, t := range r.cfg.Teams {
		if n, err := r.rdb.ZCard(ctx, r.k.queue(t.ID)).Result(); err == nil {
			ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(n), t.ID)
		}
		if oldest, err := r.oldestQueued(ctx, t.ID); err == nil {
			wait := 0.0
			if oldest > 0 && oldest < now {
				wait = float64(now-oldest) / 1000
			}
			ch <- prometheus.MustNewConstMetric(oldestWaitDesc, prometheus.GaugeValue, wait, t.ID)
		}
	}
	if r.slaOn() {
		running, err1 := r.rdb.ZCard(ctx, r.k.indexSLADue()).Result()
		overdue, err2 := r.rdb.ZCount(ctx, r.k.indexSLADue(), "-inf", strconv.FormatInt(now, 10)).Result()
		if err1 == nil && err2 == nil {
			ch <- prometheus.MustNewConstMetric(slaRunningDesc, prometheus.GaugeValue, float64(running), "running")
			ch <- prometheus.MustNewConstMetric(slaRunningDesc, prometheus.GaugeValue, float64(overdue), "overdue")
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

// oldestQueued is the enqueue time (ms) of the longest-waiting
// conversation of team's queue, 0 when none waits. A queue's score is the
// priority rank (1–4) times 10^13 plus the enqueue time, so the oldest is
// the first of each rank's band.
func (r *Router) oldestQueued(ctx context.Context, team string) (int64, error) {
	const band = 1e13
	var oldest int64
	for rank := 1; rank <= 4; rank++ {
		zs, err := r.rdb.ZRangeByScoreWithScores(ctx, r.k.queue(team), &redis.ZRangeBy{
			Min: strconv.FormatInt(int64(rank)*band, 10), Max: "(" + strconv.FormatInt(int64(rank+1)*band, 10), Count: 1}).Result()
		if err != nil {
			return 0, err
		}
		if len(zs) == 1 {
			if at := int64(zs[0].Score) - int64(rank)*band; oldest == 0 || at < oldest {
				oldest = at
			}
		}
	}
	return oldest, nil
}
