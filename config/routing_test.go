package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"switchboard/router"
)

// rulesBase has the teams, calendar and SLA policy the routing tests name.
const rulesBase = slaBase + cnSupport + "sla_policies:\n  - {name: vip, first_response: 5m}\n"

func TestLoadRoutingRules(t *testing.T) {
	c, err := load(t, rulesBase+`routing_rules:
  - name: 非工作时间 / after hours
    when:
      channel: [webchat]
      regex: ["退(货|款)", "(?i)refund"]
      customer_tags: [vip]
      asset_category: [printer]
      not: {business_hours: true, calendar: cn-support}
    then:
      tags: [after-hours]
      sla_policy: vip
      auto_reply: {zh: 您好，我们的工作时间是工作日 9:00-18:00。, en: "Hello, we are open 9:00-18:00 on working days."}
    continue: true
`)
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	want := []router.Rule{{Name: "非工作时间 / after hours", Continue: true,
		When: router.Match{Channels: []string{"webchat"}, Regex: []string{"退(货|款)", "(?i)refund"},
			Tags: []string{"vip"}, AssetCategories: []string{"printer"},
			Not: &router.Match{BusinessHours: &yes, Calendar: "cn-support"}},
		Then: router.Route{Tags: []string{"after-hours"}, SLAPolicy: "vip",
			AutoReply: &router.AutoReply{ZH: "您好，我们的工作时间是工作日 9:00-18:00。", EN: "Hello, we are open 9:00-18:00 on working days."}}}}
	if !reflect.DeepEqual(c.RoutingRules, want) {
		t.Errorf("routing_rules\n%+v\nwant\n%+v", c.RoutingRules, want)
	}
	rs, err := router.NewRules(c.RoutingRules, c.Teams, c.Location, router.RuleOptions{Calendars: c.BusinessCalendars, SLAPolicies: c.SLAPolicies})
	if err != nil {
		t.Fatal(err)
	}
	sunday := time.Date(2026, 11, 22, 10, 0, 0, 0, c.Location)
	f := router.Facts{Channel: "webchat", Text: "我要退货", Tags: []string{"vip"}, AssetCategory: "printer", At: sunday}
	if _, names := rs.Route(f); len(names) != 1 {
		t.Errorf("on a Sunday the rule matched %q, want it to", names)
	}
	f.At = sunday.AddDate(0, 0, 1)
	if _, names := rs.Route(f); len(names) != 0 {
		t.Errorf("on a Monday at 10:00 the rule matched %q, want not", names)
	}
}

func TestLoadRoutingRulesErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // lines of the error after the file name
	}{
		{
			name: "every error names the rule",
			doc: rulesBase + `routing_rules:
  - name: 售前 / pre-sales
    when: {keywords: [价格]}
    then: {team: sales}
  - name: 非工作时间 / after hours
    when: {regex: ["退(货"], business_hours: false}
    then: {sla_policy: gold, auto_reply: {}}
  - when: {channel: [qr]}
    then: {team: support}
  - name: 售前 / pre-sales
    when: {customer_tags: [vip]}
`,
			want: []string{
				"routing_rules[1] (\"非工作时间 / after hours\").when.regex[0]: error parsing regexp: missing closing ): `退(货`",
				`routing_rules[1] ("非工作时间 / after hours").when.calendar: business_hours needs a calendar (an id under calendars:)`,
				`routing_rules[1] ("非工作时间 / after hours").then.sla_policy: unknown SLA policy "gold" (a name under sla_policies:)`,
				`routing_rules[1] ("非工作时间 / after hours").then.auto_reply: give the text in zh, en or both`,
				`routing_rules[2]: every rule needs a name`,
				`routing_rules[3] ("售前 / pre-sales").name: routing_rules[0] has this name too; names must differ`,
				`routing_rules[3] ("售前 / pre-sales").then: does nothing: set team, skills, priority, overflow, sla_policy, tags or auto_reply (or continue: true)`,
			},
		},
		{
			name: "a calendar that failed is not also unknown",
			doc: slaBase + cnSupport + `  - {id: broken, hours: {mon: "9-18"}}
routing_rules:
  - {name: r, when: {business_hours: true, calendar: broken}, then: {team: support}}
`,
			want: []string{`calendars[1].hours.mon: "9-18" is not a window like 09:00-18:00`},
		},
		{
			name: "an unknown key in a rule",
			doc:  rulesBase + "routing_rules:\n  - {name: r, when: {regexp: [x]}, then: {team: support}}\n",
			want: []string{"routing_rules[0].when.regexp: unknown key (line 11)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.doc)
			if err == nil {
				t.Fatalf("Load succeeded, want error\n%s", strings.Join(tt.want, "\n"))
			}
			_, got, _ := strings.Cut(err.Error(), "\n")
			if want := strings.Join(tt.want, "\n"); got != want {
				t.Errorf("error\n%s\nwant\n%s", got, want)
			}
		})
	}
}
