package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// customerJSON is the API's customer view, as far as these tests look.
type customerJSON struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Identities    []struct{ Type, Value, Channel string }
	Conversations []struct {
		ID string `json:"id"`
	} `json:"conversations"`
}

// mergeJSON is a merge record, as far as these tests look.
type mergeJSON struct {
	ID            string   `json:"id"`
	From          string   `json:"from"`
	Into          string   `json:"into"`
	Who           string   `json:"who"`
	Why           string   `json:"why"`
	State         string   `json:"state"`
	Conversations []string `json:"conversations"`
}

// Who may do what to whom, step by step (each step sees the ones before):
// agents create, find, link, unlink and merge customers of their team's
// conversations; only supervisors and admins undo merges. Every refusal
// leaves Redis as it was.
func TestCustomerMergeAPIPermissions(t *testing.T) {
	s := newStack(t)
	tok := map[string]string{"": ""}
	for _, a := range []string{agentLi.Email, agentWang.Email, agentSup.Email, agentAdm.Email} {
		tok[a] = s.login(a)
	}
	li, wang, sup, adm := agentLi.Email, agentWang.Email, agentSup.Email, agentAdm.Email
	customerOf := func(visitor string) (cust, conv string) {
		_, conv = s.customerWrites("site", visitorID(visitor), "hello from "+visitor)
		return s.dispatched(conv, tok[sup]).CustomerID, conv
	}
	x, xConv := customerOf("merge-x")
	y, yConv := customerOf("merge-y")
	z, zConv := customerOf("merge-z")
	// z's conversation goes to sales, which neither li nor wang is in.
	s.must(200, req{method: "PATCH", path: "/api/v1/conversations/" + zConv, token: tok[sup], body: map[string]string{"team": "sales"}})
	s.settle()

	var mergeID string
	type step struct {
		who, method, path string
		body              any
		status            int
		code              string // the error code, when it matters
	}
	run := func(steps []step) {
		t.Helper()
		for _, st := range steps {
			before := s.snapshot()
			r := s.send(req{method: st.method, path: st.path, token: tok[st.who], body: st.body})
			if r.Status != st.status {
				t.Errorf("%s %s %s: %s, want %d", st.who, st.method, st.path, r, st.status)
				continue
			}
			if st.code != "" && r.errorCode() != st.code {
				t.Errorf("%s %s %s: code %q, want %q", st.who, st.method, st.path, r.errorCode(), st.code)
			}
			if r.Status >= 400 {
				if d := diff(before, s.snapshot()); d != "" {
					t.Errorf("%s %s %s was refused but changed Redis:\n%s", st.who, st.method, st.path, d)
				}
			}
			if strings.HasSuffix(st.path, "/merge") && r.Status == 200 {
				var rec mergeJSON
				r.decode(t, &rec)
				mergeID = rec.ID
			}
		}
	}
	ids := func(id string) string { return "/api/v1/customers/" + id + "/identities" }
	run([]step{
		{"", "GET", "/api/v1/customers?phone=13800138000", nil, 401, ""},
		{"", "POST", "/api/v1/customers", map[string]string{"name": "张三"}, 401, ""},
		{li, "POST", "/api/v1/customers", map[string]string{"name": "张三", "phone": "13800138000"}, 201, ""},
		{li, "POST", "/api/v1/customers", map[string]string{}, 400, "bad_request"},
		{li, "POST", "/api/v1/customers", map[string]string{"name": "李四", "phone": "138 0013 8000"}, 409, "identity_taken"},
		{li, "POST", "/api/v1/customers", map[string]string{"name": "李四", "nickname": "x"}, 400, "bad_request"},
		{li, "GET", "/api/v1/customers?phone=%2B8613800138000", nil, 200, ""},
		{li, "GET", "/api/v1/customers", nil, 400, "bad_request"},
		{li, "GET", "/api/v1/customers?phone=1&email=a%40b.cn", nil, 400, "bad_request"},
		{li, "GET", "/api/v1/customers?phone=12", nil, 400, "bad_request"},
		{li, "POST", ids(x), map[string]string{"type": "phone", "value": "139 0013 9000"}, 200, ""},
		{wang, "POST", ids(x), map[string]string{"type": "email", "value": "X@Example.com"}, 200, ""},
		{li, "POST", ids(y), map[string]string{"type": "phone", "value": "13900139000"}, 409, "identity_taken"},
		{li, "POST", ids(x), map[string]string{"type": "fax", "value": "1"}, 400, "bad_request"},
		{li, "POST", ids(x), `{"type":`, 400, "bad_request"},
		{li, "POST", ids("NOSUCH"), map[string]string{"type": "phone", "value": "13700137000"}, 404, "not_found"},
		{li, "POST", ids(z), map[string]string{"type": "phone", "value": "13700137000"}, 403, "forbidden"},
		{sup, "POST", ids(z), map[string]string{"type": "phone", "value": "13700137000"}, 200, ""},
		{li, "DELETE", ids(z) + "/phone/" + url.PathEscape("+8613700137000"), nil, 403, "forbidden"},
		{adm, "DELETE", ids(z) + "/phone/" + url.PathEscape("+8613700137000"), nil, 200, ""},
		{adm, "DELETE", ids(z) + "/phone/" + url.PathEscape("+8613700137000"), nil, 404, "not_found"},
		{li, "DELETE", ids(x) + "/email/x%40example.com", nil, 200, ""},
		{li, "POST", "/api/v1/customers/" + x + "/merge", map[string]string{}, 400, "bad_request"},
		{li, "POST", "/api/v1/customers/" + x + "/merge", map[string]string{"from": x}, 400, "bad_request"},
		{li, "POST", "/api/v1/customers/" + x + "/merge", map[string]string{"from": z}, 403, "forbidden"},
		{li, "POST", "/api/v1/customers/" + x + "/merge", map[string]string{"from": "NOSUCH"}, 404, "not_found"},
		{li, "POST", "/api/v1/customers/" + x + "/merge", map[string]string{"from": y, "reason": strings.Repeat("r", 201)}, 400, "bad_request"},
		{li, "POST", "/api/v1/customers/" + x + "/merge", map[string]string{"from": y, "reason": "同一个人"}, 200, ""},
	})
	if mergeID == "" {
		t.Fatal("the merge answered no id")
	}
	undo := "/api/v1/merges/" + mergeID + "/undo"
	var merged customerJSON
	s.must(200, req{method: "GET", path: "/api/v1/customers/" + y, token: tok[li]}).decode(t, &merged)
	if merged.ID != x || len(merged.Conversations) != 2 {
		t.Errorf("y's view after the merge: %+v, want x with both conversations", merged)
	}
	if c := s.conversation(yConv, tok[li]); c.CustomerID != x {
		t.Errorf("y's conversation has customer %s, want x %s", c.CustomerID, x)
	}
	run([]step{
		{li, "POST", undo, nil, 403, "forbidden"},
		{wang, "POST", undo, nil, 403, "forbidden"},
		{"", "POST", undo, nil, 401, ""},
		{sup, "POST", "/api/v1/merges/nope/undo", nil, 404, "not_found"},
		{sup, "POST", "/api/v1/merges/" + x + ".01ARZ3NDEKTSV4RRFFQ69G5FAV/undo", nil, 404, "not_found"},
		{sup, "POST", undo, nil, 200, ""},
		{adm, "POST", undo, nil, 200, ""},
		{li, "GET", "/api/v1/customers/" + x + "/audit", nil, 200, ""},
		{li, "GET", "/api/v1/customers/" + x + "/audit?limit=0", nil, 400, "bad_request"},
		{li, "GET", "/api/v1/customers/NOSUCH/audit", nil, 404, "not_found"},
	})
	if c := s.conversation(yConv, tok[li]); c.CustomerID != y {
		t.Errorf("y's conversation has customer %s after the undo, want y %s", c.CustomerID, y)
	}
	if c := s.conversation(xConv, tok[li]); c.CustomerID != x {
		t.Errorf("x's conversation has customer %s after the undo, want x %s", c.CustomerID, x)
	}
}

