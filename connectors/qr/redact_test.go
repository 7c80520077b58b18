package qr

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/redistest"
)

func TestRedactPath(t *testing.T) {
	tok := "AbCdEfGhIjKlMnOpQrStUvWx"
	ref := tokenRef(tok)
	if !strings.HasPrefix(ref, "t#") || len(ref) != 10 || strings.Contains(ref, tok[:6]) || tokenRef(tok) != ref || tokenRef(tok+"x") == ref {
		t.Fatalf("tokenRef(%q) = %q: want t# and 8 hex digits, stable, one per token", tok, ref)
	}
	cases := []struct{ in, want string }{
		{"/s/t/" + tok, "/s/t/" + ref},
		{"/s/t/" + tok + "/events", "/s/t/" + ref + "/events"},
		{"/S/T/" + tok, "/S/T/" + ref}, // routes match in any case
		{"/s/t/", "/s/t/"},
		{"/s/0123456789ab", "/s/0123456789ab"},
		{"/api/v1/conversations", "/api/v1/conversations"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := RedactPath(tc.in); got != tc.want {
			t.Errorf("RedactPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	err := redact(errors.New("fanout: read sbt1:{qrt:" + tok + "}:events: boom"))
	if strings.Contains(err.Error(), tok) || !strings.Contains(err.Error(), "{qrt:"+ref+"}:events: boom") {
		t.Errorf("redacted error %q", err)
	}
	if redact(nil) != nil {
		t.Error("redact(nil) is not nil")
	}
}

// failing makes Redis commands named name fail with an "ERR" error, as
// Redis itself answers, while armed.
type failing struct {
	name  string
	armed atomic.Bool
}

func (f *failing) DialHook(next redis.DialHook) redis.DialHook { return next }
func (f *failing) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if f.armed.Load() && cmd.Name() == f.name {
			err := errors.New("ERR injected failure of " + f.name)
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}
func (f *failing) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// logBuffer is a logger whose output the test reads.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

// A tracking page's events: a malformed `after` is the client's (400);
// Redis failing is the server's (an error, 500), whatever its text says.
// Neither the error nor the log carries the page's token.
func TestTrackEventsErrors(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	client, ok := rdb.(*redis.Client)
	if !ok {
		t.Skipf("a %T takes no hook", rdb)
	}
	xrange, hgetall := &failing{name: "xrange"}, &failing{name: "hgetall"}
	client.AddHook(xrange)
	client.AddHook(hgetall)
	log, logged := logBuffer()
	c := newTestConnector(t, rdb, prefix, log, false)
	ctx := context.Background()
	tok := "AbCdEfGhIjKlMnOpQrStUvWx"
	if err := c.saveTrack(ctx, tok, tracked{Code: "0123456789ab", Conversation: "conv1",
		From: connectors.Identity{Type: "visitor", Value: "qr_x"}, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	events := func(after string) (*connectors.Response, error) {
		return c.events(ctx, &connectors.Request{Params: map[string]string{"token": tok}, Query: url.Values{"after": {after}},
			Header: http.Header{}})
	}
	if resp, err := events(""); err != nil || resp.Status != 200 {
		t.Fatalf("events: %v, %v", resp, err)
	}
	var ce *connectors.Error
	for _, bad := range []string{"x", "1-2-3", "18446744073709551615-18446744073709551615"} {
		if _, err := events(bad); !errors.As(err, &ce) || ce.Status != http.StatusBadRequest {
			t.Errorf("after=%q: %v, want 400", bad, err)
		}
	}
	xrange.armed.Store(true)
	_, err := events("1-0")
	if err == nil || errors.As(err, &ce) {
		t.Fatalf("Redis failing with ERR: %v, want an error of the server's (500), not a refusal", err)
	}
	if strings.Contains(err.Error(), tok) || !strings.Contains(err.Error(), "ERR injected") {
		t.Errorf("the error %q: want Redis's text without the token", err)
	}
	xrange.armed.Store(false)

	// Pages that cannot be shown log why, naming the page by its hash.
	hgetall.armed.Store(true)
	r := &connectors.Request{Params: map[string]string{"token": tok}, Query: url.Values{}, Header: http.Header{},
		Remote: netip.MustParseAddr("127.0.0.1")}
	if resp, err := c.track(ctx, r); err != nil || resp.Status != http.StatusServiceUnavailable {
		t.Errorf("track with Redis failing: %v, %v; want the 503 page", resp, err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Body = []byte("n=AAAAAAAAAAAAAAAAAAAAAA&text=hi")
	if resp, err := c.follow(ctx, r); err != nil || resp.Status != http.StatusServiceUnavailable {
		t.Errorf("follow with Redis failing: %v, %v; want the 503 page", resp, err)
	}
	hgetall.armed.Store(false)
	out := logged.String()
	if strings.Count(out, "qr: request failed") != 2 || !strings.Contains(out, "/s/t/"+tokenRef(tok)) {
		t.Errorf("the log %q: want two failures naming /s/t/%s", out, tokenRef(tok))
	}
	if strings.Contains(out, tok) {
		t.Errorf("the log carries the token: %q", out)
	}
}
