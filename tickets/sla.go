package tickets

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Target is one of the clocks an SLA policy sets.
type Target string

// The targets a policy can set.
const (
	// FirstResponse runs from the ticket's creation to the first agent
	// reply.
	FirstResponse Target = "first_response"
	// NextResponse runs from a customer message that waits for an answer
	// to the next agent reply.
	NextResponse Target = "next_response"
	// Resolution runs from the ticket's creation to its resolution.
	Resolution Target = "resolution"
)

// Targets lists every target.
var Targets = []Target{FirstResponse, NextResponse, Resolution}

// Trigger is when an escalation runs.
type Trigger string

// Escalation triggers.
const (
	// OnWarning runs at each warning (see SLAPolicy.WarnAt).
	OnWarning Trigger = "warning"
	// OnBreach runs when the due time passes without the target met.
	OnBreach Trigger = "breach"
)

// Words in an escalation's Notify list that name people by their role on
// the ticket; any other entry is an agent id.
const (
	NotifyAssignee    = "assignee"    // the ticket's assignee, if any
	NotifySupervisors = "supervisors" // the supervisors of the ticket's team
)

// DefaultWarnAt is the warning a policy without warn_at gives: at 80% of
// the target.
var DefaultWarnAt = []float64{0.8}

// maxTarget bounds a target: a year of business time is already far past
// any real service level.
const maxTarget = 366 * 24 * time.Hour

// SLAPolicy sets service-level targets for the tickets it matches.
// Policies are tried in order and the first whose conditions hold applies
// (MatchSLA).
type SLAPolicy struct {
	Name string `yaml:"name"`
	// Priority is the older way to write When.Priority: [Priority]; set
	// one or the other.
	Priority Priority `yaml:"priority"`
	// When holds the policy's conditions.
	When SLAWhen `yaml:"when"`
	// FirstResponse, NextResponse and Resolution are the targets; 0 sets
	// none.
	FirstResponse time.Duration `yaml:"first_response"`
	NextResponse  time.Duration `yaml:"next_response"`
	Resolution    time.Duration `yaml:"resolution"`
	// BusinessHours makes the targets count business time only: that of
	// Calendar if set, else that of the ticket's team's calendar, else
	// (no calendar anywhere) every hour.
	BusinessHours bool `yaml:"business_hours"`
	// Calendar names a calendar (config `calendars:`) that overrides the
	// team's; it needs BusinessHours.
	Calendar string `yaml:"calendar"`
	// WarnAt lists the fractions of a target, each in (0, 1) and
	// increasing, at which a warning is due. Absent (nil) means
	// DefaultWarnAt; an empty list (`warn_at: []`) means no warnings.
	WarnAt []float64 `yaml:"warn_at"`
	// Escalate lists what happens at warnings and breaches besides the
	// event itself.
	Escalate []Escalation `yaml:"escalate"`
}

// SLAWhen is a policy's conditions: each list that is set must contain
// the ticket's fact; an empty list matches anything.
type SLAWhen struct {
	Priority      []Priority `yaml:"priority"`
	CustomerLevel []string   `yaml:"customer_level"`
	Channel       []string   `yaml:"channel"`
	Team          []string   `yaml:"team"`
}

// Escalation is an action on a warning or a breach.
type Escalation struct {
	// On is warning or breach.
	On Trigger `yaml:"on"`
	// Target limits the escalation to one target; empty means any.
	Target Target `yaml:"target"`
	// Priority raises the ticket to this priority (never lowers it).
	Priority Priority `yaml:"priority"`
	// Team reassigns the ticket to this team.
	Team string `yaml:"team"`
	// Notify lists who is told: NotifyAssignee, NotifySupervisors or
	// agent ids.
	Notify []string `yaml:"notify"`
}

// SLAFacts are what policies match on.
type SLAFacts struct {
	// Priority is the ticket's; empty counts as Normal.
	Priority Priority
	// Level is the customer's level, Channel the conversation's channel
	// kind and Team the ticket's team id.
	Level, Channel, Team string
}

// MatchSLA returns the first policy, in order, whose conditions hold for
// f, or nil when none does. The result points into policies.
func MatchSLA(policies []SLAPolicy, f SLAFacts) *SLAPolicy {
	if f.Priority == "" {
		f.Priority = Normal
	}
	for i := range policies {
		if policies[i].matches(f) {
			return &policies[i]
		}
	}
	return nil
}

