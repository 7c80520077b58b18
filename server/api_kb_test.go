package server

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchboard/kb"
)

// kbBodyLimit lets the largest article and more through, so the
// knowledge base's own limits answer, not the body limit.
const kbBodyLimit = 256 << 10

// withKB returns the stack with a knowledge base on its Redis prefix.
func (s *stack) withKB() *stack {
	s.t.Helper()
	store, err := kb.New(context.Background(), s.rdb, s.prefix, quiet())
	if err != nil {
		s.t.Fatal(err)
	}
	d := s.srv.Deps
	d.KB = store
	c := *s
	c.srv = New(Options{PublicURL: publicURL, BodyLimit: kbBodyLimit, ShutdownTimeout: 5 * time.Second}, d)
	return &c
}

// kbArticleOut is an article as the API answers it, as far as tests look.
type kbArticleOut struct {
	ID        string   `json:"id"`
	Title     string   `json:"title"`
	Body      string   `json:"body"`
	Text      string   `json:"text"`
	Lang      string   `json:"lang"`
	Tags      []string `json:"tags"`
	UpdatedBy string   `json:"updated_by"`
	Score     *float64 `json:"score"`
	Snippet   string   `json:"snippet"`
}

type kbCannedOut struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Body     string `json:"body"`
	Shortcut string `json:"shortcut"`
}

func (s *stack) kbArticles(path, token string) []kbArticleOut {
	s.t.Helper()
	var out struct {
		Items []kbArticleOut `json:"items"`
	}
	s.must(200, req{method: "GET", path: path, token: token}).decode(s.t, &out)
	return out.Items
}

func (s *stack) newArticle(token string, body map[string]any) kbArticleOut {
	s.t.Helper()
	var a kbArticleOut
	r := s.must(201, req{method: "POST", path: "/api/v1/kb/articles", token: token, body: body})
	r.decode(s.t, &a)
	if a.ID == "" || r.Header.Get("Location") != "/api/v1/kb/articles/"+a.ID {
		s.t.Fatalf("create answered %s (Location %q)", r, r.Header.Get("Location"))
	}
	return a
}

func (s *stack) newCanned(token string, body map[string]any) kbCannedOut {
	s.t.Helper()
	var x kbCannedOut
	s.must(201, req{method: "POST", path: "/api/v1/kb/canned", token: token, body: body}).decode(s.t, &x)
	return x
}

