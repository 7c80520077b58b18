package qr

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchboard/connectors"
	"switchboard/internal/blob"
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

func TestMaxBody(t *testing.T) {
	store, err := blob.Open(t.TempDir(), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &Connector{cfg: Config{MaxPhotos: 3, MaxTotalBytes: 20 << 20}, env: connectors.Env{Blobs: store}}
	noPhotos := &Connector{cfg: Config{MaxPhotos: 3, MaxTotalBytes: 20 << 20}}
	if got := noPhotos.MaxBody("POST", "/s/0123456789ab"); got != bodySlack {
		t.Errorf("without a blob store: MaxBody = %d, want %d", got, bodySlack)
	}
	cases := []struct {
		method, path string
		want         int64
	}{
		{"POST", "/s/0123456789ab", 20<<20 + bodySlack},
		{"GET", "/s/0123456789ab", 0},
		{"POST", "/s/t/AAAAAAAAAAAAAAAAAAAAAAAA", 0},
		{"POST", "/s/0123456789ab/x", 0},
		{"POST", "/s/not-a-code", 0},
		{"POST", "/api/v1/blobs", 0},
	}
	for _, tc := range cases {
		if got := c.MaxBody(tc.method, tc.path); got != tc.want {
			t.Errorf("MaxBody(%s %s) = %d, want %d", tc.method, tc.path, got, tc.want)
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
