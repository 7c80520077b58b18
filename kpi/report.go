package kpi

import "time"

// Report is the KPIs of one period and filter. Counts are whole numbers;
// averages, medians, percentiles and percentages are rounded to two
// decimals and are null in JSON (nil here) when there is nothing to
// average. Durations are in seconds. See the package documentation for
// what each figure counts.
type Report struct {
	// From and To are the filter's period (To exclusive); zero when open.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// TimeZone is the zone of the by-hour buckets.
	TimeZone string `json:"time_zone"`
	Channel  string `json:"channel"`
	Team     string `json:"team"`
	Agent    string `json:"agent"`

	CSAT           CSATStats  `json:"csat"`
	NPS            NPSStats   `json:"nps"`
	FCR            FCRStats   `json:"fcr"`
	AHT            AHTStats   `json:"aht"`
	CallTalk       TalkStats  `json:"call_talk"`
	FirstResponse  Durations  `json:"first_response"`
	ResolutionTime Durations  `json:"resolution_time"`
	SLA            SLAStats   `json:"sla"`
	Bot            BotStats   `json:"bot"`
	Volumes        Volumes    `json:"volumes"`
	Calls          CallCounts `json:"calls"`
}

// CSATStats are the satisfaction survey answers (1–5).
type CSATStats struct {
	Responses int      `json:"responses"`
	Average   *float64 `json:"average"`
	// Satisfied counts the answers of 4 and 5.
	Satisfied    int      `json:"satisfied"`
	SatisfiedPct *float64 `json:"satisfied_pct"`
}

// NPSStats are the net promoter survey answers (0–10).
type NPSStats struct {
	Responses  int `json:"responses"`
	Promoters  int `json:"promoters"`  // 9–10
	Passives   int `json:"passives"`   // 7–8
	Detractors int `json:"detractors"` // 0–6
	// Score is the share of promoters minus the share of detractors, in
	// percentage points (−100 to 100).
	Score *float64 `json:"score"`
}

// FCRStats is first-contact resolution.
type FCRStats struct {
	// Resolved counts the tickets resolved in the period that a person
	// answered; FirstContact those of them resolved at the first contact.
	Resolved     int      `json:"resolved"`
	FirstContact int      `json:"first_contact"`
	Pct          *float64 `json:"pct"`
}

// AHTStats is the handle time of the tickets resolved in the period.
type AHTStats struct {
	Tickets       int      `json:"tickets"`
	AvgSeconds    *float64 `json:"avg_seconds"`
	MedianSeconds *float64 `json:"median_seconds"`
}

// TalkStats is the talk time of answered calls.
type TalkStats struct {
	Calls      int      `json:"calls"`
	AvgSeconds *float64 `json:"avg_seconds"`
}

// Durations summarises a set of durations.
type Durations struct {
	Count         int      `json:"count"`
	AvgSeconds    *float64 `json:"avg_seconds"`
	MedianSeconds *float64 `json:"median_seconds"`
	P90Seconds    *float64 `json:"p90_seconds"`
}

// SLAStats are the SLA outcomes per target and over all targets.
type SLAStats struct {
	FirstResponse Attainment `json:"first_response"`
	NextResponse  Attainment `json:"next_response"`
	Resolution    Attainment `json:"resolution"`
	// Overall adds up every target, including ones not listed above.
	Overall Attainment `json:"overall"`
}

// Attainment is how often a target was met.
type Attainment struct {
	Met           int      `json:"met"`
	Breached      int      `json:"breached"`
	AttainmentPct *float64 `json:"attainment_pct"`
}

// BotStats are the FAQ bot's conversations.
type BotStats struct {
	Engaged       int      `json:"engaged"`
	Answered      int      `json:"answered"`
	HandedOff     int      `json:"handed_off"`
	Deflected     int      `json:"deflected"`
	DeflectionPct *float64 `json:"deflection_pct"`
}

// CallCounts are the phone calls answered and missed.
type CallCounts struct {
	Answered int `json:"answered"`
	Missed   int `json:"missed"`
}

// Counts are the volume figures of one bucket.
type Counts struct {
	Opened       int `json:"opened"`
	Resolved     int `json:"resolved"`
	CustomerMsgs int `json:"customer_msgs"`
	AgentReplies int `json:"agent_replies"`
}

// Volume is the counts of one channel, team or agent; Key "" gathers the
// events without one (a ticket not yet routed to a team or agent).
type Volume struct {
	Key string `json:"key"`
	Counts
}

// HourVolume is the counts of one hour of the day (0–23), summed over
// the days of the period.
type HourVolume struct {
	Hour int `json:"hour"`
	Counts
}

// Volumes are the counts in total and broken down. The breakdowns are
// sorted by key and hold only keys with a count.
type Volumes struct {
	Counts
	ByChannel []Volume       `json:"by_channel"`
	ByTeam    []Volume       `json:"by_team"`
	ByAgent   []Volume       `json:"by_agent"`
	ByHour    [24]HourVolume `json:"by_hour"`
}
