package ami

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the client's Prometheus series, labelled by source. They
// exist without a registerer too (then nobody scrapes them).
type metrics struct {
	connected prometheus.Gauge   // 1 while logged in to the manager
	failures  prometheus.Counter // sessions that failed (connect, login, a dropped connection)
	events    prometheus.Counter // AMI events read
	calls     *prometheus.CounterVec
	waits     prometheus.Counter // times reading waited for room in a full queue
	dropped   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, source string) *metrics {
	connectedVec := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "switchboard_ami_connected",
		Help: "1 while this replica is logged in to the source's Asterisk manager."}, []string{"source"})
	failuresVec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_ami_failures_total",
		Help: "AMI sessions that failed (connect, login refused, connection dropped) and were retried, by source."}, []string{"source"})
	eventsVec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_ami_events_total",
		Help: "AMI events read, by source."}, []string{"source"})
	callsVec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_ami_call_events_total",
		Help: "Call events made from AMI events and handled, by source and type."}, []string{"source", "type"})
	waitsVec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_ami_queue_full_total",
		Help: "Times reading the AMI socket paused because the call-event queue was full, by source."}, []string{"source"})
	droppedVec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_ami_call_events_dropped_total",
		Help: "Call events lost, by source and reason (queue_full: still full after queue_wait; refused: Handle failed for good)."},
		[]string{"source", "reason"})
	l := prometheus.Labels{"source": source}
	return &metrics{
		connected: register(reg, connectedVec).With(l),
		failures:  register(reg, failuresVec).With(l),
		events:    register(reg, eventsVec).With(l),
		calls:     register(reg, callsVec).MustCurryWith(l),
		waits:     register(reg, waitsVec).With(l),
		dropped:   register(reg, droppedVec).MustCurryWith(l),
	}
}

// register registers v with reg, or returns what reg holds under v's name
// already (several sources, or a second client in tests).
func register[V prometheus.Collector](reg prometheus.Registerer, v V) V {
	if reg == nil {
		return v
	}
	if err := reg.Register(v); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if prev, ok := are.ExistingCollector.(V); ok {
				return prev
			}
		}
	}
	return v
}
