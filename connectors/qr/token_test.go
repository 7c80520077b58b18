package qr

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchboard/connectors"
)

func TestFormToken(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	tok := formToken(key, "0123456789ab", now)
	nonce, ok := checkFormToken(key, "0123456789ab", tok, now.Add(time.Hour))
	if !ok || !nonceRe.MatchString(nonce) {
		t.Fatalf("a fresh token is refused (%q, %v)", nonce, ok)
	}
	if again, _ := checkFormToken(key, "0123456789ab", tok, now); again != nonce {
		t.Errorf("the nonce changed between checks")
	}
	parts := strings.Split(tok, ".")
	cases := []struct {
		name  string
		key   []byte
		code  string
		token string
		at    time.Time
	}{
		{"another code", key, "0123456789ac", tok, now},
		{"another key", []byte("another key, another replica set"), "0123456789ab", tok, now},
		{"expired", key, "0123456789ab", tok, now.Add(formTokenTTL + time.Second)},
		{"from the future", key, "0123456789ab", tok, now.Add(-time.Hour)},
		{"nonce swapped", key, "0123456789ab", parts[0] + "." + newNonce() + "." + parts[2], now},
		{"time moved", key, "0123456789ab", "zz." + parts[1] + "." + parts[2], now},
		{"empty", key, "0123456789ab", "", now},
		{"garbage", key, "0123456789ab", "a.b.c", now},
	}
	for _, tc := range cases {
		if _, ok := checkFormToken(tc.key, tc.code, tc.token, tc.at); ok {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	a, b := trackToken(key, nonce), trackToken(key, newNonce())
	if !trackRe.MatchString(a) || a == b || trackToken(key, nonce) != a {
		t.Errorf("tracking tokens %q, %q: want 24 characters, one per nonce, stable", a, b)
	}
}

func TestPickLang(t *testing.T) {
	cases := []struct{ query, accept, want string }{
		{"", "", "zh"},
		{"", "en-US,en;q=0.9", "en"},
		{"", "zh-CN,zh;q=0.9,en;q=0.8", "zh"},
		{"", "fr-FR, en;q=0.5", "en"},
		{"", "de-DE", "zh"},
		{"lang=en", "zh-CN", "en"},
		{"lang=zh", "en", "zh"},
		{"lang=fr", "en", "en"},
	}
	for _, tc := range cases {
		q, _ := url.ParseQuery(tc.query)
		r := &connectors.Request{Query: q, Header: http.Header{"Accept-Language": {tc.accept}}}
		if got := pickLang(r); got != tc.want {
			t.Errorf("query %q, Accept-Language %q: %s, want %s", tc.query, tc.accept, got, tc.want)
		}
	}
}

func TestIPSubject(t *testing.T) {
	cases := []struct{ addr, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
	}
	for _, tc := range cases {
		if got := ipSubject(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("ipSubject(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
	if got := ipSubject(netip.Addr{}); got != "unknown" {
		t.Errorf("ipSubject(zero) = %s", got)
	}
}

// A submission's id is its form's nonce and its content: the same form
// sent again as it was is the same submission; the same form with other
// content (a second person on a cached page) is another.
func TestSubmissionID(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	nonce := "AAAAAAAAAAAAAAAAAAAAAA"
	sub := submission{Description: "电梯停在 2 楼", Phone: "+8613800138000", Name: "王",
		Answers: []answer{{Key: "floor", Value: "2F"}}}
	photos := []photo{{name: "a.png", contentType: "image/png", data: []byte("photo one")}}
	id := submissionID(key, nonce, sub, photos)
	if !nonceRe.MatchString(id) {
		t.Fatalf("submission id %q is not shaped like a nonce", id)
	}
	same := sub
	same.Answers = []answer{{Key: "floor", Label: sub.Answers[0].Label, Value: "2F"}}
	if got := submissionID(key, nonce, same, []photo{{name: "other name.png", contentType: "image/png", data: []byte("photo one")}}); got != id {
		t.Errorf("the same content again: %q, want %q (a double submit)", got, id)
	}
	edit := func(f func(*submission)) submission {
		s := sub
		s.Answers = append([]answer(nil), sub.Answers...)
		f(&s)
		return s
	}
	others := []struct {
		name   string
		nonce  string
		sub    submission
		photos []photo
	}{
		{"another description", nonce, edit(func(s *submission) { s.Description = "灯不亮" }), photos},
		{"another phone", nonce, edit(func(s *submission) { s.Phone = "+8613900139000" }), photos},
		{"another e-mail", nonce, edit(func(s *submission) { s.Email = "x@example.com" }), photos},
		{"another name", nonce, edit(func(s *submission) { s.Name = "李" }), photos},
		{"another answer", nonce, edit(func(s *submission) { s.Answers[0].Value = "3F" }), photos},
		{"another photo", nonce, sub, []photo{{data: []byte("photo two")}}},
		{"no photo", nonce, sub, nil},
		{"another form", newNonce(), sub, photos},
		{"fields shifted", nonce, edit(func(s *submission) { s.Description, s.Name = "电梯停在 2 楼王", "" }), photos},
	}
	for _, tc := range others {
		if got := submissionID(key, tc.nonce, tc.sub, tc.photos); got == id {
			t.Errorf("%s: the same id as the first submission", tc.name)
		}
	}
	if trackToken(key, id) == trackToken(key, submissionID(key, nonce, others[0].sub, photos)) {
		t.Error("two submissions of one form share a tracking page")
	}
}
