package ami

import (
	"io"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/connectors"
)

// fixtureCase is a recorded event sequence under testdata and the call
// events it must make, exactly.
type fixtureCase struct {
	file string
	want []connectors.CallEvent
}

// ts parses an AMI Timestamp for the expectations.
func ts(s string) time.Time {
	return packet{fields: []field{{"Timestamp", s}}}.at()
}

func fixtureCases() []fixtureCase {
	in := func(id, from, to string) connectors.CallEvent {
		return connectors.CallEvent{Source: "pbx", CallID: id, Direction: connectors.CallInbound, From: from, To: to}
	}
	ev := func(base connectors.CallEvent, typ connectors.CallEventType, at string, set func(*connectors.CallEvent)) connectors.CallEvent {
		base.Type, base.At = typ, ts(at)
		if set != nil {
			set(&base)
		}
		return base
	}
	users := func(u ...string) func(*connectors.CallEvent) { return func(e *connectors.CallEvent) { e.Users = u } }
	queued := func(q string, then func(*connectors.CallEvent)) func(*connectors.CallEvent) {
		return func(e *connectors.CallEvent) {
			e.Queue = q
			if then != nil {
				then(e)
			}
		}
	}
	by := func(ext string) func(*connectors.CallEvent) {
		return func(e *connectors.CallEvent) { e.AnsweredBy = ext }
	}
	ended := func(ext, cause string) func(*connectors.CallEvent) {
		return func(e *connectors.CallEvent) { e.AnsweredBy, e.Cause = ext, cause }
	}

	q := in("1700000300.41", "13800138000", "4008001234")
	un := in("1700000400.50", "", "4008001234")
	busy := in("1700000500.60", "02150001234", "4008005678")
	out := connectors.CallEvent{Source: "pbx", CallID: "1700000600.70", Direction: connectors.CallOutbound, From: "8001", To: "013800138000"}
	xfer := in("1700000700.80", "13700137000", "4008001234")
	local := in("1700000900.90", "+8613800138000", "4008001234")
	return []fixtureCase{
		{"inbound_queue.ami", []connectors.CallEvent{
			ev(q, connectors.CallNew, "1700000300.1", nil),
			ev(q, connectors.CallRing, "1700000303.03", queued("support", users("8001"))),
			ev(q, connectors.CallRing, "1700000303.04", queued("support", users("8002"))),
			ev(q, connectors.CallAnswer, "1700000305.01", queued("support", by("8001"))),
			ev(q, connectors.CallHangup, "1700000425.03", queued("support", ended("8001", connectors.CauseNormalClearing))),
		}},
		{"unanswered.ami", []connectors.CallEvent{
			ev(un, connectors.CallNew, "1700000400.1", nil),
			ev(un, connectors.CallRing, "1700000402.02", queued("support", users("8001"))),
			ev(un, connectors.CallHangup, "1700000412.04", queued("support", ended("", connectors.CauseCancel))),
		}},
		{"busy.ami", []connectors.CallEvent{
			ev(busy, connectors.CallNew, "1700000500.1", nil),
			ev(busy, connectors.CallRing, "1700000500.21", users("8002")),
			ev(busy, connectors.CallHangup, "1700000501", ended("", connectors.CauseBusy)),
		}},
		{"outbound.ami", []connectors.CallEvent{
			ev(out, connectors.CallNew, "1700000600.1", users("8001")),
			ev(out, connectors.CallAnswer, "1700000608.02", by("8001")),
			ev(out, connectors.CallHangup, "1700000700.03", ended("8001", connectors.CauseNormalClearing)),
		}},
		{"transfer.ami", []connectors.CallEvent{
			ev(xfer, connectors.CallNew, "1700000700.1", nil),
			ev(xfer, connectors.CallRing, "1700000700.21", users("8001")),
			ev(xfer, connectors.CallAnswer, "1700000703.01", by("8001")),
			ev(xfer, connectors.CallRing, "1700000715.11", users("8002")),
			ev(xfer, connectors.CallAnswer, "1700000720.01", by("8002")),
			ev(xfer, connectors.CallHangup, "1700000800.01", ended("8002", connectors.CauseNormalClearing)),
		}},
		{"local_queue.ami", []connectors.CallEvent{
			ev(local, connectors.CallNew, "1700000900.1", nil),
			ev(local, connectors.CallRing, "1700000902.03", queued("400", users("8003"))),
			ev(local, connectors.CallAnswer, "1700000906.01", queued("400", by("8003"))),
			ev(local, connectors.CallHangup, "1700001000.01", queued("400", ended("8003", connectors.CauseNormalClearing))),
		}},
	}
}

