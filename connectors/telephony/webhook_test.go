package telephony

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"switchboard/config"
	"switchboard/connectors"
)

// recorder is the router as the connector sees it: it keeps the call
// events it is handed, or fails as told.
type recorder struct {
	mu     sync.Mutex
	events []connectors.CallEvent
	err    error
}

func (r *recorder) Ingest(context.Context, *connectors.Message) (connectors.Accepted, error) {
	return connectors.Accepted{}, errors.New("the CTI connector ingests no messages")
}

func (r *recorder) CallEvent(_ context.Context, ev connectors.CallEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.events = append(r.events, ev)
	return nil
}

func (r *recorder) all() []connectors.CallEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

const (
	secret   = "s3cret-token-0123456789"
	testYAML = `
- id: pbx
  secret: "` + secret + `"
  team: support
  numbers:
    - {number: "4008001234", team: sales}
    - {number: "+49 221 4710334", team: support}
  missed_call_ticket: true
- id: zammad
  secret: "another-token-0123456789"
- id: berlin
  secret: "berlin-token-0123456789"
  default_region: DE
  ami: {addr: "127.0.0.1:5038", user: switchboard, secret: ami-secret}
`
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// decoder decodes YAML as the configuration does (unknown keys fail).
func decoder(t *testing.T, src string) func(v any) error {
	t.Helper()
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(src), &node); err != nil {
		t.Fatal(err)
	}
	return func(v any) error { return config.Decode(&node, v, "channels.cti") }
}

func newTestConnector(t *testing.T) (*Connector, *recorder) {
	t.Helper()
	rec := &recorder{}
	c, err := New(connectors.Env{In: rec, Log: quiet(), Region: "CN"}, decoder(t, testYAML))
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Connector), rec
}

// post is one webhook request.
type post struct {
	source      string
	contentType string
	body        string
	query       url.Values
	header      http.Header
}

func (c *Connector) do(t *testing.T, p post) (int, map[string]string) {
	t.Helper()
	if p.source == "" {
		p.source = "pbx"
	}
	if p.query == nil {
		p.query = url.Values{"token": {secret}}
	}
	h := http.Header{}
	for k, v := range p.header {
		h[k] = v
	}
	if p.contentType != "" {
		h.Set("Content-Type", p.contentType)
	}
	eps := c.Endpoints()
	if len(eps) != 1 || eps[0].Path != "/channels/cti/:source/events" || eps[0].Method != "POST" {
		t.Fatalf("endpoints %+v", eps)
	}
	resp, err := eps[0].Handle(context.Background(), &connectors.Request{Method: "POST", Path: "/channels/cti/" + p.source + "/events",
		Params: map[string]string{"source": p.source}, Query: p.query, Header: h, Body: []byte(p.body)})
	if err != nil {
		t.Fatalf("handler error: %v", err)
	}
	if !strings.HasPrefix(resp.ContentType, "application/json") {
		t.Errorf("content type %q", resp.ContentType)
	}
	var out map[string]string
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatalf("answer %q is not a JSON object of strings: %v", resp.Body, err)
	}
	return resp.Status, out
}

const (
	jsonCT = "application/json"
	formCT = "application/x-www-form-urlencoded"
	callID = "307fa962-de8d-4ffc-817b-7f6993204159"
)

