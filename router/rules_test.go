package router

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/session"
	"switchboard/tickets"
)

func TestRulesRoute(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	teams := []session.Team{{ID: "support"}, {ID: "billing"}, {ID: "vip"}, {ID: "night"}, {ID: "sh"}, {ID: "devices"}}
	rules := []Rule{
		{Name: "vip", When: Match{Levels: []string{"vip"}}, Then: Route{Team: "vip", Priority: "urgent"}},
		{Name: "refund", When: Match{Keywords: []string{"退款", "Refund"}}, Then: Route{Team: "billing", Skills: []string{"refund"}, Priority: "high"}},
		{Name: "shanghai", When: Match{Regions: []string{"CN-31"}, Channels: []string{"webchat"}}, Then: Route{Team: "sh"}},
		{Name: "printers", When: Match{Assets: []string{"printer-*"}}, Then: Route{Team: "devices", Priority: "low"}},
		{Name: "night", When: Match{Hours: "22:00-06:00", Weekdays: []string{"mon", "tue", "wed", "thu", "fri"}}, Then: Route{Team: "night"}},
	}
	rs, err := NewRules(rules, teams, sh, RuleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 23, 10, 0, 0, 0, sh)   // Monday 10:00
	night := time.Date(2026, 11, 23, 23, 0, 0, 0, sh) // Monday 23:00
	weekendNight := time.Date(2026, 11, 22, 23, 0, 0, 0, sh)
	for _, tc := range []struct {
		name     string
		f        Facts
		team     string
		priority tickets.Priority
		rule     string
	}{
		{"default", Facts{Channel: "webchat", Text: "你好", At: day}, "support", tickets.Normal, ""},
		{"level wins first", Facts{Level: "vip", Text: "退款", At: day}, "vip", tickets.Urgent, "vip"},
		{"keyword, Chinese", Facts{Text: "我要退款谢谢", At: day}, "billing", tickets.High, "refund"},
		{"keyword, case-insensitive", Facts{Text: "REFUND please", At: day}, "billing", tickets.High, "refund"},
		{"region subdivision", Facts{Channel: "webchat", Region: "CN-31", At: day}, "sh", tickets.Normal, "shanghai"},
		{"region other channel", Facts{Channel: "email", Region: "CN-31", At: day}, "support", tickets.Normal, ""},
		{"region prefix is not a match", Facts{Channel: "webchat", Region: "CN-310", At: day}, "support", tickets.Normal, ""},
		{"asset prefix", Facts{Asset: "printer-3F-01", At: day}, "devices", tickets.Low, "printers"},
		{"asset other", Facts{Asset: "scanner-1", At: day}, "support", tickets.Normal, ""},
		{"night across midnight", Facts{At: night}, "night", tickets.Normal, "night"},
		{"early morning", Facts{At: day.Add(-5 * time.Hour)}, "night", tickets.Normal, "night"},
		{"weekend night", Facts{At: weekendNight}, "support", tickets.Normal, ""},
		{"hours in the rules' zone", Facts{At: night.UTC()}, "night", tickets.Normal, "night"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, names := rs.Route(tc.f)
			name := strings.Join(names, ",")
			if r.Team != tc.team || r.Priority != tc.priority || name != tc.rule {
				t.Fatalf("Route = %s/%s by %q, want %s/%s by %q", r.Team, r.Priority, name, tc.team, tc.priority, tc.rule)
			}
		})
	}
}

func TestRulesValidation(t *testing.T) {
	teams := []session.Team{{ID: "support"}}
	for _, tc := range []struct {
		rule Rule
		want string
	}{
		{Rule{Then: Route{Team: "ghost"}}, "routing_rules[0].then.team: unknown team"},
		{Rule{Then: Route{OverflowAfter: time.Minute}}, "overflow_after and overflow_team go together"},
		{Rule{Then: Route{Priority: "asap"}}, "routing_rules[0].then.priority"},
		{Rule{When: Match{Hours: "9-18"}}, "routing_rules[0].when.hours"},
		{Rule{When: Match{Weekdays: []string{"monday"}}}, "routing_rules[0].when.weekdays"},
	} {
		_, err := NewRules([]Rule{tc.rule}, teams, time.UTC, RuleOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewRules(%+v) = %v, want an error containing %q", tc.rule, err, tc.want)
		}
	}
}

