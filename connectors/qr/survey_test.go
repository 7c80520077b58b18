package qr

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"switchboard/connectors"
	"switchboard/internal/redistest"
)

// ticketStatus is an Ingester whose one ticket has a status the test sets.
type ticketStatus struct {
	mu     sync.Mutex
	status string
}

func (*ticketStatus) Ingest(context.Context, *connectors.Message) (connectors.Accepted, error) {
	return connectors.Accepted{}, nil
}

func (s *ticketStatus) TicketState(context.Context, string) (connectors.TicketState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return connectors.TicketState{Number: "10042", Status: s.status}, nil
}

func (s *ticketStatus) set(status string) {
	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
}

// scoreLinks returns the href of every link in the page's survey blocks.
func scoreLinks(t *testing.T, page []byte) []string {
	t.Helper()
	root, err := html.Parse(strings.NewReader(string(page)))
	if err != nil {
		t.Fatal(err)
	}
	var links []string
	var walk func(n *html.Node, inSurvey bool)
	walk = func(n *html.Node, inSurvey bool) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if a.Key == "class" && a.Val == "survey" {
					inSurvey = true
				}
				if a.Key == "href" && n.Data == "a" && inSurvey {
					links = append(links, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inSurvey)
		}
	}
	walk(root, false)
	return links
}

// The tracking page shows a survey's score links (to the survey page, in
// the page's language) while the survey is the latest reply, the ticket
// is resolved and the window is open; a page without a survey, and after
// the window, a later reply or a reopen, shows none. The live updates
// carry the same links.
func TestTrackingPageSurvey(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	st := &ticketStatus{status: "resolved"}
	sent := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	now := sent
	var clock sync.Mutex
	c, err := New(connectors.Env{In: st, Redis: rdb, Prefix: prefix, PublicURL: "https://cs.example.com",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now }}, func(any) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	q := c.(*Connector)
	ctx := context.Background()
	setNow := func(t time.Time) { clock.Lock(); now = t; clock.Unlock() }

	const page = "https://cs.example.com/survey/01CONV.01SV.mac"
	pages := map[string]string{} // conversation -> tracking token
	for i, conv := range []string{"c-csat", "c-nps", "c-text", "c-later", "c-local"} {
		tok := fmt.Sprintf("%024d", i)
		pages[conv] = strings.Replace(tok, "0", "A", -1)
		if err := q.saveTrack(ctx, pages[conv], tracked{Code: "0123456789ab", Conversation: conv,
			From: connectors.Identity{Type: "phone", Value: "+8613800138000"}, Created: sent}); err != nil {
			t.Fatal(err)
		}
	}
	survey := func(id, conv string, sv connectors.Survey) *connectors.Outbound {
		return &connectors.Outbound{ID: id, ConversationID: conv, Channel: connectors.QR, Account: "0123456789ab",
			Kind: connectors.KindSurvey, Text: sv.Question + "\n请回复数字评分。", Author: "Switchboard", Automatic: true,
			Survey: &sv, Time: sent}
	}
	csat := connectors.Survey{Kind: "csat", Min: 1, Max: 5, Token: "x", URL: page, Lang: "zh", Question: "您对本次服务满意吗？"}
	nps := connectors.Survey{Kind: "nps", Min: 0, Max: 10, Token: "x", URL: page, Lang: "en", Question: "Would you recommend us?"}
	local := csat
	local.URL = "/survey/01CONV.01SV.mac" // no public_url
	for _, m := range []*connectors.Outbound{
		survey("m1", "c-csat", csat),
		survey("m2", "c-nps", nps),
		{ID: "m3", ConversationID: "c-text", Channel: connectors.QR, Kind: connectors.KindText, Text: "已修好", Time: sent},
		survey("m4", "c-later", csat),
		{ID: "m5", ConversationID: "c-later", Channel: connectors.QR, Kind: connectors.KindText, Text: "还有别的问题吗？", Time: sent},
		survey("m6", "c-local", local),
	} {
		if _, err := q.Send(ctx, m); err != nil {
			t.Fatalf("send %s: %v", m.ID, err)
		}
	}
	links := func(base string, scores ...int) []string {
		var out []string
		for _, n := range scores {
			out = append(out, fmt.Sprintf("%s?score=%d&lang=zh", base, n))
		}
		return out
	}
	show := func(conv string) []string {
		t.Helper()
		resp, err := q.track(ctx, &connectors.Request{Params: map[string]string{"token": pages[conv]},
			Query: url.Values{"lang": {"zh"}}, Header: http.Header{}})
		if err != nil || resp.Status != http.StatusOK {
			t.Fatalf("%s: tracking page %v %v", conv, resp, err)
		}
		if !strings.Contains(string(resp.Body), "请回复数字评分。") && conv != "c-text" {
			t.Errorf("%s: the survey's text is not on the page", conv)
		}
		return scoreLinks(t, resp.Body)
	}
	cases := []struct {
		name, conv, status string
		at                 time.Time
		want               []string
	}{
		{"csat, resolved", "c-csat", "resolved", sent, links(page, 1, 2, 3, 4, 5)},
		{"nps, resolved", "c-nps", "resolved", sent.Add(71 * time.Hour), links(page, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)},
		{"a page without a public URL", "c-local", "resolved", sent, links("/survey/01CONV.01SV.mac", 1, 2, 3, 4, 5)},
		{"no survey", "c-text", "resolved", sent, nil},
		{"a later reply", "c-later", "resolved", sent, nil},
		{"after the window", "c-csat", "resolved", sent.Add(surveyWindow + time.Minute), nil},
		{"reopened", "c-csat", "open", sent, nil},
		{"closed", "c-csat", "closed", sent, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st.set(tc.status)
			setNow(tc.at)
			if got := show(tc.conv); !slices.Equal(got, tc.want) {
				t.Errorf("score links %q, want %q", got, tc.want)
			}
		})
	}

	// The script's live updates: the survey's item carries the links,
	// and the status code tells the script to take them away later.
	st.set("resolved")
	setNow(sent)
	resp, err := q.events(ctx, &connectors.Request{Params: map[string]string{"token": pages["c-csat"]},
		Query: url.Values{"lang": {"en"}}, Header: http.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		State string `json:"state"`
		Items []struct {
			Survey *struct {
				Links []struct {
					Score int    `json:"score"`
					URL   string `json:"url"`
					Label string `json:"label"`
				} `json:"links"`
				Low string `json:"low"`
			} `json:"survey"`
		} `json:"items"`
	}
	if err := json.Unmarshal(resp.Body, &ev); err != nil || len(ev.Items) != 1 || ev.Items[0].Survey == nil {
		t.Fatalf("events %s (%v), want the survey with its links", resp.Body, err)
	}
	sv := ev.Items[0].Survey
	if ev.State != "resolved" || len(sv.Links) != 5 || sv.Links[4].URL != page+"?score=5&lang=en" ||
		sv.Links[0].Label != "Score 1: Very dissatisfied" || sv.Low != "1 = Very dissatisfied" {
		t.Errorf("events: state %q, survey %+v", ev.State, sv)
	}
}
