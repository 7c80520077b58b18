package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func run(ctx context.Context, o options) (string, error) {
	opts, err := redis.ParseURL(o.redis)
	if err != nil {
		return "", err
	}
	opts.PoolSize = o.senders * 2
	c := redis.NewClient(opts)
	defer c.Close()
	if err := c.FlushDB(ctx).Err(); err != nil {
		return "", fmt.Errorf("flush scratch redis: %w", err)
	}
	g, err := startGateway(ctx, o)
	if err != nil {
		return "", err
	}
	defer g.stop()
	if err := g.connectAgents(ctx); err != nil {
		return "", err
	}
	if err := g.assignAll(ctx, c); err != nil {
		return "", err
	}
	if err := g.openWeChat(ctx, c); err != nil {
		return "", err
	}
	if err := g.openMail(ctx, c); err != nil {
		return "", err
	}
	var ceilings, gateways, wechats, emails []result
	for i := 0; i < o.pairs; i++ {
		r, err := ceiling(ctx, c, o)
		if err != nil {
			return "", err
		}
		ceilings = append(ceilings, r)
		logf("ceiling  %d: %8.0f msgs/s", i+1, r.rate())
		if o.runs("webchat") {
			r, err = g.measure(ctx, c)
			if err != nil {
				return "", err
			}
			gateways = append(gateways, r)
			logf("gateway  %d: %8.0f msgs/s delivered (%d acked, %d errors)", i+1, r.rate(), r.msgs, r.errors)
		}
		if o.runs("wechat") {
			r, err = g.measureWeChat(ctx, c)
			if err != nil {
				return "", err
			}
			wechats = append(wechats, r)
			logf("wechat   %d: %8.0f msgs/s acknowledged (%d errors)", i+1, r.rate(), r.errors)
		}
		if o.runs("email") {
			r, err = g.measureEmail(ctx, c)
			if err != nil {
				return "", err
			}
			emails = append(emails, r)
			logf("email    %d: %8.0f mails/s acknowledged (%d errors)", i+1, r.rate(), r.errors)
		}
	}
	return report(o, ceilings, gateways, wechats, emails), nil
}

// runs reports whether the named gateway case is to be measured.
func (o options) runs(name string) bool {
	return slices.Contains(strings.Split(o.cases, ","), name)
}

