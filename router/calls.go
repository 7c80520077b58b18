package router

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/rdb"
)

// The router keeps telephone call records and pops the caller's record up
// on the screens of the agents a call rings for.
var _ connectors.Calls = (*Router)(nil)

// Call states.
const (
	CallRinging  = "ringing"
	CallAnswered = "answered"
	CallEnded    = "ended"
	CallMissed   = "missed"
)

// Limits on call records.
const (
	callTTL        = 400 * 24 * time.Hour
	callKPITTL     = 400 * 24 * time.Hour
	maxCallUsers   = 32
	maxCallField   = 128
	customerCallsN = 100
	recentCallsN   = 10000
)

// CallPolicy is implemented by the CTI connector (connectors/telephony):
// what a source's configuration asks of its calls. The router asks the
// connector registered for connectors.CTI; without one, neither holds.
type CallPolicy interface {
	// MissedCallTicket reports whether a missed inbound call on source
	// opens a callback ticket (channels.cti[].missed_call_ticket).
	MissedCallTicket(source string) bool
	// RingsAgents reports whether source names the agents a call rings
	// for as it rings them (ring events, from AMI): a newCall that names
	// nobody then waits for them instead of popping up for the team.
	RingsAgents(source string) bool
}

// Call is the record of one telephone call.
type Call struct {
	// ID is the call's id in the API: a hash of Source and CallID.
	ID     string `json:"id"`
	Source string `json:"source"`
	// CallID is the PBX's id of the call.
	CallID    string `json:"call_id"`
	Direction string `json:"direction"`
	// State is ringing, answered, ended or missed.
	State string `json:"state"`
	// From and To are the numbers as the PBX sent them; FromE164 and
	// ToE164 their E.164 forms when valid.
	From     string `json:"from"`
	To       string `json:"to"`
	FromE164 string `json:"from_e164,omitempty"`
	ToE164   string `json:"to_e164,omitempty"`
	// Number is the customer's side of the call (the caller of an
	// inbound call, the called party of an outbound one), in E.164 when
	// it is valid.
	Number string `json:"number"`
	Team   string `json:"team,omitempty"`
	Queue  string `json:"queue,omitempty"`
	// CustomerID is the caller's customer, when the number is known.
	CustomerID string `json:"customer_id,omitempty"`
	// Users are the agents the PBX named (extensions, ids, e-mails or
	// names); Agents the ids of the agents the call popped up for.
	Users  []string `json:"users"`
	Agents []string `json:"agents"`
	// AnsweredBy is who answered as the PBX named them; AnsweredAgent the
	// agent id, when it is one of ours.
	AnsweredBy    string     `json:"answered_by,omitempty"`
	AnsweredAgent string     `json:"answered_agent,omitempty"`
	Cause         string     `json:"cause,omitempty"`
	StartedAt     time.Time  `json:"started_at"`
	AnsweredAt    *time.Time `json:"answered_at,omitempty"`
	EndedAt       *time.Time `json:"ended_at,omitempty"`
	// Duration is the talk time in seconds, from answer to hangup. It is 0
	// and TalkUnknown true when the answer event was lost and only the
	// hangup said who answered.
	Duration    int  `json:"duration"`
	TalkUnknown bool `json:"talk_unknown,omitempty"`
	// ConversationID and TicketID name the ticket the call was turned
	// into or attached to; CallbackID the callback ticket of a missed
	// call.
	ConversationID string `json:"conversation_id,omitempty"`
	TicketID       string `json:"ticket_id,omitempty"`
	CallbackID     string `json:"callback_conversation_id,omitempty"`
	// fields is the record as stored.
	fields map[string]string
}

// Live reports whether the call is still going on.
func (c Call) Live() bool { return c.State == CallRinging || c.State == CallAnswered }

// Answered reports whether someone answered the call. It is the one test
// of it (lua/call_event.lua sets answered_at on an answer, and on a
// hangup that names who answered).
func (c Call) Answered() bool { return c.AnsweredAt != nil }

// customerNumber is the number the customer is reached on, raw.
func (c Call) customerNumber() string {
	if c.Direction == connectors.CallOutbound {
		return c.To
	}
	return c.From
}

// callID is the API id of a call: the first 80 bits of a SHA-256 of the
// source and the PBX's id, in hex.
func callID(source, pbxID string) string {
	sum := sha256.Sum256([]byte(source + "\x00" + pbxID))
	return hex.EncodeToString(sum[:10])
}

// callEventLua records a call event (lua/call_event.lua). It is loaded on
// first use, not with the router's other scripts.
var callEventLua = script("call_event")

var (
	callIDRe = regexp.MustCompile(`^[0-9a-f]{20}$`)
	sourceRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
)

