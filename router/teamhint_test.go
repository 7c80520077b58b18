package router

import (
	"testing"

	"switchboard/session"
	"switchboard/tickets"
)

func TestWithTeamHint(t *testing.T) {
	r := &Router{cfg: Config{Teams: []session.Team{{ID: "support"}, {ID: "lifts"}}}}
	def := Route{Team: "support", Priority: tickets.Normal}
	rule := Route{Team: "support", Priority: tickets.High}
	cases := []struct {
		name       string
		route      Route
		rule, hint string
		want       string
	}{
		{"no rule, known team", def, "", "lifts", "lifts"},
		{"no rule, unknown team", def, "", "nobody", "support"},
		{"no rule, no team", def, "", "", "support"},
		{"a rule wins", rule, "vip", "lifts", "support"},
	}
	for _, tc := range cases {
		got := r.withTeamHint(tc.route, tc.rule, tc.hint)
		if got.Team != tc.want || got.Priority != tc.route.Priority {
			t.Errorf("%s: %+v, want team %s with the route's priority", tc.name, got, tc.want)
		}
	}
}
