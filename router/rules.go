package router

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"switchboard/session"
	"switchboard/tickets"
)

// Rule routes conversations that match When to Then. Rules are tried in
// order; the first match wins. A conversation no rule matches goes to the
// first team at normal priority.
type Rule struct {
	Name string `yaml:"name"`
	When Match  `yaml:"when"`
	Then Route  `yaml:"then"`
}

// Match is a rule's condition. Every field that is set must match; within
// a field, any listed value may match. Keywords match the first message,
// case-insensitively; a region matches itself and its subdivisions ("CN"
// matches "CN-31"); an asset ending in "*" matches by prefix.
type Match struct {
	Channels []string `yaml:"channel"`
	Accounts []string `yaml:"account"`
	Keywords []string `yaml:"keywords"`
	Levels   []string `yaml:"customer_level"`
	Regions  []string `yaml:"region"`
	Assets   []string `yaml:"asset"`
	// Hours is a local time window "09:00-18:00"; it may wrap midnight.
	Hours string `yaml:"hours"`
	// Weekdays lists days by their first three letters: mon … sun.
	Weekdays []string `yaml:"weekdays"`
}

// Route is where a matching conversation goes.
type Route struct {
	Team     string           `yaml:"team"`
	Skills   []string         `yaml:"skills"`
	Priority tickets.Priority `yaml:"priority"`
	// OverflowAfter moves a conversation that waited this long to
	// OverflowTeam.
	OverflowAfter time.Duration `yaml:"overflow_after"`
	OverflowTeam  string        `yaml:"overflow_team"`
}

// Facts are what rules look at.
type Facts struct {
	Channel, Account, Text, Level, Region, Asset string
	At                                           time.Time
}

// Rules is a validated, ready rule list.
type Rules struct {
	rules []compiled
	def   Route
	loc   *time.Location
}

type compiled struct {
	Rule
	from, to int // minutes of the day; -1 when no window
	days     map[time.Weekday]bool
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// NewRules validates rules against the known teams.
func NewRules(rules []Rule, teams []session.Team, loc *time.Location) (*Rules, error) {
	known := map[string]bool{}
	for _, t := range teams {
		known[t.ID] = true
	}
	rs := &Rules{loc: loc, def: Route{Priority: tickets.Normal}}
	if len(teams) > 0 {
		rs.def.Team = teams[0].ID
	}
	var errs []error
	for i, r := range rules {
		c := compiled{Rule: r, from: -1, to: -1}
		at := fmt.Sprintf("routing_rules[%d]", i)
		if r.Then.Team != "" && !known[r.Then.Team] {
			errs = append(errs, fmt.Errorf("%s.then.team: unknown team %q", at, r.Then.Team))
		}
		if r.Then.OverflowTeam != "" && !known[r.Then.OverflowTeam] {
			errs = append(errs, fmt.Errorf("%s.then.overflow_team: unknown team %q", at, r.Then.OverflowTeam))
		}
		if (r.Then.OverflowAfter > 0) != (r.Then.OverflowTeam != "") {
			errs = append(errs, fmt.Errorf("%s.then: overflow_after and overflow_team go together", at))
		}
		p, err := tickets.ParsePriority(string(r.Then.Priority))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.then.priority: %w", at, err))
		}
		c.Then.Priority = p
		if r.When.Hours != "" {
			f, t, err := parseWindow(r.When.Hours)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.when.hours: %w", at, err))
			}
			c.from, c.to = f, t
		}
		if len(r.When.Weekdays) > 0 {
			c.days = map[time.Weekday]bool{}
			for _, d := range r.When.Weekdays {
				wd, ok := weekdays[strings.ToLower(d)]
				if !ok {
					errs = append(errs, fmt.Errorf("%s.when.weekdays: %q is not mon … sun", at, d))
				}
				c.days[wd] = true
			}
		}
		for j, k := range r.When.Keywords {
			c.When.Keywords[j] = strings.ToLower(k)
		}
		rs.rules = append(rs.rules, c)
	}
	return rs, errors.Join(errs...)
}

func parseWindow(s string) (from, to int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not a window like 09:00-18:00", s)
	}
	if from, err = parseClock(a); err != nil {
		return 0, 0, err
	}
	if to, err = parseClock(b); err != nil {
		return 0, 0, err
	}
	return from, to, nil
}

func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a time like 09:00", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Route returns the route for f and the name of the rule that matched
// ("" for the default).
func (rs *Rules) Route(f Facts) (Route, string) {
	at := f.At.In(rs.loc)
	text := strings.ToLower(f.Text)
	for _, r := range rs.rules {
		if r.matches(f, text, at) {
			route := r.Then
			if route.Team == "" {
				route.Team = rs.def.Team
			}
			return route, r.Name
		}
	}
	return rs.def, ""
}

func (r *compiled) matches(f Facts, text string, at time.Time) bool {
	w := r.When
	if len(w.Channels) > 0 && !anyEqual(w.Channels, f.Channel) {
		return false
	}
	if len(w.Accounts) > 0 && !anyEqual(w.Accounts, f.Account) {
		return false
	}
	if len(w.Levels) > 0 && !anyEqual(w.Levels, f.Level) {
		return false
	}
	if len(w.Keywords) > 0 && !anyFunc(w.Keywords, func(k string) bool { return strings.Contains(text, k) }) {
		return false
	}
	if len(w.Regions) > 0 && !anyFunc(w.Regions, func(rg string) bool {
		return f.Region == rg || strings.HasPrefix(f.Region, rg+"-")
	}) {
		return false
	}
	if len(w.Assets) > 0 && !anyFunc(w.Assets, func(a string) bool {
		if p, ok := strings.CutSuffix(a, "*"); ok {
			return f.Asset != "" && strings.HasPrefix(f.Asset, p)
		}
		return f.Asset == a
	}) {
		return false
	}
	if r.days != nil && !r.days[at.Weekday()] {
		return false
	}
	if r.from >= 0 {
		m := at.Hour()*60 + at.Minute()
		in := m >= r.from && m < r.to
		if r.from > r.to { // wraps midnight
			in = m >= r.from || m < r.to
		}
		if !in {
			return false
		}
	}
	return true
}

func anyEqual(list []string, s string) bool {
	return anyFunc(list, func(x string) bool { return x == s })
}

func anyFunc(list []string, f func(string) bool) bool {
	for _, x := range list {
		if f(x) {
			return true
		}
	}
	return false
}