// CallEvent records one event of a call and tells the agents concerned:
// a new call (or a ring) pops the caller's record up for the agents the
// PBX named, by extension, id, e-mail or name, or, when none of them is
// an agent, for the agents of the call's team (a newCall naming nobody
// from a source that reports rings waits for the rings instead); an answer or a hangup
// updates it for the same agents. A missed inbound call opens a callback
// ticket when the source asks for it, unless an agent made a ticket of it
// while it rang. It returns once Redis holds the
// event. A repeat of a recorded event keeps the call's state and times,
// but adds the agents it names (a transfer's second answer, a newCall
// sent again with more users), pops the call up for those while it goes
// on, and finishes a callback ticket a failure left undone; a repeat that
// names nobody new pops nothing up.
func (r *Router) CallEvent(ctx context.Context, ev connectors.CallEvent) error {
	if err := validCallEvent(&ev); err != nil {
		return err
	}
	at := ev.At
	if at.IsZero() {
		at = r.now()
	}
	id := callID(ev.Source, ev.CallID)
	number := ev.FromE164
	if ev.Direction == connectors.CallOutbound {
		number = ev.ToE164
	}
	cust, err := r.customerByPhone(ctx, number)
	if err != nil {
		return err
	}
	agents, err := r.agentsNamed(ctx, ev.Users)
	if err != nil {
		return err
	}
	answering := ""
	if ev.AnsweredBy != "" {
		if a, err := r.agentsNamed(ctx, []string{ev.AnsweredBy}); err == nil && len(a) == 1 {
			answering = a[0]
			if ev.Type == connectors.CallAnswer && !slices.Contains(agents, answering) {
				agents = append(agents, answering) // they get the record too
			}
		}
	}
	team := ""
	if ev.Type == connectors.CallNew && len(agents) == 0 && (len(ev.Users) > 0 || !r.callPolicy().RingsAgents(ev.Source)) {
		// The team's agents, unless the call has agents already (a
		// repeated newCall).
		if agents, err = r.teamAgents(ctx, ev.Team); err != nil {
			return err
		}
		team = "1"
	}
	args := []any{string(ev.Type), ms(at), ev.Source, ev.CallID, ev.Direction, ev.From, ev.To, ev.FromE164,
		ev.ToE164, ev.Team, ev.Queue, cust, ev.AnsweredBy, answering, ev.Cause, int64(callTTL / time.Second), len(ev.Users), team}
	for _, u := range ev.Users {
		args = append(args, u)
	}
	for _, a := range agents {
		args = append(args, a)
	}
	b := rdb.NewBatch(r.rdb)
	cmd := b.Run(ctx, callEventLua, []string{r.k.call(id), r.k.callUsers(id), r.k.callAgents(id)}, args...)
	if err := r.commit.Exec(ctx, b); err != nil {
		return fmt.Errorf("router: call event: %w", err)
	}
	res, err := cmd.Slice()
	if err != nil || len(res) != 6 {
		return fmt.Errorf("router: call event: unexpected reply %v: %w", res, err)
	}
	code, _ := res[0].(int64)
	c := callFrom(pairs(res[3]), strs(res[4]), strs(res[5]))
	added := strs(res[2])
	if code == 2 { // an answer after the hangup: ignored
		return nil
	}
	if err := r.callWrites(ctx, c); err != nil {
		return err
	}
	r.tellCall(ctx, c, ev.Type, code == 0, added)
	// A missed call an agent made a ticket of while it rang has its ticket.
	if c.State == CallMissed && c.Direction == connectors.CallInbound && c.CallbackID == "" && c.ConversationID == "" &&
		r.callPolicy().MissedCallTicket(c.Source) {
		if err := r.openCallback(ctx, c); err != nil {
			return fmt.Errorf("router: missed call %s: %w", c.ID, err)
		}
	}
	return nil
}

// validCallEvent checks what a connector handed over.
func validCallEvent(ev *connectors.CallEvent) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: call event: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch ev.Type {
	case connectors.CallNew, connectors.CallRing, connectors.CallAnswer, connectors.CallHangup:
	default:
		return bad("unknown event %q", ev.Type)
	}
	switch {
	case !sourceRe.MatchString(ev.Source):
		return bad("bad source %q", ev.Source)
	case !validCallText(ev.CallID) || ev.CallID == "":
		return bad("the call id must be 1–%d printable characters", maxCallField)
	case ev.Direction != "" && ev.Direction != connectors.CallInbound && ev.Direction != connectors.CallOutbound:
		return bad("direction must be in or out")
	case len(ev.Users) > maxCallUsers:
		return bad("at most %d users", maxCallUsers)
	}
	for name, v := range map[string]string{"from": ev.From, "to": ev.To, "from_e164": ev.FromE164, "to_e164": ev.ToE164,
		"answered_by": ev.AnsweredBy, "queue": ev.Queue, "cause": ev.Cause, "team": ev.Team} {
		if !validCallText(v) {
			return bad("%s must be at most %d printable characters", name, maxCallField)
		}
	}
	var users []string
	for _, u := range ev.Users {
		u = strings.TrimSpace(u)
		if !validCallText(u) {
			return bad("users must be at most %d printable characters each", maxCallField)
		}
		if u != "" && !slices.Contains(users, u) {
			users = append(users, u)
		}
	}
	ev.Users = users
	return nil
}

