package tickets

import "time"

// SLAStatus is a ticket's service level as the API shows it.
type SLAStatus struct {
	// Policy is the name of the policy that applies, "" for none.
	Policy string `json:"policy"`
	// Flag is "breached" (a target was missed and the ticket is not
	// resolved), "warning" (a running target passed a warning threshold)
	// or "".
	Flag    string         `json:"flag,omitempty"`
	Targets []TargetStatus `json:"targets"`
}

// TargetStatus is one target's clock.
type TargetStatus struct {
	Target Target `json:"target"`
	// State is running, paused, met, breached or stopped (ended with no
	// verdict: resolved unanswered, closed, or no target set).
	State string `json:"state"`
	// Goal is the target's length (business time when the policy counts
	// business hours), in seconds; 0 when the policy sets none.
	GoalSeconds int64 `json:"goal_seconds"`
	// Due is when a running clock breaches.
	Due *time.Time `json:"due,omitempty"`
	// At is when the verdict was reached: met, breached or stopped.
	At *time.Time `json:"at,omitempty"`
	// SpareSeconds is, for a met target, the business time left to spare.
	SpareSeconds int64 `json:"spare_seconds,omitempty"`
	// LateSeconds is, for a breached target, how late it was met (or, not
	// met yet, how late it is now).
	LateSeconds int64 `json:"late_seconds,omitempty"`
}
