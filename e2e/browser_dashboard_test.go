package e2e

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/connectors"
	"switchboard/internal/redistest"
	"switchboard/kpi"
	"switchboard/router"
	"switchboard/server"
	"switchboard/session"
)

// The supervisors' dashboard in Chromium, on a gateway built in this
// process: `switchboard serve` takes no event log of the test's making,
// so this test builds server.Deps itself (as the server package's tests
// do) with a fake kpi.Source, on its own redis-server, and serves it on a
// loopback port. Everything else (login, the socket, the inbox page and
// its CSP) is the real thing.

// dashZone is the configured time zone of the test gateway.
var dashZone = time.FixedZone("Asia/Shanghai", 8*3600)

// fakeLog is a ticket event log the test writes.
type fakeLog struct {
	mu     sync.Mutex
	events []kpi.Event
	asked  [][2]time.Time
}

func (f *fakeLog) Events(_ context.Context, from, to time.Time) ([]kpi.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, [2]time.Time{from, to})
	return append([]kpi.Event(nil), f.events...), nil
}

func (f *fakeLog) add(e ...kpi.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e...)
}

func (f *fakeLog) lastAsked() [2]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.asked) == 0 {
		return [2]time.Time{}
	}
	return f.asked[len(f.asked)-1]
}

// dashGateway is the gateway in this process.
type dashGateway struct {
	URL    string
	events *session.Events
	logs   *logBuffer
}

