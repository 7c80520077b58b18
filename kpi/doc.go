// Package kpi computes the contact center's KPIs from the ticket event
// log, not from counters: CSAT, NPS, first-contact resolution, handle
// time, first response and resolution times, SLA attainment, bot
// deflection, call counts and volumes by channel, team, agent and hour.
//
// It is a leaf package: the router implements Source (it replays each
// ticket's history as Events), Compute turns events into a Report, the
// server serves it at GET /api/v1/kpis (JSON and CSV) and Collector shows
// today's figures as Prometheus gauges. docs/kpis.md explains the figures
// to supervisors.
//
// # Period and filters
//
// A Filter's period is [From, To). Events at or after To are dropped
// before anything else: a report says how things stood at To and does not
// change later. Events before From stay, so durations can start before
// the period. Each figure below is counted by one event, which must fall
// in the period; the Team and Agent filters compare that event's own Team
// and Agent (the team and assignee at that moment, the acting agent of a
// reply). The Channel filter keeps whole tickets: a ticket's channel is
// the Channel of its first event that names one.
//
// A ticket is resolved in the period when its last Resolved event before
// To falls in the period and no Reopened event follows it before To; that
// Resolved event (its team, agent and hour) counts it. A ticket closed
// without being resolved is not resolved.
//
// # Definitions
//
// CSAT: every csat event with a value of 1–5 is one response (other
// values are ignored). average is their mean; satisfied counts 4 and 5;
// satisfied_pct = satisfied / responses × 100.
//
// NPS: every nps event with a value of 0–10 is one response. Promoters
// answered 9–10, passives 7–8, detractors 0–6; score = (promoters −
// detractors) / responses × 100.
//
// FCR: among the tickets resolved in the period that a person answered
// (an agent_reply or call_answered before the resolution), the share
// resolved at first contact: never reopened, never transferred before the
// resolution, and resolved (the Resolved event's Agent) by the first
// agent who answered. This is the contact-center meaning, the customer's
// matter settled by the first person who took it, without coming back or
// being passed on; it does not count replies (one-touch resolution), since
// a chat takes several messages in one contact. Tickets nobody answered
// (the bot's, spam) are left out: FCR is about people.
//
// AHT: for each ticket resolved in the period, the time from the first
// answer (agent_reply or call_answered) to the resolution, summed over its
// rounds: a ticket resolved, reopened and resolved again adds the time
// from the first answer after the reopen to the second resolution, not
// the time it sat resolved. Rounds nobody answered add nothing; tickets
// with no answered round are left out. avg_seconds and median_seconds.
// call_talk is separate: the talk seconds (Value) of call_answered
// events in the period.
//
// First response: the Value (seconds from opening, wall clock) of every
// first_response event in the period: count, mean, median and 90th
// percentile.
//
// Resolution time: for each ticket resolved in the period with its
// opened event in the log, the wall-clock time from opening to the final
// resolution (time pending or resolved before a reopen included).
//
// SLA: sla_met and sla_breached events in the period, by Target;
// attainment_pct = met / (met + breached) × 100. overall adds up every
// target, including unknown ones.
//
// Bot: a ticket whose first bot_engaged event falls in the period is
// engaged; answered when it has a bot_answered event, handed_off when it
// has a bot_handoff event (before To). It is deflected when the bot
// answered it and, before To, it was never handed off, never reopened and
// no person answered it. deflection_pct = deflected / engaged × 100.
//
// Calls: call_answered and call_missed events in the period.
//
// Volumes: opened counts opened events, customer_msgs customer_msg events
// and agent_replies agent_reply events in the period; resolved counts the
// tickets resolved in the period. by_channel splits them by the ticket's
// channel, by_team and by_agent by the counting event's Team and Agent
// (key "" for none: not yet routed, unassigned), by_hour by the hour of
// the counting event in the Filter's Location, summed over the days of
// the period.
//
// # Numbers
//
// The median of an even count is the mean of the two middle values; the
// 90th percentile is the nearest rank (the ⌈0.9·n⌉-th smallest value).
// Averages, medians, percentiles and percentages are rounded to two
// decimals; with nothing to average they are nil (null in JSON), never
// NaN.
package kpi