func logf(format string, args ...any) {
	fmt.Fprintf(stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func report(o options, ceilings, gateways, wechats, emails []result) string {
	var b strings.Builder
	rates := func(rs []result) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = r.rate()
		}
		return out
	}
	// ratio divides a case's figure by the same round's figure of another
	// run; nothing when either was not run.
	ratio := func(xs, of []result, f func(result) float64) []float64 {
		if len(xs) != len(of) {
			return nil
		}
		out := make([]float64, len(xs))
		for i := range xs {
			out[i] = f(xs[i]) / f(of[i])
		}
		return out
	}
	ratios := ratio(gateways, ceilings, result.rate)
	line := func(name string, xs []float64, f string) {
		if len(xs) == 0 { // the case was not run (-cases)
			return
		}
		m, lo, hi := median(xs)
		fmt.Fprintf(&b, "| %s | "+f+" | "+f+" – "+f+" |\n", name, m, lo, hi)
	}
	fmt.Fprintf(&b, "Run on %s, %d CPUs, Go %s; %d rounds (ceiling, web chat, WeChat, e-mail interleaved), %s measured per run after %s warm-up; "+
		"%d concurrent senders, %d customers, %d agents with sockets. Redis without persistence (scratch).\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.Version(), o.pairs, o.duration, o.warmup, o.senders, o.visitors, o.agents)
	b.WriteString("| measure | median | range |\n|---|---|---|\n")
	line("ceiling: raw pipeline msgs/s", rates(ceilings), "%.0f")
	line("gateway: msgs/s delivered to agent sockets", rates(gateways), "%.0f")
	line("**ratio gateway / ceiling**", ratios, "%.2f")
	per := func(rs []result, f func(result) float64) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = f(r)
		}
		return out
	}
	line("gateway: Redis round trips per message", per(gateways, func(r result) float64 { return r.perMsg(r.reads) }), "%.2f")
	line("gateway: Redis commands per message", per(gateways, func(r result) float64 { return r.perMsg(r.commands) }), "%.2f")
	cpuPerMsg := func(r result) float64 { return float64(r.redisCPU.Microseconds()) / float64(max(r.msgs, 1)) }
	line("ceiling: Redis CPU µs per message", per(ceilings, cpuPerMsg), "%.1f")
	line("gateway: Redis CPU µs per message", per(gateways, cpuPerMsg), "%.1f")
	line("ceiling: Redis round trips per message", per(ceilings, func(r result) float64 { return r.perMsg(r.reads) }), "%.2f")
	line("gateway: ack (HTTP 202) p50 ms", per(gateways, func(r result) float64 { return msf(pct(r.ack, .5)) }), "%.2f")
	line("gateway: ack p99 ms", per(gateways, func(r result) float64 { return msf(pct(r.ack, .99)) }), "%.2f")
	line("gateway: end-to-end (POST → agent socket) p50 ms", per(gateways, func(r result) float64 { return msf(pct(r.e2e, .5)) }), "%.2f")
	line("gateway: end-to-end p99 ms", per(gateways, func(r result) float64 { return msf(pct(r.e2e, .99)) }), "%.2f")
	line("ceiling: pipeline p50 ms", per(ceilings, func(r result) float64 { return msf(pct(r.ack, .5)) }), "%.2f")
	line("ceiling: pipeline p99 ms", per(ceilings, func(r result) float64 { return msf(pct(r.ack, .99)) }), "%.2f")
	acked := func(r result) float64 { return float64(r.msgs) / r.elapsed.Seconds() }
	line("web chat: msgs/s acknowledged (HTTP 202)", per(gateways, acked), "%.0f")
	line("WeChat safe mode: msgs/s acknowledged (\"success\")", per(wechats, acked), "%.0f")
	wxRatio := ratio(wechats, gateways, acked)
	line("WeChat / web chat, acknowledged msgs/s", wxRatio, "%.2f")
	line("WeChat: ack p50 ms", per(wechats, func(r result) float64 { return msf(pct(r.ack, .5)) }), "%.2f")
	line("WeChat: ack p99 ms", per(wechats, func(r result) float64 { return msf(pct(r.ack, .99)) }), "%.2f")
	line("WeChat: Redis round trips per message", per(wechats, func(r result) float64 { return r.perMsg(r.reads) }), "%.2f")
	line("e-mail (SMTP listener, threaded replies): mails/s acknowledged (250)", per(emails, acked), "%.0f")
	emRatio := ratio(emails, gateways, acked)
	line("e-mail / web chat, acknowledged msgs/s", emRatio, "%.2f")
	line("e-mail: 250 p50 ms", per(emails, func(r result) float64 { return msf(pct(r.ack, .5)) }), "%.2f")
	line("e-mail: 250 p99 ms", per(emails, func(r result) float64 { return msf(pct(r.ack, .99)) }), "%.2f")
	line("e-mail: Redis round trips per mail", per(emails, func(r result) float64 { return r.perMsg(r.reads) }), "%.2f")
	errs := 0
	for _, r := range append(append(gateways, wechats...), emails...) {
		errs += r.errors
	}
	fmt.Fprintf(&b, "\nGateway send errors during measured windows: %d.\n", errs)
	b.WriteString(commandTable("web chat", gateways))
	b.WriteString(commandTable("ceiling", ceilings))
	return b.String()
}

// commandTable breaks down Redis's work per message by command, for the
// round whose rate is the median of rs: calls and microseconds inside
// Redis per acknowledged message (an EVALSHA's time includes the commands
// its script ran, which are also listed under their own names).
func commandTable(name string, rs []result) string {
	if len(rs) == 0 {
		return ""
	}
	s := append([]result(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].rate() < s[j].rate() })
	r := s[len(s)/2]
	type row struct {
		cmd string
		st  cmdStat
	}
	var rows []row
	for k, v := range r.cmdStats {
		rows = append(rows, row{k, v})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].st.usec > rows[j].st.usec })
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s, Redis time per message by command (median round, INFO commandstats):\n\n", name)
	b.WriteString("| command | calls / message | µs / message | µs / call |\n|---|---|---|---|\n")
	n := float64(max(r.msgs, 1))
	for _, x := range rows {
		if float64(x.st.calls)/n < 0.01 {
			continue // background work (dispatch polls, presence)
		}
		fmt.Fprintf(&b, "| %s | %.2f | %.1f | %.2f |\n", x.cmd, float64(x.st.calls)/n, float64(x.st.usec)/n,
			float64(x.st.usec)/float64(x.st.calls))
	}
	return b.String()
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
