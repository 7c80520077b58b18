package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"testing"
)

// A body that declares a Content-Encoding is refused before any handler
// reads it, on every kind of route: a small gzip body must never be
// inflated (it could be gigabytes) and nothing is written.
func TestEncodedBodiesRefused(t *testing.T) {
	s := newStack(t)
	// A gzip bomb in miniature: 4 MiB of zeros in a few kilobytes.
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	_, _ = w.Write(make([]byte, 4<<20))
	_ = w.Close()
	token := s.login("li@example.com")
	before := s.keyCount()
	for _, tc := range []struct {
		name, path, token, enc string
	}{
		{"login (no token needed)", "/api/v1/auth/login", "", "gzip"},
		{"a connector route (web chat)", "/channels/webchat/" + testSites()[0].ID + "/messages", "", "gzip"},
		{"an agent route", "/api/v1/conversations/x/messages", token, "deflate"},
		{"brotli", "/api/v1/auth/login", "", "br"},
		{"listed twice", "/api/v1/auth/login", "", "gzip, gzip"},
	} {
		r := s.send(req{method: "POST", path: tc.path, token: tc.token, body: z.Bytes(),
			header: map[string]string{"Content-Encoding": tc.enc}})
		if r.Status != 415 || r.errorCode() != "unsupported_media_type" {
			t.Errorf("%s: %s, want 415 unsupported_media_type", tc.name, r)
		}
	}
	if after := s.keyCount(); after != before {
		t.Errorf("refused requests wrote to Redis: %d keys before, %d after", before, after)
	}
	// "identity" is no encoding at all.
	s.must(200, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "li@example.com", "password": "pw"},
		header: map[string]string{"Content-Encoding": "identity"}})
}

// keyCount is how many keys Redis holds.
func (s *stack) keyCount() int64 {
	s.t.Helper()
	n, err := s.rdb.DBSize(context.Background()).Result()
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}
