package ami

import (
	"cmp"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/connectors"
)

// How long a call's state is kept, and how many calls at most.
const (
	// callIdle: a call with no event for this long is forgotten, emitting
	// nothing (its Hangup was lost, e.g. while disconnected). Long because
	// an answered call is silent until it ends.
	callIdle = 12 * time.Hour
	// endedGrace: after the call's hangup, the Hangups of its other
	// channels are waited for this long.
	endedGrace = time.Minute
	sweepEvery = time.Minute
	// maxCalls bounds the calls tracked at once; beyond it new calls are
	// not followed (and a warning is logged).
	maxCalls = 50_000
)

// tracker turns AMI events into call events. A call is a Linkedid: the
// Uniqueid of the oldest channel, inherited by every channel the call
// spawns. The session's reader owns the tracker; it is not safe for
// concurrent use.
type tracker struct {
	source  string
	ext     *regexp.Regexp
	inbound map[string]bool // Config.InboundContexts; empty: by device
	log     *slog.Logger
	calls   map[string]*call
	swept   time.Time
	full    bool // maxCalls was reached (warned once until it clears)
}

// call is what the tracker knows of one call.
type call struct {
	id     string // Linkedid
	origin string // Uniqueid of the originating channel (= Linkedid)
	// ignored: a call that is none of the contact center's (extension to
	// extension, or not from an inbound context); followed only to know
	// when it ends.
	ignored       bool
	dir, from, to string
	queue         string
	agent         string          // outbound: the dialing extension
	rung          []string        // extensions a ring was emitted for
	answeredBy    []string        // extensions an answer was emitted for; the last holds the call
	answered      bool            // someone answered, an extension or not
	dialing       map[string]bool // dials begun and not yet ended, by DestUniqueid
	status        string          // the last DialStatus other than ANSWER
	abandoned     bool            // the caller left a queue unanswered
	channels      map[string]bool // Uniqueids of its channels not yet hung up
	bridges       map[string][]member
	ended         bool // its hangup was emitted (or it was ignored and its origin hung up)
	seen, endedAt time.Time
}

// member is a channel of the call in a bridge.
type member struct{ uid, dev string }

func newTracker(source string, ext *regexp.Regexp, inbound []string, log *slog.Logger) *tracker {
	t := &tracker{source: source, ext: ext, log: log, calls: map[string]*call{}}
	if len(inbound) > 0 {
		t.inbound = map[string]bool{}
		for _, c := range inbound {
			t.inbound[strings.TrimSpace(c)] = true
		}
	}
	return t
}

// event takes one AMI event read at now and returns the call events it
// makes, in order.
func (t *tracker) event(p packet, now time.Time) []connectors.CallEvent {
	t.sweep(now)
	name, lid, uid := p.get("Event"), p.get("Linkedid"), p.get("Uniqueid")
	if name == "" || lid == "" || uid == "" {
		return nil
	}
	at := p.at()
	if at.IsZero() {
		at = now
	}
	var out []connectors.CallEvent
	c := t.calls[lid]
	if c == nil {
		// A call begins with its oldest channel's Newchannel. A call met
		// later (after a reconnect, or taken over from another replica) is
		// adopted from any event of that channel but its end.
		if uid != lid || strings.Contains(name, "Hangup") {
			return nil
		}
		if len(t.calls) >= maxCalls {
			if !t.full {
				t.log.Warn("ami: too many calls at once; new calls are not followed", "max", maxCalls)
				t.full = true
			}
			return nil
		}
		t.full = false
		c = t.start(p, name == "Newchannel", now)
		t.calls[lid] = c
		if !c.ignored {
			ev := t.emit(c, connectors.CallNew, at)
			if c.agent != "" {
				ev.Users = []string{c.agent}
			}
			out = append(out, ev)
		}
	}
	c.seen = now
	switch name {
	case "Newchannel":
		c.channels[uid] = true
		return out
	case "Hangup":
		delete(c.channels, uid)
		if uid == c.origin && !c.ended {
			if !c.ignored {
				ev := t.emit(c, connectors.CallHangup, at)
				ev.AnsweredBy = last(c.answeredBy)
				ev.Cause = c.cause(p.get("Cause"))
				out = append(out, ev)
			}
			c.ended, c.endedAt = true, now
		}
		if len(c.channels) == 0 {
			delete(t.calls, lid)
		}
		return out
	}
	if c.ignored || c.ended {
		return out
	}
	switch name {
	case "QueueCallerJoin":
		c.queue = cmp.Or(p.get("Queue"), c.queue)
	case "QueueCallerAbandon":
		c.abandoned = true
	case "AgentCalled":
		c.queue = cmp.Or(p.get("Queue"), c.queue)
		out = t.ring(c, t.agentDevice(p), at, out)
	case "DialBegin":
		c.dialing[cmp.Or(p.get("DestUniqueid"), p.get("DestChannel"))] = true
		if dev := channelDevice(p.get("DestChannel")); t.isExt(dev) {
			out = t.ring(c, dev, at, out)
		}
	case "DialEnd":
		delete(c.dialing, cmp.Or(p.get("DestUniqueid"), p.get("DestChannel")))
		switch status := strings.ToUpper(p.get("DialStatus")); status {
		case "ANSWER":
			out = t.answer(c, t.answerer(c, channelDevice(p.get("DestChannel"))), at, out)
		case "":
		default:
			c.status = status
		}
	case "AgentConnect":
		c.queue = cmp.Or(p.get("Queue"), c.queue)
		out = t.answer(c, t.agentDevice(p), at, out)
	case "BridgeEnter":
		out = t.bridgeEnter(c, p, uid, at, out)
	case "BridgeLeave":
		bid := p.get("BridgeUniqueid")
		c.bridges[bid] = slices.DeleteFunc(c.bridges[bid], func(m member) bool { return m.uid == uid })
		if len(c.bridges[bid]) == 0 {
			delete(c.bridges, bid)
		}
	}
	return out
}