// TestKBRoles: every agent reads, supervisors and admins write.
func TestKBRoles(t *testing.T) {
	t.Parallel()
	s := newStack(t).withKB()
	agent, sup, adm := s.login(agentLi.Email), s.login(agentSup.Email), s.login(agentAdm.Email)
	art := s.newArticle(sup, map[string]any{"title": "退货", "body": "七天无理由退货"})
	can := s.newCanned(sup, map[string]any{"title": "问候", "body": "您好 {{customer.name}}", "shortcut": "hi"})
	_, conv := s.customerWrites("open", visitorID("kbroles"), "我想退货")
	// disposable makes an article or canned reply for a delete to remove.
	disposable := func(kind string) string {
		if kind == "articles" {
			return s.newArticle(sup, map[string]any{"title": "x", "body": "y"}).ID
		}
		return s.newCanned(sup, map[string]any{"title": "x", "body": "y"}).ID
	}
	article := map[string]any{"title": "标题", "body": "正文"}
	for _, tc := range []struct {
		who, method, path string
		body              any
		want              int
	}{
		{"agent", "GET", "/api/v1/kb/articles", nil, 200},
		{"agent", "GET", "/api/v1/kb/articles?q=" + url.QueryEscape("退货"), nil, 200},
		{"agent", "GET", "/api/v1/kb/articles/" + art.ID, nil, 200},
		{"agent", "POST", "/api/v1/kb/articles", article, 403},
		{"agent", "PUT", "/api/v1/kb/articles/" + art.ID, article, 403},
		{"agent", "DELETE", "/api/v1/kb/articles/" + art.ID, nil, 403},
		{"agent", "GET", "/api/v1/kb/canned", nil, 200},
		{"agent", "GET", "/api/v1/kb/canned/" + can.ID, nil, 200},
		{"agent", "GET", "/api/v1/kb/canned/" + can.ID + "/render?conversation=" + conv, nil, 200},
		{"agent", "POST", "/api/v1/kb/canned", article, 403},
		{"agent", "PUT", "/api/v1/kb/canned/" + can.ID, article, 403},
		{"agent", "DELETE", "/api/v1/kb/canned/" + can.ID, nil, 403},
		{"agent", "GET", "/api/v1/conversations/" + conv + "/suggestions", nil, 200},
		{"supervisor", "POST", "/api/v1/kb/articles", article, 201},
		{"supervisor", "PUT", "/api/v1/kb/articles/" + art.ID, article, 200},
		{"supervisor", "DELETE", "/api/v1/kb/articles/" + disposable("articles"), nil, 204},
		{"supervisor", "POST", "/api/v1/kb/canned", article, 201},
		{"supervisor", "PUT", "/api/v1/kb/canned/" + can.ID, map[string]any{"title": "问候", "body": "您好", "shortcut": "hi"}, 200},
		{"supervisor", "DELETE", "/api/v1/kb/canned/" + disposable("canned"), nil, 204},
		{"admin", "POST", "/api/v1/kb/articles", article, 201},
		{"admin", "PUT", "/api/v1/kb/articles/" + art.ID, article, 200},
		{"admin", "DELETE", "/api/v1/kb/canned/" + disposable("canned"), nil, 204},
		{"nobody", "GET", "/api/v1/kb/articles", nil, 401},
		{"nobody", "GET", "/api/v1/conversations/" + conv + "/suggestions", nil, 401},
	} {
		token := map[string]string{"agent": agent, "supervisor": sup, "admin": adm}[tc.who]
		if r := s.send(req{method: tc.method, path: tc.path, token: token, body: tc.body}); r.Status != tc.want {
			t.Errorf("%s %s %s: %s, want %d", tc.who, tc.method, tc.path, r, tc.want)
		}
	}
	// The agent's refused write changed nothing.
	var got kbArticleOut
	s.must(200, req{method: "GET", path: "/api/v1/kb/articles/" + art.ID, token: agent}).decode(t, &got)
	if got.Title != "标题" || got.UpdatedBy != agentAdm.ID {
		t.Errorf("the article after the writes: %+v", got)
	}
}

