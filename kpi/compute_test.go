package kpi

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The scripted day is 10 March 2026 in Shanghai (UTC+8): 14 tickets on
// six channels, two teams (support, sales) and two agents (li, wang).
var shanghai = time.FixedZone("Asia/Shanghai", 8*3600)

// at is hh:mm on the scripted day; "-1 hh:mm" is the day before, "+1
// hh:mm" the day after.
func at(hm string) time.Time {
	day := 10
	if d, rest, ok := strings.Cut(hm, " "); ok {
		switch d {
		case "-1":
			day = 9
		case "+1":
			day = 11
		}
		hm = rest
	}
	t, err := time.Parse("15:04", hm)
	if err != nil {
		panic(err)
	}
	return time.Date(2026, 3, day, t.Hour(), t.Minute(), 0, 0, shanghai)
}

// tk writes the events of one ticket.
type tk struct {
	id, channel string
	out         *[]Event
}

func (t tk) at(hm string, k Kind, team, agent string) { t.add(hm, k, team, agent, 0, "") }
func (t tk) val(hm string, k Kind, team, agent string, v float64) {
	t.add(hm, k, team, agent, v, "")
}
func (t tk) sla(hm string, k Kind, team, agent, target string) { t.add(hm, k, team, agent, 0, target) }
func (t tk) add(hm string, k Kind, team, agent string, v float64, target string) {
	*t.out = append(*t.out, Event{At: at(hm), Ticket: t.id, Conv: "c" + t.id[1:], Kind: k, Channel: t.channel,
		Team: team, Agent: agent, Value: v, Target: target})
}

const (
	sup   = "support"
	sales = "sales"
	li    = "li"
	wang  = "wang"
	none  = ""
)

