package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"switchboard/session"
)

// tokenKey is where a bearer token lives in Redis.
func (s *stack) tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return session.Keys{P: s.prefix}.Token(hex.EncodeToString(sum[:]))
}

// Every refused request answers with the right status and JSON error code
// and leaves Redis exactly as it was.
func TestRefusalsChangeNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	li, wang, sup, adm := s.login(agentLi.Email), s.login(agentWang.Email), s.login(agentSup.Email), s.login(agentAdm.Email)

	// A conversation of Wang's, one waiting for an agent, one closed.
	_, convWang := s.customerWrites("site", visitorID("wang"), "I need help")
	_, convFree := s.customerWrites("site", visitorID("free"), "anyone there?")
	_, convClosed := s.customerWrites("open", visitorID("closed"), "thanks, bye")
	for _, id := range []string{convWang, convFree, convClosed} {
		s.dispatched(id, sup)
	}
	s.must(200, req{method: "PATCH", path: "/api/v1/conversations/" + convWang, token: sup, body: map[string]string{"assignee": agentWang.ID}})
	s.must(200, req{method: "PATCH", path: "/api/v1/conversations/" + convClosed, token: sup, body: map[string]string{"status": "closed"}})
	if c := s.conversation(convFree, sup); c.Assignee != "" {
		t.Fatalf("fixture: %s should wait for an agent, is assigned to %q", convFree, c.Assignee)
	}
	// A token whose key is gone (expired), and one logged out.
	expired := s.login(agentLi.Email)
	if err := s.rdb.Del(ctx, s.tokenKey(expired)).Err(); err != nil {
		t.Fatal(err)
	}
	loggedOut := s.login(agentLi.Email)
	s.must(204, req{method: "POST", path: "/api/v1/auth/logout", token: loggedOut})

	conv := func(id string) string { return "/api/v1/conversations/" + id }
	textPlain := map[string]string{"Content-Type": "text/plain"}
	visitor := visitorID("refused")
	wcPost := "/channels/webchat/site/messages"
	wcBody := func(text string) map[string]string { return map[string]string{"visitor_id": visitor, "text": text} }
	big := `{"text":"` + strings.Repeat("a", testBodyLimit+100) + `"}`
	bigWC := `{"visitor_id":"` + visitor + `","text":"` + strings.Repeat("a", testBodyLimit+100) + `"}`

	cases := []struct {
		name   string
		q      req
		status int
		code   string
	}{
		// Malformed bodies.
		{"login malformed JSON", req{method: "POST", path: "/api/v1/auth/login", body: `{"email":`}, 400, "bad_request"},
		{"login unknown field", req{method: "POST", path: "/api/v1/auth/login", body: `{"email":"li@example.com","password":"pw","remember":true}`}, 400, "bad_request"},
		{"login two JSON values", req{method: "POST", path: "/api/v1/auth/login", body: `{"email":"li@example.com","password":"pw"} {}`}, 400, "bad_request"},
		{"login wrong content type", req{method: "POST", path: "/api/v1/auth/login", body: `{"email":"li@example.com","password":"pw"}`, header: textPlain}, 415, "unsupported_media_type"},
		{"login without password", req{method: "POST", path: "/api/v1/auth/login", body: `{"email":"li@example.com"}`}, 400, "bad_request"},
		{"reply malformed JSON", req{method: "POST", path: conv(convWang) + "/messages", token: wang, body: `{"text":`}, 400, "bad_request"},
		{"reply unknown field", req{method: "POST", path: conv(convWang) + "/messages", token: wang, body: `{"text":"hi","urgent":true}`}, 400, "bad_request"},
		{"reply wrong content type", req{method: "POST", path: conv(convWang) + "/messages", token: wang, body: `{"text":"hi"}`, header: textPlain}, 415, "unsupported_media_type"},
		{"reply over the body limit", req{method: "POST", path: conv(convWang) + "/messages", token: wang, body: big, net: true}, 413, "too_large"},
		{"reply with empty text", req{method: "POST", path: conv(convWang) + "/messages", token: wang, body: `{"text":"  \n "}`}, 400, "bad_request"},
		{"reply with a bad idempotency key", req{method: "POST", path: conv(convWang) + "/messages", token: wang, body: `{"text":"hi","idempotency_key":"a b"}`}, 400, "bad_request"},
		{"patch malformed JSON", req{method: "PATCH", path: conv(convWang), token: wang, body: `{"status":`}, 400, "bad_request"},
		{"patch unknown field", req{method: "PATCH", path: conv(convWang), token: wang, body: `{"state":"pending"}`}, 400, "bad_request"},
		{"patch wrong content type", req{method: "PATCH", path: conv(convWang), token: wang, body: `{"status":"pending"}`, header: textPlain}, 415, "unsupported_media_type"},
		{"ticket patch malformed JSON", req{method: "PATCH", path: "/api/v1/tickets/10001", token: sup, body: `[`}, 400, "bad_request"},
		{"customer patch unknown field", req{method: "PATCH", path: "/api/v1/customers/nobody", token: sup, body: `{"vip":true}`}, 400, "bad_request"},
		{"presence malformed JSON", req{method: "PUT", path: "/api/v1/me/presence", token: li, body: `{`}, 400, "bad_request"},

		// The web-chat customer API.
		{"webchat malformed JSON", req{method: "POST", path: wcPost, body: `{"visitor_id":`}, 400, "bad_request"},
		{"webchat unknown field", req{method: "POST", path: wcPost, body: `{"visitor_id":"` + visitor + `","text":"hi","email":"x@example.com"}`}, 400, "bad_request"},
		{"webchat wrong content type", req{method: "POST", path: wcPost, body: `{"visitor_id":"` + visitor + `","text":"hi"}`, header: textPlain}, 415, "unsupported_media_type"},
		{"webchat over the body limit", req{method: "POST", path: wcPost, body: bigWC, net: true}, 413, "too_large"},
		{"webchat text over 4000 characters", req{method: "POST", path: wcPost, body: wcBody(strings.Repeat("a", 4001))}, 413, "too_large"},
		{"webchat empty text", req{method: "POST", path: wcPost, body: wcBody(" \t ")}, 400, "bad_request"},
		{"webchat short visitor id", req{method: "POST", path: wcPost, body: map[string]string{"visitor_id": "short", "text": "hi"}}, 400, "bad_request"},
		{"webchat visitor id with bad characters", req{method: "POST", path: wcPost, body: map[string]string{"visitor_id": "visitor/../../etc/passwd", "text": "hi"}}, 400, "bad_request"},
		{"webchat bad client id", req{method: "POST", path: wcPost, body: map[string]string{"visitor_id": visitor, "text": "hi", "client_id": "has space"}}, 400, "bad_request"},
		{"webchat name too long", req{method: "POST", path: wcPost, body: map[string]string{"visitor_id": visitor, "text": "hi", "name": strings.Repeat("名", 65)}}, 400, "bad_request"},
		{"webchat disallowed origin", req{method: "POST", path: wcPost, body: wcBody("hi"), header: map[string]string{"Origin": "https://evil.example.com"}}, 403, "forbidden"},
		{"webchat unknown site", req{method: "POST", path: "/channels/webchat/nosuch/messages", body: wcBody("hi")}, 404, "not_found"},
		{"webchat preflight from a disallowed origin", req{method: "OPTIONS", path: wcPost, header: map[string]string{"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"}}, 403, "forbidden"},
		{"webchat preflight for an unknown site", req{method: "OPTIONS", path: "/channels/webchat/nosuch/messages", header: map[string]string{"Origin": allowedOrigin}}, 404, "not_found"},
		{"webchat thread with bad after", req{method: "GET", path: "/channels/webchat/site/messages?visitor_id=" + visitor + "&after=nope"}, 400, "bad_request"},
		{"webchat thread with bad visitor", req{method: "GET", path: "/channels/webchat/site/messages?visitor_id=x"}, 400, "bad_request"},
		{"webchat thread of an unknown site", req{method: "GET", path: "/channels/webchat/nosuch/messages?visitor_id=" + visitor}, 404, "not_found"},
		{"webchat widget of an unknown site", req{method: "GET", path: "/webchat/nosuch/widget.js"}, 404, "not_found"},
		{"webchat demo of a site without one", req{method: "GET", path: "/webchat/site/demo"}, 404, "not_found"},
		{"webchat socket without upgrade", req{method: "GET", path: "/channels/webchat/site/ws?visitor_id=" + visitor}, 426, "upgrade_required"},

		// Tokens.
		{"no token", req{method: "GET", path: "/api/v1/me"}, 401, "unauthorized"},
		{"not a bearer token", req{method: "GET", path: "/api/v1/me", header: map[string]string{"Authorization": "Basic bGk6cHc="}}, 401, "unauthorized"},
		{"garbage token", req{method: "GET", path: "/api/v1/me", token: "not-a-token"}, 401, "unauthorized"},
		{"overlong token", req{method: "GET", path: "/api/v1/me", token: strings.Repeat("t", 200)}, 401, "unauthorized"},
		{"expired token", req{method: "GET", path: "/api/v1/conversations", token: expired}, 401, "unauthorized"},
		{"logged-out token", req{method: "GET", path: "/api/v1/me", token: loggedOut}, 401, "unauthorized"},
		{"logged-out token replying", req{method: "POST", path: conv(convWang) + "/messages", token: loggedOut, body: `{"text":"hi"}`}, 401, "unauthorized"},
		{"logout without token", req{method: "POST", path: "/api/v1/auth/logout"}, 401, "unauthorized"},

		// Permissions.
		{"agent replies in another's conversation", req{method: "POST", path: conv(convWang) + "/messages", token: li, body: `{"text":"hi"}`}, 403, "forbidden"},
		{"agent changes the status of another's conversation", req{method: "PATCH", path: conv(convWang), token: li, body: `{"status":"pending"}`}, 403, "forbidden"},
		{"agent takes another's conversation", req{method: "PATCH", path: conv(convWang), token: li, body: `{"assignee":"a1"}`}, 403, "forbidden"},
		{"agent transfers another's conversation to a team", req{method: "PATCH", path: conv(convWang), token: li, body: `{"team":"sales"}`}, 403, "forbidden"},
		{"agent changes another's ticket", req{method: "PATCH", path: conv(convWang), token: li, body: `{"priority":"urgent"}`}, 403, "forbidden"},
		{"agent replies unassigned without taking", req{method: "POST", path: conv(convFree) + "/messages", token: li, body: `{"text":"hi"}`}, 403, "forbidden"},
		{"agent changes the status of an unassigned conversation", req{method: "PATCH", path: conv(convFree), token: li, body: `{"status":"pending"}`}, 403, "forbidden"},
		{"agent takes and changes status at once", req{method: "PATCH", path: conv(convFree), token: li, body: `{"assignee":"a1","status":"pending"}`}, 403, "forbidden"},
		{"agent hands an unassigned conversation to another", req{method: "PATCH", path: conv(convFree), token: li, body: `{"assignee":"a2"}`}, 403, "forbidden"},
		{"supervisor creates an agent", req{method: "POST", path: "/api/v1/agents", token: sup, body: map[string]any{"id": "x1", "email": "x1@example.com", "password": "pw"}}, 403, "forbidden"},
		{"agent creates an agent", req{method: "POST", path: "/api/v1/agents", token: li, body: map[string]any{"id": "x1", "email": "x1@example.com", "password": "pw"}}, 403, "forbidden"},

		// Bad values and states.
		{"invalid status value", req{method: "PATCH", path: conv(convWang), token: sup, body: `{"status":"done"}`}, 400, "bad_request"},
		{"back to new", req{method: "PATCH", path: conv(convWang), token: sup, body: `{"status":"new"}`}, 400, "bad_request"},
		{"invalid priority", req{method: "PATCH", path: conv(convWang), token: sup, body: `{"priority":"asap"}`}, 400, "bad_request"},
		{"unknown team", req{method: "PATCH", path: conv(convWang), token: sup, body: `{"team":"nosuch"}`}, 400, "bad_request"},
		{"unknown assignee", req{method: "PATCH", path: conv(convWang), token: sup, body: `{"assignee":"nosuch"}`}, 400, "bad_request"},
		{"closed to open", req{method: "PATCH", path: conv(convClosed), token: sup, body: `{"status":"open"}`}, 409, "conflict"},
		{"assigning a closed conversation", req{method: "PATCH", path: conv(convClosed), token: sup, body: `{"assignee":"a1"}`}, 409, "conflict"},
		{"unknown ticket", req{method: "GET", path: "/api/v1/tickets/99999", token: li}, 404, "not_found"},
		{"unknown ticket patch", req{method: "PATCH", path: "/api/v1/tickets/99999", token: sup, body: `{"status":"open"}`}, 404, "not_found"},
		{"ticket id not a number", req{method: "GET", path: "/api/v1/tickets/abc", token: li}, 404, "not_found"},
		{"unknown conversation", req{method: "GET", path: conv("nosuch"), token: li}, 404, "not_found"},
		{"unknown conversation patch", req{method: "PATCH", path: conv("nosuch"), token: sup, body: `{"status":"open"}`}, 404, "not_found"},
		{"unknown conversation reply", req{method: "POST", path: conv("nosuch") + "/messages", token: sup, body: `{"text":"hi"}`}, 404, "not_found"},
		{"unknown conversation messages", req{method: "GET", path: conv("nosuch") + "/messages", token: li}, 404, "not_found"},
		{"unknown customer", req{method: "GET", path: "/api/v1/customers/nosuch", token: li}, 404, "not_found"},
		{"unknown customer patch", req{method: "PATCH", path: "/api/v1/customers/nosuch", token: li, body: `{"level":"vip"}`}, 404, "not_found"},
		{"messages with bad after", req{method: "GET", path: conv(convWang) + "/messages?after=nope", token: li}, 400, "bad_request"},
		{"messages with bad limit", req{method: "GET", path: conv(convWang) + "/messages?limit=0", token: li}, 400, "bad_request"},
		{"list with bad limit", req{method: "GET", path: "/api/v1/conversations?limit=201", token: li}, 400, "bad_request"},
		{"list with bad view", req{method: "GET", path: "/api/v1/conversations?view=everything", token: li}, 400, "bad_request"},
		{"list with bad status", req{method: "GET", path: "/api/v1/conversations?status=done", token: li}, 400, "bad_request"},
		{"list with bad cursor", req{method: "GET", path: "/api/v1/conversations?before=yesterday", token: li}, 400, "bad_request"},
		{"invalid presence", req{method: "PUT", path: "/api/v1/me/presence", token: li, body: `{"status":"busy"}`}, 400, "bad_request"},
		{"agent with an unknown team", req{method: "POST", path: "/api/v1/agents", token: adm, body: map[string]any{"id": "x1", "email": "x1@example.com", "password": "pw", "teams": []string{"nosuch"}}}, 400, "bad_request"},
		{"agent with a taken id", req{method: "POST", path: "/api/v1/agents", token: adm, body: map[string]any{"id": "a1", "email": "x1@example.com", "password": "pw"}}, 409, "conflict"},
		{"agent with a taken address", req{method: "POST", path: "/api/v1/agents", token: adm, body: map[string]any{"id": "x1", "email": "li@example.com", "password": "pw"}}, 400, "bad_request"},
		{"agent without password", req{method: "POST", path: "/api/v1/agents", token: adm, body: map[string]any{"id": "x1", "email": "x1@example.com"}}, 400, "bad_request"},
		{"agent with a bad role", req{method: "POST", path: "/api/v1/agents", token: adm, body: map[string]any{"id": "x1", "email": "x1@example.com", "password": "pw", "role": "root"}}, 400, "bad_request"},
		{"unknown API path", req{method: "GET", path: "/api/v1/nope", token: li}, 404, "not_found"},
		{"agent socket without upgrade", req{method: "GET", path: "/api/v1/inbox/ws?access_token=" + li}, 426, "upgrade_required"},
	}
	s.listen()
	s.settle()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := s.with(t)
			before := s.snapshot()
			r := s.send(tc.q)
			if r.Status != tc.status {
				t.Errorf("got %s, want status %d", r, tc.status)
			}
			if code := r.errorCode(); code != tc.code {
				t.Errorf("error code %q, want %q (answer %s)", code, tc.code, r)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			if tc.status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer WWW-Authenticate challenge: %v", r.Header)
			}
			if d := diff(before, s.snapshot()); d != "" {
				t.Errorf("a refused request changed Redis:\n%s", d)
			}
		})
	}
}

