package router

import (
	"sort"
	"strconv"
	"time"

	"switchboard/tickets"
)

// The SLA of a ticket is a fold over its events: the history stream
// (ticket opened, status, priority and team changes) and the transcript
// (customer messages, agent replies), in time order. The fold's state is
// kept on the conversation hash with the stream positions it has read, so
// every sync continues where the last one stopped, and a sync that runs
// late (a replica died, a wake-up was lost) still decides everything at
// the instants the events happened.

// slaTargets are the clocks a ticket runs, in a fixed order.
var slaTargets = []tickets.Target{tickets.FirstResponse, tickets.NextResponse, tickets.Resolution}

// Clock states.
const (
	clockRunning  = "running"
	clockPaused   = "paused"
	clockMet      = "met"
	clockBreached = "breached"
	clockStopped  = "stopped" // ended with no verdict (resolved unanswered, closed, no target)
)

// slaClock is one target's clock. Business time is counted in
// milliseconds.
type slaClock struct {
	State string `json:"s"`
	// Used is the business time spent before From.
	Used int64 `json:"u,omitempty"`
	// From is when the clock last started running (ms).
	From int64 `json:"f,omitempty"`
	// Warned is how many warning thresholds have fired in this cycle.
	Warned int `json:"w,omitempty"`
	// Due is the due instant while running (ms), kept for display.
	Due int64 `json:"d,omitempty"`
	// At is when the verdict (met, breached, stopped) was reached (ms).
	At int64 `json:"a,omitempty"`
	// Late is, for a breached clock that was later answered or resolved,
	// how long after the due time (ms, wall clock); Early is, for a met
	// one, the business time it had to spare (ms).
	Late  int64 `json:"l,omitempty"`
	Early int64 `json:"e,omitempty"`
	// Cycles counts next-response cycles.
	Cycles int `json:"c,omitempty"`
}

func (c *slaClock) live() bool { return c.State == clockRunning || c.State == clockPaused }

// slaState is the fold's state, stored as JSON in the conversation's "sla"
// field.
type slaState struct {
	// Policy is the name of the matched policy, "" for none.
	Policy string `json:"p"`
	// Status, Priority and Team are the ticket's as of the last event read.
	Status   string `json:"st"`
	Priority string `json:"pr"`
	Team     string `json:"tm"`
	// Channel and Level (the customer's, at the first sync) complete the
	// facts policies match on.
	Channel string `json:"ch,omitempty"`
	Level   string `json:"lv,omitempty"`
	// Named is the policy a routing rule chose for the ticket, if any.
	Named string `json:"nm,omitempty"`
	// Replied records an agent reply in this ticket.
	Replied bool                         `json:"r,omitempty"`
	Clocks  map[tickets.Target]*slaClock `json:"c"`
	// H and M are the last history and transcript entries read.
	H string `json:"h,omitempty"`
	M string `json:"m,omitempty"`
	// N is the last history entry whose notifications went out.
	N string `json:"n,omitempty"`
	// Started says the ticket's clocks were set up (the ticket was seen).
	Started bool `json:"o,omitempty"`
}

func (s *slaState) clock(t tickets.Target) *slaClock {
	if s.Clocks == nil {
		s.Clocks = map[tickets.Target]*slaClock{}
	}
	c := s.Clocks[t]
	if c == nil {
		c = &slaClock{}
		s.Clocks[t] = c
	}
	return c
}

// slaEvent is one input of the fold.
type slaEvent struct {
	At   int64
	Kind slaEventKind
	// From and To are a change's values (status, priority, team).
	From, To string
	// seq keeps stream order among events of the same millisecond.
	seq int
}

type slaEventKind int

const (
	evOpened slaEventKind = iota + 1 // the ticket was numbered; At is the conversation's creation
	evStatus
	evPriority
	evTeam
	evCustomer // a customer message that asks for an answer
	evReply    // an agent's reply to the customer
)

// slaOutcome is a verdict or warning the fold reached, written to the
// ticket history and told to people.
type slaOutcome struct {
	At     int64
	Target tickets.Target
	// What is "warning", "breached", "met" or "stopped".
	What string
	// Pct is the warning's threshold in percent.
	Pct int
	// By is, for met, how early; for a breach found late, 0 (ms).
	By int64
}

// historyValue is how the outcome is written in the history's "to".
func (o slaOutcome) historyValue() string {
	v := o.What + ":" + string(o.Target)
	if o.What == "warning" {
		v += ":" + strconv.Itoa(o.Pct)
	}
	return v
}