// scriptedDay is the event log of the day, ticket after ticket.
func scriptedDay() []Event {
	var evs []Event
	ticket := func(id, channel string) tk { return tk{id, channel, &evs} }

	// #1001 web chat: answered and resolved by li alone, surveyed, closed
	// late. First contact. Opened before routing: no team yet.
	t := ticket("#1001", "webchat")
	t.at("09:00", Opened, none, none)
	t.at("09:00", CustomerMsg, none, none)
	t.at("09:01", Assigned, sup, li)
	t.at("09:05", AgentReply, sup, li)
	t.val("09:05", FirstResponse, sup, li, 300)
	t.sla("09:06", SLAMet, sup, li, TargetFirstResponse)
	t.at("09:10", CustomerMsg, sup, li)
	t.at("09:15", AgentReply, sup, li)
	t.at("09:20", Resolved, sup, li)
	t.sla("09:20", SLAMet, sup, li, TargetResolution)
	t.val("09:30", CSAT, sup, li, 5)
	t.val("09:31", NPS, sup, li, 10)
	t.at("22:00", Closed, sup, li)

	// #1002 official account: li answers late, transfers to wang, who
	// resolves. Not first contact (transferred).
	t = ticket("#1002", "wechat_oa")
	t.at("10:00", Opened, sup, none)
	t.at("10:00", CustomerMsg, sup, none)
	t.at("10:02", Assigned, sup, li)
	t.at("10:10", AgentReply, sup, li)
	t.val("10:10", FirstResponse, sup, li, 600)
	t.sla("10:10", SLABreached, sup, li, TargetFirstResponse)
	t.at("10:20", Transferred, sup, wang)
	t.at("10:25", AgentReply, sup, wang)
	t.at("10:40", Resolved, sup, wang)
	t.sla("10:40", SLAMet, sup, wang, TargetResolution)
	t.val("11:00", CSAT, sup, wang, 3)
	t.val("11:00", NPS, sup, wang, 7)

	// #1003 e-mail to sales: resolved by wang, reopened by the customer,
	// resolved again. Not first contact (reopened); two handling rounds.
	t = ticket("#1003", "email")
	t.at("08:00", Opened, sales, none)
	t.at("08:00", CustomerMsg, sales, none)
	t.at("08:30", Assigned, sales, wang)
	t.at("09:00", AgentReply, sales, wang)
	t.val("09:00", FirstResponse, sales, wang, 3600)
	t.sla("09:00", SLAMet, sales, wang, TargetFirstResponse)
	t.at("09:30", Resolved, sales, wang)
	t.at("13:00", CustomerMsg, sales, wang)
	t.at("13:00", Reopened, sales, wang)
	t.at("13:20", AgentReply, sales, wang)
	t.sla("13:20", SLAMet, sales, wang, TargetNextResponse)
	t.at("14:00", Resolved, sales, wang)
	t.sla("14:00", SLABreached, sales, wang, TargetResolution)
	t.val("15:00", CSAT, sales, wang, 2)
	t.val("15:00", NPS, sales, wang, 6)

	// #1004 web chat: li answers, then the ticket waits for the customer
	// (pending) until the day ends.
	t = ticket("#1004", "webchat")
	t.at("16:00", Opened, sup, none)
	t.at("16:00", CustomerMsg, sup, none)
	t.at("16:01", Assigned, sup, li)
	t.at("16:03", AgentReply, sup, li)
	t.val("16:03", FirstResponse, sup, li, 180)
	t.sla("16:03", SLAMet, sup, li, TargetFirstResponse)

	// #1005 web chat: the bot answers and the ticket is resolved without
	// people. Deflected.
	t = ticket("#1005", "webchat")
	t.at("11:00", Opened, sup, none)
	t.at("11:00", CustomerMsg, sup, none)
	t.at("11:00", BotEngaged, sup, none)
	t.at("11:01", BotAnswered, sup, none)
	t.at("11:05", Resolved, sup, none)

	// #1006 mini-program: the bot answers one question, then hands over;
	// li answers and resolves. First contact (the bot is not a person).
	t = ticket("#1006", "wechat_mp")
	t.at("12:00", Opened, sup, none)
	t.at("12:00", CustomerMsg, sup, none)
	t.at("12:00", BotEngaged, sup, none)
	t.at("12:01", BotAnswered, sup, none)
	t.at("12:02", CustomerMsg, sup, none)
	t.at("12:03", BotHandoff, sup, none)
	t.at("12:04", Assigned, sup, li)
	t.at("12:10", AgentReply, sup, li)
	t.val("12:10", FirstResponse, sup, li, 600)
	t.sla("12:10", SLAMet, sup, li, TargetFirstResponse)
	t.at("12:30", Resolved, sup, li)
	t.val("12:31", CSAT, sup, li, 4)
	t.val("12:31", NPS, sup, li, 9)

	// #1007 web chat: the bot cannot answer and hands over at once; wang
	// answers; still open at the end of the day.
	t = ticket("#1007", "webchat")
	t.at("14:00", Opened, sup, none)
	t.at("14:00", CustomerMsg, sup, none)
	t.at("14:00", BotEngaged, sup, none)
	t.at("14:01", BotHandoff, sup, none)
	t.at("14:02", Assigned, sup, wang)
	t.at("14:05", AgentReply, sup, wang)
	t.val("14:05", FirstResponse, sup, wang, 300)
	t.sla("14:05", SLAMet, sup, wang, TargetFirstResponse)

	// #1008 phone: li takes the call (240 s of talk), makes a ticket of it
	// and resolves it. First contact.
	t = ticket("#1008", "cti")
	t.val("09:30", CallAnswered, sup, li, 240)
	t.at("09:31", Opened, sup, li)
	t.at("09:40", Resolved, sup, li)

	// #1009 phone: a missed call becomes a callback ticket for wang, not
	// done yet.
	t = ticket("#1009", "cti")
	t.at("17:00", CallMissed, sup, none)
	t.at("17:00", Opened, sup, none)
	t.at("17:05", Assigned, sup, wang)

	// #1010 phone: wang takes the call (360 s), resolves the ticket,
	// surveyed. First contact.
	t = ticket("#1010", "cti")
	t.val("18:00", CallAnswered, sup, wang, 360)
	t.at("18:01", Opened, sup, wang)
	t.at("18:10", Resolved, sup, wang)
	t.val("18:15", CSAT, sup, wang, 5)
	t.val("18:15", NPS, sup, wang, 9)

	// #1011 QR report to sales, opened and first answered the evening
	// before, resolved today by wang. First contact; its opening and first
	// response belong to the day before.
	t = ticket("#1011", "qr")
	t.at("-1 20:00", Opened, sales, none)
	t.at("-1 20:00", CustomerMsg, sales, none)
	t.at("-1 20:30", Assigned, sales, wang)
	t.at("-1 21:00", AgentReply, sales, wang)
	t.val("-1 21:00", FirstResponse, sales, wang, 3600)
	t.at("10:00", CustomerMsg, sales, wang)
	t.at("10:30", AgentReply, sales, wang)
	t.at("11:00", Resolved, sales, wang)
	t.sla("11:00", SLABreached, sales, wang, TargetResolution)

	// #1012 e-mail to sales: li resolves it in the evening; the customer
	// reopens it the next morning, after the period: as of the period's
	// end it is resolved at first contact.
	t = ticket("#1012", "email")
	t.at("19:00", Opened, sales, none)
	t.at("19:00", CustomerMsg, sales, none)
	t.at("19:10", Assigned, sales, li)
	t.at("19:30", AgentReply, sales, li)
	t.val("19:30", FirstResponse, sales, li, 1800)
	t.at("20:00", Resolved, sales, li)
	t.at("+1 09:00", CustomerMsg, sales, li)
	t.at("+1 09:00", Reopened, sales, li)

	// #1013 web chat: li resolves early, the customer is unhappy and
	// reopens it; li answers late; open at the end of the day.
	t = ticket("#1013", "webchat")
	t.at("07:00", Opened, sup, none)
	t.at("07:00", CustomerMsg, sup, none)
	t.at("07:01", Assigned, sup, li)
	t.at("07:02", AgentReply, sup, li)
	t.val("07:02", FirstResponse, sup, li, 120)
	t.sla("07:02", SLAMet, sup, li, TargetFirstResponse)
	t.at("07:10", Resolved, sup, li)
	t.val("07:20", CSAT, sup, li, 1)
	t.val("07:20", NPS, sup, li, 0)
	t.at("07:21", CustomerMsg, sup, li)
	t.at("07:21", Reopened, sup, li)
	t.at("07:30", AgentReply, sup, li)
	t.sla("07:30", SLABreached, sup, li, TargetNextResponse)

	// #1014 official account: the bot answers and the ticket is resolved,
	// but the customer comes back and li takes over. Not deflected.
	t = ticket("#1014", "wechat_oa")
	t.at("20:00", Opened, sup, none)
	t.at("20:00", CustomerMsg, sup, none)
	t.at("20:00", BotEngaged, sup, none)
	t.at("20:01", BotAnswered, sup, none)
	t.at("20:02", Resolved, sup, none)
	t.at("20:30", CustomerMsg, sup, none)
	t.at("20:30", Reopened, sup, none)
	t.at("20:32", Assigned, sup, li)
	t.at("20:40", AgentReply, sup, li)
	t.val("20:40", FirstResponse, sup, li, 2400)
	return evs
}