func (p *SLAPolicy) matches(f SLAFacts) bool {
	w := p.When
	return (p.Priority == "" || p.Priority == f.Priority) &&
		(len(w.Priority) == 0 || slices.Contains(w.Priority, f.Priority)) &&
		(len(w.CustomerLevel) == 0 || slices.Contains(w.CustomerLevel, f.Level)) &&
		(len(w.Channel) == 0 || slices.Contains(w.Channel, f.Channel)) &&
		(len(w.Team) == 0 || slices.Contains(w.Team, f.Team))
}

// Target returns the policy's target t; 0 means none. A nil policy has
// none.
func (p *SLAPolicy) Target(t Target) time.Duration {
	if p == nil {
		return 0
	}
	switch t {
	case FirstResponse:
		return p.FirstResponse
	case NextResponse:
		return p.NextResponse
	case Resolution:
		return p.Resolution
	}
	return 0
}

// Warnings returns the fractions of a target at which warnings are due:
// WarnAt, or DefaultWarnAt when WarnAt is nil; empty for none.
func (p *SLAPolicy) Warnings() []float64 {
	if p.WarnAt == nil {
		return DefaultWarnAt
	}
	return p.WarnAt
}

// CalendarFor returns the calendar the policy counts in for a ticket of a
// team whose calendar id is teamCalendar (""; none): nil (24×7) without
// BusinessHours, else calendars[p.Calendar], else calendars[teamCalendar],
// else nil.
func (p *SLAPolicy) CalendarFor(calendars map[string]*Calendar, teamCalendar string) *Calendar {
	if !p.BusinessHours {
		return nil
	}
	if p.Calendar != "" {
		return calendars[p.Calendar]
	}
	return calendars[teamCalendar]
}

// Deadlines returns when target t of a clock started at start is due,
// counted in cal (nil: 24×7), and when its warnings are due, in order.
// With no target, or when cal gives no due time (Calendar.Add), due is
// the zero time and there are no warnings.
func (p *SLAPolicy) Deadlines(t Target, cal *Calendar, start time.Time) (due time.Time, warnings []time.Time) {
	d := p.Target(t)
	if d <= 0 {
		return time.Time{}, nil
	}
	if due = cal.Add(start, d); due.IsZero() {
		return time.Time{}, nil
	}
	for _, f := range p.Warnings() {
		warnings = append(warnings, cal.Add(start, time.Duration(float64(d)*f)))
	}
	return due, warnings
}

// Escalations returns the escalations that run on trigger for target t,
// in order.
func (p *SLAPolicy) Escalations(on Trigger, t Target) []Escalation {
	var out []Escalation
	for _, e := range p.Escalate {
		if e.On == on && (e.Target == "" || e.Target == t) {
			out = append(out, e)
		}
	}
	return out
}

// Validate checks one policy on its own; ValidatePolicies also checks its
// references to teams and calendars. Each error is a *FieldError naming
// the field (warn_at[1], escalate[0].on), joined with errors.Join.
func (p *SLAPolicy) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if p.Priority != "" {
		if _, err := ParsePriority(string(p.Priority)); err != nil {
			bad("priority", "%v", err)
		}
		if len(p.When.Priority) > 0 {
			bad("priority", "set either priority or when.priority, not both")
		}
	}
	for i, pr := range p.When.Priority {
		if _, err := ParsePriority(string(pr)); err != nil || pr == "" {
			bad(fieldIndex("when.priority", i), "priority %q is not one of urgent, high, normal, low", pr)
		}
	}
	for _, l := range []struct {
		field string
		list  []string
	}{{"when.customer_level", p.When.CustomerLevel}, {"when.channel", p.When.Channel}, {"when.team", p.When.Team}} {
		for i, s := range l.list {
			if s == "" {
				bad(fieldIndex(l.field, i), "must not be empty")
			}
		}
	}
	for _, t := range Targets {
		switch d := p.Target(t); {
		case d < 0:
			bad(string(t), "%v is negative", d)
		case d > maxTarget:
			bad(string(t), "%v is more than a year (%v)", d, maxTarget)
		}
	}
	if p.Calendar != "" && !p.BusinessHours {
		bad("calendar", "has no effect without business_hours: true")
	}
	for i, f := range p.WarnAt {
		switch {
		case !(f > 0 && f < 1):
			bad(fieldIndex("warn_at", i), "%v is not a fraction between 0 and 1 (0.8 warns at 80%% of the target)", f)
		case i > 0 && f <= p.WarnAt[i-1]:
			bad(fieldIndex("warn_at", i), "%v does not come after %v: list the fractions in increasing order", f, p.WarnAt[i-1])
		}
	}
	for i, e := range p.Escalate {
		p.validateEscalation(fieldIndex("escalate", i), e, bad)
	}
	return errors.Join(errs...)
}

