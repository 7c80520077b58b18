package email

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"switchboard/connectors"
	"switchboard/connectors/email/mailparse"
)

const surveyPage = "https://cs.example.com/survey/01CONV.01SV.mac"

// surveyOut is the router's survey of conversation conv.
func surveyOut(id, conv string, sv connectors.Survey, text string) *connectors.Outbound {
	return &connectors.Outbound{ID: id, ConversationID: conv, Channel: connectors.Email, Account: "support",
		To: connectors.Identity{Type: "email", Value: "wangrong@example.cn"}, Kind: connectors.KindSurvey,
		Text: text, Author: "Switchboard", Automatic: true, Survey: &sv, Thread: connectors.Thread{Token: "10042"}}
}

// htmlLinks returns the href of every <a> in doc, and the names of any
// element a mail must not carry (images, scripts, style sheets) or any
// class attribute (styles are inline only).
func htmlLinks(t *testing.T, doc string) (hrefs, texts, bad []string) {
	t.Helper()
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "img", "script", "style", "link", "form", "input", "button":
				bad = append(bad, n.Data)
			case "a":
				for _, a := range n.Attr {
					if a.Key == "href" {
						hrefs = append(hrefs, a.Val)
					}
				}
				if n.FirstChild != nil {
					texts = append(texts, n.FirstChild.Data)
				}
			}
			for _, a := range n.Attr {
				if a.Key == "class" || a.Key == "src" || strings.HasPrefix(a.Key, "on") {
					bad = append(bad, n.Data+"["+a.Key+"]")
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return hrefs, texts, bad
}

// A survey mail threads like a reply (In-Reply-To, References, the ticket
// token in the subject after the survey's title), is marked automatic, and
// has a text and an HTML part, each with the question, one link per score
// to the survey page and the reply instructions; the HTML has no images,
// scripts or style sheets, and escapes the question.
func TestSurveyMail(t *testing.T) {
	relay, relayAddr := startRelay(t)
	in := newInbox()
	c, addr := start(t, in, func(b *Mailbox) { b.SMTPRelay = &Relay{Addr: relayAddr, Security: "none"}; b.Name = "售后支持" })
	conv := customerWrites(t, in, addr, "订单未到", "我的订单没到")

	cases := []struct {
		name           string
		sv             connectors.Survey
		text           string
		subject, reply string
		scores         []int
	}{
		{"csat in Chinese", connectors.Survey{Kind: "csat", Min: 1, Max: 5, Token: "t", URL: surveyPage, Lang: "zh",
			Question: "您对本次服务满意吗？"}, "您对本次服务满意吗？\n请回复数字 1–5 评分（5 = 非常满意，1 = 非常不满意）。",
			"满意度调查：订单未到 [#10042]", "请回复数字 1–5 评分（5 = 非常满意，1 = 非常不满意）。", []int{1, 2, 3, 4, 5}},
		{"nps in English, a hostile question", connectors.Survey{Kind: "nps", Min: 0, Max: 10, Token: "t", URL: surveyPage, Lang: "en",
			Question: `Would you <b>recommend</b> us? <img src=x onerror=alert(1)>`},
			"Would you <b>recommend</b> us? <img src=x onerror=alert(1)>\nReply with a number from 0 to 10.",
			"Satisfaction survey: 订单未到 [#10042]", "Reply with a number from 0 to 10.", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
	}
	parent := "c1@example.cn" // each mail answers the thread's latest
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Send(context.Background(), surveyOut(fmt.Sprintf("01SV%d", i), conv, tc.sv, tc.text)); err != nil {
				t.Fatal(err)
			}
			raw := lastSent(t, relay)
			m, err := mailparse.Parse(raw, mailparse.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tc.subject {
				t.Errorf("subject %q, want %q", m.Subject, tc.subject)
			}
			if len(m.InReplyTo) != 1 || m.InReplyTo[0] != parent || m.References[0] != "c1@example.cn" ||
				m.References[len(m.References)-1] != parent {
				t.Errorf("not threaded as a reply: In-Reply-To %v, References %v, want %s", m.InReplyTo, m.References, parent)
			}
			parent = m.MessageID
			if !strings.HasPrefix(m.MessageID, "ticket-10042.") || m.Header.Get("Auto-Submitted") != "auto-replied" {
				t.Errorf("Message-ID %q, Auto-Submitted %q", m.MessageID, m.Header.Get("Auto-Submitted"))
			}

			e := readEntity(t, bytes.NewReader(raw))
			if e.mediaType() != "multipart/alternative" || len(e.parts) != 2 ||
				e.parts[0].mediaType() != "text/plain" || e.parts[1].mediaType() != "text/html" {
				t.Fatalf("structure %s with %d parts, want multipart/alternative of text/plain and text/html", e.mediaType(), len(e.parts))
			}
			for _, p := range e.parts {
				if _, params, _ := p.header.ContentType(); params["charset"] != "utf-8" {
					t.Errorf("%s: charset %q", p.mediaType(), params["charset"])
				}
			}
			text, doc := string(e.parts[0].body), string(e.parts[1].body)
			hrefs, labels, bad := htmlLinks(t, doc)
			var want, wantLabels []string
			for _, n := range tc.scores {
				link := fmt.Sprintf("%s?score=%d", surveyPage, n)
				want, wantLabels = append(want, link), append(wantLabels, fmt.Sprint(n))
				if !strings.Contains(text, "\r\n"+link+"\r\n") {
					t.Errorf("the text part lacks the link %s:\n%s", link, text)
				}
			}
			if !slices.Equal(hrefs, want) || !slices.Equal(labels, wantLabels) {
				t.Errorf("HTML links %q labelled %q, want %q labelled %q", hrefs, labels, want, wantLabels)
			}
			if len(bad) > 0 {
				t.Errorf("the HTML part has %v", bad)
			}
			for name, body := range map[string]string{"text": text, "HTML": html.UnescapeString(doc)} {
				if !strings.Contains(body, tc.sv.Question) || !strings.Contains(body, tc.reply) {
					t.Errorf("the %s part lacks the question or the reply instructions:\n%s", name, body)
				}
			}
			if strings.Contains(doc, "<b>") || strings.Contains(doc, "<img") {
				t.Errorf("the question reached the HTML unescaped:\n%s", doc)
			}
		})
	}

	// The customer's answer to the survey threads back, with the number
	// alone as its text (quoted history stripped), for the router to read
	// as the score.
	last, err := mailparse.Parse(lastSent(t, relay), mailparse.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	before := len(in.convs[conv])
	ans := mailText("wangrong@example.cn", "support@example.com", "", "Re: 满意度调查：订单未到 [#10042]", "c-ans@example.cn", last.MessageID, "", "4")
	if err := deliver(t, addr, "wangrong@example.cn", []string{"support@example.com"}, ans); err != nil {
		t.Fatal(err)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if ms := in.convs[conv]; len(ms) != before+1 || ms[len(ms)-1].Text != "4" {
		t.Errorf("the answer to the survey: %d messages in the conversation, want it threaded with text 4", len(ms)-before)
	}
}

// A survey that cannot be linked (no absolute page) goes as its text, as
// a reply: the customer answers by typing.
func TestSurveyMailWithoutPage(t *testing.T) {
	for _, page := range []string{"", "/survey/t", "javascript:alert(1)", surveyPage + "?x=1"} {
		m := surveyOut("01SV", "c1", connectors.Survey{Kind: "csat", Min: 1, Max: 5, URL: page, Lang: "zh", Question: "满意吗？"},
			"满意吗？\n请回复数字 1–5。")
		if _, ok := surveyOf(m); ok {
			t.Errorf("page %q: rendered with links", page)
		}
	}
	box := &Mailbox{ID: "support", Address: "support@example.com", Name: "售后支持", domain: "example.com"}
	m := surveyOut("01SV", "c1", connectors.Survey{Kind: "csat", Min: 1, Max: 5, URL: "/survey/t", Lang: "zh", Question: "满意吗？"},
		"满意吗？\n请回复数字 1–5。")
	raw, err := compose(box, m, threadState{Subject: "订单未到", MessageID: "c1@example.cn"}, "ticket-10042.01SV@example.com", nil, time.Date(2026, 11, 23, 10, 5, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	e := readEntity(t, bytes.NewReader(raw))
	subject, _ := new(mime.WordDecoder).DecodeHeader(e.header.Get("Subject"))
	if e.mediaType() != "text/plain" || !strings.Contains(string(e.body), "请回复数字 1–5。") || subject != "Re: 订单未到 [#10042]" {
		t.Errorf("%s %q, subject %q; want the text alone, as a reply", e.mediaType(), e.body, subject)
	}
}

// A reply to a survey mail is read as its new text only, whatever the
// customer's client quotes below it (the survey's links included), so a
// bare number reaches the router as the score.
func TestSurveyAnswerIsTheNewText(t *testing.T) {
	quoted := "> 您对本次服务满意吗？\r\n>\r\n> 点击下面的分数即可评分：\r\n> 1 = 非常不满意\r\n> " + surveyPage + "?score=1\r\n> 5 = 非常满意\r\n> " +
		surveyPage + "?score=5\r\n"
	cases := []struct{ name, body, want string }{
		{"Gmail", "4\r\n\r\nOn Mon, 23 Nov 2026 at 10:05, 售后支持 <support@example.com> wrote:\r\n\r\n" + quoted, "4"},
		{"a Chinese client", "５分\r\n\r\n在 2026年11月23日 10:05，售后支持 <support@example.com> 写道：\r\n" + quoted, "５分"},
		{"Outlook", "5\r\n\r\n________________________________\r\nFrom: 售后支持 <support@example.com>\r\nSent: Monday, November 23, 2026 10:05 AM\r\n" +
			"To: wangrong@example.cn\r\nSubject: 满意度调查：订单未到 [#10042]\r\n\r\n您对本次服务满意吗？\r\n", "5"},
		{"below the quote", quoted + "\r\n3\r\n", "3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := newInbox()
			_, addr := start(t, in)
			raw := mailText("wangrong@example.cn", "support@example.com", "", "Re: 满意度调查：订单未到 [#10042]", "ans@example.cn",
				"ticket-10042.01SV@example.com", "", tc.body)
			if err := deliver(t, addr, "wangrong@example.cn", []string{"support@example.com"}, raw); err != nil {
				t.Fatal(err)
			}
			in.mu.Lock()
			defer in.mu.Unlock()
			var got []string
			for _, ms := range in.convs {
				for _, m := range ms {
					got = append(got, m.Text)
				}
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("ingested %q, want [%q]", got, tc.want)
			}
		})
	}
}