// start makes the call whose originating channel p is about, deciding its
// direction. fresh: p is the channel's Newchannel, whose Context is where
// the call entered the dialplan.
func (t *tracker) start(p packet, fresh bool, now time.Time) *call {
	uid := p.get("Uniqueid")
	c := &call{id: p.get("Linkedid"), origin: uid, seen: now, dialing: map[string]bool{},
		channels: map[string]bool{uid: true}, bridges: map[string][]member{}}
	dev := channelDevice(p.get("Channel"))
	fromExt := t.isExt(dev)
	exten := p.get("Exten")
	byContext := t.inbound != nil && fresh // an adopted call's context has moved on
	switch {
	case byContext && t.inbound[p.get("Context")], !byContext && !fromExt:
		c.dir = connectors.CallInbound
		c.from = number(p.get("CallerIDNum"))
		if exten != "s" { // "s": the trunk passed no number
			c.to = exten
		}
	case fromExt && dialed(exten) && !t.isExt(exten):
		c.dir = connectors.CallOutbound
		c.agent = dev
		c.from = cmp.Or(number(p.get("CallerIDNum")), dev)
		c.to = exten
	default:
		c.ignored = true
	}
	return c
}

// ring emits a ring for dev unless it rang already.
func (t *tracker) ring(c *call, dev string, at time.Time, out []connectors.CallEvent) []connectors.CallEvent {
	if dev == "" || dev == c.agent || slices.Contains(c.rung, dev) {
		return out
	}
	c.rung = append(c.rung, dev)
	ev := t.emit(c, connectors.CallRing, at)
	ev.Users = []string{dev}
	return append(out, ev)
}

// answer marks the call answered and emits an answer for dev, unless dev
// answered already or is not known ("").
func (t *tracker) answer(c *call, dev string, at time.Time, out []connectors.CallEvent) []connectors.CallEvent {
	c.answered = true
	if dev == "" || slices.Contains(c.answeredBy, dev) {
		return out
	}
	c.answeredBy = append(c.answeredBy, dev)
	ev := t.emit(c, connectors.CallAnswer, at)
	ev.AnsweredBy = dev
	return append(out, ev)
}

// answerer names who answered when the channel of device dev did: an
// extension itself; for an outbound call, the dialing extension when the
// far end answered; "" for an inbound call answered elsewhere (forwarded
// out through a trunk), which is answered without an answer event and
// ends as forwarded.
func (t *tracker) answerer(c *call, dev string) string {
	switch {
	case t.isExt(dev) && dev != c.agent:
		return dev
	case c.dir == connectors.CallOutbound:
		return c.agent
	}
	return ""
}

