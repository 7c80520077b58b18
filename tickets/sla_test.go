package tickets

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMatchSLA(t *testing.T) {
	policies := []SLAPolicy{
		{Name: "vip urgent", When: SLAWhen{Priority: []Priority{Urgent}, CustomerLevel: []string{"vip", "svip"}}},
		{Name: "urgent", Priority: Urgent},
		{Name: "phone sales", When: SLAWhen{Channel: []string{"cti"}, Team: []string{"sales"}}},
		{Name: "vip", When: SLAWhen{CustomerLevel: []string{"vip"}}},
		{Name: "high or low", When: SLAWhen{Priority: []Priority{High, Low}}},
		{Name: "rest"},
	}
	for _, tt := range []struct {
		f    SLAFacts
		want string // "" for no match
	}{
		{SLAFacts{Priority: Urgent, Level: "svip"}, "vip urgent"},
		{SLAFacts{Priority: Urgent, Level: "gold"}, "urgent"},
		{SLAFacts{Priority: Urgent}, "urgent"},
		{SLAFacts{Priority: Normal, Channel: "cti", Team: "sales"}, "phone sales"},
		{SLAFacts{Priority: High, Channel: "cti", Team: "support"}, "high or low"},
		{SLAFacts{Priority: Normal, Channel: "webchat", Team: "sales", Level: "vip"}, "vip"},
		{SLAFacts{Priority: Low}, "high or low"},
		{SLAFacts{Priority: Normal}, "rest"},
		{SLAFacts{}, "rest"},
		{SLAFacts{Priority: Normal, Level: "VIP"}, "rest"}, // facts match exactly
	} {
		got := MatchSLA(policies, tt.f)
		if got == nil || got.Name != tt.want {
			t.Errorf("MatchSLA(%+v) = %v, want %q", tt.f, got, tt.want)
		}
	}
	if got := MatchSLA(policies[:2], SLAFacts{Priority: High}); got != nil {
		t.Errorf("no policy holds, got %q", got.Name)
	}
	if got := MatchSLA(nil, SLAFacts{}); got != nil {
		t.Errorf("no policies, got %q", got.Name)
	}
	// The result points into the slice.
	if got := MatchSLA(policies, SLAFacts{Priority: Urgent}); got != &policies[1] {
		t.Error("MatchSLA did not return a pointer into policies")
	}
	// An empty priority in the facts is normal.
	if got := MatchSLA([]SLAPolicy{{Name: "n", Priority: Normal}}, SLAFacts{}); got == nil {
		t.Error("an empty priority does not match a normal policy")
	}
}

func TestSLAPolicyTargets(t *testing.T) {
	p := &SLAPolicy{FirstResponse: time.Minute, NextResponse: 2 * time.Minute, Resolution: 3 * time.Minute}
	for target, want := range map[Target]time.Duration{FirstResponse: time.Minute, NextResponse: 2 * time.Minute, Resolution: 3 * time.Minute, "other": 0} {
		if got := p.Target(target); got != want {
			t.Errorf("Target(%s) = %v, want %v", target, got, want)
		}
	}
	var none *SLAPolicy
	if none.Target(FirstResponse) != 0 {
		t.Error("a nil policy has a target")
	}
	for _, tt := range []struct {
		warnAt []float64
		want   []float64
	}{{nil, []float64{0.8}}, {[]float64{}, []float64{}}, {[]float64{0.5, 0.9}, []float64{0.5, 0.9}}} {
		if got := (&SLAPolicy{WarnAt: tt.warnAt}).Warnings(); !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("Warnings with warn_at %#v = %#v, want %#v", tt.warnAt, got, tt.want)
		}
	}
}

func TestCalendarFor(t *testing.T) {
	team, own := &Calendar{id: "team"}, &Calendar{id: "own"}
	cals := map[string]*Calendar{"team": team, "own": own}
	for _, tt := range []struct {
		p       SLAPolicy
		teamCal string
		want    *Calendar
	}{
		{SLAPolicy{}, "team", nil},
		{SLAPolicy{BusinessHours: true}, "team", team},
		{SLAPolicy{BusinessHours: true, Calendar: "own"}, "team", own},
		{SLAPolicy{BusinessHours: true}, "", nil},
		{SLAPolicy{BusinessHours: true}, "gone", nil},
	} {
		if got := tt.p.CalendarFor(cals, tt.teamCal); got != tt.want {
			t.Errorf("%+v with team calendar %q: %v, want %v", tt.p, tt.teamCal, got.ID(), tt.want.ID())
		}
	}
}

