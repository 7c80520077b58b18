package server

import (
	"context"
	"encoding/csv"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/kpi"
)

// kpiZone is the configured time zone of the KPI tests.
var kpiZone = time.FixedZone("Asia/Shanghai", 8*3600)

// kpiSource is a fake ticket event log that remembers what it was asked.
type kpiSource struct {
	mu     sync.Mutex
	events []kpi.Event
	err    error
	asked  [][2]time.Time
}

func (k *kpiSource) Events(_ context.Context, from, to time.Time) ([]kpi.Event, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.asked = append(k.asked, [2]time.Time{from, to})
	return k.events, k.err
}

func (k *kpiSource) last(t *testing.T) [2]time.Time {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.asked) == 0 {
		t.Fatal("the event log was never asked")
	}
	return k.asked[len(k.asked)-1]
}

// kpiDay is 10 March 2026 at hh:mm in the test zone.
func kpiDay(hh, mm int) time.Time { return time.Date(2026, 3, 10, hh, mm, 0, 0, kpiZone) }

// kpiEvents are two tickets: a web chat li resolved at first contact
// (CSAT 5) and an e-mail to sales wang answered but did not resolve
// (CSAT 2).
func kpiEvents() []kpi.Event {
	ev := func(ticket, channel string, at time.Time, k kpi.Kind, team, agent string, v float64) kpi.Event {
		return kpi.Event{At: at, Ticket: ticket, Kind: k, Channel: channel, Team: team, Agent: agent, Value: v}
	}
	return []kpi.Event{
		ev("#1", "webchat", kpiDay(9, 0), kpi.Opened, "support", "", 0),
		ev("#1", "webchat", kpiDay(9, 5), kpi.AgentReply, "support", "a1", 0),
		ev("#1", "webchat", kpiDay(9, 5), kpi.FirstResponse, "support", "a1", 300),
		ev("#1", "webchat", kpiDay(9, 20), kpi.Resolved, "support", "a1", 0),
		ev("#1", "webchat", kpiDay(9, 30), kpi.CSAT, "support", "a1", 5),
		ev("#2", "email", kpiDay(10, 0), kpi.Opened, "sales", "", 0),
		ev("#2", "email", kpiDay(10, 30), kpi.AgentReply, "sales", "a2", 0),
		ev("#2", "email", kpiDay(10, 30), kpi.FirstResponse, "sales", "a2", 1800),
		ev("#2", "email", kpiDay(11, 0), kpi.CSAT, "sales", "a2", 2),
	}
}

// kpiStack is the stack with a fake event log and the test zone.
func kpiStack(t *testing.T) (*stack, *kpiSource) {
	s := newStack(t)
	src := &kpiSource{events: kpiEvents()}
	s.srv.KPIs = src
	s.srv.opts.Location = kpiZone
	return s, src
}

func TestKPIsRolesAndSource(t *testing.T) {
	s, _ := kpiStack(t)
	const path = "/api/v1/kpis?from=2026-03-10&to=2026-03-10"
	if r := s.get(path, ""); r.Status != 401 {
		t.Errorf("without a token: %s", r)
	}
	if r := s.get(path, s.login(agentLi.Email)); r.Status != 403 || r.errorCode() != "forbidden" {
		t.Errorf("an agent: %s, want 403", r)
	}
	for _, who := range []string{agentSup.Email, agentAdm.Email} {
		if r := s.get(path, s.login(who)); r.Status != 200 {
			t.Errorf("%s: %s", who, r)
		}
	}

	s.srv.KPIs = nil
	if r := s.get(path, s.login(agentSup.Email)); r.Status != 503 || !strings.Contains(string(r.Body), "no ticket event log") {
		t.Errorf("without an event log: %s, want 503 saying why", r)
	}
	s.srv.KPIs = &kpiSource{err: errors.New("redis: connection refused")}
	if r := s.get(path, s.login(agentSup.Email)); r.Status != 500 || strings.Contains(string(r.Body), "redis") {
		t.Errorf("a failing event log: %s, want 500 without details", r)
	}
}

