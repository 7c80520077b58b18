package router

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"switchboard/session"
	"switchboard/tickets"
)

// Limits on what a rule's actions carry.
const (
	// MaxAutoReply bounds each language of an auto-reply, in characters.
	MaxAutoReply = 1000
	// MaxTagLen bounds a customer tag, in characters.
	MaxTagLen = 50
)

// Rule routes conversations that match When to Then. Rules are tried in
// order and the first match stops the search, unless the rule sets
// Continue: then the following rules are tried too, and every match adds
// to the route (see Rules.Route). A conversation no rule matches goes to
// the first team at normal priority.
type Rule struct {
	// Name identifies the rule; it is required and unique.
	Name string `yaml:"name"`
	When Match  `yaml:"when"`
	Then Route  `yaml:"then"`
	// Continue goes on to the following rules after this one matched
	// ("all-match"); without it this match is the last ("first-match").
	Continue bool `yaml:"continue"`
}

// Match is a rule's condition. Every field that is set must hold; within
// a field, any listed value may match. Keywords match the first message,
// case-insensitively; a region matches itself and its subdivisions ("CN"
// matches "CN-31"); an asset ending in "*" matches by prefix.
type Match struct {
	Channels []string `yaml:"channel"`
	Accounts []string `yaml:"account"`
	Keywords []string `yaml:"keywords"`
	// Regex lists regular expressions (Go's RE2 syntax) searched for in
	// the first message; "(?i)" makes one case-insensitive.
	Regex  []string `yaml:"regex"`
	Levels []string `yaml:"customer_level"`
	// Tags match when the customer has any of them.
	Tags    []string `yaml:"customer_tags"`
	Regions []string `yaml:"region"`
	Assets  []string `yaml:"asset"`
	// AssetCategories match the category of a QR code's asset, itself or
	// a subcategory below a "/" ("printer" matches "printer/laser").
	AssetCategories []string `yaml:"asset_category"`
	// Hours is a local time window "09:00-18:00"; it may wrap midnight.
	Hours string `yaml:"hours"`
	// Weekdays lists days by their first three letters: mon … sun.
	Weekdays []string `yaml:"weekdays"`
	// BusinessHours, when set, holds while Calendar is open (true) or
	// closed (false) at the message's time. It needs Calendar.
	BusinessHours *bool `yaml:"business_hours"`
	// Calendar names a calendar of the configuration's calendars:.
	Calendar string `yaml:"calendar"`
	// Not holds conditions that must not all hold. It cannot have a Not
	// of its own.
	Not *Match `yaml:"not"`
}

// Route is where a matching conversation goes, and what else happens to
// it.
type Route struct {
	Team     string           `yaml:"team"`
	Skills   []string         `yaml:"skills"`
	Priority tickets.Priority `yaml:"priority"`
	// OverflowAfter moves a conversation that waited this long to
	// OverflowTeam.
	OverflowAfter time.Duration `yaml:"overflow_after"`
	OverflowTeam  string        `yaml:"overflow_team"`
	// SLAPolicy names the ticket's SLA policy (sla_policies[].name),
	// chosen instead of the first policy whose conditions hold.
	SLAPolicy string `yaml:"sla_policy"`
	// Tags are added to the customer.
	Tags []string `yaml:"tags"`
	// AutoReply is sent to the customer once, when the rule routes a new
	// conversation.
	AutoReply *AutoReply `yaml:"auto_reply"`
}

// AutoReply is a text for the customer in Chinese, English or both.
type AutoReply struct {
	ZH string `yaml:"zh"`
	EN string `yaml:"en"`
}

// In returns the text in lang ("zh", or anything else for English), or in
// the other language when there is none in lang; "" for nil.
func (a *AutoReply) In(lang string) string {
	if a == nil {
		return ""
	}
	first, other := a.EN, a.ZH
	if lang == "zh" {
		first, other = a.ZH, a.EN
	}
	if first != "" {
		return first
	}
	return other
}

// Facts are what rules look at.
type Facts struct {
	Channel, Account, Text, Level, Region, Asset string
	// Tags are the customer's tags.
	Tags []string
	// AssetCategory is the category of the QR code's asset.
	AssetCategory string
	// At is the message's time.
	At time.Time
}