// cnCalendar is open 09:00-18:00 on weekdays in Shanghai, with China's
// holidays and make-up working days.
func cnCalendar(t *testing.T) *tickets.Calendar {
	t.Helper()
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	cal, err := tickets.NewCalendar(tickets.CalendarConfig{ID: "cn-support",
		Hours: map[string]string{"mon-fri": "09:00-18:00"}, Include: []string{"cn"}}, sh)
	if err != nil {
		t.Fatal(err)
	}
	return cal
}

func TestRulesConditions(t *testing.T) {
	cal := cnCalendar(t)
	sh := cal.Location()
	opts := RuleOptions{Calendars: map[string]*tickets.Calendar{"cn-support": cal}}
	monday := func(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, sh) }
	makeUpSaturday := time.Date(2026, 10, 10, 10, 0, 0, 0, sh)
	nationalDay := time.Date(2026, 10, 2, 10, 0, 0, 0, sh) // a Friday
	open, closed := true, false
	inHours := Match{BusinessHours: &open, Calendar: "cn-support"}
	outOfHours := Match{BusinessHours: &closed, Calendar: "cn-support"}
	refund := Match{Regex: []string{"退(货|款)", "(?i)refund"}}
	tests := []struct {
		name string
		when Match
		f    Facts
		want bool
	}{
		{"regex, Chinese", refund, Facts{Text: "你好，我想退货"}, true},
		{"regex, the other branch", refund, Facts{Text: "退款什么时候到账"}, true},
		{"regex, no branch", refund, Facts{Text: "退换货"}, false},
		{"regex, case-insensitive flag", refund, Facts{Text: "REFUND please"}, true},
		{"regex is case-sensitive without the flag", Match{Regex: []string{"Refund"}}, Facts{Text: "refund"}, false},
		{"regex anchored", Match{Regex: []string{`^\d{6}$`}}, Facts{Text: "订单 123456"}, false},
		{"regex and keywords both hold", Match{Regex: []string{"退货"}, Keywords: []string{"急"}}, Facts{Text: "急！退货"}, true},
		{"regex holds, keywords not", Match{Regex: []string{"退货"}, Keywords: []string{"急"}}, Facts{Text: "退货"}, false},

		{"tags, one of them", Match{Tags: []string{"vip", "blacklist"}}, Facts{Tags: []string{"new", "vip"}}, true},
		{"tags, none of them", Match{Tags: []string{"vip", "blacklist"}}, Facts{Tags: []string{"new"}}, false},
		{"tags, customer has none", Match{Tags: []string{"vip"}}, Facts{}, false},
		{"tags are exact", Match{Tags: []string{"vip"}}, Facts{Tags: []string{"VIP", "vip2"}}, false},

		{"asset category", Match{AssetCategories: []string{"elevator", "printer"}}, Facts{AssetCategory: "printer"}, true},
		{"asset subcategory", Match{AssetCategories: []string{"printer"}}, Facts{AssetCategory: "printer/laser"}, true},
		{"asset category is not a prefix", Match{AssetCategories: []string{"printer"}}, Facts{AssetCategory: "printers"}, false},
		{"asset category, none", Match{AssetCategories: []string{"printer"}}, Facts{Asset: "printer"}, false},

		{"business hours, 08:59", inHours, Facts{At: monday(8, 59)}, false},
		{"business hours, 09:00", inHours, Facts{At: monday(9, 0)}, true},
		{"business hours, 17:59", inHours, Facts{At: monday(17, 59)}, true},
		{"business hours, 18:00", inHours, Facts{At: monday(18, 0)}, false},
		{"business hours, in UTC", inHours, Facts{At: monday(9, 0).UTC()}, true},
		{"business hours, make-up Saturday", inHours, Facts{At: makeUpSaturday}, true},
		{"business hours, holiday weekday", inHours, Facts{At: nationalDay}, false},
		{"business hours, Sunday", inHours, Facts{At: monday(10, 0).AddDate(0, 0, -1)}, false},
		{"after hours, 08:59", outOfHours, Facts{At: monday(8, 59)}, true},
		{"after hours, 09:00", outOfHours, Facts{At: monday(9, 0)}, false},
		{"after hours, 17:59", outOfHours, Facts{At: monday(17, 59)}, false},
		{"after hours, 18:00", outOfHours, Facts{At: monday(18, 0)}, true},
		{"after hours, holiday weekday", outOfHours, Facts{At: nationalDay}, true},
		{"after hours, make-up Saturday", outOfHours, Facts{At: makeUpSaturday}, false},

		{"not, holds", Match{Channels: []string{"webchat"}, Not: &Match{Tags: []string{"blacklist"}}},
			Facts{Channel: "webchat", Tags: []string{"vip"}}, true},
		{"not, the excluded tag", Match{Channels: []string{"webchat"}, Not: &Match{Tags: []string{"blacklist"}}},
			Facts{Channel: "webchat", Tags: []string{"vip", "blacklist"}}, false},
		{"not, own condition fails", Match{Channels: []string{"webchat"}, Not: &Match{Tags: []string{"blacklist"}}},
			Facts{Channel: "email"}, false},
		{"not business hours, 18:00", Match{Not: &inHours}, Facts{At: monday(18, 0)}, true},
		{"not business hours, 10:00", Match{Not: &inHours}, Facts{At: monday(10, 0)}, false},
		{"not all of two, one holds", Match{Not: &Match{Channels: []string{"email"}, Levels: []string{"vip"}}},
			Facts{Channel: "email", Level: "normal"}, true},
		{"not all of two, both hold", Match{Not: &Match{Channels: []string{"email"}, Levels: []string{"vip"}}},
			Facts{Channel: "email", Level: "vip"}, false},
		{"not a regex", Match{Not: &Match{Regex: []string{"(?i)spam"}}}, Facts{Text: "SPAM offer"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The rules' own zone is UTC: calendars read their own.
			rs, err := NewRules([]Rule{{Name: "r", When: tc.when, Then: Route{Team: "vip"}}},
				[]session.Team{{ID: "support"}, {ID: "vip"}}, time.UTC, opts)
			if err != nil {
				t.Fatal(err)
			}
			if tc.f.At.IsZero() {
				tc.f.At = monday(10, 0)
			}
			r, names := rs.Route(tc.f)
			if got := len(names) == 1; got != tc.want || (r.Team == "vip") != tc.want {
				t.Errorf("matched = %v (%v, team %s), want %v", got, names, r.Team, tc.want)
			}
		})
	}
}