func (p *SLAPolicy) validateEscalation(at string, e Escalation, bad func(field, format string, args ...any)) {
	switch e.On {
	case OnWarning:
		if len(p.Warnings()) == 0 {
			bad(at+".on", "warning, but warn_at: [] turns warnings off")
		}
	case OnBreach:
	default:
		bad(at+".on", "%q is not one of warning, breach", e.On)
	}
	switch {
	case e.Target == "":
	case !slices.Contains(Targets, e.Target):
		bad(at+".target", "%q is not one of first_response, next_response, resolution (or empty for any)", e.Target)
	case p.Target(e.Target) == 0:
		bad(at+".target", "the policy sets no %s target", e.Target)
	}
	if e.Priority != "" {
		if _, err := ParsePriority(string(e.Priority)); err != nil {
			bad(at+".priority", "%v", err)
		}
	}
	if e.Team != "" && !validID(e.Team) {
		bad(at+".team", "%q is not a valid team id", e.Team)
	}
	for j, n := range e.Notify {
		if n != NotifyAssignee && n != NotifySupervisors && !validID(n) {
			bad(fieldIndex(at+".notify", j), "%q is not assignee, supervisors or an agent id", n)
		}
	}
	if e.Priority == "" && e.Team == "" && len(e.Notify) == 0 {
		bad(at, "does nothing: set priority, team or notify")
	}
}

// ValidatePolicies checks policies (each as Validate does) and their
// references: teams in when.team and escalate[].team must be in teams, a
// policy's calendar in calendars. Each error is a *FieldError whose Field
// starts with the policy's index: "[0].escalate[1].team".
func ValidatePolicies(policies []SLAPolicy, teams, calendars map[string]bool) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for i := range policies {
		p := &policies[i]
		at := fieldIndex("", i)
		if err := p.Validate(); err != nil {
			for _, e := range unjoin(err) {
				if fe, ok := e.(*FieldError); ok {
					bad(at+"."+fe.Field, "%s", fe.Msg)
				} else {
					bad(at, "%v", e)
				}
			}
		}
		for j, t := range p.When.Team {
			if t != "" && !teams[t] {
				bad(fmt.Sprintf("%s.when.team[%d]", at, j), "unknown team %q", t)
			}
		}
		if p.Calendar != "" && !calendars[p.Calendar] {
			bad(at+".calendar", "unknown calendar %q", p.Calendar)
		}
		for j, e := range p.Escalate {
			if e.Team != "" && validID(e.Team) && !teams[e.Team] {
				bad(fmt.Sprintf("%s.escalate[%d].team", at, j), "unknown team %q", e.Team)
			}
		}
	}
	return errors.Join(errs...)
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if m, ok := err.(interface{ Unwrap() []error }); ok {
		return m.Unwrap()
	}
	return []error{err}
}

// Due returns the first-response and resolution due times of a ticket of
// priority p opened at t: those of the first policy MatchSLA finds for
// that priority alone, counted 24×7; zero times mean no target.
//
// Deprecated: Due knows neither the ticket's other facts nor business
// hours. Use MatchSLA, SLAPolicy.CalendarFor and SLAPolicy.Deadlines.
func Due(policies []SLAPolicy, p Priority, t time.Time) (firstResponse, resolve time.Time) {
	pol := MatchSLA(policies, SLAFacts{Priority: p})
	firstResponse, _ = pol.Deadlines(FirstResponse, nil, t)
	resolve, _ = pol.Deadlines(Resolution, nil, t)
	return firstResponse, resolve
}
