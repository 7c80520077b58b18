package main

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// result is one measured run.
type result struct {
	kind      string // "ceiling" or "gateway"
	msgs      int    // acknowledged (ceiling: pipelines done)
	delivered int    // gateway: events received on agent sockets
	elapsed   time.Duration
	ack       []time.Duration // per message, send to acknowledgement
	e2e       []time.Duration // gateway: send to agent socket
	reads     int64           // Redis read events (round trips)
	commands  int64
	redisCPU  time.Duration // Redis's own CPU time (user + system) over the window
	cmdStats  map[string]cmdStat
	errors    int
	firstErr  error
}

func (r result) rate() float64 {
	n := r.msgs
	if r.kind == "gateway" {
		n = r.delivered
	}
	return float64(n) / r.elapsed.Seconds()
}

func (r result) perMsg(v int64) float64 { return float64(v) / float64(max(r.msgs, 1)) }

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// counters reads Redis's own count of read events and commands.
func counters(ctx context.Context, c *redis.Client) (reads, cmds int64, err error) {
	info, err := c.Info(ctx, "stats").Result()
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "total_reads_processed":
			reads = n
		case "total_commands_processed":
			cmds = n
		}
	}
	return reads, cmds, nil
}

// cmdStat is one command's share of Redis's work (INFO commandstats):
// calls, and microseconds spent in the command (for EVALSHA, everything
// the script did, its inner commands included).
type cmdStat struct{ calls, usec int64 }

// commandStats reads Redis's per-command counters and its CPU time.
func commandStats(ctx context.Context, c *redis.Client) (map[string]cmdStat, time.Duration, error) {
	info, err := c.Info(ctx, "commandstats", "cpu").Result()
	if err != nil {
		return nil, 0, err
	}
	stats := map[string]cmdStat{}
	var cpu float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(k, "cmdstat_"):
			var st cmdStat
			for _, f := range strings.Split(v, ",") {
				name, val, _ := strings.Cut(f, "=")
				n, _ := strconv.ParseInt(val, 10, 64)
				switch name {
				case "calls":
					st.calls = n
				case "usec":
					st.usec = n
				}
			}
			stats[strings.TrimPrefix(k, "cmdstat_")] = st
		case k == "used_cpu_sys" || k == "used_cpu_user":
			f, _ := strconv.ParseFloat(v, 64)
			cpu += f
		}
	}
	return stats, time.Duration(cpu * float64(time.Second)), nil
}

// deltaStats is what happened between two commandStats snapshots.
func deltaStats(before, after map[string]cmdStat) map[string]cmdStat {
	out := map[string]cmdStat{}
	for k, a := range after {
		b := before[k]
		if d := (cmdStat{a.calls - b.calls, a.usec - b.usec}); d.calls > 0 {
			out[k] = d
		}
	}
	return out
}

// median returns the median and range of xs.
func median(xs []float64) (med, lo, hi float64) {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2], s[0], s[len(s)-1]
}