// validCallText accepts what may be stored of a call: UTF-8, no control
// characters, at most maxCallField bytes.
func validCallText(s string) bool {
	return len(s) <= maxCallField && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// customerByPhone returns the customer id an E.164 number belongs to, or
// "" when it belongs to nobody (or is "").
func (r *Router) customerByPhone(ctx context.Context, e164 string) (string, error) {
	if e164 == "" {
		return "", nil
	}
	id, err := r.rdb.Get(ctx, r.k.identityCustomer(identityTag(phoneIdentity(e164)))).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("router: find caller: %w", err)
	}
	return id, nil
}

func phoneIdentity(e164 string) connectors.Identity {
	return connectors.Identity{Type: "phone", Value: e164}
}

// callWrites files a call under its customer (the one that remains of it,
// when it was merged into another since the call began) and in the
// recent calls, and counts it in its day's KPIs. Every write is
// idempotent, so a repeat of the event makes up for writes a failure
// lost.
func (r *Router) callWrites(ctx context.Context, c Call) error {
	b := rdb.NewBatch(r.rdb)
	p := b.Pipe()
	z := callZ(c)
	if c.CustomerID != "" {
		cust, err := r.followMerged(ctx, c.CustomerID)
		if err != nil {
			return err
		}
		p.ZAdd(ctx, r.k.customerCalls(cust), z)
		p.ZRemRangeByRank(ctx, r.k.customerCalls(cust), 0, -customerCallsN-1)
	}
	p.ZAdd(ctx, r.k.callsRecent(), z)
	p.ZRemRangeByRank(ctx, r.k.callsRecent(), 0, -recentCallsN-1)
	r.countCall(ctx, p, c)
	if err := r.commit.Exec(ctx, b); err != nil {
		return fmt.Errorf("router: file call: %w", err)
	}
	return nil
}

// callZ is a call's member in the call lists, scored by its start.
func callZ(c Call) redis.Z { return redis.Z{Score: float64(ms(c.StartedAt)), Member: c.ID} }

// loadCall reads a call record by its API id.
func (r *Router) loadCall(ctx context.Context, id string) (Call, error) {
	if !callIDRe.MatchString(id) {
		return Call{}, ErrNotFound
	}
	pipe := r.rdb.Pipeline()
	h := pipe.HGetAll(ctx, r.k.call(id))
	users := pipe.SMembers(ctx, r.k.callUsers(id))
	agents := pipe.SMembers(ctx, r.k.callAgents(id))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Call{}, fmt.Errorf("router: load call: %w", err)
	}
	if h.Val()["id"] == "" {
		return Call{}, ErrNotFound
	}
	return callFrom(h.Val(), users.Val(), agents.Val()), nil
}

// callFrom builds a call from its hash and sets.
func callFrom(h map[string]string, users, agents []string) Call {
	c := Call{ID: h["id"], Source: h["source"], CallID: h["call_id"], Direction: h["direction"], State: h["state"],
		From: h["from"], To: h["to"], FromE164: h["from_e164"], ToE164: h["to_e164"], Team: h["team"], Queue: h["queue"],
		CustomerID: h["customer"], AnsweredBy: h["answered_by"], AnsweredAgent: h["answered_agent"], Cause: h["cause"],
		StartedAt: msTime(h["started_at"]), ConversationID: h["conversation"], TicketID: h["ticket"],
		CallbackID: h["callback"], Users: users, Agents: agents, fields: h}
	if c.Users == nil {
		c.Users = []string{}
	}
	if c.Agents == nil {
		c.Agents = []string{}
	}
	slices.Sort(c.Users)
	slices.Sort(c.Agents)
	c.Duration, _ = strconv.Atoi(h["duration"])
	c.TalkUnknown = h["talk_unknown"] == "1"
	if t := msTime(h["answered_at"]); !t.IsZero() {
		c.AnsweredAt = &t
	}
	if t := msTime(h["ended_at"]); !t.IsZero() {
		c.EndedAt = &t
	}
	c.Number = c.FromE164
	if c.Direction == connectors.CallOutbound {
		c.Number = c.ToE164
	}
	if c.Number == "" {
		c.Number = c.customerNumber()
	}
	return c
}

// pairs turns a flat HGETALL reply from a script into a map.
func pairs(v any) map[string]string {
	list, _ := v.([]any)
	m := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		k, _ := list[i].(string)
		val, _ := list[i+1].(string)
		m[k] = val
	}
	return m
}

// strs turns a script's array reply into strings.
func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// callPolicy is the CTI connector's CallPolicy, or one that holds nothing.
func (r *Router) callPolicy() CallPolicy {
	if r.reg != nil {
		if c, ok := r.reg.Get(connectors.CTI); ok {
			if p, ok := c.(CallPolicy); ok {
				return p
			}
		}
	}
	return noPolicy{}
}

type noPolicy struct{}

func (noPolicy) MissedCallTicket(string) bool { return false }
func (noPolicy) RingsAgents(string) bool      { return false }