// fixture returns a testdata file's packets as the wire carries them:
// comment lines (#) dropped, every line ended by CRLF.
func fixture(t testing.TB, name string) []string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var packets []string
	var cur strings.Builder
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "#"):
		case line == "":
			if cur.Len() > 0 {
				packets = append(packets, cur.String()+"\r\n")
				cur.Reset()
			}
		default:
			cur.WriteString(line + "\r\n")
		}
	}
	if cur.Len() > 0 {
		packets = append(packets, cur.String()+"\r\n")
	}
	return packets
}

func testTracker(inbound ...string) *tracker {
	return newTracker("pbx", regexp.MustCompile(DefaultExtensions), inbound, slog.New(slog.DiscardHandler))
}

func TestTrackerFixtures(t *testing.T) {
	for _, tc := range fixtureCases() {
		t.Run(tc.file, func(t *testing.T) {
			tr := testTracker()
			r := newReader(strings.NewReader(strings.Join(fixture(t, tc.file), "")))
			var got []connectors.CallEvent
			for {
				p, err := r.packet()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, tr.event(p, time.Unix(1800000000, 0))...)
			}
			diffEvents(t, got, tc.want)
			if len(tr.calls) != 0 {
				t.Errorf("calls still tracked after every channel hung up: %d", len(tr.calls))
			}
		})
	}
}

func diffEvents(t *testing.T, got, want []connectors.CallEvent) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("event %d missing: %+v", i, want[i])
		case i >= len(want):
			t.Errorf("event %d extra: %+v", i, got[i])
		case !reflect.DeepEqual(got[i], want[i]):
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// pk builds a packet from key, value pairs.
func pk(kv ...string) packet {
	var p packet
	for i := 0; i+1 < len(kv); i += 2 {
		p.fields = append(p.fields, field{kv[i], kv[i+1]})
	}
	return p
}

// chanEv is an event of channel ch (uid, in call lid) with more fields.
func chanEv(event, ch, uid, lid string, more ...string) packet {
	return pk(append([]string{"Event", event, "Channel", ch, "Uniqueid", uid, "Linkedid", lid}, more...)...)
}

// run feeds the packets to tr at a fixed time and returns the call events.
func run(tr *tracker, ps ...packet) []connectors.CallEvent {
	var out []connectors.CallEvent
	for _, p := range ps {
		out = append(out, tr.event(p, time.Unix(1800000000, 0))...)
	}
	return out
}

func types(evs []connectors.CallEvent) string {
	var s []string
	for _, e := range evs {
		x := string(e.Type)
		switch {
		case len(e.Users) > 0:
			x += "(" + strings.Join(e.Users, ",") + ")"
		case e.Cause != "":
			x += "(" + e.Cause + ")"
		case e.AnsweredBy != "":
			x += "(" + e.AnsweredBy + ")"
		}
		s = append(s, x)
	}
	return strings.Join(s, " ")
}

