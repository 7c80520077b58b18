package server

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"switchboard/connectors/qr"
)

// withMaxLargeBodies rebuilds the stack's server so that it reads at most
// n larger bodies at once (before listen).
func (s *qrStack) withMaxLargeBodies(n int) *qrStack {
	s.t.Helper()
	if s.base != "" {
		s.t.Fatal("withMaxLargeBodies after listen")
	}
	c := *s.stack
	c.srv = New(Options{PublicURL: publicURL, BodyLimit: testBodyLimit, ShutdownTimeout: 5 * time.Second, MaxLargeBodies: n}, s.srv.Deps)
	return &qrStack{stack: &c, blobDir: s.blobDir}
}

// formHeader is the header of a POST as it arrives, before its body.
func formHeader(h *fasthttp.RequestHeader, method, path, contentType string, n int) *fasthttp.RequestHeader {
	h.SetMethod(method)
	h.SetRequestURI(path)
	if contentType != "" {
		h.SetContentType(contentType)
	}
	h.SetContentLength(n)
	return h
}

// The header hook grants the QR form's larger body limit, with a longer
// read timeout for slow uploads, only to a multipart post to a live code,
// and to no more such requests at once than the server allows.
func TestQRBodyLimitHook(t *testing.T) {
	t.Parallel()
	s := newStack(t).withQR(qr.Config{MaxTotalBytes: 20 << 20}).withMaxLargeBodies(2)
	adm := s.login(agentAdm.Email)
	live, off := s.createCode(adm, elevator), s.createCode(adm, elevator)
	s.must(200, req{method: "PATCH", path: "/api/v1/qr/codes/" + off.Code, token: adm, body: map[string]any{"disabled": true}})
	const multipart = "multipart/form-data; boundary=b"
	raised := fasthttp.RequestConfig{MaxRequestBodySize: 20<<20 + bodyRoom, ReadTimeout: 5 * time.Minute}
	hook := s.srv.headerReceived

	cases := []struct {
		name                string
		method, path, ctype string
		n                   int
		want                fasthttp.RequestConfig
	}{
		{"a live code's form with photos", "POST", "/s/" + live.Code + "?lang=zh", multipart, 5 << 20, raised},
		{"chunked", "POST", "/s/" + live.Code, multipart, -1, raised},
		{"fits the body limit anyway", "POST", "/s/" + live.Code, multipart, testBodyLimit, fasthttp.RequestConfig{}},
		{"over the form's own limit", "POST", "/s/" + live.Code, multipart, 20<<20 + bodyRoom + 1, fasthttp.RequestConfig{}},
		{"a disabled code", "POST", "/s/" + off.Code, multipart, 5 << 20, fasthttp.RequestConfig{}},
		{"an unknown code", "POST", "/s/zzzzzzzzzzzz", multipart, 5 << 20, fasthttp.RequestConfig{}},
		{"urlencoded", "POST", "/s/" + live.Code, "application/x-www-form-urlencoded", 5 << 20, fasthttp.RequestConfig{}},
		{"JSON", "POST", "/s/" + live.Code, "application/json", 5 << 20, fasthttp.RequestConfig{}},
		{"no content type", "POST", "/s/" + live.Code, "", 5 << 20, fasthttp.RequestConfig{}},
		{"PUT", "PUT", "/s/" + live.Code, multipart, 5 << 20, fasthttp.RequestConfig{}},
		{"a tracking page", "POST", "/s/t/AAAAAAAAAAAAAAAAAAAAAAAA", multipart, 5 << 20, fasthttp.RequestConfig{}},
	}
	for _, tc := range cases {
		var ctx fasthttp.RequestCtx
		got := hook(formHeader(&ctx.Request.Header, tc.method, tc.path, tc.ctype, tc.n))
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
		s.srv.large.release(&ctx.Request.Header)
	}
	if n := s.srv.large.count(); n != 0 {
		t.Fatalf("%d leases after every request ended, want 0", n)
	}

	// Two at once; the third keeps the body limit (a large body gets 413
	// at once) until one of the two ends, however it ends.
	var a, b, c fasthttp.RequestCtx
	big := func(ctx *fasthttp.RequestCtx) fasthttp.RequestConfig {
		return hook(formHeader(&ctx.Request.Header, "POST", "/s/"+live.Code, multipart, 5<<20))
	}
	if big(&a) != raised || big(&b) != raised {
		t.Fatal("the first two large bodies were not granted")
	}
	if got := big(&c); got != (fasthttp.RequestConfig{}) {
		t.Fatalf("a third at once: %+v, want the body limit", got)
	}
	// Reading a's body failed (too slow, the client gone): fasthttp calls
	// the error handler instead of the handler.
	s.srv.App().Server().ErrorHandler(&a, fasthttp.ErrBodyTooLarge)
	if got := big(&c); got != raised {
		t.Fatalf("after a failed read ended a lease: %+v, want it granted", got)
	}
	// b's handler ran and returned.
	s.srv.App().Server().Handler(&b)
	if got := big(&a); got != raised {
		t.Fatalf("after a handler returned: %+v, want it granted", got)
	}
	// The next header on c's connection: c's request is over.
	c.Request.Header.Reset()
	hook(formHeader(&c.Request.Header, "GET", "/s/"+live.Code, "", 0))
	if n := s.srv.large.count(); n != 1 {
		t.Fatalf("%d leases after c's connection moved on, want 1 (a)", n)
	}
	if big(&b) != raised {
		t.Fatal("no lease for b once c's ended")
	}

	// A lease nobody ended (the connection vanished without a word) ends
	// at its deadline: after the longest read and handler.
	at := time.Now()
	s.srv.large.now = func() time.Time { return at }
	if got := big(&c); got != (fasthttp.RequestConfig{}) {
		t.Fatalf("a third at once: %+v, want the body limit", got)
	}
	at = at.Add(5*time.Minute + s.srv.opts.HandlerTimeout + time.Minute + time.Second)
	if got := big(&c); got != raised {
		t.Fatalf("after the leases' deadline: %+v, want it granted", got)
	}
}

