package kpi

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkCompute is the cost of a report over a busy day: 10,000
// tickets of 12 events each (120,000 events).
func BenchmarkCompute(b *testing.B) {
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	var evs []Event
	for i := 0; i < 10000; i++ {
		at := day.Add(time.Duration(i) * 8 * time.Second)
		tk := fmt.Sprint(10000 + i)
		add := func(d time.Duration, k Kind, v float64, target string) {
			evs = append(evs, Event{At: at.Add(d), Ticket: tk, Conv: "c" + tk, Kind: k, Channel: "webchat",
				Team: "support", Agent: fmt.Sprintf("a%d", i%20), Value: v, Target: target})
		}
		add(0, Opened, 0, "")
		add(0, CustomerMsg, 0, "")
		add(time.Minute, Assigned, 0, "")
		add(2*time.Minute, FirstResponse, 120, "")
		add(2*time.Minute, AgentReply, 0, "")
		add(2*time.Minute, SLAMet, 0, TargetFirstResponse)
		add(5*time.Minute, CustomerMsg, 0, "")
		add(7*time.Minute, AgentReply, 0, "")
		add(7*time.Minute, SLAMet, 0, TargetNextResponse)
		add(20*time.Minute, Resolved, 0, "")
		add(20*time.Minute, SLAMet, 0, TargetResolution)
		add(25*time.Minute, CSAT, float64(1+i%5), "")
	}
	f := Filter{From: day, To: day.Add(24 * time.Hour)}
	b.ResetTimer()
	for b.Loop() {
		if r := Compute(evs, f); r.Volumes.Opened != 10000 {
			b.Fatalf("opened %d", r.Volumes.Opened)
		}
	}
}
