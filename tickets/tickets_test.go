package tickets

import (
	"slices"
	"testing"
	"time"
)

// allowed is the lifecycle, spelled out independently of the moves table:
// from -> the statuses it may become (besides staying put).
var allowed = map[Status][]Status{
	New:      {Open, Pending, Resolved, Closed},
	Open:     {Pending, Resolved, Closed},
	Pending:  {Open, Resolved, Closed},
	Resolved: {Open, Closed},
	Closed:   {},
}

func TestCanMoveEveryPair(t *testing.T) {
	if len(Statuses) != 5 {
		t.Fatalf("Statuses = %v: the table below covers five", Statuses)
	}
	for _, from := range Statuses {
		for _, to := range Statuses {
			want := from == to || slices.Contains(allowed[from], to)
			err := CanMove(from, to)
			if (err == nil) != want {
				t.Errorf("CanMove(%s, %s) = %v, want allowed=%v", from, to, err, want)
			}
			if err != nil && err.Error() != "a "+string(from)+" ticket cannot become "+string(to) {
				t.Errorf("CanMove(%s, %s) error %q", from, to, err)
			}
		}
	}
	// Nothing leaves closed; nothing returns to new.
	for _, s := range []Status{New, Open, Pending, Resolved} {
		if CanMove(Closed, s) == nil {
			t.Errorf("a closed ticket may become %s", s)
		}
		if CanMove(s, New) == nil && s != New {
			t.Errorf("a %s ticket may become new", s)
		}
	}
	// Unknown statuses go nowhere (except staying put).
	for _, tt := range [][2]Status{{"bogus", Open}, {Open, "bogus"}, {"", Open}, {Open, ""}} {
		if CanMove(tt[0], tt[1]) == nil {
			t.Errorf("CanMove(%q, %q) = nil", tt[0], tt[1])
		}
	}
}

func TestFrom(t *testing.T) {
	for _, tt := range []struct {
		to   Status
		want []Status // besides to itself, in any order
	}{
		{New, nil},
		{Open, []Status{New, Pending, Resolved}},
		{Pending, []Status{New, Open}},
		{Resolved, []Status{New, Open, Pending}},
		{Closed, []Status{New, Open, Pending, Resolved}},
		{"bogus", nil},
	} {
		got := From(tt.to)
		if len(got) == 0 || got[0] != tt.to {
			t.Errorf("From(%s) = %v: want %s itself first", tt.to, got, tt.to)
			continue
		}
		rest := slices.Clone(got[1:])
		slices.Sort(rest)
		want := slices.Clone(tt.want)
		slices.Sort(want)
		if !slices.Equal(rest, want) {
			t.Errorf("From(%s) = %v, want %s and %v", tt.to, got, tt.to, tt.want)
		}
	}
	// From agrees with CanMove on every pair.
	for _, to := range Statuses {
		from := From(to)
		for _, f := range Statuses {
			if slices.Contains(from, f) != (CanMove(f, to) == nil) {
				t.Errorf("From(%s) = %v disagrees with CanMove(%s, %s)", to, from, f, to)
			}
		}
	}
}

func TestParseStatus(t *testing.T) {
	for _, s := range Statuses {
		if got, err := ParseStatus(string(s)); err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "Open", "OPEN", " open", "open ", "reopened", "done"} {
		if got, err := ParseStatus(bad); err == nil || got != "" {
			t.Errorf("ParseStatus(%q) = %q, %v; want an error", bad, got, err)
		}
	}
}

func TestActive(t *testing.T) {
	for s, want := range map[Status]bool{New: true, Open: true, Pending: true, Resolved: false, Closed: false, "": false} {
		if got := s.Active(); got != want {
			t.Errorf("%q.Active() = %v, want %v", s, got, want)
		}
	}
}