// bridgeEnter follows the call's channels into bridges: the second
// channel in a bridge (a two-party call) answers the call. Holding bridges
// (parking) answer nothing.
func (t *tracker) bridgeEnter(c *call, p packet, uid string, at time.Time, out []connectors.CallEvent) []connectors.CallEvent {
	if strings.Contains(p.get("BridgeTechnology"), "holding") {
		return out
	}
	bid := p.get("BridgeUniqueid")
	if !slices.ContainsFunc(c.bridges[bid], func(m member) bool { return m.uid == uid }) {
		c.bridges[bid] = append(c.bridges[bid], member{uid: uid, dev: channelDevice(p.get("Channel"))})
	}
	if n, _ := strconv.Atoi(p.get("BridgeNumChannels")); n < 2 {
		return out
	}
	dev := ""
	members := c.bridges[bid]
	for i := len(members) - 1; i >= 0 && dev == ""; i-- { // the latest to enter first
		if m := members[i]; m.uid != c.origin && t.isExt(m.dev) && m.dev != c.agent {
			dev = m.dev
		}
	}
	if dev == "" {
		dev = t.answerer(c, "")
	}
	return t.answer(c, dev, at, out)
}

// agentDevice names the queue member of an AgentCalled or AgentConnect:
// the extension of its Interface or else of its DestChannel; failing both,
// the Interface's device as it is (a queue member is an agent even when
// its name is no extension).
func (t *tracker) agentDevice(p packet) string {
	if dev := interfaceDevice(p.get("Interface")); t.isExt(dev) {
		return dev
	}
	if dev := channelDevice(p.get("DestChannel")); t.isExt(dev) {
		return dev
	}
	return interfaceDevice(p.get("Interface"))
}

// cause maps how an unended call ends to a hangup cause. hangupCause is
// the Q.850 code of the originating channel's Hangup, used when no dial
// told more. An inbound call answered by no extension went out through a
// trunk: forwarded, which is not a missed call.
func (c *call) cause(hangupCause string) string {
	switch {
	case c.answered && len(c.answeredBy) == 0 && c.dir == connectors.CallInbound:
		return connectors.CauseForwarded
	case c.answered:
		return connectors.CauseNormalClearing
	case c.abandoned || len(c.dialing) > 0: // the caller gave up while waiting or ringing
		return connectors.CauseCancel
	}
	switch c.status {
	case "BUSY":
		return connectors.CauseBusy
	case "NOANSWER":
		return connectors.CauseNoAnswer
	case "CONGESTION", "CHANUNAVAIL":
		return connectors.CauseCongestion
	case "CANCEL":
		return connectors.CauseCancel
	}
	switch hangupCause {
	case "17", "21": // user busy, call rejected
		return connectors.CauseBusy
	case "18", "19": // no user responding, no answer
		return connectors.CauseNoAnswer
	case "1", "3": // unallocated number, no route to destination
		return connectors.CauseNotFound
	case "34", "38", "41", "42", "44", "47": // no circuit, network out of order, temporary failure, congestion…
		return connectors.CauseCongestion
	}
	return connectors.CauseCancel
}

// emit returns a call event of c with what is known of the call.
func (t *tracker) emit(c *call, typ connectors.CallEventType, at time.Time) connectors.CallEvent {
	return connectors.CallEvent{Source: t.source, Type: typ, CallID: c.id, Direction: c.dir,
		From: c.from, To: c.to, Queue: c.queue, At: at}
}

// sweep forgets ended calls whose other channels' Hangups did not come,
// and calls silent for too long.
func (t *tracker) sweep(now time.Time) {
	if now.Sub(t.swept) < sweepEvery {
		return
	}
	t.swept = now
	for id, c := range t.calls {
		switch {
		case c.ended && now.Sub(c.endedAt) > endedGrace:
			delete(t.calls, id)
		case now.Sub(c.seen) > callIdle:
			if !c.ignored && !c.ended {
				t.log.Info("ami: call forgotten without a hangup (its end was missed)", "call", id, "silent_for", now.Sub(c.seen).Round(time.Second))
			}
			delete(t.calls, id)
		}
	}
}

// isExt reports whether dev is one of the PBX's extensions.
func (t *tracker) isExt(dev string) bool { return dev != "" && t.ext.MatchString(dev) }

// number returns a caller id number, "" for Asterisk's "<unknown>".
func number(s string) string {
	if s == "<unknown>" {
		return ""
	}
	return s
}

// dialed reports whether exten is a number one dials (digits, maybe a
// leading +), not a dialplan name such as "s" or a feature code.
func dialed(exten string) bool {
	s := strings.TrimPrefix(exten, "+")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}