// TestKBBadInput: bad input gets a clear error and changes nothing.
func TestKBBadInput(t *testing.T) {
	t.Parallel()
	s := newStack(t).withKB()
	sup := s.login(agentSup.Email)
	art := s.newArticle(sup, map[string]any{"title": "退货", "body": "七天无理由退货"})
	s.newCanned(sup, map[string]any{"title": "问候", "body": "您好", "shortcut": "hi"})
	tags := make([]string, kb.MaxTags+1)
	for i := range tags {
		tags[i] = fmt.Sprint("tag", i)
	}
	for _, tc := range []struct {
		name, method, path string
		body               any
		want               int
		says               string
	}{
		{"empty title", "POST", "/api/v1/kb/articles", map[string]any{"title": " ", "body": "b"}, 400, "title is empty"},
		{"empty body", "POST", "/api/v1/kb/articles", map[string]any{"title": "t"}, 400, "body is empty"},
		{"oversized body", "POST", "/api/v1/kb/articles", map[string]any{"title": "t", "body": strings.Repeat("长", kb.MaxBodyBytes/3+1)}, 413, "at most 65536"},
		{"long title", "POST", "/api/v1/kb/articles", map[string]any{"title": strings.Repeat("t", kb.MaxTitleRunes+1), "body": "b"}, 413, "title"},
		{"too many tags", "POST", "/api/v1/kb/articles", map[string]any{"title": "t", "body": "b", "tags": tags}, 413, "tags"},
		{"bad language", "POST", "/api/v1/kb/articles", map[string]any{"title": "t", "body": "b", "lang": "中文"}, 400, "lang"},
		{"unknown field", "POST", "/api/v1/kb/articles", map[string]any{"title": "t", "body": "b", "id": "x"}, 400, "unknown field"},
		{"malformed JSON", "POST", "/api/v1/kb/articles", `{"title":`, 400, "malformed"},
		{"replace an unknown id", "PUT", "/api/v1/kb/articles/01NOSUCHARTICLE", map[string]any{"title": "t", "body": "b"}, 404, "no such article"},
		{"get an unknown id", "GET", "/api/v1/kb/articles/01NOSUCHARTICLE", nil, 404, "no such article"},
		{"delete an unknown id", "DELETE", "/api/v1/kb/articles/01NOSUCHARTICLE", nil, 404, "no such article"},
		{"a malformed id", "GET", "/api/v1/kb/articles/" + url.PathEscape("a b"), nil, 404, "no such article"},
		{"long query", "GET", "/api/v1/kb/articles?q=" + strings.Repeat("q", 501), nil, 400, "q has more than"},
		{"bad limit", "GET", "/api/v1/kb/articles?q=x&limit=51", nil, 400, "limit"},
		{"bad search language", "GET", "/api/v1/kb/articles?q=x&lang=klingon", nil, 400, "lang"},
		{"taken shortcut", "POST", "/api/v1/kb/canned", map[string]any{"title": "t", "body": "b", "shortcut": "/HI"}, 409, "shortcut"},
		{"bad shortcut", "POST", "/api/v1/kb/canned", map[string]any{"title": "t", "body": "b", "shortcut": "a b"}, 400, "shortcut"},
		{"oversized canned reply", "POST", "/api/v1/kb/canned", map[string]any{"title": "t", "body": strings.Repeat("x", kb.MaxCannedBytes+1)}, 413, "body"},
		{"unknown canned reply", "GET", "/api/v1/kb/canned/01NOSUCHREPLY/render", nil, 404, "no such canned reply"},
		{"suggestions for an unknown conversation", "GET", "/api/v1/conversations/01NOSUCHCONV/suggestions", nil, 404, ""},
		{"suggestions limit", "GET", "/api/v1/conversations/01NOSUCHCONV/suggestions?limit=21", nil, 400, "limit"},
	} {
		r := s.send(req{method: tc.method, path: tc.path, token: sup, body: tc.body})
		if r.Status != tc.want || !strings.Contains(string(r.Body), tc.says) {
			t.Errorf("%s: %s, want %d saying %q", tc.name, r, tc.want, tc.says)
		}
	}
	// Nothing of it was stored.
	if items := s.kbArticles("/api/v1/kb/articles", sup); len(items) != 1 || items[0].ID != art.ID || items[0].Title != "退货" {
		t.Errorf("articles after bad input: %+v", items)
	}
	var canned struct {
		Items []kbCannedOut `json:"items"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/kb/canned", token: sup}).decode(t, &canned)
	if len(canned.Items) != 1 {
		t.Errorf("canned replies after bad input: %+v", canned.Items)
	}
	// Rendering for an unknown conversation is a 404 too.
	id := canned.Items[0].ID
	if r := s.send(req{method: "GET", path: "/api/v1/kb/canned/" + id + "/render?conversation=01NOSUCHCONV", token: sup}); r.Status != 404 {
		t.Errorf("render for an unknown conversation: %s", r)
	}
}

// TestKBDisabled: without a knowledge base every route is a 404.
func TestKBDisabled(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	sup := s.login(agentSup.Email)
	for _, q := range []req{
		{method: "GET", path: "/api/v1/kb/articles"},
		{method: "POST", path: "/api/v1/kb/canned", body: map[string]any{"title": "t", "body": "b"}},
		{method: "GET", path: "/api/v1/conversations/x/suggestions"},
	} {
		q.token = sup
		if r := s.send(q); r.Status != 404 || !strings.Contains(string(r.Body), "not enabled") {
			t.Errorf("%s %s without a knowledge base: %s", q.method, q.path, r)
		}
	}
}

// TestKBFlow: a supervisor writes an article and a canned reply; an agent
// finds the article in Chinese, gets it suggested for a customer who asks
// about it, and renders the canned reply for that customer's ticket.
func TestKBFlow(t *testing.T) {
	t.Parallel()
	s := newStack(t).withKB()
	sup, agent := s.login(agentSup.Email), s.login(agentLi.Email)
	art := s.newArticle(sup, map[string]any{"title": "退货退款流程", "lang": "zh-CN", "tags": []string{"退货", "售后"},
		"body": "## 如何申请退货\n签收后 7 天内，在「我的订单」中点击**申请退货**。\n\n退款在 1–3 个工作日内原路退回。"})
	s.newArticle(sup, map[string]any{"title": "Invoices", "lang": "en", "body": "We issue *electronic* invoices."})
	if art.Lang != "zh" || art.UpdatedBy != agentSup.ID || art.Text != "如何申请退货\n签收后 7 天内，在「我的订单」中点击申请退货。\n\n退款在 1–3 个工作日内原路退回。" {
		t.Errorf("created: %+v", art)
	}

	hits := s.kbArticles("/api/v1/kb/articles?q="+url.QueryEscape("我想退货怎么弄"), agent)
	if len(hits) != 1 || hits[0].ID != art.ID || hits[0].Score == nil || !strings.Contains(hits[0].Snippet, "退货") {
		t.Fatalf("search in Chinese: %+v", hits)
	}
	if hits := s.kbArticles("/api/v1/kb/articles?q=invoice&lang=zh", agent); len(hits) != 0 {
		t.Errorf("an English article in a Chinese search: %+v", hits)
	}
	if list := s.kbArticles("/api/v1/kb/articles?lang=en", agent); len(list) != 1 || list[0].Title != "Invoices" || list[0].Score != nil {
		t.Errorf("list in English: %+v", list)
	}

	// A customer asks; the article is suggested for the conversation.
	_, conv := s.customerWrites("open", visitorID("kbflow"), "你好，请问怎么退货？")
	c := s.dispatched(conv, sup)
	sugg := s.kbArticles("/api/v1/conversations/"+conv+"/suggestions?limit=3", agent)
	if len(sugg) == 0 || sugg[0].ID != art.ID || sugg[0].Text == "" {
		t.Errorf("suggestions: %+v", sugg)
	}

	// The canned reply, rendered for the conversation.
	s.must(200, req{method: "PATCH", path: "/api/v1/customers/" + c.CustomerID, token: agent, body: map[string]string{"name": "王先生"}})
	can := s.newCanned(sup, map[string]any{"title": "退货说明", "shortcut": "退货",
		"body": "{{customer.name|您}}您好，工单 #{{ticket.number}} 已由{{agent.name}}受理。{{order.id}}"})
	var out struct {
		ID, Text string
	}
	s.must(200, req{method: "GET", path: "/api/v1/kb/canned/" + can.ID + "/render?conversation=" + conv, token: agent}).decode(t, &out)
	if want := "王先生您好，工单 #" + c.TicketID + " 已由" + agentLi.Name + "受理。{{order.id}}"; out.Text != want || c.TicketID == "" {
		t.Errorf("rendered %q, want %q", out.Text, want)
	}
	// Without a conversation only the agent is known.
	s.must(200, req{method: "GET", path: "/api/v1/kb/canned/" + can.ID + "/render", token: agent}).decode(t, &out)
	if want := "{{customer.name|您}}您好，工单 #{{ticket.number}} 已由" + agentLi.Name + "受理。{{order.id}}"; out.Text != want {
		t.Errorf("rendered without a conversation %q, want %q", out.Text, want)
	}
	var found struct {
		Items []kbCannedOut `json:"items"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/kb/canned?q=" + url.QueryEscape("/退货"), token: agent}).decode(t, &found)
	if len(found.Items) != 1 || found.Items[0].ID != can.ID {
		t.Errorf("canned replies by shortcut: %+v", found.Items)
	}
}