func TestParsePriorityAndRank(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Priority
		rank int
		ok   bool
	}{
		{"urgent", Urgent, 1, true},
		{"high", High, 2, true},
		{"normal", Normal, 3, true},
		{"low", Low, 4, true},
		{"", Normal, 3, true}, // empty means normal
		{"Urgent", "", 0, false},
		{"critical", "", 0, false},
		{" low", "", 0, false},
	} {
		got, err := ParsePriority(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParsePriority(%q) = %q, %v; want %q (ok=%v)", tt.in, got, err, tt.want, tt.ok)
			continue
		}
		if tt.ok && got.Rank() != tt.rank {
			t.Errorf("%s.Rank() = %d, want %d", got, got.Rank(), tt.rank)
		}
	}
	// Urgent first; unknown priorities rank like normal.
	if !(Urgent.Rank() < High.Rank() && High.Rank() < Normal.Rank() && Normal.Rank() < Low.Rank()) {
		t.Error("ranks are not ordered urgent < high < normal < low")
	}
	if r := Priority("bogus").Rank(); r != Normal.Rank() {
		t.Errorf("unknown priority ranks %d, want normal's %d", r, Normal.Rank())
	}
}

func TestNumber(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{1, "10000"},
		{2, "10001"},
		{42, "10041"},
		{90000, "99999"},
		{90001, "100000"},
		{1 << 40, "1099511637775"},
	} {
		if got := Number(tt.n); got != tt.want {
			t.Errorf("Number(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestDue(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	policies := []SLAPolicy{
		{Name: "vip", Priority: Urgent, FirstResponse: 15 * time.Minute, Resolution: 4 * time.Hour},
		{Name: "urgent again", Priority: Urgent, FirstResponse: time.Minute, Resolution: time.Minute}, // shadowed
		{Name: "high", Priority: High, FirstResponse: time.Hour},                                      // no resolution target
		{Name: "low", Priority: Low, Resolution: 30 * 24 * time.Hour},
		{Name: "default", FirstResponse: 8 * time.Hour, Resolution: 72 * time.Hour}, // no priority: any
	}
	var zero time.Time
	for _, tt := range []struct {
		name         string
		policies     []SLAPolicy
		p            Priority
		first, solve time.Time
	}{
		{"first match wins", policies, Urgent, t0.Add(15 * time.Minute), t0.Add(4 * time.Hour)},
		{"zero resolution: no target", policies, High, t0.Add(time.Hour), zero},
		{"zero first response: no target", policies, Low, zero, t0.Add(30 * 24 * time.Hour)},
		{"policy without priority covers normal", policies, Normal, t0.Add(8 * time.Hour), t0.Add(72 * time.Hour)},
		{"empty priority is normal", policies[2:], "", t0.Add(8 * time.Hour), t0.Add(72 * time.Hour)},
		{"explicit normal", []SLAPolicy{{Priority: Normal, FirstResponse: time.Minute}}, Normal, t0.Add(time.Minute), zero},
		{"policy without priority covers any priority", policies[4:], High, t0.Add(8 * time.Hour), t0.Add(72 * time.Hour)},
		{"no matching policy", policies[:1], Low, zero, zero},
		{"policies on other facts do not match", []SLAPolicy{{When: SLAWhen{Team: []string{"support"}}, FirstResponse: time.Minute}}, Normal, zero, zero},
		{"no policies", nil, Urgent, zero, zero},
		{"business hours are ignored", []SLAPolicy{{BusinessHours: true, Calendar: "cn", FirstResponse: time.Hour}}, Normal, t0.Add(time.Hour), zero},
	} {
		first, solve := Due(tt.policies, tt.p, t0)
		if !first.Equal(tt.first) || !solve.Equal(tt.solve) {
			t.Errorf("%s: Due(%s) = %v, %v; want %v, %v", tt.name, tt.p, first, solve, tt.first, tt.solve)
		}
	}
}

func TestSLAPolicyValidate(t *testing.T) {
	for _, tt := range []struct {
		p  SLAPolicy
		ok bool
	}{
		{SLAPolicy{Priority: Urgent, FirstResponse: time.Minute}, true},
		{SLAPolicy{}, true},
		{SLAPolicy{Priority: "asap"}, false},
		{SLAPolicy{Priority: Low, FirstResponse: -time.Second}, false},
		{SLAPolicy{Priority: Low, Resolution: -time.Second}, false},
	} {
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
}
