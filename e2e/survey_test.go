package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors/wechat/wxfake"
)

// surveysOn is the configuration section the survey tests add: CSAT on
// every channel, in the customer's language.
const surveysOn = "surveys: {enabled: true}\n"

// wechatTextLimit is the most a WeChat customer-service text may carry,
// in bytes.
const wechatTextLimit = 2048

// ticketJSON is a ticket with its history, as GET /api/v1/tickets/{n}
// answers.
type ticketJSON struct {
	Status  string `json:"status"`
	History []struct {
		Actor string `json:"actor"`
		Field string `json:"field"`
		To    string `json:"to"`
	} `json:"history"`
}

// historyOf returns the values a ticket's history recorded for field.
func (tk ticketJSON) historyOf(field string) []string {
	var out []string
	for _, h := range tk.History {
		if h.Field == field {
			out = append(out, h.To)
		}
	}
	return out
}

// ticketNumber waits until conversation conv has a ticket and returns its
// number.
func ticketNumber(t *testing.T, agent *apiClient, conv string) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		var cv struct {
			TicketID string `json:"ticket_id"`
		}
		agent.must(t, "GET", "/api/v1/conversations/"+url.PathEscape(conv), nil, &cv, http.StatusOK)
		if cv.TicketID != "" {
			return cv.TicketID
		}
		if time.Now().After(deadline) {
			t.Fatalf("conversation %s has no ticket after %v", conv, waitTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// resolve sets a conversation's ticket resolved, which sends its survey.
func resolve(t *testing.T, agent *apiClient, conv string) {
	t.Helper()
	agent.must(t, "PATCH", "/api/v1/conversations/"+url.PathEscape(conv), map[string]string{"status": "resolved"}, nil, http.StatusOK)
}

// waitTicket polls ticket n until cond holds and returns it.
func waitTicket(t *testing.T, agent *apiClient, n, what string, cond func(ticketJSON) bool) ticketJSON {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		var tk ticketJSON
		agent.must(t, "GET", "/api/v1/tickets/"+n, nil, &tk, http.StatusOK)
		if cond(tk) {
			return tk
		}
		if time.Now().After(deadline) {
			t.Fatalf("ticket %s: no %s within %v; ticket %+v", n, what, waitTimeout, tk)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// assignedConversation waits for the one conversation of channel assigned
// to the agent.
func assignedConversation(t *testing.T, agent *apiClient, channel string) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		var list struct {
			Items []conversationJSON `json:"items"`
		}
		agent.must(t, "GET", "/api/v1/conversations?view=all&channel="+channel, nil, &list, http.StatusOK)
		for _, it := range list.Items {
			if it.Assignee == agentID {
				return it.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s conversation assigned to %s: %+v", channel, agentID, list.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// surveyURL waits for the survey message of conversation conv in its
// transcript and returns the survey page the customer was sent. The
// agents' API does not show the page's token (an agent must not answer
// for the customer), so it is made here as the router makes it: the
// conversation and survey ids, MAC'd under the secret kept in Redis.
func surveyURL(t *testing.T, c *cluster, agent *apiClient, conv, base string) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		var msgs struct {
			Items []struct {
				Kind   string            `json:"kind"`
				Fields map[string]string `json:"fields"`
			} `json:"items"`
		}
		agent.must(t, "GET", "/api/v1/conversations/"+url.PathEscape(conv)+"/messages?limit=500", nil, &msgs, http.StatusOK)
		found := false
		for _, m := range msgs.Items {
			if m.Kind == "survey" {
				if _, leaked := m.Fields["survey_url"]; leaked {
					t.Fatalf("the agents' API shows the survey's link: %v", m.Fields)
				}
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("conversation %s has no survey message: %+v", conv, msgs.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
	opts, err := redis.ParseURL(c.redis.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	svID, err := rdb.HGet(ctx, "sb:{c:"+conv+"}", "sv_id").Result()
	if err != nil {
		t.Fatal(err)
	}
	secret, err := rdb.Get(ctx, "sb:survey:secret").Result()
	if err != nil {
		t.Fatal(err)
	}
	key, err := hex.DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(conv + "|" + svID))
	return base + "/survey/" + conv + "." + svID + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// get fetches u with a plain client and returns the status and the body.
func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// postForm posts a form to u and returns the status and the body.
func postForm(t *testing.T, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).PostForm(u, form)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSurveyWeChat: a resolved WeChat ticket's survey reaches WeChat's API
// as a text within its limit; the follower's full-width "５" is recorded
// as CSAT 5 and the ticket stays resolved.
func TestSurveyWeChat(t *testing.T) {
	requireE2E(t)
	fake := wxfake.New(wxfake.App{AppID: wxAppID, Secret: "oasecret"}, wxfake.App{AppID: wxMPID, Secret: "mpsecret"})
	defer fake.Close()
	c := startClusterConfig(t, 1, wxChannels(fake.URL()), surveysOn)
	r := c.replicas[0]
	agent := login(t, r.URL, agentEmail, agentPassword)
	agent.setPresence(t, "online")

	if st, body, err := sealPush(t, wxAppID, oaText("6074130599188500001", "我的快递还没到"), false).post(r.URL, "/channels/wechat/oa/main"); err != nil ||
		st != http.StatusOK || string(body) != "success" {
		t.Fatalf("push: %d %q %v", st, body, err)
	}
	conv := assignedConversation(t, agent, "wechat_oa")
	n := ticketNumber(t, agent, conv)
	resolve(t, agent, conv)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sent, err := fake.WaitSent(ctx, 1)
	if err != nil {
		t.Fatalf("the survey never reached WeChat: %v", err)
	}
	sv := sent[0]
	if sv.ToUser != wxOpenID || sv.MsgType != "text" || !strings.Contains(sv.Content, "满意") || !strings.Contains(sv.Content, "1–5") {
		t.Errorf("WeChat got %+v, want the Chinese CSAT question asking for 1–5", sv)
	}
	if len(sv.Content) > wechatTextLimit {
		t.Errorf("the survey is %d bytes, over WeChat's %d", len(sv.Content), wechatTextLimit)
	}

	if st, _, err := sealPush(t, wxAppID, oaText("6074130599188500002", "５"), false).post(r.URL, "/channels/wechat/oa/main"); err != nil || st != http.StatusOK {
		t.Fatalf("the answer's push: %d %v", st, err)
	}
	tk := waitTicket(t, agent, n, "csat 5", func(tk ticketJSON) bool { return len(tk.historyOf("csat")) > 0 })
	if got := tk.historyOf("csat"); !slices.Equal(got, []string{"5"}) || tk.Status != "resolved" {
		t.Errorf("after the answer: csat %q, status %s; want [5] and still resolved", got, tk.Status)
	}
	// The answer is thanked with the invitation to comment, through WeChat.
	if sent, err = fake.WaitSent(ctx, 2); err != nil || sent[1].MsgType != "text" || sent[1].Content == "" {
		t.Errorf("no comment prompt reached WeChat: %+v %v", sent, err)
	}
}

// scoreLinkRe finds a survey link in a mail's text.
var scoreLinkRe = regexp.MustCompile(`https?://\S+/survey/\S+\?score=\d+`)

// TestSurveyEmail: a resolved e-mail ticket's survey reaches the relay as
// an automatic mail threaded on the customer's, with one link per score;
// fetching the links records nothing (a mail gateway's scan); the ?score=4
// link's page has 4 chosen and posts it, the post records 4 and a second
// score changes nothing; a forged token is a 404; the comment posted on
// the page is recorded.
func TestSurveyEmail(t *testing.T) {
	relay := startRelay(t)
	smtpAddr := freeAddr(t)
	c := startClusterConfig(t, 1, fmt.Sprintf("  email:\n    - {id: support, address: support@example.com, name: 售后支持, "+
		"smtp_listen: %q, smtp_relay: {addr: %q, security: none}}\n", smtpAddr, relay.addr), surveysOn)
	r := c.replicas[0]
	agent := login(t, r.URL, agentEmail, agentPassword)
	agent.setPresence(t, "online")

	const msgID = "survey-e2e-1@example.cn"
	handOver(t, smtpAddr, "wangrong@example.cn", "support@example.com", []byte("From: =?UTF-8?B?546L6ZWV?= <wangrong@example.cn>\r\n"+
		"To: support@example.com\r\nSubject: =?UTF-8?B?6K6i5Y2V5pyq5Yiw?=\r\nMessage-ID: <"+msgID+">\r\n"+
		"Date: Mon, 23 Nov 2026 08:00:00 +0800\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n我的订单还没到。\r\n"))
	conv := assignedConversation(t, agent, "email")
	n := ticketNumber(t, agent, conv)
	resolve(t, agent, conv)

	var out relayMail
	select {
	case out = <-relay.got:
	case <-time.After(waitTimeout):
		t.Fatalf("the survey never reached the relay; replica log:\n%s", r.logs)
	}
	m, err := mail.ReadMessage(bytes.NewReader(out.data))
	if err != nil {
		t.Fatalf("the survey mail does not parse: %v\n%s", err, out.data)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if !strings.HasPrefix(subject, "满意度调查") || !strings.HasSuffix(subject, "[#"+n+"]") ||
		m.Header.Get("In-Reply-To") != "<"+msgID+">" || m.Header.Get("Auto-Submitted") != "auto-replied" {
		t.Errorf("subject %q, In-Reply-To %q, Auto-Submitted %q", subject, m.Header.Get("In-Reply-To"), m.Header.Get("Auto-Submitted"))
	}
	if mt, _, _ := mime.ParseMediaType(m.Header.Get("Content-Type")); mt != "multipart/alternative" {
		t.Errorf("Content-Type %q, want multipart/alternative", m.Header.Get("Content-Type"))
	}
	text, err := plainText(textproto.MIMEHeader(m.Header), m.Body)
	if err != nil {
		t.Fatal(err)
	}
	links := scoreLinkRe.FindAllString(text, -1)
	if len(links) != 5 || !strings.HasPrefix(links[0], r.URL+"/survey/") {
		t.Fatalf("the text part's links %q, want 5 to %s/survey/", links, r.URL)
	}
	four := links[3]
	if !strings.HasSuffix(four, "?score=4") {
		t.Fatalf("the fourth link %q", four)
	}

	// A mail gateway fetches every link before the customer reads the
	// mail: fetching records nothing. The page a link opens has its score
	// chosen and the script that posts it.
	page := strings.TrimSuffix(four, "?score=4")
	for _, l := range links {
		if st, body := get(t, l); st != http.StatusOK || strings.Contains(body, "您的评分") {
			t.Fatalf("GET %s: %d, recorded by a fetch?\n%s", l, st, body)
		}
	}
	st, body := get(t, four)
	if st != http.StatusOK || !strings.Contains(body, `value="4" required checked`) || strings.Count(body, " checked") != 1 ||
		!strings.Contains(body, "<script>document.forms.sv.submit()</script>") {
		t.Fatalf("GET ?score=4: %d, want 4 chosen and posted by the page\n%s", st, body)
	}
	if st, body := get(t, page); st != http.StatusOK || strings.Contains(body, " checked") || strings.Contains(body, "<script") ||
		strings.Count(body, `type="radio" name="score"`) != 5 {
		t.Fatalf("GET the page: %d, want five choices, none chosen, no script\n%s", st, body)
	}
	// The post records 4; the page then asks for a comment.
	st, body = postForm(t, page+"?lang=zh", url.Values{"score": {"4"}})
	if st != http.StatusOK || !strings.Contains(body, "您的评分：4") || !strings.Contains(body, `name="comment"`) || strings.Contains(body, "<script") {
		t.Fatalf("POST score=4: %d\n%s", st, body)
	}
	// Another score keeps 4, and a link now only shows it.
	if st, body := postForm(t, page+"?lang=zh", url.Values{"score": {"2"}}); st != http.StatusOK || !strings.Contains(body, "您的评分：4") {
		t.Errorf("POST score=2 after 4: %d\n%s", st, body)
	}
	if st, body := get(t, strings.TrimSuffix(four, "4")+"2"); st != http.StatusOK || !strings.Contains(body, "您的评分：4") || strings.Contains(body, "<script") {
		t.Errorf("GET ?score=2 after 4: %d\n%s", st, body)
	}
	tk := waitTicket(t, agent, n, "csat 4", func(tk ticketJSON) bool { return len(tk.historyOf("csat")) > 0 })
	if got := tk.historyOf("csat"); !slices.Equal(got, []string{"4"}) || tk.Status != "resolved" {
		t.Errorf("csat %q, status %s; want [4] and resolved", got, tk.Status)
	}

	// A forged token finds nothing.
	forged := page[:len(page)-4] + "AAAA"
	if forged == page {
		forged = page[:len(page)-4] + "BBBB"
	}
	if st, _ := get(t, forged+"?score=5"); st != http.StatusNotFound {
		t.Errorf("a forged token: %d, want 404", st)
	}

	// The comment form posts to the page.
	const comment = "送货员很有礼貌 <b>谢谢</b>"
	if st, body := postForm(t, page+"?lang=zh", url.Values{"comment": {comment}}); st != http.StatusOK ||
		!strings.Contains(body, "感谢您的反馈") || strings.Contains(body, "<b>谢谢") {
		t.Errorf("POST the comment: %d\n%s", st, body)
	}
	tk = waitTicket(t, agent, n, "the comment", func(tk ticketJSON) bool { return len(tk.historyOf("survey_comment")) > 0 })
	if got := tk.historyOf("survey_comment"); !slices.Equal(got, []string{comment}) || tk.Status != "resolved" {
		t.Errorf("survey_comment %q, status %s; want [%q] and resolved", got, tk.Status, comment)
	}

	// The customer writes again, quoting the survey mail: the agents see
	// the quote without the survey's token.
	token := strings.TrimPrefix(page, r.URL+"/survey/")
	handOver(t, smtpAddr, "wangrong@example.cn", "support@example.com", []byte("From: wangrong@example.cn\r\n"+
		"To: support@example.com\r\nSubject: Re: survey\r\nMessage-ID: <survey-e2e-2@example.cn>\r\nIn-Reply-To: <"+msgID+">\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n还有一个问题。\r\n\r\n> 点击评分：\r\n> "+four+"\r\n"))
	var msgs struct {
		Items []struct {
			Text   string            `json:"text"`
			Fields map[string]string `json:"fields"`
		} `json:"items"`
	}
	waitFor(t, "the quoting mail in the conversation", func() bool {
		agent.must(t, "GET", "/api/v1/conversations/"+url.PathEscape(conv)+"/messages", nil, &msgs, http.StatusOK)
		for _, m := range msgs.Items {
			if strings.Contains(m.Text, "还有一个问题") {
				return true
			}
		}
		return false
	})
	for _, m := range msgs.Items {
		if strings.Contains(m.Text, token) || strings.Contains(fmt.Sprint(m.Fields), token) {
			t.Errorf("an agent sees the survey's token in %q %v", m.Text, m.Fields)
		}
		// The reply shows without the quote; the full text keeps the quote
		// with the link cut short.
		if strings.Contains(m.Text, "还有一个问题") && !strings.Contains(m.Fields["full_text"], "/survey/…") {
			t.Errorf("the full text %q lost its link altogether", m.Fields["full_text"])
		}
	}
}

// TestSurveyQRTrackingPage: a customer reports through a QR code's form
// (plain HTTP, as a phone without JavaScript would); once the agent
// resolves the ticket, the tracking page shows the survey's score links,
// following one opens the survey page with that score chosen, and posting
// it records the score.
func TestSurveyQRTrackingPage(t *testing.T) {
	requireE2E(t)
	c := startClusterConfig(t, 1, "  qr: {}\n", surveysOn)
	r := c.replicas[0]
	admin := qrAdmin(t, c, r.URL)
	var code struct {
		Code string `json:"code"`
		URL  string `json:"url"`
	}
	admin.must(t, "POST", "/api/v1/qr/codes", map[string]any{"asset": map[string]string{"name": "3号电梯"}, "team": "support"},
		&code, http.StatusCreated)
	agent := login(t, r.URL, agentEmail, agentPassword)
	agent.setPresence(t, "online")

	st, form := get(t, code.URL+"?lang=zh")
	token := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(form)
	if st != http.StatusOK || token == nil {
		t.Fatalf("the form: %d without a token\n%s", st, form)
	}
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := noRedirect.PostForm(code.URL+"?lang=zh", url.Values{"token": {token[1]}, "description": {"电梯门打不开"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	track := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(track, "/s/t/") {
		t.Fatalf("submitting the form: %d to %q", resp.StatusCode, track)
	}
	track = r.URL + track

	conv := assignedConversation(t, agent, "qr")
	if _, page := get(t, track); strings.Contains(page, `class="survey"`) {
		t.Fatalf("the tracking page offers a survey before the ticket is resolved:\n%s", page)
	}
	resolve(t, agent, conv)
	want := surveyURL(t, c, agent, conv, r.URL)
	linkRe := regexp.MustCompile(`href="([^"]*\?score=\d+[^"]*)"`)
	var links []string
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(50 * time.Millisecond) {
		_, page := get(t, track)
		links = nil
		for _, m := range linkRe.FindAllStringSubmatch(page, -1) {
			links = append(links, strings.ReplaceAll(m[1], "&amp;", "&"))
		}
		if len(links) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(links) != 5 {
		t.Fatalf("the tracking page's score links %q, want 5", links)
	}
	for i, l := range links {
		if l != fmt.Sprintf("%s?score=%d&lang=zh", want, i+1) {
			t.Errorf("link %d is %q, want %s?score=%d&lang=zh", i+1, l, want, i+1)
		}
	}
	// The link opens the page with 5 chosen (its script would post it);
	// the post records it.
	if st, body := get(t, links[4]); st != http.StatusOK || !strings.Contains(body, `value="5" required checked`) {
		t.Errorf("following the ★5 link: %d\n%s", st, body)
	}
	if st, body := postForm(t, want+"?lang=zh", url.Values{"score": {"5"}}); st != http.StatusOK || !strings.Contains(body, "您的评分：5") {
		t.Errorf("posting ★5: %d\n%s", st, body)
	}
	n := ticketNumber(t, agent, conv)
	tk := waitTicket(t, agent, n, "csat 5", func(tk ticketJSON) bool { return len(tk.historyOf("csat")) > 0 })
	if got := tk.historyOf("csat"); !slices.Equal(got, []string{"5"}) || tk.Status != "resolved" {
		t.Errorf("csat %q, status %s; want [5] and resolved", got, tk.Status)
	}
}
