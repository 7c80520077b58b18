// Package telephony is the CTI channel (`channels.cti`): telephone calls
// from a PBX reach Switchboard as call events, either through a webhook
// that speaks Zammad's generic CTI API (POST /channels/cti/{source}/events,
// so PBX scripts written for Zammad work unchanged) or through an Asterisk
// Manager Interface client (package ami) per source with `ami` configured.
//
// The connector checks the source's secret, parses and validates the
// event, normalizes the numbers to E.164 (internal/phone) and finds the
// team of the called number, then hands the event to the router
// (connectors.Calls), which keeps the call record and pops the caller's
// record up on the agents' screens. The webhook answers only once the
// router has stored the event. A call carries no text: the channel sends
// nothing (Send is unsupported), and agents turn a call into a ticket in
// the inbox. See docs/telephony.md.
package telephony