func TestTrackerCauses(t *testing.T) {
	const L = "1.1"
	caller := func() packet {
		return chanEv("Newchannel", "PJSIP/carrier-00000001", L, L, "CallerIDNum", "13800138000", "Context", "from-trunk", "Exten", "4008001234")
	}
	dial := func(status string) []packet {
		ps := []packet{chanEv("DialBegin", "PJSIP/carrier-00000001", L, L, "DestChannel", "PJSIP/8001-00000002", "DestUniqueid", "1.2")}
		if status != "" {
			ps = append(ps, chanEv("DialEnd", "PJSIP/carrier-00000001", L, L, "DestChannel", "PJSIP/8001-00000002", "DestUniqueid", "1.2", "DialStatus", status))
		}
		return ps
	}
	hangup := func(cause string) packet { return chanEv("Hangup", "PJSIP/carrier-00000001", L, L, "Cause", cause) }
	for _, tc := range []struct {
		name string
		ps   []packet
		want string
	}{
		{"no answer", append(dial("NOANSWER"), hangup("16")), "newCall ring(8001) hangup(noAnswer)"},
		{"congestion", append(dial("CONGESTION"), hangup("16")), "newCall ring(8001) hangup(congestion)"},
		{"unavailable", append(dial("CHANUNAVAIL"), hangup("16")), "newCall ring(8001) hangup(congestion)"},
		{"busy", append(dial("BUSY"), hangup("16")), "newCall ring(8001) hangup(busy)"},
		{"caller hung up while ringing", append(dial(""), hangup("16")), "newCall ring(8001) hangup(cancel)"},
		{"cancelled dial", append(dial("CANCEL"), hangup("16")), "newCall ring(8001) hangup(cancel)"},
		{"hung up before any dial", []packet{hangup("16")}, "newCall hangup(cancel)"},
		{"q.850 busy, no dial", []packet{hangup("17")}, "newCall hangup(busy)"},
		{"q.850 no answer", []packet{hangup("19")}, "newCall hangup(noAnswer)"},
		{"q.850 unallocated", []packet{hangup("1")}, "newCall hangup(notFound)"},
		{"q.850 congestion", []packet{hangup("34")}, "newCall hangup(congestion)"},
		{"answered", append(dial("ANSWER"), hangup("17")), "newCall ring(8001) answer(8001) hangup(normalClearing)"},
		{"a second hangup is nothing", append(dial("ANSWER"), hangup("16"), hangup("16")), "newCall ring(8001) answer(8001) hangup(normalClearing)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := types(run(testTracker(), append([]packet{caller()}, tc.ps...)...))
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestTrackerDirection(t *testing.T) {
	newch := func(ch, lid, num, ctx, exten string) packet {
		return chanEv("Newchannel", ch, lid, lid, "CallerIDNum", num, "Context", ctx, "Exten", exten)
	}
	for _, tc := range []struct {
		name    string
		inbound []string
		p       packet
		want    string // "": ignored; else direction from to
	}{
		{"trunk", nil, newch("PJSIP/carrier-00000001", "1.1", "13800138000", "from-trunk", "4008001234"), "in 13800138000 4008001234"},
		{"withheld", nil, newch("SIP/10.0.0.9-0000000a", "1.1", "<unknown>", "from-trunk", "4008001234"), "in  4008001234"},
		{"no DID", nil, newch("DAHDI/1-1", "1.1", "13800138000", "from-pstn", "s"), "in 13800138000 "},
		{"extension dials out", nil, newch("PJSIP/8001-00000001", "1.1", "8001", "from-internal", "013800138000"), "out 8001 013800138000"},
		{"extension dials out, caller id withheld", nil, newch("PJSIP/8001-00000001", "1.1", "<unknown>", "from-internal", "+8613800138000"), "out 8001 +8613800138000"},
		{"extension to extension", nil, newch("PJSIP/8001-00000001", "1.1", "8001", "from-internal", "8002"), ""},
		{"extension to a feature code", nil, newch("PJSIP/8001-00000001", "1.1", "8001", "from-internal", "*97"), ""},
		{"extension before dialing", nil, newch("PJSIP/8001-00000001", "1.1", "8001", "from-internal", "s"), ""},
		{"inbound context", []string{"from-pstn"}, newch("PJSIP/carrier-00000001", "1.1", "13800138000", "from-pstn", "4008001234"), "in 13800138000 4008001234"},
		{"not an inbound context", []string{"from-pstn"}, newch("PJSIP/carrier-00000001", "1.1", "13800138000", "from-trunk", "4008001234"), ""},
		{"outbound with inbound contexts", []string{"from-pstn"}, newch("PJSIP/8001-00000001", "1.1", "8001", "from-internal", "013800138000"), "out 8001 013800138000"},
		{"not the oldest channel", nil, chanEv("Newchannel", "PJSIP/carrier-00000001", "1.2", "1.1", "CallerIDNum", "13800138000"), ""},
		{"no Linkedid (Asterisk 11)", nil, pk("Event", "Newchannel", "Channel", "SIP/carrier-00000001", "Uniqueid", "1.1"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := run(testTracker(tc.inbound...), tc.p)
			got := ""
			if len(evs) > 0 {
				got = evs[0].Direction + " " + evs[0].From + " " + evs[0].To
			}
			if got != tc.want || len(evs) > 1 {
				t.Errorf("got %q (%d events), want %q", got, len(evs), tc.want)
			}
		})
	}
}

// An internal call is followed only to its end: its rings are nobody's.
func TestTrackerIgnoresInternalCalls(t *testing.T) {
	tr := testTracker()
	got := run(tr,
		chanEv("Newchannel", "PJSIP/8001-00000001", "1.1", "1.1", "CallerIDNum", "8001", "Exten", "8002"),
		chanEv("Newchannel", "PJSIP/8002-00000002", "1.2", "1.1"),
		chanEv("DialBegin", "PJSIP/8001-00000001", "1.1", "1.1", "DestChannel", "PJSIP/8002-00000002", "DestUniqueid", "1.2"),
		chanEv("DialEnd", "PJSIP/8001-00000001", "1.1", "1.1", "DestChannel", "PJSIP/8002-00000002", "DestUniqueid", "1.2", "DialStatus", "ANSWER"),
		chanEv("Hangup", "PJSIP/8002-00000002", "1.2", "1.1"),
		chanEv("Hangup", "PJSIP/8001-00000001", "1.1", "1.1"),
	)
	if len(got) != 0 || len(tr.calls) != 0 {
		t.Fatalf("events %s, calls %d", types(got), len(tr.calls))
	}
}

// A call met in the middle (a reconnect, a takeover) is adopted from its
// originating channel's next event; other channels' events and a bare
// Hangup adopt nothing.
func TestTrackerAdoptsCallsInProgress(t *testing.T) {
	tr := testTracker()
	got := run(tr,
		chanEv("Newstate", "PJSIP/8001-00000009", "1.9", "1.1"),                 // not the oldest channel
		chanEv("Hangup", "PJSIP/carrier-00000003", "1.3", "1.3", "Cause", "16"), // ended already
		chanEv("AgentCalled", "PJSIP/carrier-00000001", "1.1", "1.1", "CallerIDNum", "13800138000", "Context", "ext-queues", "Exten", "400",
			"Queue", "support", "Interface", "PJSIP/8001", "DestChannel", "PJSIP/8001-00000009"),
		chanEv("Hangup", "PJSIP/carrier-00000001", "1.1", "1.1", "Cause", "16"),
	)
	if w := "newCall ring(8001) hangup(cancel)"; types(got) != w {
		t.Fatalf("got %s, want %s", types(got), w)
	}
	if got[0].From != "13800138000" || got[0].To != "400" || got[0].Direction != connectors.CallInbound {
		t.Errorf("adopted newCall %+v", got[0])
	}
}

// A queue member whose interface is no extension is still an agent.
func TestTrackerAgentByName(t *testing.T) {
	got := run(testTracker(),
		chanEv("Newchannel", "PJSIP/carrier-00000001", "1.1", "1.1", "CallerIDNum", "13800138000", "Exten", "4008001234"),
		chanEv("AgentCalled", "PJSIP/carrier-00000001", "1.1", "1.1", "Queue", "vip", "Interface", "PJSIP/liming", "DestChannel", "PJSIP/liming-00000002"),
		chanEv("AgentConnect", "PJSIP/carrier-00000001", "1.1", "1.1", "Queue", "vip", "Interface", "PJSIP/liming", "DestChannel", "PJSIP/liming-00000002"),
	)
	if w := "newCall ring(liming) answer(liming)"; types(got) != w {
		t.Fatalf("got %s, want %s", types(got), w)
	}
}

// An inbound call forwarded out through a trunk is answered, by no
// extension: no answer event, and a forwarded hangup (not a missed call).
func TestTrackerForwardedOut(t *testing.T) {
	const L = "1.1"
	got := run(testTracker(),
		chanEv("Newchannel", "PJSIP/carrier-00000001", L, L, "CallerIDNum", "13800138000", "Exten", "4008001234"),
		chanEv("DialBegin", "PJSIP/carrier-00000001", L, L, "DestChannel", "PJSIP/carrier-00000002", "DestUniqueid", "1.2"),
		chanEv("DialEnd", "PJSIP/carrier-00000001", L, L, "DestChannel", "PJSIP/carrier-00000002", "DestUniqueid", "1.2", "DialStatus", "ANSWER"),
		chanEv("BridgeEnter", "PJSIP/carrier-00000001", L, L, "BridgeUniqueid", "b", "BridgeNumChannels", "1"),
		chanEv("BridgeEnter", "PJSIP/carrier-00000002", "1.2", L, "BridgeUniqueid", "b", "BridgeNumChannels", "2"),
		chanEv("Hangup", "PJSIP/carrier-00000001", L, L, "Cause", "16"),
	)
	if w := "newCall hangup(forwarded)"; types(got) != w {
		t.Fatalf("got %s, want %s", types(got), w)
	}
}

// The second channel in a bridge answers a call even without a DialEnd;
// a parking (holding) bridge does not.
func TestTrackerAnswerOnBridge(t *testing.T) {
	const L = "1.1"
	got := run(testTracker(),
		chanEv("Newchannel", "PJSIP/carrier-00000001", L, L, "CallerIDNum", "13800138000", "Exten", "4008001234"),
		chanEv("BridgeEnter", "PJSIP/carrier-00000001", L, L, "BridgeUniqueid", "p", "BridgeTechnology", "holding_bridge", "BridgeNumChannels", "1"),
		chanEv("BridgeEnter", "PJSIP/8009-00000003", "1.3", L, "BridgeUniqueid", "p", "BridgeTechnology", "holding_bridge", "BridgeNumChannels", "2"),
		chanEv("BridgeEnter", "PJSIP/carrier-00000001", L, L, "BridgeUniqueid", "b", "BridgeNumChannels", "1"),
		chanEv("BridgeLeave", "PJSIP/carrier-00000001", L, L, "BridgeUniqueid", "b", "BridgeNumChannels", "0"),
		chanEv("BridgeEnter", "PJSIP/carrier-00000001", L, L, "BridgeUniqueid", "c", "BridgeNumChannels", "1"),
		chanEv("BridgeEnter", "PJSIP/8004-00000002", "1.2", L, "BridgeUniqueid", "c", "BridgeNumChannels", "2"),
	)
	if w := "newCall answer(8004)"; types(got) != w {
		t.Fatalf("got %s, want %s", types(got), w)
	}
}

func TestTrackerAtFallsBackToArrival(t *testing.T) {
	now := time.Unix(1800000123, 0)
	got := testTracker().event(chanEv("Newchannel", "PJSIP/carrier-00000001", "1.1", "1.1", "Exten", "4008001234"), now)
	if len(got) != 1 || !got[0].At.Equal(now) {
		t.Fatalf("got %+v", got)
	}
}

// State is dropped after a call's last Hangup, a grace period after its
// hangup when another channel's Hangup never comes, or after a long
// silence.
func TestTrackerForgets(t *testing.T) {
	tr := testTracker()
	t0 := time.Unix(1800000000, 0)
	tr.event(chanEv("Newchannel", "PJSIP/carrier-00000001", "1.1", "1.1", "Exten", "1"), t0)
	tr.event(chanEv("Newchannel", "PJSIP/8001-00000002", "1.2", "1.1"), t0)
	tr.event(chanEv("Hangup", "PJSIP/carrier-00000001", "1.1", "1.1"), t0) // 8001's Hangup is lost
	tr.event(chanEv("Newchannel", "PJSIP/carrier-00000003", "2.1", "2.1", "Exten", "1"), t0)
	if len(tr.calls) != 2 {
		t.Fatalf("%d calls", len(tr.calls))
	}
	tr.event(pk("Event", "FullyBooted"), t0.Add(endedGrace+sweepEvery+time.Second))
	if _, ok := tr.calls["1.1"]; ok || len(tr.calls) != 1 {
		t.Fatalf("ended call kept: %d calls", len(tr.calls))
	}
	tr.event(pk("Event", "FullyBooted"), t0.Add(callIdle+time.Hour))
	if len(tr.calls) != 0 {
		t.Fatalf("silent call kept: %d calls", len(tr.calls))
	}
}

func TestTrackerBoundsCalls(t *testing.T) {
	tr := testTracker()
	now := time.Unix(1800000000, 0)
	for i := range maxCalls + 10 {
		id := "1." + strconv.Itoa(i)
		tr.event(chanEv("Newchannel", "PJSIP/carrier-00000001", id, id, "Exten", "1"), now)
	}
	if len(tr.calls) != maxCalls {
		t.Fatalf("%d calls tracked, at most %d", len(tr.calls), maxCalls)
	}
}

func TestDevice(t *testing.T) {
	for in, want := range map[string]string{
		"PJSIP/8001-00000013":              "8001",
		"SIP/carrier-0000001a":             "carrier",
		"PJSIP/office-cafe-0000001a":       "office-cafe",
		"IAX2/8001-12345":                  "8001",
		"Local/8001@from-queue-00000001;1": "8001",
		"Local/8001@from-queue-00000001;2": "8001",
		"DAHDI/i1/13800138000-1":           "i1/13800138000",
		"8001":                             "8001",
		"":                                 "",
	} {
		if got := channelDevice(in); got != want {
			t.Errorf("channelDevice(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"PJSIP/8001":              "8001",
		"PJSIP/office-cafe":       "office-cafe",
		"Local/8001@from-queue/n": "8001",
		"SIP/8001;x":              "8001",
		"Agent/1001":              "1001",
	} {
		if got := interfaceDevice(in); got != want {
			t.Errorf("interfaceDevice(%q) = %q, want %q", in, got, want)
		}
	}
}