func TestDeadlines(t *testing.T) {
	sh := mustLoad(t, "Asia/Shanghai")
	cn := cnSupport(t)
	p := &SLAPolicy{FirstResponse: 2 * time.Hour, Resolution: 15 * time.Hour, WarnAt: []float64{0.5, 0.75}}
	start := at(t, sh, "2026-09-30 16:00") // two hours before National Day
	for _, tt := range []struct {
		target Target
		cal    *Calendar
		due    string
		warns  []string
	}{
		{FirstResponse, cn, "2026-09-30 18:00", []string{"2026-09-30 17:00", "2026-09-30 17:30"}},
		// 2h on 09-30, 7h30m on 10-08, 5h30m on 10-09 (3h + 2h30m after lunch).
		{Resolution, cn, "2026-10-09 16:00", []string{"2026-10-08 16:00", "2026-10-09 10:45"}},
		{FirstResponse, nil, "2026-09-30 18:00", []string{"2026-09-30 17:00", "2026-09-30 17:30"}},
		{Resolution, nil, "2026-10-01 07:00", []string{"2026-09-30 23:30", "2026-10-01 03:15"}},
		{NextResponse, cn, "", nil}, // no target
	} {
		due, warns := p.Deadlines(tt.target, tt.cal, start)
		var want time.Time
		if tt.due != "" {
			want = at(t, sh, tt.due)
		}
		if !due.Equal(want) {
			t.Errorf("%s in %q: due %v, want %s", tt.target, tt.cal.ID(), due.In(sh), tt.due)
		}
		if len(warns) != len(tt.warns) {
			t.Errorf("%s in %q: warnings %v, want %v", tt.target, tt.cal.ID(), warns, tt.warns)
			continue
		}
		for i, w := range warns {
			if !w.Equal(at(t, sh, tt.warns[i])) {
				t.Errorf("%s in %q: warning %d at %v, want %s", tt.target, tt.cal.ID(), i, w.In(sh), tt.warns[i])
			}
		}
	}
	// Default warnings; none with warn_at: [].
	if _, warns := (&SLAPolicy{Resolution: 10 * time.Hour}).Deadlines(Resolution, nil, start); len(warns) != 1 || !warns[0].Equal(start.Add(8*time.Hour)) {
		t.Errorf("default warnings %v, want one at 80%%", warns)
	}
	if _, warns := (&SLAPolicy{Resolution: 10 * time.Hour, WarnAt: []float64{}}).Deadlines(Resolution, nil, start); len(warns) != 0 {
		t.Errorf("warn_at: [] gives warnings %v", warns)
	}
	// A calendar that gives no due time gives no warnings either.
	if due, warns := p.Deadlines(FirstResponse, &Calendar{}, start); !due.IsZero() || warns != nil {
		t.Errorf("never-open calendar: %v, %v", due, warns)
	}
	var none *SLAPolicy
	if due, warns := none.Deadlines(Resolution, cn, start); !due.IsZero() || warns != nil {
		t.Errorf("nil policy: %v, %v", due, warns)
	}
}

func TestEscalations(t *testing.T) {
	p := &SLAPolicy{Escalate: []Escalation{
		{On: OnWarning, Notify: []string{NotifyAssignee}},
		{On: OnBreach, Target: FirstResponse, Priority: Urgent},
		{On: OnBreach, Team: "tier2"},
		{On: OnWarning, Target: Resolution, Notify: []string{NotifySupervisors}},
	}}
	names := func(es []Escalation) (out []int) {
		for _, e := range es {
			out = append(out, slices.IndexFunc(p.Escalate, func(x Escalation) bool {
				return x.On == e.On && x.Target == e.Target && x.Team == e.Team && x.Priority == e.Priority
			}))
		}
		return out
	}
	for _, tt := range []struct {
		on     Trigger
		target Target
		want   []int
	}{
		{OnWarning, FirstResponse, []int{0}},
		{OnWarning, Resolution, []int{0, 3}},
		{OnBreach, FirstResponse, []int{1, 2}},
		{OnBreach, NextResponse, []int{2}},
	} {
		if got := names(p.Escalations(tt.on, tt.target)); !slices.Equal(got, tt.want) {
			t.Errorf("Escalations(%s, %s) = %v, want %v", tt.on, tt.target, got, tt.want)
		}
	}
}

func TestSLAPolicyValidateErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    SLAPolicy
		want []string
	}{
		{"legacy priority", SLAPolicy{Priority: "asap"}, []string{`priority: priority "asap" is not one of urgent, high, normal, low`}},
		{"both priorities", SLAPolicy{Priority: High, When: SLAWhen{Priority: []Priority{High}}},
			[]string{"priority: set either priority or when.priority, not both"}},
		{"when", SLAPolicy{When: SLAWhen{Priority: []Priority{"", "Urgent"}, CustomerLevel: []string{""}, Channel: []string{"email", ""}, Team: []string{""}}},
			[]string{
				`when.priority[0]: priority "" is not one of urgent, high, normal, low`,
				`when.priority[1]: priority "Urgent" is not one of urgent, high, normal, low`,
				"when.customer_level[0]: must not be empty",
				"when.channel[1]: must not be empty",
				"when.team[0]: must not be empty",
			}},
		{"targets", SLAPolicy{FirstResponse: -time.Second, NextResponse: 367 * 24 * time.Hour, Resolution: -time.Hour},
			[]string{"first_response: -1s is negative", "next_response: 8808h0m0s is more than a year (8784h0m0s)", "resolution: -1h0m0s is negative"}},
		{"calendar without business hours", SLAPolicy{Calendar: "cn"}, []string{"calendar: has no effect without business_hours: true"}},
		{"warnings", SLAPolicy{WarnAt: []float64{0.5, 0.5, 1, 0, -0.1, 0.9, 0.8}},
			[]string{
				"warn_at[1]: 0.5 does not come after 0.5: list the fractions in increasing order",
				"warn_at[2]: 1 is not a fraction between 0 and 1 (0.8 warns at 80% of the target)",
				"warn_at[3]: 0 is not a fraction between 0 and 1 (0.8 warns at 80% of the target)",
				"warn_at[4]: -0.1 is not a fraction between 0 and 1 (0.8 warns at 80% of the target)",
				"warn_at[6]: 0.8 does not come after 0.9: list the fractions in increasing order",
			}},
		{"escalations", SLAPolicy{FirstResponse: time.Hour, WarnAt: []float64{}, Escalate: []Escalation{
			{On: OnWarning, Notify: []string{"assignee"}},
			{On: "late", Target: "reply", Team: "-x", Notify: []string{"", "supervisors", "zhao"}},
			{On: OnBreach, Target: Resolution, Priority: "now"},
			{On: OnBreach},
		}},
			[]string{
				"escalate[0].on: warning, but warn_at: [] turns warnings off",
				`escalate[1].on: "late" is not one of warning, breach`,
				`escalate[1].target: "reply" is not one of first_response, next_response, resolution (or empty for any)`,
				`escalate[1].team: "-x" is not a valid team id`,
				`escalate[1].notify[0]: "" is not assignee, supervisors or an agent id`,
				"escalate[2].target: the policy sets no resolution target",
				`escalate[2].priority: priority "now" is not one of urgent, high, normal, low`,
				"escalate[3]: does nothing: set priority, team or notify",
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if got, want := errString(err), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("Validate() =\n%s\nwant\n%s", got, want)
			}
			for _, e := range unjoin(err) {
				if _, ok := errors.AsType[*FieldError](e); !ok {
					t.Errorf("%v is not a *FieldError", e)
				}
			}
		})
	}
	good := SLAPolicy{Name: "vip", When: SLAWhen{Priority: []Priority{Urgent, High}, CustomerLevel: []string{"vip"}, Channel: []string{"email"}, Team: []string{"support"}},
		FirstResponse: 5 * time.Minute, NextResponse: 30 * time.Minute, Resolution: 8784 * time.Hour, BusinessHours: true, Calendar: "cn-support",
		WarnAt: []float64{0.5, 0.8, 0.95}, Escalate: []Escalation{
			{On: OnWarning, Target: FirstResponse, Notify: []string{NotifyAssignee, NotifySupervisors, "zhao"}},
			{On: OnBreach, Priority: Urgent, Team: "tier2"}}}
	if err := good.Validate(); err != nil {
		t.Errorf("a full policy: %v", err)
	}
}

func TestValidatePolicies(t *testing.T) {
	teams := map[string]bool{"support": true, "sales": true}
	calendars := map[string]bool{"cn-support": true}
	policies := []SLAPolicy{
		{Priority: Urgent, FirstResponse: time.Minute, BusinessHours: true, Calendar: "cn-support",
			Escalate: []Escalation{{On: OnBreach, Team: "sales"}}},
		{When: SLAWhen{Team: []string{"support", "billing"}}, BusinessHours: true, Calendar: "us",
			Escalate: []Escalation{{On: OnBreach, Notify: []string{"assignee"}}, {On: OnBreach, Team: "x"}, {On: OnBreach, Team: "-bad"}}},
		{FirstResponse: -time.Minute, BusinessHours: true}, // the team's calendar, or 24×7
	}
	err := ValidatePolicies(policies, teams, calendars)
	want := strings.Join([]string{
		`[1].when.team[1]: unknown team "billing"`,
		`[1].calendar: unknown calendar "us"`,
		`[1].escalate[1].team: unknown team "x"`,
		`[1].escalate[2].team: "-bad" is not a valid team id`,
		"[2].first_response: -1m0s is negative",
	}, "\n")
	// Validate's errors come first for each policy.
	got := errString(err)
	if !sameLines(got, want) {
		t.Errorf("ValidatePolicies =\n%s\nwant (in any order)\n%s", got, want)
	}
	for _, e := range unjoin(err) {
		if fe, ok := errors.AsType[*FieldError](e); !ok || !strings.HasPrefix(fe.Field, "[") {
			t.Errorf("%v is not a *FieldError with the policy's index", e)
		}
	}
	if err := ValidatePolicies(policies[:1], teams, calendars); err != nil {
		t.Errorf("good policies: %v", err)
	}
	if err := ValidatePolicies(nil, nil, nil); err != nil {
		t.Errorf("no policies: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func sameLines(a, b string) bool {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