// RuleOptions are what rules are checked against besides the teams.
type RuleOptions struct {
	// Calendars are the business-hours calendars by id (calendars:). A
	// nil calendar counts as known and always open.
	Calendars map[string]*tickets.Calendar
	// SLAPolicies are the configured SLA policies (sla_policies:), which
	// sla_policy actions name.
	SLAPolicies []tickets.SLAPolicy
}

// Rules is a validated, ready rule list.
type Rules struct {
	rules []compiled
	def   Route
	loc   *time.Location
}

type compiled struct {
	Rule
	when cond
	// setsPriority is whether Then named a priority (it holds Normal when
	// it did not).
	setsPriority bool
}

// cond is a Match made ready to test.
type cond struct {
	Match
	keywords []string // lower case
	regex    []*regexp.Regexp
	from, to int // minutes of the day; -1 when no window
	days     map[time.Weekday]bool
	calendar *tickets.Calendar
	not      *cond
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// NewRules validates rules against the known teams, calendars and SLA
// policies; hours and weekdays are read in loc. Every error starts with
// the rule's index and name and the key's path:
// `routing_rules[2] ("after hours").when.regex[0]: …`.
func NewRules(rules []Rule, teams []session.Team, loc *time.Location, opts RuleOptions) (*Rules, error) {
	c := checker{teams: map[string]bool{}, policies: map[string]bool{}, calendars: opts.Calendars}
	for _, t := range teams {
		c.teams[t.ID] = true
	}
	for _, p := range opts.SLAPolicies {
		c.policies[p.Name] = true
	}
	rs := &Rules{loc: loc, def: Route{Priority: tickets.Normal}}
	if len(teams) > 0 {
		rs.def.Team = teams[0].ID
	}
	names := map[string]int{} // index by name
	for i, r := range rules {
		c.at = fmt.Sprintf("routing_rules[%d]", i)
		if strings.TrimSpace(r.Name) == "" {
			c.bad("", "every rule needs a name")
		} else {
			c.at += fmt.Sprintf(" (%q)", r.Name)
			if j, dup := names[r.Name]; dup {
				c.bad(".name", "routing_rules[%d] has this name too; names must differ", j)
			} else {
				names[r.Name] = i
			}
		}
		rs.rules = append(rs.rules, c.rule(r))
	}
	return rs, errors.Join(c.errs...)
}

// checker collects the errors of NewRules.
type checker struct {
	teams, policies map[string]bool
	calendars       map[string]*tickets.Calendar
	at              string // the current rule: routing_rules[i] ("name")
	errs            []error
}

func (c *checker) bad(path, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s%s: %s", c.at, path, fmt.Sprintf(format, args...)))
}

func (c *checker) wrap(path string, err error) {
	c.errs = append(c.errs, fmt.Errorf("%s%s: %w", c.at, path, err))
}

func (c *checker) rule(r Rule) compiled {
	out := compiled{Rule: r, when: c.cond(".when", r.When, false), setsPriority: r.Then.Priority != ""}
	t := r.Then
	if t.Team != "" && !c.teams[t.Team] {
		c.bad(".then.team", "unknown team %q", t.Team)
	}
	if t.OverflowTeam != "" && !c.teams[t.OverflowTeam] {
		c.bad(".then.overflow_team", "unknown team %q", t.OverflowTeam)
	}
	if (t.OverflowAfter > 0) != (t.OverflowTeam != "") {
		c.bad(".then", "overflow_after and overflow_team go together")
	}
	p, err := tickets.ParsePriority(string(t.Priority))
	if err != nil {
		c.wrap(".then.priority", err)
	}
	out.Then.Priority = p
	if t.SLAPolicy != "" && !c.policies[t.SLAPolicy] {
		c.bad(".then.sla_policy", "unknown SLA policy %q (a name under sla_policies:)", t.SLAPolicy)
	}
	for j, tag := range t.Tags {
		c.tag(fmt.Sprintf(".then.tags[%d]", j), tag)
	}
	if a := t.AutoReply; a != nil {
		if a.ZH == "" && a.EN == "" {
			c.bad(".then.auto_reply", "give the text in zh, en or both")
		}
		for _, l := range []struct{ lang, text string }{{"zh", a.ZH}, {"en", a.EN}} {
			if n := utf8.RuneCountInString(l.text); n > MaxAutoReply {
				c.bad(".then.auto_reply."+l.lang, "%d characters, at most %d", n, MaxAutoReply)
			}
		}
	}
	if !r.Continue && t.Team == "" && len(t.Skills) == 0 && t.Priority == "" && t.OverflowTeam == "" &&
		t.OverflowAfter == 0 && t.SLAPolicy == "" && len(t.Tags) == 0 && t.AutoReply == nil {
		c.bad(".then", "does nothing: set team, skills, priority, overflow, sla_policy, tags or auto_reply (or continue: true)")
	}
	return out
}

// cond checks m, found at path, and readies it; nested is whether m is
// already a Not.
func (c *checker) cond(path string, m Match, nested bool) cond {
	out := cond{Match: m, from: -1, to: -1}
	for _, k := range m.Keywords {
		out.keywords = append(out.keywords, strings.ToLower(k))
	}
	for j, s := range m.Regex {
		re, err := regexp.Compile(s)
		if err != nil {
			c.wrap(fmt.Sprintf("%s.regex[%d]", path, j), err)
			continue
		}
		out.regex = append(out.regex, re)
	}
	for j, tag := range m.Tags {
		c.tag(fmt.Sprintf("%s.customer_tags[%d]", path, j), tag)
	}
	if m.Hours != "" {
		f, t, err := parseWindow(m.Hours)
		if err != nil {
			c.wrap(path+".hours", err)
		}
		out.from, out.to = f, t
	}
	if len(m.Weekdays) > 0 {
		out.days = map[time.Weekday]bool{}
		for _, d := range m.Weekdays {
			wd, ok := weekdays[strings.ToLower(d)]
			if !ok {
				c.bad(path+".weekdays", "%q is not mon … sun", d)
			}
			out.days[wd] = true
		}
	}
	switch cal, known := c.calendars[m.Calendar]; {
	case m.BusinessHours != nil && m.Calendar == "":
		c.bad(path+".calendar", "business_hours needs a calendar (an id under calendars:)")
	case m.Calendar != "" && m.BusinessHours == nil:
		c.bad(path+".business_hours", "calendar %q is used only with business_hours: true or false", m.Calendar)
	case m.Calendar != "" && !known:
		c.bad(path+".calendar", "unknown calendar %q", m.Calendar)
	default:
		out.calendar = cal
	}
	if m.Not != nil {
		switch {
		case nested:
			c.bad(path+".not", "a not cannot hold another not")
		case m.Not.empty():
			c.bad(path+".not", "is empty; give the conditions that must not hold")
		default:
			not := c.cond(path+".not", *m.Not, true)
			out.not = &not
		}
	}
	return out
}

// tag checks one customer tag at path.
func (c *checker) tag(path, tag string) {
	if tag == "" || strings.TrimSpace(tag) != tag || utf8.RuneCountInString(tag) > MaxTagLen {
		c.bad(path, "%q is not a tag: not empty, no spaces around it, at most %d characters", tag, MaxTagLen)
	}
}

// empty reports whether m sets no condition.
func (m *Match) empty() bool {
	return len(m.Channels)+len(m.Accounts)+len(m.Keywords)+len(m.Regex)+len(m.Levels)+len(m.Tags)+
		len(m.Regions)+len(m.Assets)+len(m.AssetCategories)+len(m.Weekdays) == 0 &&
		m.Hours == "" && m.BusinessHours == nil && m.Calendar == "" && m.Not == nil
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

// Route returns the route for f and the names of the rules that matched,
// in order (none: the default route). Evaluation stops at the first match
// without continue. The matches merge in order: a later match's team,
// priority, sla_policy and overflow replace an earlier one's; skills and
// tags accumulate without duplicates; the last auto_reply wins. No team
// means the first team, no priority normal.
func (rs *Rules) Route(f Facts) (Route, []string) {
	at := f.At.In(rs.loc)
	text := strings.ToLower(f.Text)
	var route Route
	var names []string
	for i := range rs.rules {
		r := &rs.rules[i]
		if !r.when.holds(f, text, at) {
			continue
		}
		names = append(names, r.Name)
		r.addTo(&route)
		if !r.Continue {
			break
		}
	}
	if route.Team == "" {
		route.Team = rs.def.Team
	}
	if route.Priority == "" {
		route.Priority = tickets.Normal
	}
	return route, names
}

// addTo merges the rule's actions into route.
func (r *compiled) addTo(route *Route) {
	t := r.Then
	if t.Team != "" {
		route.Team = t.Team
	}
	if r.setsPriority {
		route.Priority = t.Priority
	}
	if t.OverflowTeam != "" {
		route.OverflowAfter, route.OverflowTeam = t.OverflowAfter, t.OverflowTeam
	}
	if t.SLAPolicy != "" {
		route.SLAPolicy = t.SLAPolicy
	}
	route.Skills = appendNew(route.Skills, t.Skills)
	route.Tags = appendNew(route.Tags, t.Tags)
	if t.AutoReply != nil {
		route.AutoReply = t.AutoReply
	}
}

// teamRule returns the name of the matched rule that decided the team:
// the last of names that names a team or stopped the search. It is ""
// when only continue rules without a team matched, and a team the channel
// suggests (withTeamHint) may then take the conversation.
func (rs *Rules) teamRule(names []string) string {
	decided := ""
	for _, name := range names {
		i := slices.IndexFunc(rs.rules, func(r compiled) bool { return r.Name == name })
		if i >= 0 && (rs.rules[i].Then.Team != "" || !rs.rules[i].Continue) {
			decided = name
		}
	}
	return decided
}

// appendNew appends to list the values of add it lacks.
func appendNew(list, add []string) []string {
	for _, s := range add {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

// holds reports whether f satisfies the condition; text is f.Text in
// lower case and at f.At in the rules' zone.
func (c *cond) holds(f Facts, text string, at time.Time) bool {
	return c.own(f, text, at) && (c.not == nil || !c.not.own(f, text, at))
}

// own tests every field but Not.
func (c *cond) own(f Facts, text string, at time.Time) bool {
	switch {
	case len(c.Channels) > 0 && !slices.Contains(c.Channels, f.Channel),
		len(c.Accounts) > 0 && !slices.Contains(c.Accounts, f.Account),
		len(c.Levels) > 0 && !slices.Contains(c.Levels, f.Level),
		len(c.keywords) > 0 && !slices.ContainsFunc(c.keywords, func(k string) bool { return strings.Contains(text, k) }),
		len(c.regex) > 0 && !slices.ContainsFunc(c.regex, func(re *regexp.Regexp) bool { return re.MatchString(f.Text) }),
		len(c.Tags) > 0 && !slices.ContainsFunc(c.Tags, func(t string) bool { return slices.Contains(f.Tags, t) }),
		len(c.Regions) > 0 && !slices.ContainsFunc(c.Regions, func(rg string) bool { return within(f.Region, rg, "-") }),
		len(c.Assets) > 0 && !slices.ContainsFunc(c.Assets, func(a string) bool { return assetMatches(a, f.Asset) }),
		len(c.AssetCategories) > 0 && !slices.ContainsFunc(c.AssetCategories, func(a string) bool { return within(f.AssetCategory, a, "/") }),
		c.days != nil && !c.days[at.Weekday()],
		c.from >= 0 && !inWindow(at, c.from, c.to),
		c.BusinessHours != nil && c.calendar.Open(f.At) != *c.BusinessHours:
		return false
	}
	return true
}

// within reports whether value is parent or below it after sep.
func within(value, parent, sep string) bool {
	return value == parent || strings.HasPrefix(value, parent+sep)
}

// assetMatches reports whether asset matches pattern: equal, or by
// prefix when pattern ends in "*".
func assetMatches(pattern, asset string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return asset != "" && strings.HasPrefix(asset, p)
	}
	return asset == pattern
}

// inWindow reports whether at's time of day is in [from, to), in minutes;
// from > to wraps midnight.
func inWindow(at time.Time, from, to int) bool {
	m := at.Hour()*60 + at.Minute()
	if from > to {
		return m >= from || m < to
	}
	return m >= from && m < to
}