func TestRulesMerge(t *testing.T) {
	teams := []session.Team{{ID: "support"}, {ID: "aftersales"}, {ID: "security"}, {ID: "sales"}}
	opts := RuleOptions{SLAPolicies: []tickets.SLAPolicy{{Name: "vip"}, {Name: "returns"}}}
	vipReply := &AutoReply{ZH: "尊敬的VIP客户，您好", EN: "Dear VIP customer"}
	returnReply := &AutoReply{EN: "We received your return request"}
	rules := []Rule{
		{Name: "黑名单 / blacklist", When: Match{Tags: []string{"blacklist"}}, Then: Route{Team: "security", Priority: "low"}},
		{Name: "VIP", When: Match{Levels: []string{"vip"}}, Continue: true,
			Then: Route{Priority: "urgent", Skills: []string{"vip"}, Tags: []string{"priority-care"}, SLAPolicy: "vip",
				OverflowAfter: 5 * time.Minute, OverflowTeam: "sales", AutoReply: vipReply}},
		{Name: "退货 → 售后", When: Match{Regex: []string{"退(货|款)"}},
			Then: Route{Team: "aftersales", Skills: []string{"refund", "vip"}, Tags: []string{"退货", "priority-care"},
				SLAPolicy: "returns", OverflowAfter: 10 * time.Minute, OverflowTeam: "support", AutoReply: returnReply}},
		{Name: "everything else", Then: Route{Team: "sales", Priority: "low"}},
	}
	rs, err := NewRules(rules, teams, time.UTC, opts)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		f     Facts
		want  Route
		names []string
	}{
		{"first match stops", Facts{Level: "vip", Tags: []string{"blacklist"}, Text: "退货"},
			Route{Team: "security", Priority: tickets.Low}, []string{"黑名单 / blacklist"}},
		{"continue, then a stop: merged", Facts{Level: "vip", Text: "我要退货"},
			Route{Team: "aftersales", Priority: tickets.Urgent, Skills: []string{"vip", "refund"},
				Tags: []string{"priority-care", "退货"}, SLAPolicy: "returns",
				OverflowAfter: 10 * time.Minute, OverflowTeam: "support", AutoReply: returnReply},
			[]string{"VIP", "退货 → 售后"}},
		{"a later priority overrides, an earlier auto-reply stays", Facts{Level: "vip", Text: "你好"},
			Route{Team: "sales", Priority: tickets.Low, Skills: []string{"vip"}, Tags: []string{"priority-care"},
				SLAPolicy: "vip", OverflowAfter: 5 * time.Minute, OverflowTeam: "sales", AutoReply: vipReply},
			[]string{"VIP", "everything else"}},
		{"no priority named: normal", Facts{Text: "退款"},
			Route{Team: "aftersales", Priority: tickets.Normal, Skills: []string{"refund", "vip"},
				Tags: []string{"退货", "priority-care"}, SLAPolicy: "returns",
				OverflowAfter: 10 * time.Minute, OverflowTeam: "support", AutoReply: returnReply},
			[]string{"退货 → 售后"}},
		{"catch-all", Facts{Text: "你好"}, Route{Team: "sales", Priority: tickets.Low}, []string{"everything else"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // merging must not change the rules
				got, names := rs.Route(tc.f)
				if !reflect.DeepEqual(got, tc.want) || !slices.Equal(names, tc.names) {
					t.Fatalf("Route =\n%+v by %q\nwant\n%+v by %q", got, names, tc.want, tc.names)
				}
			}
		})
	}

	t.Run("continue only: the default team", func(t *testing.T) {
		rs, err := NewRules(rules[1:2], teams, time.UTC, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, names := rs.Route(Facts{Level: "vip"})
		if got.Team != "support" || got.Priority != tickets.Urgent || !slices.Equal(names, []string{"VIP"}) {
			t.Errorf("Route = %+v by %q, want the first team at urgent by VIP", got, names)
		}
	})
}

