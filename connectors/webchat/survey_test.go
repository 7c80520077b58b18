package webchat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchboard/connectors"
)

// A survey reaches the widget with what it needs to render buttons (kind,
// range, question) and nothing that answers it elsewhere (the token, the
// page); a survey the widget could not render goes as its text alone.
func TestSendSurvey(t *testing.T) {
	c, _, _ := live(t, &ingester{})
	ctx := context.Background()
	const token = "01CONV.01SURVEY.secretmac"
	csat := &connectors.Survey{Kind: connectors.SurveyCSAT, Min: 1, Max: 5, Token: token,
		URL: "https://gw.example.com/survey/" + token, Lang: "zh", Question: "您对本次服务满意吗？"}
	survey := func(id string, sv *connectors.Survey) *connectors.Outbound {
		return &connectors.Outbound{ID: id, ConversationID: "conv", Channel: connectors.WebChat, Account: "site",
			To: connectors.Identity{Type: "visitor", Value: visitor}, Kind: connectors.KindSurvey,
			Text: "您对本次服务满意吗？\n请回复数字 1–5 评分。", Author: "Switchboard", Automatic: true, Survey: sv,
			Time: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)}
	}
	nps := *csat
	nps.Kind, nps.Min, nps.Max, nps.Lang, nps.Question = connectors.SurveyNPS, 0, 10, "en", "How likely are you to recommend us?"
	broken := func(edit func(s *connectors.Survey)) *connectors.Survey {
		s := *csat
		edit(&s)
		return &s
	}
	cases := []struct {
		name string
		out  *connectors.Outbound
		want *surveyEvent // nil: the text alone
	}{
		{"csat", survey("m-csat", csat), &surveyEvent{Kind: "csat", Min: 1, Max: 5, Question: csat.Question, Lang: "zh"}},
		{"nps", survey("m-nps", &nps), &surveyEvent{Kind: "nps", Min: 0, Max: 10, Question: nps.Question, Lang: "en"}},
		{"no survey data", survey("m-nodata", nil), nil},
		{"unknown kind", survey("m-kind", broken(func(s *connectors.Survey) { s.Kind = "ces" })), nil},
		{"range beyond 10", survey("m-range", broken(func(s *connectors.Survey) { s.Max = 100 })), nil},
		{"empty range", survey("m-empty", broken(func(s *connectors.Survey) { s.Min = 5 })), nil},
		{"no question", survey("m-noq", broken(func(s *connectors.Survey) { s.Question = "" })), nil},
		{"survey data on a text message", func() *connectors.Outbound {
			m := survey("m-text", csat)
			m.Kind = connectors.KindText
			return m
		}(), nil},
	}
	for _, tc := range cases {
		if _, err := c.Send(ctx, tc.out); err != nil {
			t.Fatalf("%s: Send: %v", tc.name, err)
		}
	}

	// The thread as the widget loads it (the socket sends the same events).
	resp, err := c.list(ctx, &connectors.Request{Params: map[string]string{"site": "site"},
		Query: url.Values{"visitor_id": {visitor}}, Header: http.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(resp.Body), "secretmac") || strings.Contains(string(resp.Body), "/survey/") {
		t.Errorf("the thread carries the survey's token or page: %s", resp.Body)
	}
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(resp.Body, &page); err != nil || len(page.Items) != len(cases) {
		t.Fatalf("thread %s (%v), want %d events", resp.Body, err, len(cases))
	}
	for i, tc := range cases {
		var ev visitorEvent
		if err := json.Unmarshal(page.Items[i], &ev); err != nil {
			t.Fatal(err)
		}
		if ev.MessageID != tc.out.ID || ev.Direction != "out" || ev.Text != tc.out.Text || ev.Author != "Switchboard" {
			t.Errorf("%s: event %+v", tc.name, ev)
		}
		switch {
		case tc.want == nil && ev.Survey != nil:
			t.Errorf("%s: survey %+v, want none (the text alone)", tc.name, ev.Survey)
		case tc.want == nil && strings.Contains(string(page.Items[i]), `"survey"`):
			t.Errorf("%s: a survey key in %s", tc.name, page.Items[i])
		case tc.want != nil && (ev.Survey == nil || *ev.Survey != *tc.want):
			t.Errorf("%s: survey %+v, want %+v", tc.name, ev.Survey, tc.want)
		}
	}

	// Other kinds stay unsupported.
	img := survey("m-img", nil)
	img.Kind = connectors.KindImage
	if _, err := c.Send(ctx, img); !errors.Is(err, connectors.ErrUnsupported) {
		t.Errorf("an image: %v, want ErrUnsupported", err)
	}
}
