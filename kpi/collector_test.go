package kpi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeSource serves fixed events and remembers what it was asked.
type fakeSource struct {
	mu     sync.Mutex
	events []Event
	err    error
	asked  [][2]time.Time
}

func (s *fakeSource) Events(_ context.Context, from, to time.Time) ([]Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, [2]time.Time{from, to})
	return s.events, s.err
}

func (s *fakeSource) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.asked)
}

// clock is a time the test moves.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// scriptedDayMetrics are the gauges of the scripted day (see
// TestScriptedDay for the arithmetic), one per line as scrape renders
// them.
const scriptedDayMetrics = `
gauge switchboard_bot_deflection_ratio 0.25
gauge switchboard_csat_average 3.33
gauge switchboard_nps_score 16.67
gauge switchboard_sla_attainment_ratio{target="first_response"} 0.8571
gauge switchboard_sla_attainment_ratio{target="next_response"} 0.5
gauge switchboard_sla_attainment_ratio{target="overall"} 0.6923
gauge switchboard_sla_attainment_ratio{target="resolution"} 0.5
gauge switchboard_survey_responses_today{kind="csat"} 6
gauge switchboard_survey_responses_today{kind="nps"} 6
`

// scrape gathers c through a pedantic registry (which checks the metrics
// against Describe) and renders them one per line, sorted:
// "gauge name{label="value"} number".
func scrape(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	r := prometheus.NewPedanticRegistry()
	if err := r.Register(c); err != nil {
		t.Fatal(err)
	}
	families, err := r.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var lines []string
	for _, f := range families {
		if f.GetHelp() == "" {
			t.Errorf("%s has no help", f.GetName())
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			name := f.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			lines = append(lines, fmt.Sprintf("%s %s %s", strings.ToLower(f.GetType().String()), name,
				strconv.FormatFloat(m.GetGauge().GetValue(), 'f', -1, 64)))
		}
	}
	slices.Sort(lines)
	return "\n" + strings.Join(lines, "\n") + "\n"
}

func wantScrape(t *testing.T, c prometheus.Collector, want string) {
	t.Helper()
	if got := scrape(t, c); got != want {
		t.Errorf("scrape:%s\nwant:%s", got, want)
	}
}

func TestCollector(t *testing.T) {
	src := &fakeSource{events: scriptedDay()}
	clk := &clock{t: at("23:30")}
	c := NewCollector(src, CollectorOptions{Location: shanghai, Now: clk.now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})

	wantScrape(t, c, scriptedDayMetrics)
	// Today so far: from midnight in Shanghai to now.
	if got := src.asked[0]; !got[0].Equal(at("00:00")) || !got[1].Equal(at("23:30")) {
		t.Errorf("asked for %v, want today from midnight to now", got)
	}

	// Within the TTL, scrapes share one computation; after it, the
	// source is asked again.
	n := src.calls()
	clk.t = clk.t.Add(DefaultCollectorTTL - time.Second)
	scrape(t, c)
	if src.calls() != n {
		t.Errorf("the source was asked again within the TTL")
	}
	clk.t = clk.t.Add(time.Second)
	scrape(t, c)
	if src.calls() != n+1 {
		t.Errorf("the source was not asked again after the TTL")
	}

	// A failing source: the day's last report stays, and the next try
	// waits a TTL.
	src.mu.Lock()
	src.err = errors.New("redis down")
	src.mu.Unlock()
	clk.t = clk.t.Add(DefaultCollectorTTL)
	wantScrape(t, c, scriptedDayMetrics)
	n = src.calls()
	scrape(t, c)
	if src.calls() != n {
		t.Errorf("a failed source was asked again within the TTL")
	}
	// The next day, yesterday's report is not served as today's.
	clk.t = at("+1 00:01")
	wantScrape(t, c, "\n\n")
}

// TestCollectorQuietDay: with no answers yet, only the counts show (no
// NaN averages).
func TestCollectorQuietDay(t *testing.T) {
	c := NewCollector(&fakeSource{}, CollectorOptions{Location: shanghai, Now: func() time.Time { return at("08:00") }})
	wantScrape(t, c, `
gauge switchboard_survey_responses_today{kind="csat"} 0
gauge switchboard_survey_responses_today{kind="nps"} 0
`)
}