func TestKPIsJSON(t *testing.T) {
	s, src := kpiStack(t)
	tok := s.login(agentSup.Email)
	type report struct {
		From     time.Time `json:"from"`
		To       time.Time `json:"to"`
		TimeZone string    `json:"time_zone"`
		Team     string    `json:"team"`
		CSAT     struct {
			Responses int      `json:"responses"`
			Average   *float64 `json:"average"`
		} `json:"csat"`
		FCR struct {
			Resolved     int      `json:"resolved"`
			FirstContact int      `json:"first_contact"`
			Pct          *float64 `json:"pct"`
		} `json:"fcr"`
		FirstResponse struct {
			Count      int      `json:"count"`
			AvgSeconds *float64 `json:"avg_seconds"`
		} `json:"first_response"`
		Volumes struct {
			Opened    int `json:"opened"`
			ByChannel []struct {
				Key    string `json:"key"`
				Opened int    `json:"opened"`
			} `json:"by_channel"`
			ByHour []struct {
				Hour   int `json:"hour"`
				Opened int `json:"opened"`
			} `json:"by_hour"`
		} `json:"volumes"`
	}

	r := s.must(200, req{method: "GET", path: "/api/v1/kpis?from=2026-03-10&to=2026-03-10", token: tok})
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
	var all report
	r.decode(t, &all)
	// The day in the configured zone, to the next midnight.
	if got := src.last(t); !got[0].Equal(kpiDay(0, 0)) || !got[1].Equal(kpiDay(24, 0)) {
		t.Errorf("asked the log for %v", got)
	}
	if !all.From.Equal(kpiDay(0, 0)) || !all.To.Equal(kpiDay(24, 0)) || all.TimeZone != "Asia/Shanghai" {
		t.Errorf("period %v–%v %s", all.From, all.To, all.TimeZone)
	}
	// CSAT (5 + 2) / 2; #1 resolved at first contact; first responses
	// (300 + 1800) / 2; opened at 09 and 10.
	if all.CSAT.Responses != 2 || all.CSAT.Average == nil || *all.CSAT.Average != 3.5 {
		t.Errorf("csat %+v", all.CSAT)
	}
	if all.FCR.Resolved != 1 || all.FCR.FirstContact != 1 || all.FCR.Pct == nil || *all.FCR.Pct != 100 {
		t.Errorf("fcr %+v", all.FCR)
	}
	if all.FirstResponse.Count != 2 || *all.FirstResponse.AvgSeconds != 1050 {
		t.Errorf("first response %+v", all.FirstResponse)
	}
	if all.Volumes.Opened != 2 || len(all.Volumes.ByChannel) != 2 || all.Volumes.ByChannel[0].Key != "email" ||
		len(all.Volumes.ByHour) != 24 || all.Volumes.ByHour[9].Opened != 1 || all.Volumes.ByHour[10].Opened != 1 {
		t.Errorf("volumes %+v", all.Volumes)
	}

	// The team filter: sales has the e-mail only, resolved by nobody.
	var sales report
	s.must(200, req{method: "GET", path: "/api/v1/kpis?from=2026-03-10&to=2026-03-10&team=sales", token: tok}).decode(t, &sales)
	if sales.Team != "sales" || sales.CSAT.Responses != 1 || *sales.CSAT.Average != 2 || sales.FCR.Pct != nil ||
		sales.Volumes.Opened != 1 {
		t.Errorf("sales: %+v", sales)
	}
	if r := s.get("/api/v1/kpis?from=2026-03-10&to=2026-03-10&team=sales", tok); strings.Contains(string(r.Body), "NaN") ||
		!strings.Contains(string(r.Body), `"pct":null`) {
		t.Errorf("an empty FCR is not null: %s", r.Body)
	}
}

