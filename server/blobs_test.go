package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/internal/blob"
)

// withBlobs returns a copy of the stack whose server serves store.
func (s *stack) withBlobs(store *blob.Store) *stack {
	d := s.srv.Deps
	d.Blobs = store
	c := *s
	c.srv = New(Options{PublicURL: publicURL, BodyLimit: testBodyLimit, ShutdownTimeout: 5 * time.Second}, d)
	return &c
}

func TestBlobs(t *testing.T) {
	t.Parallel()
	plain := newStack(t)
	dir := t.TempDir()
	store, err := blob.Open(dir, blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := plain.withBlobs(store)
	token := s.login(agentWang.Email)

	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0, 1, 2, 3}, 300)...)
	html := []byte("<!doctype html><script>alert(document.cookie)</script>")
	stored := func(content []byte, name, contentType string) string {
		t.Helper()
		id := blob.NewID()
		if _, err := store.Put(context.Background(), id, bytes.NewReader(content), name, contentType); err != nil {
			t.Fatal(err)
		}
		return id
	}
	imageID := stored(png, "照片 1.png", "image/png")
	htmlID := stored(html, "page.html", "text/html; charset=utf-8")
	path := func(id string) string { return "/api/v1/blobs/" + id }

	t.Run("refused without a live token", func(t *testing.T) {
		s := s.with(t)
		for _, tok := range []string{"", "not-a-token"} {
			r := s.get(path(imageID), tok)
			if r.Status != 401 || r.errorCode() != "unauthorized" || r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("token %q: got %s, want 401 unauthorized with WWW-Authenticate", tok, r)
			}
			if bytes.Contains(r.Body, png[:8]) {
				t.Errorf("token %q: the answer holds the blob", tok)
			}
		}
	})

	t.Run("unknown and malformed ids are 404", func(t *testing.T) {
		s := s.with(t)
		for _, id := range []string{
			blob.NewID(),                  // well formed, not stored
			strings.ToUpper(imageID),      // not the id's form
			imageID[:31],                  // too short
			imageID + ".json",             // the metadata file
			"..%2F" + imageID[3:],         // a path outside
			"..%2F..%2F..%2Fetc%2Fpasswd", // further outside
			"%00",
		} {
			r := s.get(path(id), token)
			if r.Status != 404 || r.errorCode() != "not_found" {
				t.Errorf("id %q: got %s, want 404 not_found", id, r)
			}
		}
	})

	t.Run("an image is shown inline", func(t *testing.T) {
		s := s.with(t)
		r := s.must(200, req{method: "GET", path: path(imageID), token: token})
		if !bytes.Equal(r.Body, png) {
			t.Errorf("body is %d bytes, want the %d stored", len(r.Body), len(png))
		}
		want := map[string]string{
			"Content-Type":            "image/png",
			"Content-Length":          strconv.Itoa(len(png)),
			"Content-Disposition":     `inline; filename="__ 1.png"; filename*=UTF-8''%E7%85%A7%E7%89%87%201.png`,
			"X-Content-Type-Options":  "nosniff",
			"Cache-Control":           "private, max-age=86400",
			"Content-Security-Policy": "sandbox",
			"Accept-Ranges":           "bytes",
		}
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
	})

	t.Run("HTML is an attachment in a sandbox", func(t *testing.T) {
		s := s.with(t)
		r := s.must(200, req{method: "GET", path: path(htmlID), token: token})
		if !bytes.Equal(r.Body, html) {
			t.Errorf("body %q, want %q", r.Body, html)
		}
		want := map[string]string{
			"Content-Type":            "text/html; charset=utf-8",
			"Content-Length":          strconv.Itoa(len(html)),
			"Content-Disposition":     `attachment; filename="page.html"; filename*=UTF-8''page.html`,
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "sandbox",
			"Cache-Control":           "private, max-age=86400",
		}
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
	})

	t.Run("content types and names as stored", func(t *testing.T) {
		s := s.with(t)
		for _, tt := range []struct {
			name, contentType         string
			wantType, wantDisposition string
		}{
			{"logo.svg", "image/svg+xml", "image/svg+xml", `attachment; filename="logo.svg"; filename*=UTF-8''logo.svg`},
			{"", "", "application/octet-stream", "attachment"},
			{"voice.amr", "AUDIO/AMR", "audio/amr", `inline; filename="voice.amr"; filename*=UTF-8''voice.amr`},
			{"clip.mp4", "video/mp4", "video/mp4", `inline; filename="clip.mp4"; filename*=UTF-8''clip.mp4`},
			{"x.html", "text/html; <script>", "application/octet-stream", `attachment; filename="x.html"; filename*=UTF-8''x.html`},
			{`a;b 100%.pdf`, "application/pdf", "application/pdf", `attachment; filename="a;b 100_.pdf"; filename*=UTF-8''a%3Bb%20100%25.pdf`},
		} {
			id := stored([]byte("data"), tt.name, tt.contentType)
			r := s.must(200, req{method: "GET", path: path(id), token: token})
			if got := r.Header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("%q stored as %q: Content-Type %q, want %q", tt.name, tt.contentType, got, tt.wantType)
			}
			if got := r.Header.Get("Content-Disposition"); got != tt.wantDisposition {
				t.Errorf("%q stored as %q: Content-Disposition %q, want %q", tt.name, tt.contentType, got, tt.wantDisposition)
			}
		}
	})

	t.Run("byte ranges", func(t *testing.T) {
		s := s.with(t)
		size := len(png)
		for _, tt := range []struct {
			rng, ifRange string
			status       int
			from, to     int // the part sent, inclusive
		}{
			{"bytes=0-7", "", 206, 0, 7},
			{"bytes=100-", "", 206, 100, size - 1},
			{"bytes=-10", "", 206, size - 10, size - 1},
			{"bytes=10-999999", "", 206, 10, size - 1},
			{"bytes=0-1,5-6", "", 200, 0, size - 1},
			{"items=0-1", "", 200, 0, size - 1},
			{"bytes=5-1", "", 200, 0, size - 1},
			{"bytes=0-7", `"etag"`, 200, 0, size - 1},
			{"bytes=" + strconv.Itoa(size) + "-", "", 200, 0, size - 1},
			{"bytes=-0", "", 200, 0, size - 1},
		} {
			h := map[string]string{"Range": tt.rng}
			if tt.ifRange != "" {
				h["If-Range"] = tt.ifRange
			}
			r := s.send(req{method: "GET", path: path(imageID), token: token, header: h})
			if r.Status != tt.status {
				t.Errorf("Range %q: status %d, want %d", tt.rng, r.Status, tt.status)
				continue
			}
			want := ""
			if tt.status == 206 {
				want = "bytes " + strconv.Itoa(tt.from) + "-" + strconv.Itoa(tt.to) + "/" + strconv.Itoa(size)
			}
			if got := r.Header.Get("Content-Range"); got != want {
				t.Errorf("Range %q: Content-Range %q, want %q", tt.rng, got, want)
			}
			if !bytes.Equal(r.Body, png[tt.from:tt.to+1]) {
				t.Errorf("Range %q: %d bytes, want bytes %d–%d", tt.rng, len(r.Body), tt.from, tt.to)
			}
			if got := r.Header.Get("Content-Length"); got != strconv.Itoa(tt.to-tt.from+1) {
				t.Errorf("Range %q: Content-Length %s, want %d", tt.rng, got, tt.to-tt.from+1)
			}
		}
	})

	t.Run("HEAD and empty blobs", func(t *testing.T) {
		s := s.with(t)
		r := s.must(200, req{method: "HEAD", path: path(imageID), token: token})
		if len(r.Body) != 0 || r.Header.Get("Content-Length") != strconv.Itoa(len(png)) {
			t.Errorf("HEAD: %d bytes of body, Content-Length %q", len(r.Body), r.Header.Get("Content-Length"))
		}
		empty := stored(nil, "empty.txt", "text/plain")
		r = s.must(200, req{method: "GET", path: path(empty), token: token})
		if len(r.Body) != 0 || r.Header.Get("Content-Length") != "0" {
			t.Errorf("empty blob: %d bytes, Content-Length %q", len(r.Body), r.Header.Get("Content-Length"))
		}
	})

	t.Run("over the network", func(t *testing.T) {
		s := s.with(t)
		s.listen()
		r := s.must(200, req{method: "GET", path: path(imageID), token: token, net: true})
		if !bytes.Equal(r.Body, png) || r.Header.Get("Content-Disposition") == "" {
			t.Errorf("whole file: %d bytes, Content-Disposition %q", len(r.Body), r.Header.Get("Content-Disposition"))
		}
		r = s.must(206, req{method: "GET", path: path(imageID), token: token, net: true,
			header: map[string]string{"Range": "bytes=-100"}})
		if !bytes.Equal(r.Body, png[len(png)-100:]) {
			t.Errorf("last 100 bytes: got %d bytes", len(r.Body))
		}
	})

	t.Run("every file opened is closed", func(t *testing.T) {
		if _, err := os.Stat("/proc/self/fd"); err != nil {
			t.Skip("no /proc/self/fd to count open files")
		}
		// The subtests above opened blobs for full, partial and HEAD
		// answers. fasthttp closes a stream just after
		// sending it; a leaked file is closed only by its finalizer, at
		// some later garbage collection, so the wait is short.
		deadline := time.Now().Add(2 * time.Second)
		for open := openUnder(t, dir); len(open) > 0; open = openUnder(t, dir) {
			if time.Now().After(deadline) {
				t.Fatalf("blob files still open: %q", open)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("a server without a blob store has none", func(t *testing.T) {
		plain := plain.with(t)
		r := plain.get(path(imageID), token)
		if r.Status != 404 || r.errorCode() != "not_found" {
			t.Errorf("got %s, want 404 not_found", r)
		}
		if r := plain.get(path(imageID), ""); r.Status != 401 {
			t.Errorf("without a token: got %s, want 401", r)
		}
	})
}

// openUnder lists the files under dir that this process holds open.
func openUnder(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, fd := range fds {
		p, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(p, dir+string(filepath.Separator)) {
			out = append(out, p)
		}
	}
	return out
}

func TestByteRange(t *testing.T) {
	for _, tt := range []struct {
		h       string
		ifRange bool
		size    int64
		start   int64
		n       int64
		partial bool
	}{
		{"", false, 10, 0, 10, false},
		{"bytes=0-0", false, 10, 0, 1, true},
		{"bytes=9-9", false, 10, 9, 1, true},
		{"bytes=3-", false, 10, 3, 7, true},
		{"bytes=-4", false, 10, 6, 4, true},
		{"bytes=-40", false, 10, 0, 10, true},
		{"bytes=5-40", false, 10, 5, 5, true},
		{"bytes= 2-3 ", false, 10, 2, 2, true},
		{"bytes=0-99999999999999999999", false, 10, 0, 10, false}, // overflow: bad syntax
		{"bytes=10-", false, 10, 0, 10, false},
		{"bytes=10-20", false, 10, 0, 10, false},
		{"bytes=-0", false, 10, 0, 10, false},
		{"bytes=0-", false, 0, 0, 0, false},
		{"bytes=-5", false, 0, 0, 0, false},
		{"bytes=0-1", true, 10, 0, 10, false},
		{"bytes=1-2,4-5", false, 10, 0, 10, false},
		{"bytes=3-2", false, 10, 0, 10, false},
		{"bytes=+1-2", false, 10, 0, 10, false},
		{"bytes=1-+2", false, 10, 0, 10, false},
		{"bytes=a-b", false, 10, 0, 10, false},
		{"bytes=-", false, 10, 0, 10, false},
		{"bytes=5", false, 10, 0, 10, false},
		{"Bytes=0-1", false, 10, 0, 10, false},
		{"lines=0-1", false, 10, 0, 10, false},
	} {
		start, n, partial := byteRange(tt.h, tt.ifRange, tt.size)
		if start != tt.start || n != tt.n || partial != tt.partial {
			t.Errorf("byteRange(%q, %v, %d) = %d, %d, %v; want %d, %d, %v",
				tt.h, tt.ifRange, tt.size, start, n, partial, tt.start, tt.n, tt.partial)
		}
	}
}

func TestDisposition(t *testing.T) {
	for _, tt := range []struct {
		inline bool
		name   string
		want   string
	}{
		{true, "", "inline"},
		{false, "", "attachment"},
		{true, "a.png", `inline; filename="a.png"; filename*=UTF-8''a.png`},
		{false, "报价单.pdf", `attachment; filename="___.pdf"; filename*=UTF-8''%E6%8A%A5%E4%BB%B7%E5%8D%95.pdf`},
		{false, `q"uo\te`, `attachment; filename="q_uo_te"; filename*=UTF-8''q%22uo%5Cte`},
		{false, "tab\there", `attachment; filename="tab_here"; filename*=UTF-8''tab%09here`},
		{false, "it's (1).txt", `attachment; filename="it's (1).txt"; filename*=UTF-8''it%27s%20%281%29.txt`},
		{false, "!#$&+-.^_`|~", "attachment; filename=\"!#$&+-.^_`|~\"; filename*=UTF-8''!#$&+-.^_`|~"},
	} {
		if got := disposition(tt.inline, tt.name); got != tt.want {
			t.Errorf("disposition(%v, %q) = %s, want %s", tt.inline, tt.name, got, tt.want)
		}
	}
}
