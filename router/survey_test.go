package router

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"switchboard/connectors"
	"switchboard/session"
	"switchboard/tickets"
)

func surveyWorld(t *testing.T, cfg SurveyConfig) (*world, *Router, *fakeClock) {
	t.Helper()
	w := newWorld(t, append([]session.Agent(nil), slaAgents...), []session.Team{{ID: "support", Name: "Support"}}, nil)
	w.cfg.Surveys = cfg
	w.cfg.PublicURL = "https://cs.example.com/"
	clock := &fakeClock{}
	clock.set(time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC))
	r, _, ev := w.replica()
	r.now = clock.now
	run(t, r, ev)
	return w, r, clock
}

// resolvedTicket opens a conversation from visitor, answers and resolves
// it, and returns its id.
func resolvedTicket(t *testing.T, r *Router, visitor, text string) string {
	t.Helper()
	ctx := context.Background()
	acc, err := r.Ingest(ctx, webchatMsg(visitor, visitor+"-1", text))
	if err != nil {
		t.Fatal(err)
	}
	id := acc.ConversationID
	eventually(t, "the ticket", func() bool {
		c, _ := r.Conversation(ctx, id)
		return c.TicketID != ""
	})
	sup := session.Agent{ID: "sup", Role: session.RoleSupervisor}
	a00, resolved := "a00", "resolved"
	if _, err := r.Update(ctx, sup, id, Patch{Assignee: &a00}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reply(ctx, session.Agent{ID: "a00", Name: "Agent"}, id, ReplyInput{Text: "好的"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Update(ctx, sup, id, Patch{Status: &resolved}); err != nil {
		t.Fatal(err)
	}
	return id
}

// sentTo returns what the channel was asked to send in conversation id.
func sentTo(w *world, id string) []*connectors.Outbound {
	var out []*connectors.Outbound
	for _, m := range w.ch.Sent() {
		if m.ConversationID == id {
			out = append(out, m)
		}
	}
	return out
}

func historyField(t *testing.T, r *Router, id, field string) []string {
	t.Helper()
	xs, err := r.rdb.XRange(context.Background(), r.k.convHistory(id), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range xs {
		if str(x.Values, "field") == field {
			out = append(out, str(x.Values, "to"))
		}
	}
	return out
}

// Resolve sends the survey through the channel; a typed score (full-width
// digits) and then a comment are recorded without reopening the ticket,
// each answered; the next message is an ordinary one and reopens it.
func TestSurveyTypedAnswers(t *testing.T) {
	w, r, _ := surveyWorld(t, SurveyConfig{Enabled: true})
	ctx := context.Background()
	id := resolvedTicket(t, r, "v-s1", "我的订单没收到")
	eventually(t, "the survey", func() bool { return len(sentTo(w, id)) == 2 })
	sv := sentTo(w, id)[1]
	if sv.Kind != connectors.KindSurvey || sv.Survey == nil || !sv.Automatic {
		t.Fatalf("survey outbound %+v", sv)
	}
	if sv.Survey.Kind != "csat" || sv.Survey.Min != 1 || sv.Survey.Max != 5 || sv.Survey.Lang != "zh" ||
		!strings.HasPrefix(sv.Survey.URL, "https://cs.example.com/survey/") || !strings.Contains(sv.Text, "1–5") {
		t.Fatalf("survey %+v, text %q", sv.Survey, sv.Text)
	}
	if h := historyField(t, r, id, "survey"); len(h) != 1 || h[0] != "asked:csat" {
		t.Fatalf("survey history %q", h)
	}

	if _, err := r.Ingest(ctx, webchatMsg("v-s1", "v-s1-2", "５")); err != nil {
		t.Fatal(err)
	}
	if h := historyField(t, r, id, "csat"); len(h) != 1 || h[0] != "5" {
		t.Fatalf("csat history %q, want [5]", h)
	}
	eventually(t, "the comment prompt", func() bool { return len(sentTo(w, id)) == 3 })
	if c, _ := r.Conversation(ctx, id); c.Status != tickets.Resolved {
		t.Fatalf("status %s after the score, want resolved", c.Status)
	}
	if _, err := r.Ingest(ctx, webchatMsg("v-s1", "v-s1-3", "客服很耐心")); err != nil {
		t.Fatal(err)
	}
	if h := historyField(t, r, id, "survey_comment"); len(h) != 1 || h[0] != "客服很耐心" {
		t.Fatalf("comment history %q", h)
	}
	eventually(t, "the thanks", func() bool { return len(sentTo(w, id)) == 4 })
	if got := sentTo(w, id)[3].Text; got != defaultSurveyTexts["zh"].Thanks {
		t.Errorf("thanks %q", got)
	}
	// Anything after the comment is a message again.
	if _, err := r.Ingest(ctx, webchatMsg("v-s1", "v-s1-4", "还有一个问题")); err != nil {
		t.Fatal(err)
	}
	if c, _ := r.Conversation(ctx, id); c.Status != tickets.Open {
		t.Fatalf("status %s, want open (reopened)", c.Status)
	}
	// Resolving again asks nothing (one survey per ticket by default).
	sup, resolved := session.Agent{ID: "sup", Role: session.RoleSupervisor}, "resolved"
	if _, err := r.Update(ctx, sup, id, Patch{Status: &resolved}); err != nil {
		t.Fatal(err)
	}
	settleDispatch(t, r)
	if n := len(historyField(t, r, id, "survey")); n != 1 {
		t.Errorf("%d surveys after a second resolve, want 1", n)
	}
}

// settleDispatch waits until the dispatch stream has nothing pending.
func settleDispatch(t *testing.T, r *Router) {
	t.Helper()
	eventually(t, "dispatch done", func() bool {
		p, err := r.rdb.XPending(context.Background(), r.k.dispatch(), "dispatch").Result()
		return err == nil && p.Count == 0
	})
	time.Sleep(300 * time.Millisecond)
}

// A score after the window is an ordinary message; a word that is no
// score is too.
func TestSurveyWindowAndNonScores(t *testing.T) {
	_, r, clock := surveyWorld(t, SurveyConfig{Enabled: true, Window: time.Hour})
	ctx := context.Background()
	id := resolvedTicket(t, r, "v-s2", "hello")
	eventually(t, "the survey", func() bool { return len(historyField(t, r, id, "survey")) == 1 })
	if _, err := r.Ingest(ctx, webchatMsg("v-s2", "v-s2-2", "6")); err != nil { // out of 1–5
		t.Fatal(err)
	}
	if c, _ := r.Conversation(ctx, id); c.Status != tickets.Open {
		t.Fatalf("status %s after an out-of-range number, want open", c.Status)
	}
	sup, resolved := session.Agent{ID: "sup", Role: session.RoleSupervisor}, "resolved"
	if _, err := r.Update(ctx, sup, id, Patch{Status: &resolved}); err != nil {
		t.Fatal(err)
	}
	clock.advance(61 * time.Minute)
	if _, err := r.Ingest(ctx, webchatMsg("v-s2", "v-s2-3", "5")); err != nil {
		t.Fatal(err)
	}
	if h := historyField(t, r, id, "csat"); len(h) != 0 {
		t.Fatalf("a score after the window was recorded: %q", h)
	}
	if c, _ := r.Conversation(ctx, id); c.Status != tickets.Open {
		t.Fatalf("status %s, want open", c.Status)
	}
}

// The survey page's answers: once, with a valid token only.
func TestSurveyAnswerByToken(t *testing.T) {
	w, r, clock := surveyWorld(t, SurveyConfig{Enabled: true, Kind: "nps"})
	ctx := context.Background()
	id := resolvedTicket(t, r, "v-s3", "Where is my parcel?")
	eventually(t, "the survey", func() bool { return len(sentTo(w, id)) == 2 })
	sv := sentTo(w, id)[1].Survey
	if sv.Kind != "nps" || sv.Min != 0 || sv.Max != 10 || sv.Lang != "en" {
		t.Fatalf("survey %+v", sv)
	}
	for _, forged := range []string{sv.Token[:len(sv.Token)-2] + "xx", "abc", id + ".x.y", ""} {
		if _, _, err := r.AnswerSurvey(ctx, forged, intp(9), ""); !errors.Is(err, ErrSurveyUnknown) {
			t.Errorf("forged token %q: %v, want ErrSurveyUnknown", forged, err)
		}
	}
	if _, _, err := r.AnswerSurvey(ctx, sv.Token, intp(11), ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("score 11: %v, want ErrInvalid", err)
	}
	v, recorded, err := r.AnswerSurvey(ctx, sv.Token, intp(9), "")
	if err != nil || !recorded || v.State != "answered" || v.Score == nil || *v.Score != 9 {
		t.Fatalf("answer: %+v %v %v", v, recorded, err)
	}
	v, recorded, err = r.AnswerSurvey(ctx, sv.Token, intp(2), "")
	if err != nil || recorded || *v.Score != 9 {
		t.Fatalf("second click: %+v %v %v; want the first score kept", v, recorded, err)
	}
	if _, recorded, err = r.AnswerSurvey(ctx, sv.Token, nil, "fast delivery"); err != nil || !recorded {
		t.Fatalf("comment: %v %v", recorded, err)
	}
	if h := historyField(t, r, id, "nps"); len(h) != 1 || h[0] != "9" {
		t.Errorf("nps history %q", h)
	}
	clock.advance(73 * time.Hour)
	if _, _, err := r.AnswerSurvey(ctx, sv.Token, nil, "late"); !errors.Is(err, ErrSurveyClosed) {
		t.Errorf("after the window: %v, want ErrSurveyClosed", err)
	}
}

func TestParseScore(t *testing.T) {
	for in, want := range map[string]string{"5": "5", " 4 ": "4", "５": "5", "10": "10", "０": "0", "五": "5",
		"5分": "5", "4星": "4", "3 stars": "3", "5!": "5", "11": "", "好": "", "5 很好": "", "": "", "-1": "", "4.5": "",
		"১": "", "٣": ""} {
		if got := parseScore(in); got != want {
			t.Errorf("parseScore(%q) = %q, want %q", in, got, want)
		}
	}
}

func intp(n int) *int { return &n }

func TestRedactSurveyLinks(t *testing.T) {
	const tok = "01JD5X3S6V6ZQ8W4T1M2N3P4Q5.01JD5X9K2B7C8D9E0F1G2H3J4K.AbCdEfGhIjKlMnOpQrStUv-_"
	cases := []struct{ name, in, want string }{
		{"a quoted link", "谢谢\n> https://cs.example.com/survey/" + tok + "?score=4\n", "谢谢\n> https://cs.example.com/survey/…?score=4\n"},
		{"in HTML", `<a href="https://cs.example.com/survey/` + tok + `?score=1&amp;lang=zh">1</a>`, `<a href="https://cs.example.com/survey/…?score=1&amp;lang=zh">1</a>`},
		{"two links", "/survey/" + tok + " /survey/" + tok, "/survey/… /survey/…"},
		{"not a token", "see /survey/help and /survey/a.b.c", "see /survey/help and /survey/a.b.c"},
		{"no link", "我的订单还没到", "我的订单还没到"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := &connectors.Message{Text: tc.in, Fields: map[string]string{"html": tc.in}}
			redactSurveyLinks(m)
			if m.Text != tc.want || m.Fields["html"] != tc.want {
				t.Errorf("got %q / %q, want %q", m.Text, m.Fields["html"], tc.want)
			}
		})
	}
}