// multipartBody encodes fields as multipart/form-data.
func multipartBody(t *testing.T, fields [][2]string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("recording", "call.wav") // a file: ignored
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write([]byte("RIFF…"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.String()
}

// Every event and field combination of Zammad's documented payloads, in
// JSON and as forms, becomes the call event the router gets.
func TestWebhookZammadPayloads(t *testing.T) {
	mpCT, mpBody := multipartBody(t, [][2]string{{"event", "newCall"}, {"from", "13800138000"}, {"to", "4008001234"},
		{"direction", "in"}, {"callId", "mp-1"}, {"user", "8001"}, {"user", "8002"}})
	tests := []struct {
		name   string
		p      post
		want   connectors.CallEvent
		source string
	}{
		{"json newCall, users as a list", post{source: "zammad", query: url.Values{"token": {"another-token-0123456789"}}, contentType: jsonCT,
			body: `{"event":"newCall","from":"493023125741","to":"492214710334","direction":"in","callId":"` + callID + `","user":["Christopher Miller","Emma Taylor"]}`},
			connectors.CallEvent{Type: connectors.CallNew, CallID: callID, Direction: "in", From: "493023125741", To: "492214710334",
				FromE164: "+493023125741", ToE164: "+492214710334", Users: []string{"Christopher Miller", "Emma Taylor"}}, "zammad"},
		{"json newCall, the source's region", post{source: "berlin", query: url.Values{"token": {"berlin-token-0123456789"}}, contentType: jsonCT,
			body: `{"event":"newCall","from":"030 23125741","to":"+49 221 4710334","direction":"in","callId":"de-1","user":"Emma Taylor"}`},
			connectors.CallEvent{Type: connectors.CallNew, CallID: "de-1", Direction: "in", From: "030 23125741", To: "+49 221 4710334",
				FromE164: "+493023125741", ToE164: "+492214710334", Users: []string{"Emma Taylor"}}, "berlin"},
		{"json answer, answeringNumber", post{contentType: jsonCT,
			body: `{"event":"answer","from":"493023125741","to":"492214710334","direction":"in","callId":"` + callID + `","user":"Emma Taylor","answeringNumber":"emma@chrispresso.com"}`},
			connectors.CallEvent{Type: connectors.CallAnswer, CallID: callID, Direction: "in", From: "493023125741", To: "492214710334",
				FromE164: "+493023125741", ToE164: "+492214710334", Users: []string{"Emma Taylor"}, AnsweredBy: "emma@chrispresso.com",
				Team: "support"}, "pbx"},
		{"json answer, who answered in user", post{contentType: jsonCT,
			body: `{"event":"answer","from":"13800138000","to":"4008001234","direction":"in","call_id":"c-2","user":"8001"}`},
			connectors.CallEvent{Type: connectors.CallAnswer, CallID: "c-2", Direction: "in", From: "13800138000", To: "4008001234",
				FromE164: "+8613800138000", ToE164: "+864008001234", Users: []string{"8001"}, AnsweredBy: "8001", Team: "sales"}, "pbx"},
		{"json hangup with cause, numbers as JSON numbers", post{contentType: jsonCT,
			body: `{"event":"hangup","from":13800138000,"to":4008001234,"direction":"in","callId":42,"cause":"normalClearing","answeringNumber":"8001"}`},
			connectors.CallEvent{Type: connectors.CallHangup, CallID: "42", Direction: "in", From: "13800138000", To: "4008001234",
				FromE164: "+8613800138000", ToE164: "+864008001234", AnsweredBy: "8001", Cause: "normalClearing", Team: "sales"}, "pbx"},
		{"json outbound newCall, queue, extra fields ignored", post{contentType: "application/json; charset=utf-8",
			body: `{"event":"newCall","from":"8001","to":"010-65529988","direction":"out","callId":"o-1","user":"李明","queue":"support","user_id":7,"caller":"x","extra":{"a":[1]}}`},
			connectors.CallEvent{Type: connectors.CallNew, CallID: "o-1", Direction: "out", From: "8001", To: "010-65529988",
				ToE164: "+861065529988", Users: []string{"李明"}, Queue: "support", Team: "support"}, "pbx"},
		{"form newCall, user[] repeated", post{contentType: formCT,
			body: "event=newCall&from=13800138000&to=4008001234&direction=in&callId=f-1&user%5B%5D=Christopher+Miller&user%5B%5D=Emma+Taylor"},
			connectors.CallEvent{Type: connectors.CallNew, CallID: "f-1", Direction: "in", From: "13800138000", To: "4008001234",
				FromE164: "+8613800138000", ToE164: "+864008001234", Users: []string{"Christopher Miller", "Emma Taylor"}, Team: "sales"}, "pbx"},
		{"form newCall, user repeated, call_id", post{contentType: formCT,
			body: "event=newCall&from=%2B8613800138000&to=%2B864008001234&direction=in&call_id=f-2&user=8001&user=8002"},
			connectors.CallEvent{Type: connectors.CallNew, CallID: "f-2", Direction: "in", From: "+8613800138000", To: "+864008001234",
				FromE164: "+8613800138000", ToE164: "+864008001234", Users: []string{"8001", "8002"}, Team: "sales"}, "pbx"},
		{"form hangup, both call ids: callId wins", post{contentType: formCT,
			body: "event=hangup&from=anonymous&to=4008001234&direction=in&callId=f-3&call_id=other&cause=cancel"},
			connectors.CallEvent{Type: connectors.CallHangup, CallID: "f-3", Direction: "in", From: "anonymous", To: "4008001234",
				ToE164: "+864008001234", Cause: "cancel", Team: "sales"}, "pbx"},
		{"multipart newCall, a file part ignored", post{contentType: mpCT, body: mpBody},
			connectors.CallEvent{Type: connectors.CallNew, CallID: "mp-1", Direction: "in", From: "13800138000", To: "4008001234",
				FromE164: "+8613800138000", ToE164: "+864008001234", Users: []string{"8001", "8002"}, Team: "sales"}, "pbx"},
		{"no content type, a form", post{body: "event=answer&from=13800138000&to=4008001234&direction=in&callId=n-1&answeringNumber=8001"},
			connectors.CallEvent{Type: connectors.CallAnswer, CallID: "n-1", Direction: "in", From: "13800138000", To: "4008001234",
				FromE164: "+8613800138000", ToE164: "+864008001234", AnsweredBy: "8001", Team: "sales"}, "pbx"},
		{"no content type, JSON", post{body: ` {"event":"newCall","from":"13800138000","to":"021-61234567","direction":"in","callId":"n-2"}`},
			connectors.CallEvent{Type: connectors.CallNew, CallID: "n-2", Direction: "in", From: "13800138000", To: "021-61234567",
				FromE164: "+8613800138000", ToE164: "+862161234567", Team: "support"}, "pbx"},
		{"everything in the query", post{query: url.Values{"token": {secret}, "event": {"newCall"}, "from": {"13800138000"},
			"to": {"4008001234"}, "direction": {"in"}, "callId": {"q-1"}, "user[]": {"8001"}}},
			connectors.CallEvent{Type: connectors.CallNew, CallID: "q-1", Direction: "in", From: "13800138000", To: "4008001234",
				FromE164: "+8613800138000", ToE164: "+864008001234", Users: []string{"8001"}, Team: "sales"}, "pbx"},
		{"the body wins over the query", post{contentType: formCT, query: url.Values{"token": {secret}, "callId": {"from-query"}, "event": {"hangup"}},
			body: "event=newCall&from=13800138000&to=4008001234&direction=in&callId=b-1"},
			connectors.CallEvent{Type: connectors.CallNew, CallID: "b-1", Direction: "in", From: "13800138000", To: "4008001234",
				FromE164: "+8613800138000", ToE164: "+864008001234", Team: "sales"}, "pbx"},
		{"token in X-CTI-Token", post{query: url.Values{}, header: http.Header{"X-Cti-Token": {secret}}, contentType: jsonCT,
			body: `{"event":"newCall","from":"13800138000","to":"4008001234","direction":"in","callId":"h-1"}`},
			connectors.CallEvent{Type: connectors.CallNew, CallID: "h-1", Direction: "in", From: "13800138000", To: "4008001234",
				FromE164: "+8613800138000", ToE164: "+864008001234", Team: "sales"}, "pbx"},
		{"token as a bearer", post{query: url.Values{}, header: http.Header{"Authorization": {"Bearer " + secret}}, contentType: jsonCT,
			body: `{"event":"newCall","from":"13800138000","to":"4008001234","direction":"in","callId":"h-2"}`},
			connectors.CallEvent{Type: connectors.CallNew, CallID: "h-2", Direction: "in", From: "13800138000", To: "4008001234",
				FromE164: "+8613800138000", ToE164: "+864008001234", Team: "sales"}, "pbx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := newTestConnector(t)
			status, body := c.do(t, tc.p)
			if status != http.StatusOK || len(body) != 0 {
				t.Fatalf("answer %d %v, want 200 {}", status, body)
			}
			got := rec.all()
			if len(got) != 1 {
				t.Fatalf("%d events reached the router, want 1", len(got))
			}
			want := tc.want
			want.Source = tc.source
			if !equalEvent(got[0], want) {
				t.Errorf("event\n got %+v\nwant %+v", got[0], want)
			}
		})
	}
}

func equalEvent(a, b connectors.CallEvent) bool {
	return reflect.DeepEqual(a, b)
}

// Requests that are refused get Zammad's error shape and reach nothing.
func TestWebhookRefusals(t *testing.T) {
	ok := `{"event":"newCall","from":"13800138000","to":"4008001234","direction":"in","callId":"r-1"}`
	tests := []struct {
		name   string
		p      post
		status int
		msg    string // the answer's error, or a part of it
	}{
		{"wrong token", post{query: url.Values{"token": {"wrong-token-0123456789"}}, contentType: jsonCT, body: ok},
			401, "Invalid token, please contact your admin!"},
		{"no token", post{query: url.Values{}, contentType: jsonCT, body: ok}, 401, "Invalid token, please contact your admin!"},
		{"another source's token", post{query: url.Values{"token": {"another-token-0123456789"}}, contentType: jsonCT, body: ok},
			401, "Invalid token"},
		{"a token in the body does not count", post{query: url.Values{}, contentType: formCT,
			body: "token=" + secret + "&event=newCall&direction=in&callId=x"}, 401, "Invalid token"},
		{"unknown source", post{source: "nope", contentType: jsonCT, body: ok}, 404, "Unknown CTI source"},
		{"invalid direction", post{contentType: jsonCT, body: strings.Replace(ok, `"in"`, `"sideways"`, 1)}, 422, "Invalid direction!"},
		{"no direction", post{contentType: formCT, body: "event=newCall&callId=x"}, 422, "Invalid direction!"},
		{"unknown event", post{contentType: jsonCT, body: strings.Replace(ok, "newCall", "transfer", 1)}, 422, `Unknown event "transfer"`},
		{"no event", post{contentType: formCT, body: "direction=in&callId=x"}, 400, "event is required"},
		{"no call id", post{contentType: formCT, body: "event=newCall&direction=in"}, 400, "callId is required"},
		{"malformed JSON", post{contentType: jsonCT, body: `{"event":`}, 400, "Malformed JSON"},
		{"a JSON list", post{contentType: jsonCT, body: `[` + ok + `]`}, 400, "Malformed JSON"},
		{"two JSON values", post{contentType: jsonCT, body: ok + ok}, 400, "more than one value"},
		{"from as an object", post{contentType: jsonCT, body: strings.Replace(ok, `"13800138000"`, `{"n":1}`, 1)}, 400, "from must be a string"},
		{"callId as a list", post{contentType: jsonCT, body: strings.Replace(ok, `"r-1"`, `["a","b"]`, 1)}, 400, "callId must be a string"},
		{"malformed form", post{contentType: formCT, body: "event=%zz"}, 400, "Malformed form"},
		{"multipart without boundary", post{contentType: "multipart/form-data", body: "x"}, 400, "boundary"},
		{"XML", post{contentType: "text/xml", body: "<event/>"}, 415, "Unsupported Content-Type"},
		{"control characters", post{contentType: jsonCT, body: strings.Replace(ok, "13800138000", `1380\u0000`, 1)}, 400, "from must be"},
		{"long call id", post{contentType: formCT, body: "event=newCall&direction=in&callId=" + strings.Repeat("x", 129)}, 400, "callId must be"},
		{"too many users", post{contentType: formCT, body: "event=newCall&direction=in&callId=x" + strings.Repeat("&user=8001", 33)}, 400, "at most 32 users"},
		{"too large", post{contentType: jsonCT, body: `{"event":"newCall","pad":"` + strings.Repeat("x", maxBody) + `"}`}, 413, "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := newTestConnector(t)
			status, body := c.do(t, tc.p)
			if status != tc.status || !strings.Contains(body["error"], tc.msg) || len(body) != 1 {
				t.Errorf("answer %d %v, want %d with error %q", status, body, tc.status, tc.msg)
			}
			if n := len(rec.all()); n != 0 {
				t.Errorf("%d events reached the router", n)
			}
		})
	}
}

