package router

import (
	"encoding/json"
	"time"

	"switchboard/tickets"
)

// slaStatus is the API's view of a conversation's SLA state, as of now;
// nil when the ticket has not been synced or no policy applies.
func (r *Router) slaStatus(c Conversation, now time.Time) *tickets.SLAStatus {
	raw := c.fields["sla"]
	if raw == "" {
		return nil
	}
	var st slaState
	if err := json.Unmarshal([]byte(raw), &st); err != nil || st.Policy == "" {
		return nil
	}
	pol, _ := r.slaPolicy(st.Channel, st.Level, st.Named)(st.Priority, st.Team)
	out := &tickets.SLAStatus{Policy: st.Policy, Flag: c.fields["sla_flag"], Targets: []tickets.TargetStatus{}}
	at := func(v int64) *time.Time {
		if v <= 0 {
			return nil
		}
		t := time.UnixMilli(v).UTC()
		return &t
	}
	for _, t := range slaTargets {
		cl := st.Clocks[t]
		goal := pol.Target(t)
		if cl == nil || cl.State == "" || (goal == 0 && cl.State != clockMet && cl.State != clockBreached) {
			continue
		}
		ts := tickets.TargetStatus{Target: t, State: cl.State, GoalSeconds: int64(goal / time.Second)}
		switch cl.State {
		case clockRunning:
			ts.Due = at(cl.Due)
		case clockMet:
			ts.At, ts.SpareSeconds = at(cl.At), cl.Early/1000
		case clockBreached:
			ts.At = at(cl.At)
			if cl.Late > 0 {
				ts.LateSeconds = cl.Late / 1000
			} else if late := now.Sub(time.UnixMilli(cl.Due)); late > 0 {
				ts.LateSeconds = int64(late / time.Second)
			}
		case clockStopped:
			ts.At = at(cl.At)
		}
		out.Targets = append(out.Targets, ts)
	}
	return out
}
