package kpi

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
)

// csvRows writes r as CSV and reads it back.
func csvRows(t *testing.T, r Report) [][]string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not read back: %v\n%s", err, b.String())
	}
	return rows
}

func TestWriteCSV(t *testing.T) {
	rows := csvRows(t, Compute(scriptedDay(), dayFilter()))
	if !slices.Equal(rows[0], []string{"section", "key", "metric", "value"}) {
		t.Fatalf("header %q", rows[0])
	}
	for _, want := range [][]string{
		{"period", "", "from", "2026-03-10T00:00:00+08:00"},
		{"period", "", "time_zone", "Asia/Shanghai"},
		{"csat", "", "average", "3.33"},
		{"nps", "", "score", "16.67"},
		{"fcr", "", "pct", "75"},
		{"aht", "", "avg_seconds", "7687.5"},
		{"first_response", "", "p90_seconds", "3600"},
		{"sla", "first_response", "attainment_pct", "85.71"},
		{"sla", "overall", "breached", "4"},
		{"bot", "", "deflected", "1"},
		{"calls", "", "missed", "1"},
		{"volumes", "", "opened", "13"},
		{"volumes.by_channel", "cti", "opened", "3"},
		{"volumes.by_team", "", "customer_msgs", "1"},
		{"volumes.by_agent", "wang", "agent_replies", "5"},
		{"volumes.by_hour", "09", "agent_replies", "3"},
		{"volumes.by_hour", "23", "opened", "0"},
	} {
		if !slices.ContainsFunc(rows, func(r []string) bool { return slices.Equal(r, want) }) {
			t.Errorf("no row %q", want)
		}
	}
	// 6 period and filter rows; 48 figures (csat 4, nps 5, fcr 3, aht 3,
	// call_talk 2, first_response 4, resolution_time 4, sla 4 × 3, bot 5,
	// calls 2, volumes 4); 4 per breakdown row: 6 channels, 3 teams, 3
	// agents, 24 hours.
	if want := 1 + 6 + 48 + 4*(6+3+3+24); len(rows) != want {
		t.Errorf("%d rows, want %d", len(rows), want)
	}
}

func TestWriteCSVEmptyAndHostile(t *testing.T) {
	r := Compute([]Event{{At: at("09:00"), Ticket: "#1", Kind: Opened, Team: "=HYPERLINK(\"x\")", Agent: "+li"}}, Filter{})
	r.Team = "@team"
	rows := csvRows(t, r)
	for _, want := range [][]string{
		{"csat", "", "average", ""}, // null: empty
		{"filter", "", "team", "'@team"},
		{"volumes.by_team", "'=HYPERLINK(\"x\")", "opened", "1"},
		{"volumes.by_agent", "'+li", "opened", "1"},
		{"period", "", "from", ""},
	} {
		if !slices.ContainsFunc(rows, func(r []string) bool { return slices.Equal(r, want) }) {
			t.Errorf("no row %q", want)
		}
	}
	for _, r := range rows {
		if v := r[3]; strings.HasPrefix(v, "=") || strings.Contains(v, "NaN") {
			t.Errorf("row %q", r)
		}
	}
}