// startDashGateway serves the inbox and API with src as the event log
// until the test ends.
func startDashGateway(t *testing.T, src kpi.Source) *dashGateway {
	t.Helper()
	requireE2E(t)
	rc, prefix := redistest.Client(t)
	ctx := context.Background()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir := session.NewDirectory(rc, prefix, log)
	if err := dir.Seed(ctx, []session.Agent{
		{ID: agentID, Email: agentEmail, Password: agentPassword, Name: agentName, Role: session.RoleAgent,
			Teams: []string{"support"}, Skills: []string{"general"}, Capacity: 5},
		{ID: otherID, Email: otherEmail, Password: otherPassword, Name: "王芳", Role: session.RoleAgent,
			Teams: []string{"support"}, Skills: []string{"general"}, Capacity: 5},
		{ID: supervisorID, Email: supervisorEmail, Password: supervisorPassword, Name: "赵主管", Role: session.RoleSupervisor,
			Teams: []string{"support"}, Skills: []string{"general"}, Capacity: 5},
	}); err != nil {
		t.Fatal(err)
	}
	pres := session.NewPresences(rc, prefix)
	events := session.NewEvents(rc, prefix, log)
	reg := connectors.NewRegistry()
	rt, err := router.New(router.Config{Prefix: prefix, Location: dashZone,
		Teams: []session.Team{{ID: "support", Name: "售后支持"}, {ID: "sales", Name: "销售咨询"}}},
		router.Deps{Redis: rc, Registry: reg, Directory: dir, Presences: pres, Events: events, Metrics: router.NewMetrics(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	sockets := &session.Sockets{Events: events, Presences: pres, Log: log, LiveChannel: rt.LiveChannel}
	srv := server.New(server.Options{PublicURL: base, Location: dashZone, ShutdownTimeout: 5 * time.Second},
		server.Deps{Router: rt, Auth: session.NewAuth(dir), Directory: dir, Presences: pres, Sockets: sockets,
			Registry: reg, Redis: rc, Log: log, KPIs: src})

	bg, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{rt.Run, events.Run, func(ctx context.Context) error { return srv.Serve(ctx, ln) }} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(bg); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("gateway: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		stop()
		wg.Wait()
		rt.Close()
		if t.Failed() {
			t.Logf("---- gateway log ----\n%s", logs)
		}
	})
	return &dashGateway{URL: base, events: events, logs: logs}
}

// dashDay is hh:mm on the day before the test started, in dashZone.
func dashDay(start time.Time, hh, mm int) time.Time {
	y, m, d := start.In(dashZone).AddDate(0, 0, -1).Date()
	return time.Date(y, m, d, hh, mm, 0, 0, dashZone)
}

// dashEvents are four tickets of the day before (see TestDashboard for
// the figures they make).
func dashEvents(start time.Time) []kpi.Event {
	var out []kpi.Event
	ev := func(ticket, channel string, hh, mm int, k kpi.Kind, team, agent string, v float64, target string) {
		out = append(out, kpi.Event{At: dashDay(start, hh, mm), Ticket: ticket, Kind: k, Channel: channel,
			Team: team, Agent: agent, Value: v, Target: target})
	}
	// #1 web chat: li answers in 5 min and resolves at first contact.
	ev("#1", "webchat", 9, 0, kpi.Opened, "support", "", 0, "")
	ev("#1", "webchat", 9, 0, kpi.CustomerMsg, "support", "", 0, "")
	ev("#1", "webchat", 9, 5, kpi.AgentReply, "support", agentID, 0, "")
	ev("#1", "webchat", 9, 5, kpi.FirstResponse, "support", agentID, 300, "")
	ev("#1", "webchat", 9, 5, kpi.SLAMet, "support", agentID, 0, kpi.TargetFirstResponse)
	ev("#1", "webchat", 9, 20, kpi.Resolved, "support", agentID, 0, "")
	ev("#1", "webchat", 9, 30, kpi.CSAT, "support", agentID, 5, "")
	ev("#1", "webchat", 9, 30, kpi.NPS, "support", agentID, 10, "")
	// #2 e-mail: wang answers in 30 min (breach), transfers to li, who
	// resolves.
	ev("#2", "email", 10, 0, kpi.Opened, "sales", "", 0, "")
	ev("#2", "email", 10, 0, kpi.CustomerMsg, "sales", "", 0, "")
	ev("#2", "email", 10, 30, kpi.AgentReply, "sales", otherID, 0, "")
	ev("#2", "email", 10, 30, kpi.FirstResponse, "sales", otherID, 1800, "")
	ev("#2", "email", 10, 30, kpi.SLABreached, "sales", otherID, 0, kpi.TargetFirstResponse)
	ev("#2", "email", 10, 40, kpi.Transferred, "sales", agentID, 0, "")
	ev("#2", "email", 11, 0, kpi.Resolved, "sales", agentID, 0, "")
	ev("#2", "email", 11, 10, kpi.CSAT, "sales", agentID, 3, "")
	ev("#2", "email", 11, 10, kpi.NPS, "sales", agentID, 6, "")
	// #3 web chat: the bot answers; nobody else is needed.
	ev("#3", "webchat", 9, 30, kpi.Opened, "support", "", 0, "")
	ev("#3", "webchat", 9, 30, kpi.CustomerMsg, "support", "", 0, "")
	ev("#3", "webchat", 9, 30, kpi.BotEngaged, "support", "", 0, "")
	ev("#3", "webchat", 9, 31, kpi.BotAnswered, "support", "", 0, "")
	ev("#3", "webchat", 9, 35, kpi.Resolved, "support", "", 0, "")
	// #4 phone: li takes a 4-minute call and resolves the ticket.
	ev("#4", "cti", 14, 0, kpi.CallAnswered, "support", agentID, 240, "")
	ev("#4", "cti", 14, 1, kpi.Opened, "support", agentID, 0, "")
	ev("#4", "cti", 14, 10, kpi.Resolved, "support", agentID, 0, "")
	ev("#4", "cti", 14, 10, kpi.SLAMet, "support", agentID, 0, kpi.TargetResolution)
	ev("#4", "cti", 14, 15, kpi.CSAT, "support", agentID, 4, "")
	ev("#4", "cti", 14, 15, kpi.NPS, "support", agentID, 9, "")
	return out
}

// tileJS is a JavaScript expression: the value of a KPI tile.
func tileJS(kpi string) string {
	return `(document.querySelector('[data-kpi="` + kpi + `"] .dash-tile-value') || {}).textContent`
}

// bluePixels is a JavaScript expression: how many opaque pixels of the
// "opened" series' colour (#3558e6) a chart's canvas has.
func bluePixels(box string) string {
	return `(() => { const c = document.querySelector('#` + box + ` canvas'); if (!c || !c.width) return -1;
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
		for (let i = 0; i < d.length; i += 4) if (d[i+3] > 200 && Math.abs(d[i]-53) < 40 && Math.abs(d[i+1]-88) < 40 && Math.abs(d[i+2]-230) < 40) n++;
		return n; })()`
}

const dashDiag = `JSON.stringify({status: (document.getElementById('dash-status') || {}).textContent,
	tiles: [...document.querySelectorAll('.dash-tile')].map(e => e.innerText), view: document.body.dataset.view})`

// TestDashboard: an agent has no dashboard, in the page or the API; a
// supervisor opens it, sees today empty, picks the last 7 days and sees
// the figures of the day before in tiles, charts drawn on canvas, their
// legend and the tables; Chinese relabels everything; a socket event
// brings new figures.
func TestDashboard(t *testing.T) {
	start := time.Now()
	src := &fakeLog{events: dashEvents(start)}
	gw := startDashGateway(t, src)
	br := startBrowser(t)
	defer br.finish()

	// The agent: no button, and 403 from the API.
	agent := br.newTab("agent")
	agent.do(t, "open the inbox", chromedp.Navigate(gw.URL+"/"))
	eval[chromedp.Void](t, agent, `localStorage.setItem('sb.lang', 'en')`)
	agent.do(t, "reload in English", chromedp.Reload())
	loginAs(t, agent, agentEmail, agentPassword)
	if !eval[bool](t, agent, `document.getElementById('dashboard-toggle').hidden && document.getElementById('dashboard-view').hidden`) {
		t.Error("the agent is shown the dashboard")
	}
	api := login(t, gw.URL, agentEmail, agentPassword)
	if err := api.do("GET", "/api/v1/kpis", nil, nil, http.StatusForbidden); err != nil {
		t.Errorf("the agent asking for the KPIs: %v", err)
	}

	// The supervisor opens the dashboard: today, nothing yet.
	sup := br.newTab("supervisor")
	sup.do(t, "open the inbox", chromedp.Navigate(gw.URL+"/"))
	loginAs(t, sup, supervisorEmail, supervisorPassword)
	eval[chromedp.Void](t, sup, `window.__csp = []; document.addEventListener('securitypolicyviolation',
		(e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI))`)
	sup.waitJS(t, "the dashboard button", `!document.getElementById('dashboard-toggle').hidden`, `document.querySelector('.topbar').innerText`)
	if label := eval[string](t, sup, `document.getElementById('dashboard-toggle').textContent`); label != "Dashboard" {
		t.Errorf("the button reads %q", label)
	}
	sup.do(t, "open the dashboard", chromedp.Click(chromedp.ID("dashboard-toggle")))
	sup.waitJS(t, "today's (empty) figures", `document.getElementById('dash-status').dataset.state === 'ok' &&
		`+tileJS("csat")+` === '—' && document.querySelector('#dash-chart-hour canvas')`, dashDiag)
	if !eval[bool](t, sup, `document.querySelector('.panes').hidden && !document.getElementById('dashboard-view').hidden`) {
		t.Error("the dashboard is not shown in place of the conversations")
	}
	if got := eval[string](t, sup, `document.querySelector('#dash-chart-channel').innerText`); got != "Nothing in this period" {
		t.Errorf("the channel chart of an empty day: %q", got)
	}

	// The last 7 days hold the day before.
	eval[chromedp.Void](t, sup, `(() => { const s = document.getElementById('dash-range'); s.value = 'days7'; s.dispatchEvent(new Event('change')); })()`)
	sup.waitJS(t, "the week's figures", tileJS("csat")+` === '4'`, dashDiag)
	asked := src.lastAsked()
	y, m, d := start.In(dashZone).AddDate(0, 0, -6).Date()
	if weekStart := time.Date(y, m, d, 0, 0, 0, 0, dashZone); !asked[0].Equal(weekStart) {
		// A test running across midnight asks from the day after.
		if !asked[0].Equal(weekStart.AddDate(0, 0, 1)) {
			t.Errorf("the log was asked from %v, want %v", asked[0], weekStart)
		}
	}

	// The tiles. CSAT 5, 3, 4: 4, two of three satisfied. NPS 10, 6, 9:
	// (2 − 1) / 3 = 33.3. FCR: #1 and #4 of #1 #2 #4 (#2 transferred; #3
	// nobody answered). AHT 15 min, 30 min, 10 min (the call from its
	// start): 18m 20s. First response (5 + 30) / 2 = 17m 30s, p90 30 min.
	// SLA 2 met of 3. Bot: #3 deflected.
	for _, want := range []struct{ kpi, value, sub string }{
		{"csat", "4", "3 ratings · 66.7% satisfied"},
		{"nps", "33.3", "3 responses"},
		{"fcr", "66.7%", "2 of 3 resolved tickets"},
		{"aht", "18m 20s", "3 tickets · calls avg 4m 0s"},
		{"frt", "17m 30s", "median 17m 30s · p90 30m 0s"},
		{"sla", "66.7%", "2 met · 1 breached"},
		{"bot", "100%", "1 of 1 conversations"},
	} {
		got := eval[[]string](t, sup, `[...document.querySelectorAll('[data-kpi="`+want.kpi+`"] > div')].map(e => e.textContent)`)
		if len(got) != 3 || got[1] != want.value || got[2] != want.sub {
			t.Errorf("tile %s: %q, want value %q and %q", want.kpi, got, want.value, want.sub)
		}
	}
	if got := eval[string](t, sup, `document.getElementById('dash-counts').textContent`); got !=
		"Opened 4 · Resolved 4 · Customer messages 3 · Agent replies 2 · Calls: 1 answered · 0 missed" {
		t.Errorf("counts %q", got)
	}

	// The charts are drawn: canvases with a size and bars in the opened
	// series' colour.
	for _, box := range []string{"dash-chart-hour", "dash-chart-channel"} {
		size := eval[[]int](t, sup, `(() => { const c = document.querySelector('#`+box+` canvas'); return c ? [c.width, c.height, c.clientWidth] : []; })()`)
		if len(size) != 3 || size[0] < 200 || size[1] < 100 || size[2] < 200 {
			t.Errorf("%s: canvas size %v", box, size)
		}
		sup.waitJS(t, box+" drawn with data", bluePixels(box)+` > 20`, bluePixels(box)+` + ' blue pixels'`)
	}
	// The legend shows the busiest hour, 09: #1 and #3 opened, their two
	// messages, #1's reply.
	legend := eval[[]string](t, sup, `[...document.querySelectorAll('#dash-chart-hour .u-legend .u-series')].map(r => [...r.children].map(c => c.textContent.trim()).join(' '))`)
	if strings.Join(legend, " | ") != "Hour 09:00 | Opened 2 | Customer messages 2 | Agent replies 1" {
		t.Errorf("legend %q", legend)
	}
	// The tables: per channel and per agent.
	rows := eval[[]string](t, sup, `[...document.querySelectorAll('#dash-table-channel tbody tr, #dash-table-agent tbody tr')].map(r => r.innerText.replace(/\s+/g, ' ').trim())`)
	wantRows := []string{"Phone 1 1 0 0", "Email 1 1 1 1", "Web chat 2 2 2 1",
		"(unassigned) 3 1 3 0", agentName + " 1 3 0 1", "王芳 0 0 0 1"}
	if strings.Join(rows, " | ") != strings.Join(wantRows, " | ") {
		t.Errorf("table rows %q, want %q", rows, wantRows)
	}

	// Chinese: labels, durations and the chart's legend follow.
	sup.do(t, "switch to Chinese", chromedp.Click(chromedp.ID("lang-switch")))
	sup.waitJS(t, "the dashboard in Chinese", `document.querySelector('[data-kpi="aht"] .dash-tile-label').textContent === '平均处理时长 AHT' &&
		`+tileJS("aht")+` === '18 分 20 秒' && document.querySelector('#dash-chart-hour .u-legend').innerText.includes('新建工单')`, dashDiag)
	if !eval[bool](t, sup, `document.getElementById('dashboard-toggle').textContent === '数据看板' && !document.getElementById('dashboard-view').hidden`) {
		t.Error("the switch closed the dashboard or left its button in English")
	}

	// Live: a new survey, then an event on the agent socket; the
	// dashboard fetches again on its own.
	src.add(kpi.Event{At: dashDay(start, 15, 0), Ticket: "#4", Kind: kpi.CSAT, Channel: "cti", Team: "support", Agent: agentID, Value: 1})
	if err := gw.events.ToInbox(context.Background(), "conversation.updated", map[string]any{"changed": []string{"status"}}); err != nil {
		t.Fatal(err)
	}
	// CSAT 5, 3, 4, 1: 3.25.
	sup.waitJS(t, "the figures after the event", tileJS("csat")+` === '3.25'`, dashDiag)

	// Export CSV: the same report, as a file named after its days.
	eval[chromedp.Void](t, sup, `(() => {
		window.__blobs = []; window.__downloads = [];
		const make = URL.createObjectURL.bind(URL);
		URL.createObjectURL = (b) => {
			const rec = { type: b.type, text: null };
			window.__blobs.push(rec);
			b.text().then((s) => { rec.text = s; });
			return make(b);
		};
		const click = HTMLAnchorElement.prototype.click;
		HTMLAnchorElement.prototype.click = function () { if (this.download) window.__downloads.push(this.download); return click.call(this); };
	})()`)
	sup.do(t, "export CSV", chromedp.Click(chromedp.ID("dash-export")))
	sup.waitJS(t, "the CSV file", `window.__blobs.length === 1 && window.__blobs[0].text !== null && window.__downloads.length === 1`,
		`JSON.stringify([window.__blobs, window.__downloads])`)
	if got := eval[string](t, sup, `window.__blobs[0].text`); !strings.HasPrefix(got, "section,key,metric,value\n") ||
		!strings.Contains(got, "\ncsat,,average,3.25\n") || !strings.Contains(got, "\nvolumes.by_channel,cti,opened,1\n") {
		t.Errorf("the CSV: %.400q", got)
	}
	// Seven days: the file names the first and the last day.
	if got := eval[[]string](t, sup, `window.__downloads`); len(got) != 1 || !strings.HasPrefix(got[0], "switchboard-kpis-"+asked[0].Format(time.DateOnly)+"_") ||
		!strings.HasSuffix(got[0], ".csv") {
		t.Errorf("the CSV file is named %q", got)
	}

	if v := eval[[]string](t, sup, `window.__csp`); len(v) != 0 {
		t.Errorf("the page broke its Content-Security-Policy: %q", v)
	}
	for _, l := range append(sup.consoleLines(), agent.consoleLines()...) {
		if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "exception") || strings.Contains(l, "uPlot") {
			t.Errorf("console: %s", l)
		}
	}

	// Back to the conversations.
	sup.do(t, "close the dashboard", chromedp.Click(chromedp.ID("dash-close")))
	if !eval[bool](t, sup, `!document.querySelector('.panes').hidden && document.getElementById('dashboard-view').hidden`) {
		t.Error("closing the dashboard did not bring back the conversations")
	}
}