// When the router cannot store the event, the PBX hears so (and may try
// again): never 200 before the event is stored.
func TestWebhookRouterFailure(t *testing.T) {
	c, rec := newTestConnector(t)
	rec.err = errors.New("redis: connection refused")
	status, body := c.do(t, post{contentType: jsonCT,
		body: `{"event":"newCall","from":"13800138000","to":"4008001234","direction":"in","callId":"f-1"}`})
	if status != http.StatusInternalServerError || body["error"] == "" || strings.Contains(body["error"], "redis") {
		t.Errorf("answer %d %v, want 500 with an error that does not leak the cause", status, body)
	}
}

// Bad configuration fails start-up with the key's path.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"no secret", `[{id: pbx}]`, []string{"[0].secret: is required"}},
		{"short secret", `[{id: pbx, secret: short}]`, []string{"[0].secret: is shorter than 16"}},
		{"secret with a space", `[{id: pbx, secret: "0123456789 abcdef"}]`, []string{"[0].secret: must not contain spaces"}},
		{"bad id", `[{id: "p b x", secret: 0123456789abcdef}]`, []string{"[0].id:"}},
		{"twice", `[{id: pbx, secret: 0123456789abcdef}, {id: pbx, secret: 0123456789abcdef}]`, []string{`[1].id: "pbx" is used twice`}},
		{"bad region", `[{id: pbx, secret: 0123456789abcdef, default_region: China}]`, []string{"[0].default_region:"}},
		{"bad number", `[{id: pbx, secret: 0123456789abcdef, numbers: [{number: "call us", team: sales}]}]`,
			[]string{"[0].numbers[0].number:"}},
		{"number twice", `[{id: pbx, secret: 0123456789abcdef, numbers: [{number: "4008001234", team: a}, {number: "400-800-1234", team: b}]}]`,
			[]string{"[0].numbers[1].number:", "listed twice"}},
		{"number without team", `[{id: pbx, secret: 0123456789abcdef, numbers: [{number: "4008001234"}]}]`,
			[]string{"[0].numbers[0].team:"}},
		{"unknown key", `[{id: pbx, secret: 0123456789abcdef, sekret: x}]`, []string{"channels.cti[0].sekret", "unknown"}},
		{"ami without addr", `[{id: pbx, secret: 0123456789abcdef, ami: {user: u, secret: s}}]`, []string{"cti[0].ami", "ami.addr"}},
		{"missed_call_ticket not a bool", `[{id: pbx, secret: 0123456789abcdef, missed_call_ticket: often}]`,
			[]string{"channels.cti[0].missed_call_ticket"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(connectors.Env{In: &recorder{}, Log: quiet(), Region: "CN"}, decoder(t, tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "0123456789abcdef") {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
	if _, err := New(connectors.Env{In: ingestOnly{}, Log: quiet()}, decoder(t, testYAML)); err == nil {
		t.Error("a router without call records was accepted")
	}
}

type ingestOnly struct{}

func (ingestOnly) Ingest(context.Context, *connectors.Message) (connectors.Accepted, error) {
	return connectors.Accepted{}, nil
}

// The teams named are checked against the configured ones, and the
// missed-call policy is per source.
func TestTeamsAndPolicy(t *testing.T) {
	c, _ := newTestConnector(t)
	err := c.CheckTeams(func(team string) bool { return team == "support" })
	if err == nil || !strings.Contains(err.Error(), `[0].numbers[0].team: unknown team "sales"`) ||
		strings.Contains(err.Error(), "numbers[1]") {
		t.Errorf("CheckTeams: %v", err)
	}
	if err := c.CheckTeams(func(string) bool { return true }); err != nil {
		t.Errorf("CheckTeams with every team known: %v", err)
	}
	if !c.MissedCallTicket("pbx") || c.MissedCallTicket("zammad") || c.MissedCallTicket("nope") {
		t.Error("missed_call_ticket is not per source")
	}
	if !c.RingsAgents("berlin") || c.RingsAgents("pbx") || c.RingsAgents("nope") {
		t.Error("only a source with ami reports rings")
	}
	if _, err := c.Send(context.Background(), &connectors.Outbound{}); !errors.Is(err, connectors.ErrUnsupported) {
		t.Errorf("Send: %v, want unsupported", err)
	}
	if c.Channel() != connectors.CTI {
		t.Errorf("channel %q", c.Channel())
	}
}
