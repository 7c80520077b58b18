package kpi

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSVHeader is the first row of WriteCSV.
var CSVHeader = []string{"section", "key", "metric", "value"}

// WriteCSV writes the report as one figure per row under CSVHeader, in
// the order of the JSON: "csat,,average,4.33",
// "sla,first_response,met,5", "volumes.by_channel,webchat,opened,4",
// "volumes.by_hour,09,agent_replies,3". A null figure has an empty value;
// times are RFC 3339.
func (r Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	rows := [][]string{CSVHeader}
	add := func(section, key, metric, value string) {
		rows = append(rows, []string{section, safeCell(key), metric, safeCell(value)})
	}
	num := func(section, key, metric string, v int) { add(section, key, metric, strconv.Itoa(v)) }
	opt := func(section, key, metric string, v *float64) { add(section, key, metric, optional(v)) }

	add("period", "", "from", timeCell(r.From))
	add("period", "", "to", timeCell(r.To))
	add("period", "", "time_zone", r.TimeZone)
	add("filter", "", "channel", r.Channel)
	add("filter", "", "team", r.Team)
	add("filter", "", "agent", r.Agent)

	num("csat", "", "responses", r.CSAT.Responses)
	opt("csat", "", "average", r.CSAT.Average)
	num("csat", "", "satisfied", r.CSAT.Satisfied)
	opt("csat", "", "satisfied_pct", r.CSAT.SatisfiedPct)
	num("nps", "", "responses", r.NPS.Responses)
	num("nps", "", "promoters", r.NPS.Promoters)
	num("nps", "", "passives", r.NPS.Passives)
	num("nps", "", "detractors", r.NPS.Detractors)
	opt("nps", "", "score", r.NPS.Score)
	num("fcr", "", "resolved", r.FCR.Resolved)
	num("fcr", "", "first_contact", r.FCR.FirstContact)
	opt("fcr", "", "pct", r.FCR.Pct)
	num("aht", "", "tickets", r.AHT.Tickets)
	opt("aht", "", "avg_seconds", r.AHT.AvgSeconds)
	opt("aht", "", "median_seconds", r.AHT.MedianSeconds)
	num("call_talk", "", "calls", r.CallTalk.Calls)
	opt("call_talk", "", "avg_seconds", r.CallTalk.AvgSeconds)
	for _, d := range []struct {
		section string
		d       Durations
	}{{"first_response", r.FirstResponse}, {"resolution_time", r.ResolutionTime}} {
		num(d.section, "", "count", d.d.Count)
		opt(d.section, "", "avg_seconds", d.d.AvgSeconds)
		opt(d.section, "", "median_seconds", d.d.MedianSeconds)
		opt(d.section, "", "p90_seconds", d.d.P90Seconds)
	}
	for _, a := range []struct {
		key string
		a   Attainment
	}{{TargetFirstResponse, r.SLA.FirstResponse}, {TargetNextResponse, r.SLA.NextResponse},
		{TargetResolution, r.SLA.Resolution}, {"overall", r.SLA.Overall}} {
		num("sla", a.key, "met", a.a.Met)
		num("sla", a.key, "breached", a.a.Breached)
		opt("sla", a.key, "attainment_pct", a.a.AttainmentPct)
	}
	num("bot", "", "engaged", r.Bot.Engaged)
	num("bot", "", "answered", r.Bot.Answered)
	num("bot", "", "handed_off", r.Bot.HandedOff)
	num("bot", "", "deflected", r.Bot.Deflected)
	opt("bot", "", "deflection_pct", r.Bot.DeflectionPct)
	num("calls", "", "answered", r.Calls.Answered)
	num("calls", "", "missed", r.Calls.Missed)

	counts := func(section, key string, n Counts) {
		num(section, key, "opened", n.Opened)
		num(section, key, "resolved", n.Resolved)
		num(section, key, "customer_msgs", n.CustomerMsgs)
		num(section, key, "agent_replies", n.AgentReplies)
	}
	counts("volumes", "", r.Volumes.Counts)
	for _, b := range []struct {
		section string
		rows    []Volume
	}{{"volumes.by_channel", r.Volumes.ByChannel}, {"volumes.by_team", r.Volumes.ByTeam}, {"volumes.by_agent", r.Volumes.ByAgent}} {
		for _, v := range b.rows {
			counts(b.section, v.Key, v.Counts)
		}
	}
	for _, h := range r.Volumes.ByHour {
		counts("volumes.by_hour", fmt.Sprintf("%02d", h.Hour), h.Counts)
	}

	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("kpi: write csv: %w", err)
	}
	return nil
}

func optional(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

func timeCell(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

// safeCell keeps a spreadsheet from reading a cell as a formula: text
// starting with = + - @ or a control character gets a leading apostrophe.
// Negative numbers are left alone.
func safeCell(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r\n", rune(s[0])) {
		return s
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return s
	}
	return "'" + s
}