// What each role may do, step by step on one conversation: take, reply,
// note anywhere, supervise.
func TestPermissionsAllowed(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	li, wang, sup, adm := s.login(agentLi.Email), s.login(agentWang.Email), s.login(agentSup.Email), s.login(agentAdm.Email)
	_, id := s.customerWrites("site", visitorID("perm"), "please help")
	s.dispatched(id, sup)
	path := "/api/v1/conversations/" + id

	steps := []struct {
		name   string
		q      req
		status int
		check  func(t *testing.T, r reply)
	}{
		{"agent takes an unassigned conversation", req{method: "PATCH", path: path, token: li, body: `{"assignee":"a1"}`}, 200,
			func(t *testing.T, r reply) {
				var c conversation
				r.decode(t, &c)
				if c.Assignee != "a1" || c.Status != "open" {
					t.Errorf("after the take: assignee %q status %q, want a1 open", c.Assignee, c.Status)
				}
			}},
		{"the assignee replies", req{method: "POST", path: path + "/messages", token: li, body: `{"text":"hello"}`}, 202,
			func(t *testing.T, r reply) {
				var m message
				r.decode(t, &m)
				if m.Direction != "out" || m.Delivery == nil || m.Delivery.Status != "queued" || m.AuthorName != agentLi.Name {
					t.Errorf("reply %s: want direction out, delivery queued, author_name %s", r, agentLi.Name)
				}
			}},
		{"the assignee changes the status", req{method: "PATCH", path: path, token: li, body: `{"status":"pending"}`}, 200, nil},
		{"another agent may not take it", req{method: "PATCH", path: path, token: wang, body: `{"assignee":"a2"}`}, 403, nil},
		{"another agent notes internally", req{method: "POST", path: path + "/messages", token: wang, body: `{"text":"fyi: VIP","internal":true}`}, 202,
			func(t *testing.T, r reply) {
				var m message
				r.decode(t, &m)
				if m.Direction != "note" || m.Delivery != nil {
					t.Errorf("note %s: want direction note and no delivery", r)
				}
			}},
		{"supervisor replies in it", req{method: "POST", path: path + "/messages", token: sup, body: `{"text":"supervisor here"}`}, 202, nil},
		{"supervisor changes the priority", req{method: "PATCH", path: path, token: sup, body: `{"priority":"high"}`}, 200, nil},
		{"supervisor transfers it", req{method: "PATCH", path: path, token: sup, body: `{"assignee":"a2"}`}, 200,
			func(t *testing.T, r reply) {
				var c conversation
				r.decode(t, &c)
				if c.Assignee != "a2" || c.Priority != "high" {
					t.Errorf("after the transfer: assignee %q priority %q, want a2 high", c.Assignee, c.Priority)
				}
			}},
		{"the old assignee may no longer reply", req{method: "POST", path: path + "/messages", token: li, body: `{"text":"still me"}`}, 403, nil},
		{"the new assignee replies", req{method: "POST", path: path + "/messages", token: wang, body: `{"text":"hi, Wang here"}`}, 202, nil},
		{"supervisor resolves it", req{method: "PATCH", path: path, token: sup, body: `{"status":"resolved"}`}, 200, nil},
		{"admin closes it", req{method: "PATCH", path: path, token: adm, body: `{"status":"closed"}`}, 200,
			func(t *testing.T, r reply) {
				var c conversation
				r.decode(t, &c)
				if c.Status != "closed" {
					t.Errorf("status %q, want closed", c.Status)
				}
			}},
		{"nobody replies in a closed conversation", req{method: "POST", path: path + "/messages", token: adm, body: `{"text":"too late"}`}, 409, nil},
		{"notes are still allowed when closed", req{method: "POST", path: path + "/messages", token: li, body: `{"text":"closing note","internal":true}`}, 202, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			s := s.with(t)
			r := s.send(st.q)
			if r.Status != st.status {
				t.Fatalf("got %s, want status %d", r, st.status)
			}
			if st.check != nil {
				st.check(t, r)
			}
		})
	}
}

