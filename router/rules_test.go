package router

import (
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
	rs, err := NewRules(rules, teams, sh)
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
			r, name := rs.Route(tc.f)
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
		_, err := NewRules([]Rule{tc.rule}, teams, time.UTC)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewRules(%+v) = %v, want an error containing %q", tc.rule, err, tc.want)
		}
	}
}
