package server

import (
	"net"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
)

func TestHealthReadyMetrics(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.customerWrites("site", visitorID("metrics"), "count me") // so the ingest counter has a series

	cases := []struct {
		path   string
		status int
		has    []string
	}{
		{"/healthz", 200, []string{"ok"}},
		{"/readyz", 200, []string{"ready"}},
		{"/metrics", 200, []string{
			`switchboard_ingested_messages_total{channel="webchat"} 1`,
			`switchboard_queue_depth{team="support"}`,
			`switchboard_queue_depth{team="sales"} 0`,
			"switchboard_online_agents 0",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			r := s.with(t).get(tc.path, "")
			if r.Status != tc.status {
				t.Fatalf("got %s, want %d", r, tc.status)
			}
			for _, h := range tc.has {
				if !strings.Contains(string(r.Body), h) {
					t.Errorf("%s lacks %q:\n%s", tc.path, h, clip(string(r.Body)))
				}
			}
		})
	}

	// Redis gone: not ready, still alive.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	down := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	ds := &stack{t: t, srv: New(Options{}, Deps{Redis: down, Registry: connectors.NewRegistry(), Log: quiet()})}
	if r := ds.get("/readyz", ""); r.Status != 503 {
		t.Fatalf("/readyz with Redis down: %s, want 503", r)
	}
	if r := ds.get("/healthz", ""); r.Status != 200 {
		t.Fatalf("/healthz with Redis down: %s, want 200", r)
	}
}

func TestPages(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	html := map[string]string{"Accept": "text/html,application/xhtml+xml"}
	cases := []struct {
		name   string
		q      req
		status int
		ctype  string
		csp    bool
		has    []string
	}{
		{"inbox at /", req{method: "GET", path: "/", header: html}, 200, "text/html", true, []string{"<html"}},
		{"inbox at /inbox", req{method: "GET", path: "/inbox"}, 200, "text/html", true, nil},
		{"inbox script", req{method: "GET", path: "/inbox/app.js"}, 200, "javascript", true, nil},
		{"inbox style", req{method: "GET", path: "/inbox/app.css"}, 200, "text/css", true, nil},
		{"missing inbox file", req{method: "GET", path: "/inbox/nope.js"}, 404, "application/json", false, []string{`"not_found"`}},
		{"unknown page for a browser", req{method: "GET", path: "/nope", header: html}, 404, "text/html", true,
			[]string{"页面不存在", "Page not found", `lang="zh-CN"`, `lang="en"`}},
		{"unknown path for a program", req{method: "GET", path: "/nope"}, 404, "application/json", false, []string{`"not_found"`}},
		{"widget", req{method: "GET", path: "/webchat/site/widget.js"}, 200, "application/javascript", false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.with(t).send(tc.q)
			if r.Status != tc.status {
				t.Fatalf("got %d, want %d", r.Status, tc.status)
			}
			if ct := r.Header.Get("Content-Type"); !strings.Contains(ct, tc.ctype) {
				t.Errorf("Content-Type %q, want %q", ct, tc.ctype)
			}
			csp := r.Header.Get("Content-Security-Policy")
			if tc.csp && (!strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'self'") ||
				!strings.Contains(csp, "frame-ancestors 'none'")) {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if tc.csp && (r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("X-Frame-Options") != "DENY") {
				t.Errorf("security headers %v", r.Header)
			}
			for _, h := range tc.has {
				if !strings.Contains(string(r.Body), h) {
					t.Errorf("body lacks %q: %s", h, clip(string(r.Body)))
				}
			}
		})
	}
}