// An admin creates an agent, who can then log in; the password never
// comes back.
func TestAdminCreatesAgent(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	adm := s.login(agentAdm.Email)
	r := s.must(201, req{method: "POST", path: "/api/v1/agents", token: adm, body: map[string]any{
		"id": "a9", "email": " New.Agent@Example.com ", "name": "新同事", "password": "s3cret-Passw0rd",
		"teams": []string{"sales"}, "skills": []string{"billing"}, "capacity": 3}})
	if strings.Contains(string(r.Body), "s3cret") || strings.Contains(string(r.Body), "password") {
		t.Fatalf("the created agent's answer shows the password: %s", r)
	}
	var a session.Agent
	r.decode(t, &a)
	if a.ID != "a9" || a.Email != "new.agent@example.com" || a.Role != session.RoleAgent || a.Capacity != 3 {
		t.Fatalf("created agent %+v", a)
	}
	var lr struct {
		Token string        `json:"token"`
		Agent session.Agent `json:"agent"`
	}
	s.must(200, req{method: "POST", path: "/api/v1/auth/login",
		body: map[string]string{"email": "new.agent@example.com", "password": "s3cret-Passw0rd"}}).decode(t, &lr)
	if lr.Agent.ID != "a9" || lr.Token == "" {
		t.Fatalf("login of the new agent: %+v", lr)
	}
	var me struct {
		Agent session.Agent `json:"agent"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/me", token: lr.Token}).decode(t, &me)
	if me.Agent.ID != "a9" || me.Agent.Name != "新同事" {
		t.Fatalf("/me of the new agent: %+v", me.Agent)
	}
	// The new agent is an agent, not an admin.
	s.must(403, req{method: "POST", path: "/api/v1/agents", token: lr.Token, body: map[string]any{"id": "a10", "email": "x@example.com", "password": "pw"}})
	var list struct {
		Items []struct {
			ID       string           `json:"id"`
			Presence session.Presence `json:"presence"`
		} `json:"items"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/agents", token: adm}).decode(t, &list)
	found := false
	for _, it := range list.Items {
		found = found || it.ID == "a9"
	}
	if !found || len(list.Items) != 5 {
		t.Fatalf("agents list %+v: want the 4 seeded agents and a9", list.Items)
	}
}

// Ten failed logins for an address, however it is spelled, lock it for a
// while; other addresses are not affected.
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	spellings := []string{"li@example.com", "LI@example.com", "Li@Example.com", " li@example.com", "li@EXAMPLE.COM "}
	for i := 0; i < 10; i++ {
		r := s.send(req{method: "POST", path: "/api/v1/auth/login",
			body: map[string]string{"email": spellings[i%len(spellings)], "password": "wrong"}})
		if r.Status != 401 || r.errorCode() != "unauthorized" {
			t.Fatalf("bad login %d: got %s, want 401 unauthorized", i+1, r)
		}
	}
	for _, pw := range []string{"wrong", "pw"} {
		r := s.send(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "Li@example.com", "password": pw}})
		if r.Status != 429 || r.errorCode() != "rate_limited" {
			t.Fatalf("login after 10 failures (password %q): got %s, want 429 rate_limited", pw, r)
		}
	}
	s.login(agentWang.Email)
}

// A reply refused because the conversation is closed must leave Redis as
// it was, like every other refusal.
func TestReplyToClosedChangesNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	sup := s.login(agentSup.Email)
	_, id := s.customerWrites("site", visitorID("closedreply"), "bye")
	s.dispatched(id, sup)
	s.must(200, req{method: "PATCH", path: "/api/v1/conversations/" + id, token: sup, body: `{"status":"closed"}`})
	s.settle()
	before := s.snapshot()
	if r := s.send(req{method: "POST", path: "/api/v1/conversations/" + id + "/messages", token: sup, body: `{"text":"too late"}`}); r.Status != 409 || r.errorCode() != "conflict" {
		t.Fatalf("got %s, want 409 conflict", r)
	}
	if d := diff(before, s.snapshot()); d != "" {
		t.Fatalf("a refused reply changed Redis:\n%s", d)
	}
}