func dayFilter() Filter {
	return Filter{From: at("00:00"), To: at("+1 00:00"), Location: shanghai}
}

func f(v float64) *float64 { return &v }

// hours builds the by-hour list from the hours with counts.
func hours(m map[int]Counts) [24]HourVolume {
	var out [24]HourVolume
	for h := range out {
		out[h] = HourVolume{Hour: h, Counts: m[h]}
	}
	return out
}

// TestScriptedDay checks every figure of the scripted day against
// numbers worked out by hand.
func TestScriptedDay(t *testing.T) {
	want := Report{
		From: at("00:00"), To: at("+1 00:00"), TimeZone: "Asia/Shanghai",

		// Answers 5 (#1001), 3 (#1002), 2 (#1003), 4 (#1006), 5 (#1010),
		// 1 (#1013): sum 20 / 6 = 3.333; satisfied (4–5): 5, 4, 5 = 3 of
		// 6 = 50 %.
		CSAT: CSATStats{Responses: 6, Average: f(3.33), Satisfied: 3, SatisfiedPct: f(50)},

		// 10, 7, 6, 9, 9, 0: promoters 10, 9, 9 = 3; passive 7 = 1;
		// detractors 6, 0 = 2. Score (3 − 2) / 6 × 100 = 16.67.
		NPS: NPSStats{Responses: 6, Promoters: 3, Passives: 1, Detractors: 2, Score: f(16.67)},

		// Resolved today, as of midnight: #1001, #1002, #1003, #1005,
		// #1006, #1008, #1010, #1011, #1012 (9; #1013 and #1014 were
		// reopened after resolving). A person answered all but #1005 (the
		// bot): 8. First contact: #1001, #1006, #1008, #1010, #1011, #1012
		// = 6 (#1002 transferred, #1003 reopened). 6 / 8 = 75 %.
		FCR: FCRStats{Resolved: 8, FirstContact: 6, Pct: f(75)},

		// From the first answer to the resolution, per round:
		// #1001 09:05–09:20 = 900; #1002 10:10–10:40 = 1800;
		// #1003 09:00–09:30 + 13:20–14:00 = 1800 + 2400 = 4200;
		// #1006 12:10–12:30 = 1200; #1008 call 09:30–09:40 = 600;
		// #1010 call 18:00–18:10 = 600; #1011 21:00 the day before–11:00 =
		// 14 h = 50400; #1012 19:30–20:00 = 1800. (#1005: nobody answered.)
		// Sum 61500 / 8 = 7687.5. Sorted 600 600 900 1200 | 1800 1800
		// 4200 50400: median (1200 + 1800) / 2 = 1500.
		AHT: AHTStats{Tickets: 8, AvgSeconds: f(7687.5), MedianSeconds: f(1500)},

		// Calls answered: 240 (#1008), 360 (#1010): mean 300.
		CallTalk: TalkStats{Calls: 2, AvgSeconds: f(300)},

		// First responses today (#1011's was the day before; calls have
		// none): 300 600 3600 180 600 300 1800 120 2400. Sum 9900 / 9 =
		// 1100. Sorted 120 180 300 300 600 600 1800 2400 3600: median the
		// 5th = 600; p90 the ⌈0.9 × 9⌉ = 9th = 3600.
		FirstResponse: Durations{Count: 9, AvgSeconds: f(1100), MedianSeconds: f(600), P90Seconds: f(3600)},

		// Opened to final resolution: #1001 1200; #1002 2400; #1003
		// 08:00–14:00 = 21600; #1005 300; #1006 1800; #1008 09:31–09:40 =
		// 540; #1010 540; #1011 20:00 the day before–11:00 = 54000; #1012
		// 3600. Sum 85980 / 9 = 9553.33. Sorted 300 540 540 1200 1800 2400
		// 3600 21600 54000: median 1800; p90 the 9th = 54000.
		ResolutionTime: Durations{Count: 9, AvgSeconds: f(9553.33), MedianSeconds: f(1800), P90Seconds: f(54000)},

		// First response met: #1001 #1003 #1004 #1006 #1007 #1013 = 6,
		// breached #1002 = 1 → 6/7 = 85.71. Next response met #1003,
		// breached #1013 → 50. Resolution met #1001 #1002, breached #1003
		// #1011 → 50. Overall 9 met, 4 breached → 9/13 = 69.23.
		SLA: SLAStats{
			FirstResponse: Attainment{Met: 6, Breached: 1, AttainmentPct: f(85.71)},
			NextResponse:  Attainment{Met: 1, Breached: 1, AttainmentPct: f(50)},
			Resolution:    Attainment{Met: 2, Breached: 2, AttainmentPct: f(50)},
			Overall:       Attainment{Met: 9, Breached: 4, AttainmentPct: f(69.23)},
		},

		// Engaged #1005 #1006 #1007 #1014; answered #1005 #1006 #1014;
		// handed off #1006 #1007; deflected #1005 only (#1014 came back
		// to li). 1 / 4 = 25 %.
		Bot: BotStats{Engaged: 4, Answered: 3, HandedOff: 2, Deflected: 1, DeflectionPct: f(25)},

		Calls: CallCounts{Answered: 2, Missed: 1},

		Volumes: Volumes{
			// Opened: every ticket but #1011 (the day before) = 13.
			// Resolved: the 9 above. Customer messages: #1001 2, #1002 1,
			// #1003 2, #1004 1, #1005 1, #1006 2, #1007 1, #1011 1, #1012 1
			// (its next-day message is after the period), #1013 2, #1014 2 =
			// 16. Agent replies: #1001 2, #1002 2, #1003 2, #1004 1, #1006 1,
			// #1007 1, #1011 1 (one was the day before), #1012 1, #1013 2,
			// #1014 1 = 14.
			Counts: Counts{Opened: 13, Resolved: 9, CustomerMsgs: 16, AgentReplies: 14},
			ByChannel: []Volume{
				// #1008 #1009 #1010: 3 opened, #1008 #1010 resolved.
				{Key: "cti", Counts: Counts{Opened: 3, Resolved: 2}},
				// #1003 #1012: messages 2 + 1, replies 2 + 1.
				{Key: "email", Counts: Counts{Opened: 2, Resolved: 2, CustomerMsgs: 3, AgentReplies: 3}},
				// #1011: opened the day before.
				{Key: "qr", Counts: Counts{Opened: 0, Resolved: 1, CustomerMsgs: 1, AgentReplies: 1}},
				// #1001 #1004 #1005 #1007 #1013: resolved #1001 #1005;
				// messages 2+1+1+1+2; replies 2+1+0+1+2.
				{Key: "webchat", Counts: Counts{Opened: 5, Resolved: 2, CustomerMsgs: 7, AgentReplies: 6}},
				{Key: "wechat_mp", Counts: Counts{Opened: 1, Resolved: 1, CustomerMsgs: 2, AgentReplies: 1}},
				// #1002 #1014: resolved #1002; messages 1+2; replies 2+1.
				{Key: "wechat_oa", Counts: Counts{Opened: 2, Resolved: 1, CustomerMsgs: 3, AgentReplies: 3}},
			},
			ByTeam: []Volume{
				// #1001's opening and first message came before routing.
				{Key: "", Counts: Counts{Opened: 1, CustomerMsgs: 1}},
				// #1003 #1011 #1012: opened #1003 #1012; messages 2+1+1;
				// replies 2+1+1.
				{Key: "sales", Counts: Counts{Opened: 2, Resolved: 3, CustomerMsgs: 4, AgentReplies: 4}},
				// The rest: 13 − 1 − 2 opened, 9 − 3 resolved, 16 − 1 − 4
				// messages, 14 − 4 replies.
				{Key: "support", Counts: Counts{Opened: 10, Resolved: 6, CustomerMsgs: 11, AgentReplies: 10}},
			},
			ByAgent: []Volume{
				// Unassigned at the time: 11 openings (all but the calls
				// #1008 li and #1010 wang); #1005 resolved by nobody; messages
				// of #1001 #1002 #1003 #1004 #1005 #1007 #1012 #1013 one each,
				// #1006 #1014 two each = 12.
				{Key: "", Counts: Counts{Opened: 11, Resolved: 1, CustomerMsgs: 12}},
				// li: opened #1008; resolved #1001 #1006 #1008 #1012;
				// messages #1001 09:10, #1013 07:21; replies #1001 2, #1002 1,
				// #1004 1, #1006 1, #1012 1, #1013 2, #1014 1 = 9.
				{Key: "li", Counts: Counts{Opened: 1, Resolved: 4, CustomerMsgs: 2, AgentReplies: 9}},
				// wang: opened #1010; resolved #1002 #1003 #1010 #1011;
				// messages #1003 13:00, #1011 10:00; replies #1002 1, #1003 2,
				// #1007 1, #1011 1 = 5.
				{Key: "wang", Counts: Counts{Opened: 1, Resolved: 4, CustomerMsgs: 2, AgentReplies: 5}},
			},
			// Shanghai hours. Opened: 07 #1013, 08 #1003, 09 #1001 #1008,
			// 10 #1002, 11 #1005, 12 #1006, 14 #1007, 16 #1004, 17 #1009,
			// 18 #1010, 19 #1012, 20 #1014. Resolved: 09 #1001 #1008, 10
			// #1002, 11 #1005 #1011, 12 #1006, 14 #1003, 18 #1010, 20 #1012.
			// Messages: 07 #1013 ×2, 08 #1003, 09 #1001 ×2, 10 #1002 #1011,
			// 11 #1005, 12 #1006 ×2, 13 #1003, 14 #1007, 16 #1004, 19
			// #1012, 20 #1014 ×2. Replies: 07 #1013 ×2, 09 #1001 ×2 #1003,
			// 10 #1002 ×2 #1011, 12 #1006, 13 #1003, 14 #1007, 16 #1004, 19
			// #1012, 20 #1014.
			ByHour: hours(map[int]Counts{
				7:  {Opened: 1, CustomerMsgs: 2, AgentReplies: 2},
				8:  {Opened: 1, CustomerMsgs: 1},
				9:  {Opened: 2, Resolved: 2, CustomerMsgs: 2, AgentReplies: 3},
				10: {Opened: 1, Resolved: 1, CustomerMsgs: 2, AgentReplies: 3},
				11: {Opened: 1, Resolved: 2, CustomerMsgs: 1},
				12: {Opened: 1, Resolved: 1, CustomerMsgs: 2, AgentReplies: 1},
				13: {CustomerMsgs: 1, AgentReplies: 1},
				14: {Opened: 1, Resolved: 1, CustomerMsgs: 1, AgentReplies: 1},
				16: {Opened: 1, CustomerMsgs: 1, AgentReplies: 1},
				17: {Opened: 1},
				18: {Opened: 1, Resolved: 1},
				19: {Opened: 1, CustomerMsgs: 1, AgentReplies: 1},
				20: {Opened: 1, Resolved: 1, CustomerMsgs: 2, AgentReplies: 1},
			}),
		},
	}
	got := Compute(scriptedDay(), dayFilter())
	assertReport(t, got, want)
}

