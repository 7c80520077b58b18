// Command sbbench measures Switchboard against the raw Redis ceiling on the
// same machine, in the same run, interleaved (ceiling, gateway, ceiling,
// gateway, …), and prints a Markdown report.
//
// Gateway: web-chat messages are POSTed over HTTP to a real `switchboard
// serve` process by concurrent senders; every conversation is assigned to
// one of the connected agents, and a message counts as delivered when its
// message.new event arrives on that agent's WebSocket. End-to-end latency
// is from just before the POST to the event's arrival, both measured here.
//
// Ceiling: the same Redis writes the gateway makes for one message (dedup
// record, external id, transcript append, conversation update, the
// visitor's echo with its marker, list indexes, agent event stream,
// pub/sub: 15 commands), as one raw go-redis pipeline per message, with
// the same concurrency.
//
// Round trips and commands per message come from Redis's own counters
// (INFO stats: total_reads_processed, total_commands_processed).
//
//	sbbench -gateway bin/switchboard -redis redis://127.0.0.1:6390/0 [-pairs 3 -duration 8s]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.gateway, "gateway", "bin/switchboard", "the switchboard binary")
	flag.StringVar(&o.redis, "redis", "", "redis:// URL of a scratch Redis (it is written to)")
	flag.IntVar(&o.pairs, "pairs", 3, "ceiling/gateway pairs, interleaved")
	flag.DurationVar(&o.duration, "duration", 8*time.Second, "measured time per run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time before each run")
	flag.IntVar(&o.senders, "senders", 64, "concurrent senders")
	flag.IntVar(&o.visitors, "visitors", 1000, "distinct customers (conversations)")
	flag.IntVar(&o.agents, "agents", 100, "agents holding a socket")
	flag.StringVar(&o.cases, "cases", "webchat,wechat,email", "gateway cases to run after each ceiling, comma-separated")
	flag.Parse()
	if o.redis == "" {
		fmt.Fprintln(os.Stderr, "sbbench: -redis is required")
		os.Exit(2)
	}
	ctx := context.Background()
	rep, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbbench:", err)
		os.Exit(1)
	}
	fmt.Print(rep)
}

type options struct {
	gateway, redis   string
	pairs, senders   int
	visitors, agents int
	cases            string
	duration, warmup time.Duration
}

var stderr = os.Stderr
