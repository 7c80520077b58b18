package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/session"
	"switchboard/tickets"
)

// slaBase is a configuration with two teams that SLA tests add to.
const slaBase = "teams:\n  - {id: support, name: S, calendar: cn-support}\n  - {id: sales, name: X}\n"

const cnSupport = `calendars:
  - id: cn-support
    hours: {mon-fri: "09:00-12:00,13:30-18:00"}
    include: [cn]
`

func TestLoadSLA(t *testing.T) {
	doc := slaBase + cnSupport + `  - id: berlin
    timezone: Europe/Berlin
    hours:
      mon-thu: 08:00-17:00
      fri: "08:00-13:00"
    holidays: [2026-12-24..2026-12-26, "2026-12-31"]
    workdays: [2026-12-27]
    workday_hours: 10:00-14:00
sla_policies:
  - name: vip
    when: {priority: [urgent, high], customer_level: [vip], channel: [email, webchat], team: [support]}
    first_response: 5m
    next_response: 30m
    resolution: 4h
    business_hours: true
    warn_at: [0.5, 0.8]
    escalate:
      - {on: warning, target: first_response, notify: [assignee, supervisors, zhao]}
      - {on: breach, priority: urgent, team: sales}
  - {name: legacy, priority: urgent, first_response: 5m, resolution: 4h}
  - {name: berlin, business_hours: true, calendar: berlin, resolution: 8h, warn_at: []}
  - {name: default, first_response: 1h, warn_at: ~}
`
	c, err := load(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.BusinessCalendars) != 2 || c.BusinessCalendars["cn-support"].ID() != "cn-support" {
		t.Fatalf("calendars %v", c.BusinessCalendars)
	}
	cn, berlin := c.BusinessCalendars["cn-support"], c.BusinessCalendars["berlin"]
	if cn.Location().String() != "Asia/Shanghai" || berlin.Location().String() != "Europe/Berlin" {
		t.Errorf("locations %v, %v: want the top-level default, then the calendar's own", cn.Location(), berlin.Location())
	}
	// National Day is closed, the make-up Saturday after it is open.
	sh := c.Location
	if cn.Open(time.Date(2026, 10, 8, 8, 59, 0, 0, sh)) || !cn.Open(time.Date(2026, 10, 10, 9, 0, 0, 0, sh)) || cn.Open(time.Date(2026, 10, 2, 10, 0, 0, 0, sh)) {
		t.Error("cn-support does not follow China's holidays")
	}
	if !berlin.Open(time.Date(2026, 12, 27, 9, 0, 0, 0, time.UTC)) || berlin.Open(time.Date(2026, 12, 31, 9, 0, 0, 0, time.UTC)) {
		t.Error("berlin's own holidays and make-up day are wrong")
	}

	vip := c.SLAPolicies[0]
	want := tickets.SLAPolicy{Name: "vip",
		When: tickets.SLAWhen{Priority: []tickets.Priority{tickets.Urgent, tickets.High}, CustomerLevel: []string{"vip"},
			Channel: []string{"email", "webchat"}, Team: []string{"support"}},
		FirstResponse: 5 * time.Minute, NextResponse: 30 * time.Minute, Resolution: 4 * time.Hour,
		BusinessHours: true, WarnAt: []float64{0.5, 0.8},
		Escalate: []tickets.Escalation{
			{On: tickets.OnWarning, Target: tickets.FirstResponse, Notify: []string{"assignee", "supervisors", "zhao"}},
			{On: tickets.OnBreach, Priority: tickets.Urgent, Team: "sales"},
		}}
	if !policyEqual(vip, want) {
		t.Errorf("policy\n%+v\nwant\n%+v", vip, want)
	}
	if got := vip.CalendarFor(c.BusinessCalendars, c.Teams[0].Calendar); got != cn {
		t.Errorf("vip counts in %q, want the support team's cn-support", got.ID())
	}
	if p := c.SLAPolicies[1]; p.Priority != tickets.Urgent || p.FirstResponse != 5*time.Minute || p.WarnAt != nil {
		t.Errorf("legacy policy %+v", p)
	}
	// warn_at: [] is no warnings; absent or null is the default.
	if w := c.SLAPolicies[2].Warnings(); w == nil || len(w) != 0 {
		t.Errorf("warn_at: [] gives %#v, want an empty list", w)
	}
	if w := c.SLAPolicies[3].Warnings(); !slices.Equal(w, tickets.DefaultWarnAt) {
		t.Errorf("warn_at: ~ gives %v, want the default", w)
	}
	if got := c.SLAPolicies[2].CalendarFor(c.BusinessCalendars, "cn-support"); got != berlin {
		t.Errorf("a policy's calendar does not beat the team's: %q", got.ID())
	}
}

func TestLoadSLAErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		doc  string
		want []string
	}{
		{"calendar hours", slaBase + "calendars:\n  - {id: cn-support, hours: {mon-fri: \"09:00-18:00\"}}\n  - {id: b, hours: {tue: 9-18}}\n",
			[]string{`calendars[1].hours.tue: "9-18" is not a window like 09:00-18:00`}},
		{"calendar keys and dates", slaBase + cnSupport + "  - {id: x, timezone: Mars, hours: {\"mon fri\": \"09:00-18:00\", sat: \"10:00-12:00\"}, holidays: [2026-02-30], include: [jp]}\n",
			[]string{
				`calendars[1].timezone: "Mars" is not a known time zone (e.g. Asia/Shanghai)`,
				`calendars[1].hours["mon fri"]: not a day: use mon, tue, wed, thu, fri, sat, sun or a range like mon-fri`,
				`calendars[1].include[0]: unknown holiday set "jp" (known: cn)`,
				`calendars[1].holidays[0]: "2026-02-30" is not a date like 2026-10-01 or a range like 2026-10-01..2026-10-07`,
			}},
		{"calendar never open", slaBase + "calendars:\n  - {id: cn-support, hours: {sat: \"\"}}\n",
			[]string{`calendars[0].hours: the calendar is never open: give at least one day's hours (e.g. mon-fri: "09:00-18:00")`}},
		{"calendar used twice", slaBase + cnSupport + "  - {id: cn-support, hours: {mon: \"09:00-10:00\"}}\n",
			[]string{`calendars[1].id: "cn-support" is used twice`}},
		{"unknown key in a calendar", slaBase + "calendars:\n  - {id: cn-support, hours: {mon: \"09:00-10:00\"}, holiday: [2026-10-01]}\n",
			[]string{"calendars[0].holiday: unknown key (line 5)"}},
		{"team calendar", "teams: [{id: support, name: S, calendar: nope}]\n",
			[]string{`teams[0].calendar: unknown calendar "nope"`}},
		{"policy references", slaBase + cnSupport + `sla_policies:
  - {name: a, when: {team: [support, billing]}, business_hours: true, calendar: us, first_response: 1h}
  - name: b
    first_response: 1h
    escalate: [{on: breach, notify: [assignee]}, {on: breach, team: x}]
`,
			[]string{
				`sla_policies[0].when.team[1]: unknown team "billing"`,
				`sla_policies[0].calendar: unknown calendar "us"`,
				`sla_policies[1].escalate[1].team: unknown team "x"`,
			}},
		// A policy's own errors are found while decoding, with its line.
		{"policy fields", slaBase + "sla_policies:\n  - {name: a, first_response: 1h, warn_at: [1.5], escalate: [{on: late, notify: [assignee]}]}\n",
			[]string{
				`sla_policies[0]: warn_at[0]: 1.5 is not a fraction between 0 and 1 (0.8 warns at 80% of the target) (line 5)`,
				`sla_policies[0]: escalate[0].on: "late" is not one of warning, breach (line 5)`,
			}},
		{"policy duration", slaBase + "sla_policies:\n  - {name: a, next_response: 30}\n",
			[]string{`sla_policies[0].next_response: must be a duration with a unit, like "30s" or "5m", got "30" (line 5)`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.doc)
			if err == nil {
				t.Fatalf("Load succeeded, want\n%s", strings.Join(tt.want, "\n"))
			}
			if _, got, _ := strings.Cut(err.Error(), "\n"); got != strings.Join(tt.want, "\n") {
				t.Errorf("error\n%s\nwant\n%s", got, strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestDemoConfig loads deploy/demo.yaml, which shows calendars and SLA
// policies to people trying Switchboard.
func TestDemoConfig(t *testing.T) {
	path := filepath.Join("..", "deploy", "demo.yaml")
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cal := c.BusinessCalendars["cn-support"]
	if cal == nil {
		t.Fatal("the demo has no cn-support calendar")
	}
	i := slices.IndexFunc(c.Teams, func(t session.Team) bool { return t.ID == "support" })
	if i < 0 || c.Teams[i].Calendar != "cn-support" {
		t.Error("the demo's support team does not use cn-support")
	}
	var business, warned, escalated bool
	for _, p := range c.SLAPolicies {
		business = business || p.BusinessHours
		warned = warned || len(p.WarnAt) > 0
		escalated = escalated || len(p.Escalate) > 0
	}
	if !business || !warned || !escalated {
		t.Errorf("the demo's policies do not show business_hours (%v), warn_at (%v) and escalate (%v)", business, warned, escalated)
	}
}

// policyEqual compares policies field by field (they hold slices).
func policyEqual(a, b tickets.SLAPolicy) bool {
	return a.Name == b.Name && a.Priority == b.Priority && slices.Equal(a.When.Priority, b.When.Priority) &&
		slices.Equal(a.When.CustomerLevel, b.When.CustomerLevel) && slices.Equal(a.When.Channel, b.When.Channel) &&
		slices.Equal(a.When.Team, b.When.Team) && a.FirstResponse == b.FirstResponse && a.NextResponse == b.NextResponse &&
		a.Resolution == b.Resolution && a.BusinessHours == b.BusinessHours && a.Calendar == b.Calendar &&
		slices.Equal(a.WarnAt, b.WarnAt) && slices.EqualFunc(a.Escalate, b.Escalate, func(x, y tickets.Escalation) bool {
		return x.On == y.On && x.Target == y.Target && x.Priority == y.Priority && x.Team == y.Team && slices.Equal(x.Notify, y.Notify)
	})
}