// assertReport compares two reports, showing both as JSON on failure.
func assertReport(t *testing.T, got, want Report) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	// Field by field, so the message points at what differs.
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !reflect.DeepEqual(g, w) {
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			t.Errorf("%s:\n got %s\nwant %s", gv.Type().Field(i).Name, gj, wj)
		}
	}
}

// TestOrderDoesNotMatter: the tickets may come interleaved and each
// ticket's events out of order; Compute puts each ticket in time order.
// (In the script, no two events of one instant depend on their order: a
// reply and its first_response, a resolution and its SLA outcome.)
func TestOrderDoesNotMatter(t *testing.T) {
	want := Compute(scriptedDay(), dayFilter())
	for seed := range uint64(5) {
		evs := scriptedDay()
		r := rand.New(rand.NewPCG(seed, 2))
		r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
		assertReport(t, Compute(evs, dayFilter()), want)
	}
}

// TestFilters: channel (the ticket's), team and agent (at the event).
func TestFilters(t *testing.T) {
	day := dayFilter()
	with := func(change func(*Filter)) Filter { f := day; change(&f); return f }
	tests := []struct {
		name  string
		f     Filter
		check func(t *testing.T, r Report)
	}{
		{"phone only", with(func(f *Filter) { f.Channel = "cti" }), func(t *testing.T, r Report) {
			// #1008 #1009 #1010: two answered calls, one missed, both
			// answered tickets resolved at first contact, 540 s each.
			wantCounts(t, r.Volumes.Counts, Counts{Opened: 3, Resolved: 2})
			wantEq(t, "calls", r.Calls, CallCounts{Answered: 2, Missed: 1})
			wantEq(t, "fcr", r.FCR, FCRStats{Resolved: 2, FirstContact: 2, Pct: f(100)})
			wantEq(t, "resolution", r.ResolutionTime, Durations{Count: 2, AvgSeconds: f(540), MedianSeconds: f(540), P90Seconds: f(540)})
			// Only #1010 was surveyed: CSAT 5, NPS 9.
			wantEq(t, "csat", r.CSAT, CSATStats{Responses: 1, Average: f(5), Satisfied: 1, SatisfiedPct: f(100)})
			wantEq(t, "nps", r.NPS, NPSStats{Responses: 1, Promoters: 1, Score: f(100)})
			wantEq(t, "bot", r.Bot, BotStats{})
			wantEq(t, "channels", r.Volumes.ByChannel, []Volume{{Key: "cti", Counts: Counts{Opened: 3, Resolved: 2}}})
		}},
		{"sales team", with(func(f *Filter) { f.Team = sales }), func(t *testing.T, r Report) {
			// #1003 #1011 #1012: resolved all three; first contact #1011
			// #1012. CSAT 2 and NPS 6 from #1003.
			wantEq(t, "fcr", r.FCR, FCRStats{Resolved: 3, FirstContact: 2, Pct: f(66.67)})
			wantEq(t, "csat", r.CSAT, CSATStats{Responses: 1, Average: f(2), Satisfied: 0, SatisfiedPct: f(0)})
			wantEq(t, "nps", r.NPS, NPSStats{Responses: 1, Detractors: 1, Score: f(-100)})
			// AHT 4200, 50400, 1800: mean 18800, median 4200.
			wantEq(t, "aht", r.AHT, AHTStats{Tickets: 3, AvgSeconds: f(18800), MedianSeconds: f(4200)})
			// First responses today: #1003 3600, #1012 1800.
			wantEq(t, "frt", r.FirstResponse, Durations{Count: 2, AvgSeconds: f(2700), MedianSeconds: f(2700), P90Seconds: f(3600)})
			wantEq(t, "teams", r.Volumes.ByTeam, []Volume{{Key: "sales", Counts: Counts{Opened: 2, Resolved: 3, CustomerMsgs: 4, AgentReplies: 4}}})
		}},
		{"agent li", with(func(f *Filter) { f.Agent = li }), func(t *testing.T, r Report) {
			// Resolved by li: #1001 #1006 #1008 #1012, all first contact.
			wantEq(t, "fcr", r.FCR, FCRStats{Resolved: 4, FirstContact: 4, Pct: f(100)})
			// Surveys while li held the ticket: CSAT 5, 4, 1 (#1001 #1006
			// #1013): 10 / 3 = 3.33, satisfied 2 of 3.
			wantEq(t, "csat", r.CSAT, CSATStats{Responses: 3, Average: f(3.33), Satisfied: 2, SatisfiedPct: f(66.67)})
			// Calls li answered: #1008, 240 s.
			wantEq(t, "talk", r.CallTalk, TalkStats{Calls: 1, AvgSeconds: f(240)})
			// The bot acts for no agent.
			wantEq(t, "bot", r.Bot, BotStats{})
			// First responses by li: 300 600 180 600 1800 120 2400 (#1001
			// #1002 #1004 #1006 #1012 #1013 #1014): sum 6000 / 7 = 857.14;
			// sorted 120 180 300 600 600 1800 2400: median 600, p90 the
			// ⌈6.3⌉ = 7th = 2400.
			wantEq(t, "frt", r.FirstResponse, Durations{Count: 7, AvgSeconds: f(857.14), MedianSeconds: f(600), P90Seconds: f(2400)})
			wantEq(t, "agents", r.Volumes.ByAgent, []Volume{{Key: "li", Counts: Counts{Opened: 1, Resolved: 4, CustomerMsgs: 2, AgentReplies: 9}}})
		}},
		{"morning only", with(func(f *Filter) { f.To = at("12:00") }), func(t *testing.T, r Report) {
			// Resolved before noon: #1001 #1002 #1003 (09:30: its reopen
			// at 13:00 is after the period) #1005 #1008 #1011. #1013 was
			// reopened at 07:21. A person answered all but #1005: 5; first
			// contact #1001 #1003 #1008 #1011 = 4 (#1002 transferred).
			wantEq(t, "fcr", r.FCR, FCRStats{Resolved: 5, FirstContact: 4, Pct: f(80)})
			wantEq(t, "resolved", r.Volumes.Resolved, 6)
		}},
		{"nobody", with(func(f *Filter) { f.Agent = "nobody" }), func(t *testing.T, r Report) {
			wantEq(t, "report", r, Report{From: day.From, To: day.To, TimeZone: "Asia/Shanghai", Agent: "nobody",
				Volumes: Volumes{ByChannel: []Volume{}, ByTeam: []Volume{}, ByAgent: []Volume{}, ByHour: hours(nil)}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, Compute(scriptedDay(), tt.f)) })
	}
}

func wantEq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		t.Errorf("%s:\n got %s\nwant %s", what, gj, wj)
	}
}