// businessTime is the calendar arithmetic the fold needs; *tickets.Calendar
// provides it (a nil one is round the clock).
type businessTime interface {
	Add(start time.Time, d time.Duration) time.Time
	Between(a, b time.Time) time.Duration
}

// slaFolder folds events into a state under one policy set.
type slaFolder struct {
	// policy returns the policy for the facts and its calendar.
	policy func(prio, team string) (*tickets.SLAPolicy, businessTime)
	st     *slaState
	out    []slaOutcome
	pol    *tickets.SLAPolicy
	cal    businessTime
}

func msAt(v int64) time.Time { return time.UnixMilli(v) }

// lookup finds the policy (and its calendar) for the state's priority
// and team.
func (f *slaFolder) lookup() {
	f.pol, f.cal = f.policy(f.st.Priority, f.st.Team)
	if f.cal == nil {
		f.cal = (*tickets.Calendar)(nil)
	}
	f.st.Policy = ""
	if f.pol != nil {
		f.st.Policy = f.pol.Name
	}
}

// rematch looks the policy up again at a change of priority or team at
// at. Running clocks first bank the business time they used so far, as
// the old policy's calendar counts it, and go on from at: the new policy
// counts only what comes after the change, and a breach it implies is
// dated at the change, not before. Without a policy the clocks run on
// with no target (no verdicts), so a later change may give them one
// again.
func (f *slaFolder) rematch(at int64) {
	for _, t := range slaTargets {
		if c := f.st.clock(t); c.State == clockRunning && at > c.From {
			c.Used += f.cal.Between(msAt(c.From), msAt(at)).Milliseconds()
			c.From = at
		}
	}
	f.lookup()
}

// target is the policy's target for t (0: none).
func (f *slaFolder) target(t tickets.Target) int64 {
	if f.pol == nil {
		return 0
	}
	return f.pol.Target(t).Milliseconds()
}

func (f *slaFolder) warnAt() []float64 {
	if f.pol == nil {
		return nil
	}
	return f.pol.Warnings()
}

// due is when a running clock breaches.
func (f *slaFolder) due(t tickets.Target, c *slaClock) int64 {
	left := f.target(t) - c.Used
	if left <= 0 {
		return c.From
	}
	return ms(f.cal.Add(msAt(c.From), time.Duration(left)*time.Millisecond))
}

// warnInstant is when a running clock passes the warning threshold i.
func (f *slaFolder) warnInstant(t tickets.Target, c *slaClock, i int) int64 {
	at := int64(float64(f.target(t)) * f.warnAt()[i])
	left := at - c.Used
	if left <= 0 {
		return c.From
	}
	return ms(f.cal.Add(msAt(c.From), time.Duration(left)*time.Millisecond))
}

// advance fires every warning and breach due at or before now.
func (f *slaFolder) advance(now int64) {
	for _, t := range slaTargets {
		c := f.st.clock(t)
		if c.State != clockRunning || f.target(t) <= 0 {
			continue
		}
		due := f.due(t, c)
		for c.Warned < len(f.warnAt()) {
			w := f.warnInstant(t, c, c.Warned)
			if w > now || w >= due {
				break
			}
			f.out = append(f.out, slaOutcome{At: w, Target: t, What: "warning", Pct: int(f.warnAt()[c.Warned]*100 + 0.5)})
			c.Warned++
		}
		if due <= now {
			c.State, c.At, c.Due = clockBreached, due, due
			f.out = append(f.out, slaOutcome{At: due, Target: t, What: "breached"})
		} else {
			c.Due = due
		}
	}
}

// start runs clock t from at, fresh.
func (f *slaFolder) start(t tickets.Target, at int64) {
	c := f.st.clock(t)
	cycles := c.Cycles
	// A clock without a target runs too: a later change of priority or
	// team may give it one.
	*c = slaClock{State: clockRunning, From: at, Cycles: cycles + 1}
}

// pause stops a running clock's count until resume.
func (f *slaFolder) pause(c *slaClock, at int64) {
	if c.State != clockRunning {
		return
	}
	c.Used += f.cal.Between(msAt(c.From), msAt(at)).Milliseconds()
	c.State, c.From, c.Due = clockPaused, 0, 0
}

func (f *slaFolder) resume(c *slaClock, at int64) {
	if c.State == clockPaused {
		c.State, c.From = clockRunning, at
	}
}

