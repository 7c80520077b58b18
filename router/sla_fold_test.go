package router

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"switchboard/tickets"
)

// The fold is tested with minutes from a fixed Monday 00:00 UTC.
var foldT0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func minute(m float64) int64 { return ms(foldT0.Add(time.Duration(m * float64(time.Minute)))) }

// nineToFive is business time 09:00–17:00 UTC every day: simple enough
// to check by hand.
type nineToFive struct{}

func (nineToFive) open(t time.Time) (from, to time.Time) {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return d.Add(9 * time.Hour), d.Add(17 * time.Hour)
}

func (c nineToFive) Add(start time.Time, d time.Duration) time.Time {
	t := start.UTC()
	for {
		from, to := c.open(t)
		if t.Before(from) {
			t = from
		}
		if !t.Before(to) {
			t = from.Add(24 * time.Hour)
			continue
		}
		if left := to.Sub(t); d <= left {
			return t.Add(d)
		} else {
			d -= left
			t = from.Add(24 * time.Hour)
		}
	}
}

func (c nineToFive) Between(a, b time.Time) time.Duration {
	var sum time.Duration
	for t := a.UTC(); t.Before(b); {
		from, to := c.open(t)
		s, e := maxTime(t, from), minTime(b, to)
		if e.After(s) {
			sum += e.Sub(s)
		}
		t = from.Add(24 * time.Hour)
	}
	return sum
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

var foldPolicies = []tickets.SLAPolicy{
	{Name: "urgent", When: tickets.SLAWhen{Priority: []tickets.Priority{tickets.Urgent}},
		FirstResponse: 5 * time.Minute, Resolution: time.Hour},
	{Name: "normal", FirstResponse: 10 * time.Minute, NextResponse: 30 * time.Minute, Resolution: 2 * time.Hour},
}

func policyFor(policies []tickets.SLAPolicy, cal businessTime) func(prio, team string) (*tickets.SLAPolicy, businessTime) {
	return func(prio, team string) (*tickets.SLAPolicy, businessTime) {
		return tickets.MatchSLA(policies, tickets.SLAFacts{Priority: tickets.Priority(prio), Team: team}), cal
	}
}

func opened(m float64) slaEvent { return slaEvent{At: minute(m), Kind: evOpened} }
func reply(m float64) slaEvent  { return slaEvent{At: minute(m), Kind: evReply} }
func cust(m float64) slaEvent   { return slaEvent{At: minute(m), Kind: evCustomer} }
func status(m float64, from, to tickets.Status) slaEvent {
	return slaEvent{At: minute(m), Kind: evStatus, From: string(from), To: string(to)}
}

type clockWant struct {
	target tickets.Target
	state  string
	due    float64 // minutes; 0 = not checked
}

func TestSLAFold(t *testing.T) {
	var cal businessTime = (*tickets.Calendar)(nil)
	fr, nr, res := tickets.FirstResponse, tickets.NextResponse, tickets.Resolution
	cases := []struct {
		name     string
		prio     string
		cal      businessTime
		events   []slaEvent
		now      float64
		outcomes []string // historyValue @ minute
		clocks   []clockWant
		next     float64
	}{
		{name: "answered in time", events: []slaEvent{opened(0), reply(5)}, now: 6,
			outcomes: []string{"met:first_response@5"},
			clocks:   []clockWant{{fr, clockMet, 0}, {res, clockRunning, 120}},
			next:     96}, // the resolution warning at 80% of 2 h
		{name: "warning then breach", events: []slaEvent{opened(0)}, now: 11,
			outcomes: []string{"warning:first_response:80@8", "breached:first_response@10"},
			clocks:   []clockWant{{fr, clockBreached, 10}, {res, clockRunning, 120}},
			next:     96},
		{name: "late reply keeps the breach", events: []slaEvent{opened(0), reply(15)}, now: 16,
			outcomes: []string{"warning:first_response:80@8", "breached:first_response@10"},
			clocks:   []clockWant{{fr, clockBreached, 10}},
			next:     96},
		{name: "pending pauses", events: []slaEvent{opened(0), reply(1), status(10, tickets.Open, tickets.Pending),
			status(70, tickets.Pending, tickets.Open), cust(70)}, now: 71,
			outcomes: []string{"met:first_response@1"},
			// 10 min used before the pause, 110 left from 70; the next
			// response runs from the customer's message.
			clocks: []clockWant{{res, clockRunning, 180}, {nr, clockRunning, 100}},
			next:   94}, // 80% of the next response's 30 min after 70
		{name: "pending never breaches", events: []slaEvent{opened(0), status(2, tickets.New, tickets.Pending)}, now: 600,
			clocks: []clockWant{{fr, clockPaused, 0}, {res, clockPaused, 0}}},
		{name: "resolve stops", events: []slaEvent{opened(0), reply(3), status(30, tickets.Open, tickets.Resolved)}, now: 500,
			outcomes: []string{"met:first_response@3", "met:resolution@30"},
			clocks:   []clockWant{{res, clockMet, 0}}},
		{name: "resolved unanswered", events: []slaEvent{opened(0), status(4, tickets.New, tickets.Resolved)}, now: 500,
			outcomes: []string{"met:resolution@4", "stopped:first_response@4"},
			clocks:   []clockWant{{fr, clockStopped, 0}}},
		{name: "reopen resumes", events: []slaEvent{opened(0), reply(3), status(30, tickets.Open, tickets.Resolved),
			status(60, tickets.Resolved, tickets.Open), cust(60)}, now: 61,
			outcomes: []string{"met:first_response@3", "met:resolution@30"},
			clocks:   []clockWant{{res, clockRunning, 150}, {nr, clockRunning, 90}},
			next:     84},
		{name: "next response cycles", events: []slaEvent{opened(0), reply(1), cust(5), reply(20), cust(40)}, now: 41,
			outcomes: []string{"met:first_response@1", "met:next_response@20"},
			clocks:   []clockWant{{nr, clockRunning, 70}},
			next:     64},
		{name: "customer before any reply starts no next response", events: []slaEvent{opened(0), cust(2)}, now: 3,
			clocks: []clockWant{{fr, clockRunning, 10}},
			next:   8},
		{name: "priority raised", events: []slaEvent{opened(0), {At: minute(2), Kind: evPriority, From: "normal", To: "urgent"}}, now: 3,
			clocks: []clockWant{{fr, clockRunning, 5}, {res, clockRunning, 60}},
			next:   4},
		{name: "business hours", cal: nineToFive{}, events: []slaEvent{opened(8 * 60)}, now: 8*60 + 1,
			// Opened at 08:00, before hours: due 09:10 and 11:00.
			clocks: []clockWant{{fr, clockRunning, 9*60 + 10}, {res, clockRunning, 11 * 60}},
			next:   9*60 + 8},
		{name: "business hours overnight", cal: nineToFive{}, events: []slaEvent{opened(16*60 + 55)}, now: 17 * 60,
			// Five minutes left at 17:00: the first response is due at 09:05
			// the next day.
			clocks: []clockWant{{fr, clockRunning, 24*60 + 9*60 + 5}},
			next:   24*60 + 9*60 + 3},
		{name: "breach found late", events: []slaEvent{opened(0), status(200, tickets.Open, tickets.Resolved)}, now: 201,
			// Both breaches are dated at their due times; the resolve
			// after them gives no verdict of its own.
			outcomes: []string{"warning:first_response:80@8", "breached:first_response@10", "warning:resolution:80@96",
				"breached:resolution@120"},
			clocks: []clockWant{{fr, clockBreached, 10}, {res, clockBreached, 120}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cal
			if c == nil {
				c = cal
			}
			prio := tc.prio
			if prio == "" {
				prio = "normal"
			}
			st := &slaState{Status: "new", Priority: prio}
			f := slaFolder{st: st, policy: policyFor(foldPolicies, c)}
			out, next := f.fold(append([]slaEvent(nil), tc.events...), minute(tc.now))
			var got []string
			for _, o := range out {
				got = append(got, o.historyValue()+"@"+minutesOf(o.At))
			}
			if !reflect.DeepEqual(got, tc.outcomes) {
				t.Errorf("outcomes = %q, want %q", got, tc.outcomes)
			}
			for _, w := range tc.clocks {
				cl := st.clock(w.target)
				if cl.State != w.state {
					t.Errorf("%s state = %q, want %q", w.target, cl.State, w.state)
				}
				if w.due != 0 && cl.Due != minute(w.due) {
					t.Errorf("%s due = %s, want %v", w.target, minutesOf(cl.Due), w.due)
				}
			}
			wantNext := int64(0)
			if tc.next != 0 {
				wantNext = minute(tc.next)
			}
			if next != wantNext {
				t.Errorf("next = %s, want %v", minutesOf(next), tc.next)
			}
		})
	}
}

func minutesOf(v int64) string {
	if v == 0 {
		return "0"
	}
	d := time.UnixMilli(v).Sub(foldT0)
	return trimFloat(d.Minutes())
}

func trimFloat(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

// TestSLAFoldIncremental checks that folding a ticket's events over
// several syncs, the state stored as JSON in between, reaches the same
// state and outcomes as one fold: a sync continues where the last one
// stopped.
func TestSLAFoldIncremental(t *testing.T) {
	events := []slaEvent{opened(0), cust(1), reply(4), cust(6), status(9, tickets.Open, tickets.Pending),
		status(30, tickets.Pending, tickets.Open), cust(30), reply(70), status(80, tickets.Open, tickets.Resolved),
		status(95, tickets.Resolved, tickets.Open), cust(95), reply(96)}
	pol := policyFor(foldPolicies, nineToFive{})
	at := func(m float64) int64 { return minute(9*60 + m) } // in business hours
	shift := func(evs []slaEvent) []slaEvent {
		out := make([]slaEvent, len(evs))
		for i, e := range evs {
			e.At = at(float64(time.UnixMilli(e.At).Sub(foldT0)) / float64(time.Minute))
			e.seq = i
			out[i] = e
		}
		return out
	}
	all := shift(events)
	one := &slaState{Status: "new", Priority: "normal"}
	f := slaFolder{st: one, policy: pol}
	wantOut, wantNext := f.fold(append([]slaEvent(nil), all...), at(200))

	for split := 1; split < len(all); split++ {
		st := &slaState{Status: "new", Priority: "normal"}
		var got []slaOutcome
		for i, part := range [][]slaEvent{all[:split], all[split:]} {
			now := all[split].At // the first sync ran just as the next event came
			if i == 1 {
				now = at(200)
			}
			f := slaFolder{st: st, policy: pol}
			out, next := f.fold(append([]slaEvent(nil), part...), now)
			got = append(got, out...)
			raw, _ := json.Marshal(st)
			st = &slaState{}
			if err := json.Unmarshal(raw, st); err != nil {
				t.Fatal(err)
			}
			if i == 1 && next != wantNext {
				t.Errorf("split %d: next = %d, want %d", split, next, wantNext)
			}
		}
		if !reflect.DeepEqual(got, wantOut) {
			t.Errorf("split %d: outcomes\n got %+v\nwant %+v", split, got, wantOut)
		}
		a, _ := json.Marshal(st)
		b, _ := json.Marshal(one)
		if string(a) != string(b) {
			t.Errorf("split %d: state\n got %s\nwant %s", split, a, b)
		}
	}
}

// A change of priority to a policy with another calendar counts the time
// used so far as the old calendar did: opened at 16:00 under business
// hours (09–17), raised at 09:00 the next day to a round-the-clock policy
// of 1 h resolution — one business hour used, none left: the breach is
// dated at the change, not the evening before.
func TestSLAFoldPolicyChangeBanksTime(t *testing.T) {
	pol := func(prio, team string) (*tickets.SLAPolicy, businessTime) {
		p := tickets.MatchSLA(foldPolicies, tickets.SLAFacts{Priority: tickets.Priority(prio)})
		if prio == "urgent" {
			return p, (*tickets.Calendar)(nil)
		}
		return p, nineToFive{}
	}
	st := &slaState{Status: "new", Priority: "normal"}
	f := slaFolder{st: st, policy: pol}
	change := float64(24*60 + 9*60)
	out, _ := f.fold([]slaEvent{opened(16 * 60), reply(16*60 + 5),
		{At: minute(change), Kind: evPriority, From: "normal", To: "urgent"}}, minute(change+1))
	var got []string
	for _, o := range out {
		got = append(got, o.historyValue()+"@"+minutesOf(o.At))
	}
	want := []string{"met:first_response@965", "breached:resolution@1980"} // no warning at the very instant of the breach
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("outcomes %q, want %q", got, want)
	}
}