func wantCounts(t *testing.T, got, want Counts) { t.Helper(); wantEq(t, "counts", got, want) }

// TestPeriodEdges: an event exactly at From is in, one exactly at To is
// out; a resolution at To does not count, nor does a reopen at To undo
// one before it.
func TestPeriodEdges(t *testing.T) {
	from, to := at("00:00"), at("12:00")
	ev := func(ticket string, when time.Time, k Kind, v float64) Event {
		return Event{At: when, Ticket: ticket, Kind: k, Channel: "webchat", Team: sup, Agent: li, Value: v}
	}
	tests := []struct {
		name   string
		events []Event
		check  func(t *testing.T, r Report)
	}{
		{"opened at From is in", []Event{ev("#1", from, Opened, 0)}, func(t *testing.T, r Report) {
			wantEq(t, "opened", r.Volumes.Opened, 1)
			wantEq(t, "hour 0", r.Volumes.ByHour[0].Opened, 1)
		}},
		{"opened at To is out", []Event{ev("#1", to, Opened, 0)}, func(t *testing.T, r Report) {
			wantEq(t, "opened", r.Volumes.Opened, 0)
		}},
		{"a survey just before To is in", []Event{ev("#1", to.Add(-time.Nanosecond), CSAT, 4)}, func(t *testing.T, r Report) {
			wantEq(t, "responses", r.CSAT.Responses, 1)
			wantEq(t, "hour 11", r.CSAT.Average, f(4))
		}},
		{"a survey just before From is out", []Event{ev("#1", from.Add(-time.Nanosecond), CSAT, 4)}, func(t *testing.T, r Report) {
			wantEq(t, "responses", r.CSAT.Responses, 0)
		}},
		{"resolved at To is not resolved", []Event{
			ev("#1", at("-1 23:00"), Opened, 0), ev("#1", at("-1 23:10"), AgentReply, 0), ev("#1", to, Resolved, 0),
		}, func(t *testing.T, r Report) {
			wantEq(t, "resolved", r.Volumes.Resolved, 0)
			wantEq(t, "fcr", r.FCR.Resolved, 0)
			wantEq(t, "replies", r.Volumes.AgentReplies, 0) // the day before
		}},
		{"reopened at To leaves the resolution", []Event{
			ev("#1", at("-1 23:00"), Opened, 0), ev("#1", at("-1 23:10"), AgentReply, 0),
			ev("#1", from, Resolved, 0), ev("#1", to, Reopened, 0),
		}, func(t *testing.T, r Report) {
			// Opened 23:00 the day before, resolved at midnight: 3600 s;
			// handled from 23:10: 3000 s.
			wantEq(t, "fcr", r.FCR, FCRStats{Resolved: 1, FirstContact: 1, Pct: f(100)})
			wantEq(t, "resolution", r.ResolutionTime.AvgSeconds, f(3600))
			wantEq(t, "aht", r.AHT.AvgSeconds, f(3000))
		}},
		{"reopened before To undoes the resolution", []Event{
			ev("#1", from, Opened, 0), ev("#1", at("01:00"), AgentReply, 0),
			ev("#1", at("02:00"), Resolved, 0), ev("#1", at("03:00"), Reopened, 0),
		}, func(t *testing.T, r Report) {
			wantEq(t, "resolved", r.Volumes.Resolved, 0)
			wantEq(t, "aht", r.AHT.Tickets, 0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, Compute(tt.events, Filter{From: from, To: to, Location: shanghai}))
		})
	}
}