func TestRulesTeamRule(t *testing.T) {
	teams := []session.Team{{ID: "support"}, {ID: "vip"}}
	rs, err := NewRules([]Rule{
		{Name: "tag", Continue: true, Then: Route{Tags: []string{"seen"}}},
		{Name: "vip team", Continue: true, Then: Route{Team: "vip"}},
		{Name: "priority", Then: Route{Priority: "high"}},
	}, teams, time.UTC, RuleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{nil, ""},
		{[]string{"tag"}, ""}, // a continue rule without a team leaves the team to the hint
		{[]string{"tag", "vip team"}, "vip team"},
		{[]string{"tag", "priority"}, "priority"}, // a stop decides, as before continue existed
		{[]string{"tag", "vip team", "priority"}, "priority"},
	} {
		if got := rs.teamRule(tc.names); got != tc.want {
			t.Errorf("teamRule(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}

func TestAutoReplyIn(t *testing.T) {
	both := &AutoReply{ZH: "您好", EN: "Hello"}
	zhOnly := &AutoReply{ZH: "您好"}
	var none *AutoReply
	for _, tc := range []struct {
		a          *AutoReply
		lang, want string
	}{
		{both, "zh", "您好"}, {both, "en", "Hello"}, {both, "", "Hello"},
		{zhOnly, "en", "您好"}, {zhOnly, "zh", "您好"}, {none, "zh", ""},
	} {
		if got := tc.a.In(tc.lang); got != tc.want {
			t.Errorf("%+v.In(%q) = %q, want %q", tc.a, tc.lang, got, tc.want)
		}
	}
}

func TestRulesValidationMessages(t *testing.T) {
	teams := []session.Team{{ID: "support"}}
	opts := RuleOptions{Calendars: map[string]*tickets.Calendar{"cn-support": cnCalendar(t)},
		SLAPolicies: []tickets.SLAPolicy{{Name: "vip"}}}
	yes := true
	team := Route{Team: "support"}
	ok := Rule{Name: "ok", Then: team}
	for _, tc := range []struct {
		name  string
		rules []Rule
		want  []string
	}{
		{"no name", []Rule{ok, {Name: " ", Then: team}},
			[]string{`routing_rules[1]: every rule needs a name`}},
		{"duplicate names", []Rule{ok, {Name: "b", Then: team}, {Name: "ok", Then: team}},
			[]string{`routing_rules[2] ("ok").name: routing_rules[0] has this name too; names must differ`}},
		{"bad regex", []Rule{ok, ok, {Name: "after hours", When: Match{Regex: []string{"退货", "退(货"}}, Then: team}}[1:],
			[]string{"routing_rules[1] (\"after hours\").when.regex[1]: error parsing regexp: missing closing ): `退(货`"}},
		{"business hours without a calendar", []Rule{{Name: "夜间", When: Match{BusinessHours: &yes}, Then: team}},
			[]string{`routing_rules[0] ("夜间").when.calendar: business_hours needs a calendar (an id under calendars:)`}},
		{"calendar without business hours", []Rule{{Name: "c", When: Match{Calendar: "cn-support"}, Then: team}},
			[]string{`routing_rules[0] ("c").when.business_hours: calendar "cn-support" is used only with business_hours: true or false`}},
		{"unknown calendar", []Rule{{Name: "c", When: Match{BusinessHours: &yes, Calendar: "cn"}, Then: team}},
			[]string{`routing_rules[0] ("c").when.calendar: unknown calendar "cn"`}},
		{"unknown team", []Rule{{Name: "退货", Then: Route{Team: "售后"}}},
			[]string{`routing_rules[0] ("退货").then.team: unknown team "售后"`}},
		{"unknown SLA policy", []Rule{{Name: "s", Then: Route{SLAPolicy: "gold"}}},
			[]string{`routing_rules[0] ("s").then.sla_policy: unknown SLA policy "gold" (a name under sla_policies:)`}},
		{"bad tags", []Rule{{Name: "t", When: Match{Tags: []string{""}}, Then: Route{Tags: []string{"vip", " vip", strings.Repeat("标", 51)}}}},
			[]string{
				`routing_rules[0] ("t").when.customer_tags[0]: "" is not a tag: not empty, no spaces around it, at most 50 characters`,
				`routing_rules[0] ("t").then.tags[1]: " vip" is not a tag: not empty, no spaces around it, at most 50 characters`,
				`routing_rules[0] ("t").then.tags[2]: "` + strings.Repeat("标", 51) + `" is not a tag: not empty, no spaces around it, at most 50 characters`,
			}},
		{"empty auto-reply", []Rule{{Name: "a", Then: Route{AutoReply: &AutoReply{}}}},
			[]string{`routing_rules[0] ("a").then.auto_reply: give the text in zh, en or both`}},
		{"long auto-reply", []Rule{{Name: "a", Then: Route{AutoReply: &AutoReply{ZH: strings.Repeat("好", 1001), EN: strings.Repeat("a", 1000)}}}},
			[]string{`routing_rules[0] ("a").then.auto_reply.zh: 1001 characters, at most 1000`}},
		{"then does nothing", []Rule{{Name: "noop", When: Match{Channels: []string{"email"}}}},
			[]string{`routing_rules[0] ("noop").then: does nothing: set team, skills, priority, overflow, sla_policy, tags or auto_reply (or continue: true)`}},
		{"not within not", []Rule{{Name: "n", When: Match{Not: &Match{Channels: []string{"qr"}, Not: &Match{Levels: []string{"vip"}}}}, Then: team}},
			[]string{`routing_rules[0] ("n").when.not.not: a not cannot hold another not`}},
		{"empty not", []Rule{{Name: "n", When: Match{Not: &Match{}}, Then: team}},
			[]string{`routing_rules[0] ("n").when.not: is empty; give the conditions that must not hold`}},
		{"errors inside not", []Rule{{Name: "n", When: Match{Not: &Match{Regex: []string{"("}, BusinessHours: &yes}}, Then: team}},
			[]string{
				"routing_rules[0] (\"n\").when.not.regex[0]: error parsing regexp: missing closing ): `(`",
				`routing_rules[0] ("n").when.not.calendar: business_hours needs a calendar (an id under calendars:)`,
			}},
		{"several errors, in order", []Rule{{Name: "x", When: Match{Hours: "9-18"}, Then: Route{Team: "ghost", Priority: "asap"}}},
			[]string{
				`routing_rules[0] ("x").when.hours: "9" is not a time like 09:00`,
				`routing_rules[0] ("x").then.team: unknown team "ghost"`,
				`routing_rules[0] ("x").then.priority: priority "asap" is not one of urgent, high, normal, low`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRules(tc.rules, teams, time.UTC, opts)
			if err == nil {
				t.Fatalf("NewRules succeeded, want\n%s", strings.Join(tc.want, "\n"))
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("error\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestRulesValid(t *testing.T) {
	teams := []session.Team{{ID: "support"}}
	cal := cnCalendar(t)
	yes := true
	rules := []Rule{
		{Name: "只打标签 / tag only", Continue: true, Then: Route{Tags: []string{"seen"}}},
		{Name: "a no-op that goes on", Continue: true},
		{Name: "after hours", When: Match{Not: &Match{BusinessHours: &yes, Calendar: "cn-support"}},
			Then: Route{AutoReply: &AutoReply{ZH: strings.Repeat("好", 1000)}}},
		{Name: "24×7 calendar", When: Match{BusinessHours: &yes, Calendar: "always"}, Then: Route{Priority: "normal"}},
	}
	opts := RuleOptions{Calendars: map[string]*tickets.Calendar{"cn-support": cal, "always": nil}}
	if _, err := NewRules(rules, teams, time.UTC, opts); err != nil {
		t.Fatal(err)
	}
}
