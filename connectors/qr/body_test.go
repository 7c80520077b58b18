package qr

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/connectors/qr/codes"
	"switchboard/internal/blob"
	"switchboard/internal/redistest"
)

// newTestConnector is the connector on a real Redis, with a blob store
// (so the form takes photos) unless noBlobs.
func newTestConnector(t *testing.T, rdb redis.UniversalClient, prefix string, log *slog.Logger, noBlobs bool) *Connector {
	t.Helper()
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	env := connectors.Env{Redis: rdb, Prefix: prefix, Log: log, Now: time.Now}
	if !noBlobs {
		store, err := blob.Open(t.TempDir(), blob.Options{})
		if err != nil {
			t.Fatal(err)
		}
		env.Blobs = store
	}
	c, err := New(env, func(v any) error {
		*(v.(*Config)) = Config{MaxTotalBytes: 20 << 20}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Connector)
}

// The larger body limit (and read timeout) is granted only to a
// multipart post to a live code: not to codes that do not exist or are
// disabled, not to other content types, not when Redis cannot say.
func TestMaxBody(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	c := newTestConnector(t, rdb, prefix, nil, false)
	live := codes.Code{Asset: codes.Asset{Name: "3号电梯"}}
	off := codes.Code{Asset: codes.Asset{Name: "打印机"}}
	for _, code := range []*codes.Code{&live, &off} {
		if err := codes.Validate(code); err != nil {
			t.Fatal(err)
		}
		if err := c.codes.Create(ctx, code); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.codes.Update(ctx, off.Code, func(x *codes.Code) error { x.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	unknown := "zzzzzzzzzzzz"
	if unknown == live.Code || unknown == off.Code {
		t.Skip("an unlikely code came up")
	}
	const multipart = "multipart/form-data; boundary=xyz"
	raised := connectors.BodyLimit{Max: 20<<20 + bodySlack, ReadTimeout: uploadReadTimeout}
	cases := []struct {
		name                string
		method, path, ctype string
		want                connectors.BodyLimit
	}{
		{"a live code's form with photos", "POST", "/s/" + live.Code, multipart, raised},
		{"upper-case content type", "POST", "/s/" + live.Code, "Multipart/Form-Data; boundary=xyz", raised},
		{"urlencoded", "POST", "/s/" + live.Code, "application/x-www-form-urlencoded", connectors.BodyLimit{}},
		{"no content type", "POST", "/s/" + live.Code, "", connectors.BodyLimit{}},
		{"some other type", "POST", "/s/" + live.Code, "application/octet-stream", connectors.BodyLimit{}},
		{"an unknown code", "POST", "/s/" + unknown, multipart, connectors.BodyLimit{}},
		{"a disabled code", "POST", "/s/" + off.Code, multipart, connectors.BodyLimit{}},
		{"GET", "GET", "/s/" + live.Code, multipart, connectors.BodyLimit{}},
		{"below the code", "POST", "/s/" + live.Code + "/x", multipart, connectors.BodyLimit{}},
		{"a tracking page", "POST", "/s/t/AAAAAAAAAAAAAAAAAAAAAAAA", multipart, connectors.BodyLimit{}},
		{"not a code", "POST", "/s/not-a-code", multipart, connectors.BodyLimit{}},
		{"elsewhere", "POST", "/api/v1/blobs", multipart, connectors.BodyLimit{}},
	}
	for _, tc := range cases {
		got := c.MaxBody(ctx, connectors.BodyRequest{Method: tc.method, Path: tc.path, ContentType: tc.ctype, ContentLength: 5 << 20})
		if got != tc.want {
			t.Errorf("%s: MaxBody = %+v, want %+v", tc.name, got, tc.want)
		}
	}

	// Without a blob store the form takes no photos: nothing to raise.
	noPhotos := newTestConnector(t, rdb, prefix, nil, true)
	if got := noPhotos.MaxBody(ctx, connectors.BodyRequest{Method: "POST", Path: "/s/" + live.Code, ContentType: multipart}); got != (connectors.BodyLimit{}) {
		t.Errorf("without a blob store: MaxBody = %+v, want none", got)
	}
	// Redis in doubt: the server's limit.
	done, cancel := context.WithCancel(ctx)
	cancel()
	if got := c.MaxBody(done, connectors.BodyRequest{Method: "POST", Path: "/s/" + live.Code, ContentType: multipart}); got != (connectors.BodyLimit{}) {
		t.Errorf("with Redis unreachable: MaxBody = %+v, want none", got)
	}
}
