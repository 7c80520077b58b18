package server

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"

	"switchboard/kpi"
	"switchboard/session"
)

// The KPI report, GET /api/v1/kpis: CSAT, NPS, FCR, AHT, response and
// resolution times, SLA attainment, bot deflection and volumes, computed
// by package kpi from the ticket event log (Deps.KPIs) for a period and
// an optional channel, team and agent. Supervisors and admins see every
// team's figures (a team is a filter, not a limit); agents get 403.
// docs/kpis.md defines the figures.

// maxKPIDays is the longest period one report may cover.
const maxKPIDays = 92

// kpiRoutes mounts the KPI report on the authenticated group.
func (s *Server) kpiRoutes(auth fiber.Router) {
	auth.Get("/kpis", allowRole(session.RoleSupervisor), s.getKPIs)
}

// getKPIs answers the report as JSON, or as CSV (an attachment) with
// ?format=csv or Accept: text/csv.
func (s *Server) getKPIs(c *fiber.Ctx) error {
	if s.KPIs == nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "KPIs are not available: this server has no ticket event log")
	}
	q, err := parseKPIQuery(func(k string) string { return c.Query(k) }, c.Get(fiber.HeaderAccept), time.Now(), s.location())
	if err != nil {
		return err
	}
	events, err := s.KPIs.Events(c.UserContext(), q.filter.From, q.filter.To)
	if err != nil {
		return fmt.Errorf("server: read the ticket event log: %w", err)
	}
	r := kpi.Compute(events, q.filter)
	c.Set(fiber.HeaderCacheControl, "no-store")
	if !q.csv {
		return c.JSON(r)
	}
	var b bytes.Buffer
	if err := r.WriteCSV(&b); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+kpiFileName(q.filter)+`"`)
	return c.Send(b.Bytes())
}

// location is the configured time zone.
func (s *Server) location() *time.Location {
	if s.opts.Location == nil {
		return time.UTC
	}
	return s.opts.Location
}

// kpiQuery is a parsed KPI request.
type kpiQuery struct {
	filter kpi.Filter
	csv    bool
}

// parseKPIQuery reads the query of a KPI request (get returns a query
// parameter, "" when absent):
//
//   - from, to: RFC 3339 times, or dates (YYYY-MM-DD) in loc; a date as
//     to includes that day. Without to, now; without from, the start of
//     to's day: no parameters at all means today so far.
//   - days: instead of from and to, the last N days (1–92) including
//     today, up to now.
//   - channel, team, agent: filters.
//   - format: json or csv; without it, CSV when accept asks for text/csv.
//
// The period must be non-empty and span at most 92 days.
func parseKPIQuery(get func(string) string, accept string, now time.Time, loc *time.Location) (kpiQuery, error) {
	var q kpiQuery
	f := kpi.Filter{To: now, Location: loc}
	from, to, days := get("from"), get("to"), get("days")
	switch {
	case days != "":
		if from != "" || to != "" {
			return q, fmt.Errorf("%w: days goes without from and to", errBadInput)
		}
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > maxKPIDays {
			return q, fmt.Errorf("%w: days must be a whole number 1–%d", errBadInput, maxKPIDays)
		}
		f.From = today(now, loc).AddDate(0, 0, 1-n)
	default:
		var err error
		if to != "" {
			if f.To, err = parseKPITime("to", to, loc, true); err != nil {
				return q, err
			}
		}
		f.From = today(f.To, loc)
		if from != "" {
			if f.From, err = parseKPITime("from", from, loc, false); err != nil {
				return q, err
			}
		}
	}
	if !f.From.Before(f.To) {
		return q, fmt.Errorf("%w: from must be before to", errBadInput)
	}
	if f.To.After(f.From.AddDate(0, 0, maxKPIDays)) {
		return q, fmt.Errorf("%w: the period may span at most %d days", errBadInput, maxKPIDays)
	}
	for _, p := range []struct {
		name string
		to   *string
	}{{"channel", &f.Channel}, {"team", &f.Team}, {"agent", &f.Agent}} {
		v := get(p.name)
		if len(v) > 64 || strings.ContainsFunc(v, unicode.IsControl) {
			return q, fmt.Errorf("%w: %s must be an id of at most 64 characters", errBadInput, p.name)
		}
		*p.to = strings.Clone(v)
	}
	switch get("format") {
	case "":
		q.csv = strings.Contains(accept, "text/csv")
	case "csv":
		q.csv = true
	case "json":
	default:
		return q, fmt.Errorf("%w: format must be json or csv", errBadInput)
	}
	q.filter = f
	return q, nil
}

// today is the start of the day of the instant just before t: the day
// a period ending at t ends in.
func today(t time.Time, loc *time.Location) time.Time {
	return kpi.StartOfDay(t.Add(-time.Nanosecond), loc)
}

// parseKPITime reads an RFC 3339 time or a date in loc; a date read as
// the end of a period (end) means the end of that day.
func parseKPITime(name, v string, loc *time.Location, end bool) (time.Time, error) {
	if len(v) == len(time.DateOnly) {
		d, err := time.ParseInLocation(time.DateOnly, v, loc)
		if err == nil {
			if end {
				d = d.AddDate(0, 0, 1)
			}
			return d, nil
		}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		// A "+" left unencoded in a query string arrives as a space.
		t, err = time.Parse(time.RFC3339, strings.Replace(v, " ", "+", 1))
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s must be a date (2026-03-10) or an RFC 3339 time (2026-03-10T09:00:00+08:00)", errBadInput, name)
	}
	return t, nil
}

// kpiFileName names a CSV export after its days in the report's zone.
func kpiFileName(f kpi.Filter) string {
	first := f.From.In(f.Location).Format(time.DateOnly)
	last := f.To.Add(-time.Nanosecond).In(f.Location).Format(time.DateOnly)
	if first == last {
		return "switchboard-kpis-" + first + ".csv"
	}
	return "switchboard-kpis-" + first + "_" + last + ".csv"
}