func TestKPIsCSV(t *testing.T) {
	s, _ := kpiStack(t)
	tok := s.login(agentAdm.Email)
	for _, q := range []req{
		{method: "GET", path: "/api/v1/kpis?from=2026-03-10&to=2026-03-10&format=csv", token: tok},
		{method: "GET", path: "/api/v1/kpis?from=2026-03-10&to=2026-03-10", token: tok, header: map[string]string{"Accept": "text/csv"}},
	} {
		r := s.must(200, q)
		if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("%s: content type %q", q.path, ct)
		}
		if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="switchboard-kpis-2026-03-10.csv"` {
			t.Errorf("%s: content disposition %q", q.path, cd)
		}
		rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", q.path, err)
		}
		if !slices.Equal(rows[0], kpi.CSVHeader) || !slices.ContainsFunc(rows, func(r []string) bool {
			return slices.Equal(r, []string{"csat", "", "average", "3.5"})
		}) {
			t.Errorf("%s: rows %q", q.path, rows[:min(len(rows), 12)])
		}
	}
	// ?format=json wins over Accept.
	r := s.must(200, req{method: "GET", path: "/api/v1/kpis?format=json&days=7", token: tok, header: map[string]string{"Accept": "text/csv"}})
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("format=json answered %q", r.Header.Get("Content-Type"))
	}
	// A week names its first and last day.
	r = s.must(200, req{method: "GET", path: "/api/v1/kpis?from=2026-03-04&to=2026-03-10&format=csv", token: tok})
	if cd := r.Header.Get("Content-Disposition"); !strings.Contains(cd, `filename="switchboard-kpis-2026-03-04_2026-03-10.csv"`) {
		t.Errorf("content disposition %q", cd)
	}
}

func TestKPIsBadQueries(t *testing.T) {
	s, src := kpiStack(t)
	tok := s.login(agentSup.Email)
	for _, q := range []string{
		"from=2026-03-10T10:00:00%2B08:00&to=2026-03-10T10:00:00%2B08:00", // empty period
		"from=2026-03-11&to=2026-03-10",                                   // backwards
		"from=2026-01-01&to=2026-04-03",                                   // 93 days
		"from=yesterday",
		"to=2026-13-01",
		"days=0",
		"days=93",
		"days=7&from=2026-03-01",
		"format=xml",
		"team=" + strings.Repeat("x", 65),
		"agent=a%0Ab",
	} {
		r := s.get("/api/v1/kpis?"+q, tok)
		if r.Status != 400 || r.errorCode() != "bad_request" {
			t.Errorf("%s: %s, want 400", q, r)
		}
	}
	// 92 days is the most.
	before := len(src.asked)
	s.must(200, req{method: "GET", path: "/api/v1/kpis?from=2026-01-01&to=2026-04-02", token: tok})
	if len(src.asked) != before+1 {
		t.Errorf("the log was asked %d times for a valid query", len(src.asked)-before)
	}
}

// TestParseKPIQuery reads periods against a fixed clock: 10 March 2026
// 15:30 in the configured zone.
func TestParseKPIQuery(t *testing.T) {
	now := kpiDay(15, 30)
	tests := []struct {
		query    string
		accept   string
		from, to time.Time
		csv      bool
	}{
		{"", "", kpiDay(0, 0), now, false}, // today so far
		{"days=1", "", kpiDay(0, 0), now, false},
		{"days=7", "text/csv", time.Date(2026, 3, 4, 0, 0, 0, 0, kpiZone), now, true},
		{"days=30", "", time.Date(2026, 2, 9, 0, 0, 0, 0, kpiZone), now, false},
		{"from=2026-03-09", "", time.Date(2026, 3, 9, 0, 0, 0, 0, kpiZone), now, false},
		{"to=2026-03-09", "", time.Date(2026, 3, 9, 0, 0, 0, 0, kpiZone), kpiDay(0, 0), false},
		{"from=2026-03-10T01:00:00Z&to=2026-03-10T02:00:00Z", "", kpiDay(9, 0), kpiDay(10, 0), false},
		// An unencoded + arrives as a space.
		{"from=2026-03-10T09:00:00 08:00&format=csv", "", kpiDay(9, 0), now, true},
		{"to=2026-03-10T00:00:00%2B08:00", "", time.Date(2026, 3, 9, 0, 0, 0, 0, kpiZone), kpiDay(0, 0), false},
	}
	for _, tt := range tests {
		v, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		q, err := parseKPIQuery(v.Get, tt.accept, now, kpiZone)
		if err != nil {
			t.Errorf("%q: %v", tt.query, err)
			continue
		}
		if !q.filter.From.Equal(tt.from) || !q.filter.To.Equal(tt.to) || q.csv != tt.csv || q.filter.Location != kpiZone {
			t.Errorf("%q: %v–%v csv %v, want %v–%v csv %v", tt.query, q.filter.From, q.filter.To, q.csv, tt.from, tt.to, tt.csv)
		}
	}
}

// FuzzParseKPIQuery: any query is refused or gives a period of at most
// 92 days with From before To.
func FuzzParseKPIQuery(f *testing.F) {
	for _, s := range []string{"", "days=7", "from=2026-03-01&to=2026-03-10", "from=2026-03-10T01:00:00Z", "to=0001-01-01",
		"from=9999-12-31&to=9999-12-31", "format=csv&team=sales&agent=li&channel=email"} {
		f.Add(s, "text/csv")
	}
	now := kpiDay(15, 30)
	f.Fuzz(func(t *testing.T, query, accept string) {
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		q, err := parseKPIQuery(v.Get, accept, now, kpiZone)
		if err != nil {
			if !errors.Is(err, errBadInput) {
				t.Fatalf("%q: an error that is not bad input: %v", query, err)
			}
			return
		}
		p := q.filter
		if !p.From.Before(p.To) || p.To.After(p.From.AddDate(0, 0, maxKPIDays)) {
			t.Fatalf("%q: period %v–%v", query, p.From, p.To)
		}
		if len(p.Team) > 64 || len(p.Agent) > 64 || len(p.Channel) > 64 {
			t.Fatalf("%q: a long filter passed", query)
		}
	})
}