// A refused link says whose the identity is, for the inbox to offer a
// merge; the audit lists every change, newest first.
func TestCustomerMergeAPIShapes(t *testing.T) {
	s := newStack(t)
	li, sup := s.login(agentLi.Email), s.login(agentSup.Email)
	_, c1 := s.customerWrites("site", visitorID("shape-1"), "one")
	_, c2 := s.customerWrites("site", visitorID("shape-2"), "two")
	a, b := s.conversation(c1, li).CustomerID, s.conversation(c2, li).CustomerID
	s.must(200, req{method: "POST", path: "/api/v1/customers/" + b + "/identities", token: li,
		body: map[string]string{"type": "email", "value": "wang@example.cn"}})
	r := s.must(409, req{method: "POST", path: "/api/v1/customers/" + a + "/identities", token: li,
		body: map[string]string{"type": "email", "value": "WANG@example.cn"}})
	var refusal struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			CustomerID string `json:"customer_id"`
		} `json:"error"`
	}
	r.decode(t, &refusal)
	if refusal.Error.Code != "identity_taken" || refusal.Error.CustomerID != b || !strings.Contains(refusal.Error.Message, "wang@example.cn") {
		t.Errorf("refusal %+v, want identity_taken naming %s", refusal.Error, b)
	}
	var found struct {
		Items []customerJSON `json:"items"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/customers?email=Wang%40Example.cn", token: li}).decode(t, &found)
	if len(found.Items) != 1 || found.Items[0].ID != b {
		t.Fatalf("find by e-mail: %+v, want %s", found.Items, b)
	}
	var rec mergeJSON
	s.must(200, req{method: "POST", path: "/api/v1/customers/" + a + "/merge", token: li,
		body: map[string]string{"from": b}}).decode(t, &rec)
	if rec.From != b || rec.Into != a || rec.Who != agentLi.ID || rec.Why != "manual" || rec.State != "merged" ||
		len(rec.Conversations) != 1 || rec.Conversations[0] != c2 {
		t.Errorf("merge record %+v", rec)
	}
	s.must(200, req{method: "POST", path: "/api/v1/merges/" + rec.ID + "/undo", token: sup}).decode(t, &rec)
	if rec.State != "unmerged" {
		t.Errorf("record after the undo: %+v", rec)
	}
	var audit struct {
		Items []map[string]any `json:"items"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/customers/" + a + "/audit", token: li}).decode(t, &audit)
	var actions []string
	for _, e := range audit.Items {
		actions = append(actions, e["action"].(string))
	}
	if strings.Join(actions, ",") != "unmerge,merge" || audit.Items[0]["merge_id"] != rec.ID || audit.Items[0]["who"] != agentSup.ID {
		b, _ := json.Marshal(audit.Items)
		t.Errorf("a's audit %s, want the unmerge then the merge", b)
	}
	s.must(200, req{method: "GET", path: "/api/v1/customers/" + b + "/audit?limit=2", token: li}).decode(t, &audit)
	if len(audit.Items) != 2 || audit.Items[0]["action"] != "unmerge" || audit.Items[1]["action"] != "merge" {
		t.Errorf("b's audit %+v", audit.Items)
	}
	if r := s.send(req{method: "GET", path: "/api/v1/customers/" + b, token: li}); r.Status != http.StatusOK {
		t.Errorf("b's view after the undo: %s", r)
	}
}