// finish gives a live clock its verdict at at: met, or stopped.
func (f *slaFolder) finish(t tickets.Target, c *slaClock, at int64, what string) {
	switch {
	case c.State == clockBreached:
		if c.Late == 0 && what == clockMet {
			c.Late = at - c.Due
		}
		return
	case !c.live():
		return
	case f.target(t) <= 0:
		// No target, no verdict.
		f.pause(c, at)
		c.State, c.At, c.Due = clockStopped, at, 0
		return
	}
	f.pause(c, at)
	c.Early = 0
	if what == clockMet {
		c.Early = f.target(t) - c.Used // business time to spare
	}
	c.State, c.At, c.Due = what, at, 0
	f.out = append(f.out, slaOutcome{At: at, Target: t, What: what, By: c.Early})
}

// apply folds one event in (after advance(ev.At)).
func (f *slaFolder) apply(ev slaEvent) {
	st := f.st
	switch ev.Kind {
	case evOpened:
		if st.Started {
			return
		}
		st.Started = true
		f.lookup()
		f.start(tickets.FirstResponse, ev.At)
		f.start(tickets.Resolution, ev.At)
		st.clock(tickets.NextResponse).State = ""
	case evPriority, evTeam:
		if ev.Kind == evPriority {
			st.Priority = ev.To
		} else {
			st.Team = ev.To
		}
		if st.Started {
			f.rematch(ev.At)
		}
	case evStatus:
		prev := st.Status
		st.Status = ev.To
		if !st.Started {
			return
		}
		switch tickets.Status(ev.To) {
		case tickets.Pending:
			for _, t := range slaTargets {
				f.pause(st.clock(t), ev.At)
			}
		case tickets.Open, tickets.New:
			for _, t := range slaTargets {
				c := st.clock(t)
				if t == tickets.Resolution && c.State == clockMet && prev == string(tickets.Resolved) {
					// Reopened: the resolution clock goes on from where it
					// stopped; its verdict is given again at the next resolve.
					c.State, c.From, c.At, c.Early = clockRunning, ev.At, 0, 0
					continue
				}
				f.resume(c, ev.At)
			}
		case tickets.Resolved:
			f.finish(tickets.Resolution, st.clock(tickets.Resolution), ev.At, clockMet)
			f.finish(tickets.FirstResponse, st.clock(tickets.FirstResponse), ev.At, clockStopped)
			f.finish(tickets.NextResponse, st.clock(tickets.NextResponse), ev.At, clockStopped)
		case tickets.Closed:
			for _, t := range slaTargets {
				f.finish(t, st.clock(t), ev.At, clockStopped)
			}
		}
	case evReply:
		st.Replied = true
		if !st.Started {
			return
		}
		f.finish(tickets.FirstResponse, st.clock(tickets.FirstResponse), ev.At, clockMet)
		f.finish(tickets.NextResponse, st.clock(tickets.NextResponse), ev.At, clockMet)
	case evCustomer:
		if !st.Started || !st.Replied || !tickets.Status(st.Status).Active() {
			return
		}
		if c := st.clock(tickets.NextResponse); !c.live() {
			f.start(tickets.NextResponse, ev.At)
			if st.Status == string(tickets.Pending) {
				f.pause(c, ev.At)
			}
		}
	}
}

// fold applies events (in any order; they are sorted here) and then
// advances to now. It returns the outcomes reached and the instant of the
// next warning or breach (0 when no clock runs).
func (f *slaFolder) fold(events []slaEvent, now int64) (out []slaOutcome, next int64) {
	sort.SliceStable(events, func(i, j int) bool {
		if events[i].At != events[j].At {
			return events[i].At < events[j].At
		}
		return events[i].seq < events[j].seq
	})
	f.cal = (*tickets.Calendar)(nil)
	if f.st.Started {
		f.lookup()
	}
	for _, ev := range events {
		if f.st.Started {
			f.advance(ev.At)
		}
		f.apply(ev)
	}
	if f.st.Started {
		f.advance(now)
	}
	for _, t := range slaTargets {
		c := f.st.clock(t)
		if c.State != clockRunning || f.target(t) <= 0 {
			continue
		}
		n := f.due(t, c)
		if c.Warned < len(f.warnAt()) {
			if w := f.warnInstant(t, c, c.Warned); w < n {
				n = w
			}
		}
		if next == 0 || n < next {
			next = n
		}
	}
	return f.out, next
}