// TestEmptyAndBadValues: nothing gives zero counts and null figures;
// answers out of range and durations that are not numbers are left out,
// so JSON never meets a NaN.
func TestEmptyAndBadValues(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	ev := func(k Kind, v float64) Event {
		return Event{At: at("09:00"), Ticket: "#1", Kind: k, Channel: "email", Value: v}
	}
	for _, tt := range []struct {
		name   string
		events []Event
	}{
		{"no events", nil},
		{"bad values", []Event{ev(CSAT, nan), ev(CSAT, 0), ev(CSAT, 6), ev(NPS, nan), ev(NPS, -1), ev(NPS, 11),
			ev(FirstResponse, nan), ev(FirstResponse, inf), ev(FirstResponse, -5)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Compute(tt.events, dayFilter())
			raw, err := json.Marshal(r)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			s := string(raw)
			for _, bad := range []string{"NaN", "Inf"} {
				if strings.Contains(s, bad) {
					t.Errorf("JSON holds %s: %s", bad, s)
				}
			}
			for _, null := range []string{`"average":null`, `"score":null`, `"pct":null`, `"p90_seconds":null`,
				`"attainment_pct":null`, `"deflection_pct":null`, `"by_channel":[]`, `"by_agent":[]`} {
				if !strings.Contains(s, null) {
					t.Errorf("JSON lacks %s: %s", null, s)
				}
			}
			wantEq(t, "csat", r.CSAT.Responses, 0)
			wantEq(t, "nps", r.NPS.Responses, 0)
			wantEq(t, "frt", r.FirstResponse.Count, 0)
		})
	}
}