// Over the network: while the server reads as many large bodies as it
// may, another one is refused with 413 before it is sent; once the first
// request is answered, large bodies are taken again.
func TestQRLargeBodiesAtOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t).withQR(qr.Config{}).withMaxLargeBodies(1)
	s.listen()
	adm := s.login(agentAdm.Email)
	c := s.createCode(adm, elevator)
	token, _ := s.openForm(c.Code)
	photo := append(testPhoto(t, 32), make([]byte, 2*testBodyLimit)...)
	body, ct := formBody(t, map[string]string{"token": token, "description": "门打不开", "floor": "1F"}, photo)
	path := "/s/" + c.Code + "?lang=zh"

	// The first upload: its header, then (once the server said 100
	// Continue, so the hook has run and the lease is held) nothing yet.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitFor))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: gw\r\nContent-Type: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", path, ct, len(body))
	br := bufio.NewReader(conn)
	cont, err := http.ReadResponse(br, nil)
	if err != nil || cont.StatusCode != http.StatusContinue {
		t.Fatalf("the first upload's header: %v, %v; want 100 Continue", cont, err)
	}

	// Meanwhile a second large form is refused before its body is read.
	if got := s.announce(path, len(body)); got != 413 {
		t.Fatalf("a second large body at once: %d, want 413", got)
	}

	// The first one's body arrives: it is taken.
	if _, err := conn.Write(body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/s/t/") {
		t.Fatalf("the first upload: %d %v, want 303 to a tracking page", resp.StatusCode, resp.Header)
	}

	// Its request is over: the next large form is taken too.
	token2, _ := s.openForm(c.Code)
	if r := s.submit(c.Code, map[string]string{"token": token2, "description": "灯不亮", "floor": "2F"}, true, photo); r.Status != 303 {
		t.Fatalf("a large form after the first was answered: %s, want 303", r)
	}
	if n := s.srv.large.count(); n != 0 {
		t.Errorf("%d leases after every upload was answered, want 0", n)
	}
}

// A request that fails on a tracking page is logged with the page's
// token replaced by its hash: the token is the page's key.
func TestQRErrorLogHidesToken(t *testing.T) {
	var logged strings.Builder
	app := fiber.New(fiber.Config{ErrorHandler: errorHandler(slog.New(slog.NewTextHandler(&logged, nil)))})
	app.Get("/s/t/:token/events", func(*fiber.Ctx) error { return errors.New("redis: down") })
	app.Get("/api/v1/x", func(*fiber.Ctx) error { return errors.New("redis: down") })
	tok := "AbCdEfGhIjKlMnOpQrStUvWx"
	for _, p := range []string{"/s/t/" + tok + "/events", "/S/T/" + tok + "/events", "/api/v1/x"} {
		resp, err := app.Test(httptest.NewRequest("GET", p, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 500 {
			t.Fatalf("GET %s: %d, want 500", p, resp.StatusCode)
		}
	}
	out := logged.String()
	if strings.Contains(out, tok) {
		t.Errorf("the log carries a tracking page's token:\n%s", out)
	}
	for _, want := range []string{"path=" + qr.RedactPath("/s/t/"+tok+"/events"), "path=" + qr.RedactPath("/S/T/"+tok+"/events"), "path=/api/v1/x"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
}