// TestNoLocationIsUTC: the hours are UTC without a Location.
func TestNoLocationIsUTC(t *testing.T) {
	// 09:00 in Shanghai is 01:00 UTC.
	r := Compute([]Event{{At: at("09:00"), Ticket: "#1", Kind: Opened}}, Filter{})
	wantEq(t, "zone", r.TimeZone, "UTC")
	wantEq(t, "hour 1", r.Volumes.ByHour[1].Opened, 1)
}

// TestFirstContactRules: one ticket at a time, the rules of FCR.
func TestFirstContactRules(t *testing.T) {
	type step struct {
		hm    string
		k     Kind
		agent string
	}
	tests := []struct {
		name                string
		steps               []step
		resolved, firstCont int
	}{
		{"one agent, one go", []step{{"09:00", Opened, ""}, {"09:01", AgentReply, li}, {"09:02", Resolved, li}}, 1, 1},
		{"transferred and back", []step{{"09:00", Opened, ""}, {"09:01", AgentReply, li}, {"09:02", Transferred, wang},
			{"09:03", Transferred, li}, {"09:04", Resolved, li}}, 1, 0},
		{"resolved by another agent", []step{{"09:00", Opened, ""}, {"09:01", AgentReply, li}, {"09:02", Assigned, wang},
			{"09:04", Resolved, wang}}, 1, 0},
		{"reopened and resolved again", []step{{"09:00", Opened, ""}, {"09:01", AgentReply, li}, {"09:02", Resolved, li},
			{"09:03", Reopened, li}, {"09:04", Resolved, li}}, 1, 0},
		{"answered by phone", []step{{"09:00", CallAnswered, li}, {"09:01", Opened, li}, {"09:02", Resolved, li}}, 1, 1},
		{"nobody answered", []step{{"09:00", Opened, ""}, {"09:02", Resolved, li}}, 0, 0},
		{"answered only after resolving", []step{{"09:00", Opened, ""}, {"09:02", Resolved, li}, {"09:03", AgentReply, li}}, 0, 0},
		{"transferred after resolving", []step{{"09:00", Opened, ""}, {"09:01", AgentReply, li}, {"09:02", Resolved, li},
			{"09:03", Transferred, wang}}, 1, 1},
		{"resolver unknown", []step{{"09:00", Opened, ""}, {"09:01", AgentReply, li}, {"09:02", Resolved, ""}}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var evs []Event
			for _, s := range tt.steps {
				evs = append(evs, Event{At: at(s.hm), Ticket: "#1", Kind: s.k, Channel: "webchat", Team: sup, Agent: s.agent})
			}
			r := Compute(evs, dayFilter())
			wantEq(t, "fcr", [2]int{r.FCR.Resolved, r.FCR.FirstContact}, [2]int{tt.resolved, tt.firstCont})
		})
	}
}

// TestStatistics: means, medians and the nearest-rank 90th percentile.
func TestStatistics(t *testing.T) {
	tests := []struct {
		xs                []float64
		mean, median, p90 *float64
	}{
		{nil, nil, nil, nil},
		{[]float64{7}, f(7), f(7), f(7)},
		{[]float64{4, 1}, f(2.5), f(2.5), f(4)},
		{[]float64{3, 1, 2}, f(2), f(2), f(3)},
		// 1…10: p90 is the 9th value (⌈0.9 × 10⌉ = 9), not the 10th.
		{[]float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, f(5.5), f(5.5), f(9)},
		// 1…11: ⌈9.9⌉ = 10th.
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, f(6), f(6), f(10)},
		{[]float64{1, 2, 2}, f(1.67), f(2), f(2)},
	}
	for _, tt := range tests {
		got := summary(tt.xs)
		wantEq(t, "summary", got, Durations{Count: len(tt.xs), AvgSeconds: tt.mean, MedianSeconds: tt.median, P90Seconds: tt.p90})
	}
}
