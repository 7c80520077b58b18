package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"switchboard/connectors"
	"switchboard/connectors/qr"
	"switchboard/connectors/wechat"
	"switchboard/connectors/wechat/wxfake"
	"switchboard/internal/blob"
)

// bodyRoom is what a form may carry besides its photos (qr's bodySlack).
const bodyRoom = 1 << 20

// qrStack is the gateway with a real QR connector and a blob store.
type qrStack struct {
	*stack
	blobDir string
}

// withQR adds the QR connector, configured by cfg, to the stack's
// registry (the router sends replies through it) and returns the stack
// with a server that has a blob store.
func (s *stack) withQR(cfg qr.Config) *qrStack {
	t := s.t
	t.Helper()
	dir := t.TempDir()
	store, err := blob.Open(dir, blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := qr.New(connectors.Env{In: s.rt, Redis: s.rdb, Prefix: s.prefix, Log: quiet(), PublicURL: publicURL,
		Now: time.Now, Blobs: store}, func(v any) error { *(v.(*qr.Config)) = cfg; return nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.(connectors.Runner).Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	s.srv.Registry.Add(c)
	return &qrStack{stack: s.withBlobs(store), blobDir: dir}
}

// qrCodeOut is a code as the API answers it, as far as tests look.
type qrCodeOut struct {
	Code  string `json:"code"`
	Asset struct {
		Name, Serial, Category, Site string
	} `json:"asset"`
	Team           string `json:"team"`
	Disabled       bool   `json:"disabled"`
	Rev            int64  `json:"rev"`
	URL            string `json:"url"`
	ImageURL       string `json:"image_url"`
	WeChatImageURL string `json:"wechat_image_url"`
}

// elevator is a code's body: an elevator with one required select.
var elevator = map[string]any{
	"asset": map[string]string{"name": "3号电梯", "serial": "EL-2231", "category": "elevator", "site": "浦东仓库"},
	"team":  "sales", // not the default team: routing follows the code
	"fields": []map[string]any{{"key": "floor", "label": map[string]string{"zh": "所在楼层", "en": "Floor"},
		"type": "select", "options": []string{"1F", "2F", "3F"}, "required": true}},
}

func (s *qrStack) createCode(token string, body any) qrCodeOut {
	s.t.Helper()
	var c qrCodeOut
	s.must(201, req{method: "POST", path: "/api/v1/qr/codes", token: token, body: body}).decode(s.t, &c)
	return c
}

func TestQRCodeAPI(t *testing.T) {
	t.Parallel()
	base := newStack(t)
	agent, sup, adm := base.login(agentLi.Email), base.login(agentSup.Email), base.login(agentAdm.Email)

	// Without channels.qr the API is not there.
	if r := base.send(req{method: "GET", path: "/api/v1/qr/codes", token: adm}); r.Status != 404 || !strings.Contains(string(r.Body), "channels.qr") {
		t.Errorf("without the QR channel: %s, want 404 naming channels.qr", r)
	}

	s := base.withQR(qr.Config{})
	made := s.createCode(adm, elevator)
	if len(made.Code) != 12 || made.Rev != 1 || made.URL != publicURL+"/s/"+made.Code ||
		made.ImageURL != publicURL+"/qr/"+made.Code+".png" || made.Asset.Name != "3号电梯" || made.Team != "sales" {
		t.Fatalf("created %+v", made)
	}
	one := "/api/v1/qr/codes/" + made.Code

	roles := []struct {
		role         string
		token        string
		method, path string
		body         any
		want         int
	}{
		{"agent", agent, "GET", "/api/v1/qr/codes", nil, 403},
		{"agent", agent, "POST", "/api/v1/qr/codes", elevator, 403},
		{"agent", agent, "GET", one, nil, 403},
		{"agent", agent, "PATCH", one, map[string]any{"disabled": true}, 403},
		{"agent", agent, "POST", one + "/wechat", nil, 403},
		{"supervisor", sup, "GET", "/api/v1/qr/codes", nil, 200},
		{"supervisor", sup, "GET", one, nil, 200},
		{"supervisor", sup, "POST", "/api/v1/qr/codes", elevator, 403},
		{"supervisor", sup, "PATCH", one, map[string]any{"disabled": true}, 403},
		{"admin", adm, "GET", "/api/v1/qr/codes", nil, 200},
		{"admin", adm, "POST", "/api/v1/qr/codes", elevator, 201},
		{"admin", adm, "PATCH", one, map[string]any{"asset": map[string]string{"site": "闵行仓库"}}, 200},
		{"nobody", "", "GET", "/api/v1/qr/codes", nil, 401},
	}
	for _, tc := range roles {
		if r := s.send(req{method: tc.method, path: tc.path, token: tc.token, body: tc.body}); r.Status != tc.want {
			t.Errorf("%s %s %s: %s, want %d", tc.role, tc.method, tc.path, r, tc.want)
		}
	}

	bad := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		names  string // the field the message names
	}{
		{"no name", "POST", "/api/v1/qr/codes", map[string]any{"asset": map[string]string{"serial": "x"}}, 400, "asset.name"},
		{"unknown team", "POST", "/api/v1/qr/codes", map[string]any{"asset": map[string]string{"name": "x"}, "team": "nobody"}, 400, "team"},
		{"unknown official account", "POST", "/api/v1/qr/codes", map[string]any{"asset": map[string]string{"name": "x"}, "wechat_oa": "main"}, 400, "wechat_oa"},
		{"bad field", "POST", "/api/v1/qr/codes", map[string]any{"asset": map[string]string{"name": "x"},
			"fields": []map[string]any{{"key": "Floor No", "label": map[string]string{"zh": "楼层"}, "type": "text"}}}, 400, "fields[0].key"},
		{"unknown key", "POST", "/api/v1/qr/codes", map[string]any{"asset": map[string]string{"name": "x"}, "colour": "red"}, 400, "colour"},
		{"patch empties the name", "PATCH", one, map[string]any{"asset": map[string]string{"name": ""}}, 400, "asset.name"},
		{"unknown code", "GET", "/api/v1/qr/codes/zzzzzzzzzzzz", nil, 404, ""},
		{"malformed code", "PATCH", "/api/v1/qr/codes/x", map[string]any{"disabled": true}, 404, ""},
		{"wechat without account", "POST", one + "/wechat", nil, 400, "wechat_oa"},
		{"bad limit", "GET", "/api/v1/qr/codes?limit=0", nil, 400, "limit"},
		{"bad cursor", "GET", "/api/v1/qr/codes?cursor=x", nil, 400, "cursor"},
	}
	for _, tc := range bad {
		r := s.send(req{method: tc.method, path: tc.path, token: adm, body: tc.body})
		if r.Status != tc.status || !strings.Contains(string(r.Body), tc.names) {
			t.Errorf("%s: %s, want %d naming %q", tc.name, r, tc.status, tc.names)
		}
	}

	// Disable and enable; the list filters.
	var got qrCodeOut
	s.must(200, req{method: "PATCH", path: one, token: adm, body: map[string]any{"disabled": true}}).decode(t, &got)
	if !got.Disabled || got.Asset.Site != "闵行仓库" || got.Asset.Name != "3号电梯" {
		t.Errorf("after disabling: %+v", got)
	}
	var list struct {
		Items []qrCodeOut `json:"items"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/qr/codes?disabled=true", token: sup}).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].Code != made.Code {
		t.Errorf("disabled codes: %+v, want just %s", list.Items, made.Code)
	}
	s.must(200, req{method: "PATCH", path: one, token: adm, body: map[string]any{"disabled": false}}).decode(t, &got)
	if got.Disabled {
		t.Error("enabling did not enable")
	}
	s.must(200, req{method: "GET", path: "/api/v1/qr/codes?site=" + url.QueryEscape("浦东仓库"), token: sup}).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].Code == made.Code {
		t.Errorf("codes at 浦东仓库: %+v, want the other one", list.Items)
	}
}

// decodeQR reads the QR code in a PNG.
func decodeQR(t *testing.T, b []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("no QR code in the image: %v", err)
	}
	return res.GetText()
}

func TestQRImage(t *testing.T) {
	t.Parallel()
	s := newStack(t).withQR(qr.Config{})
	adm := s.login(agentAdm.Email)
	c := s.createCode(adm, elevator)
	path := "/qr/" + c.Code + ".png"

	r := s.must(200, req{method: "GET", path: path})
	if got := decodeQR(t, r.Body); got != publicURL+"/s/"+c.Code {
		t.Errorf("the QR code reads %q, want %q", got, publicURL+"/s/"+c.Code)
	}
	if ct, cc := r.Header.Get("Content-Type"), r.Header.Get("Cache-Control"); ct != "image/png" || !strings.Contains(cc, "max-age") {
		t.Errorf("Content-Type %q, Cache-Control %q: want a cacheable PNG", ct, cc)
	}
	if got := s.must(304, req{method: "GET", path: path, header: map[string]string{"If-None-Match": r.Header.Get("ETag")}}); len(got.Body) != 0 {
		t.Errorf("304 with a body")
	}
	small := s.must(200, req{method: "GET", path: path + "?size=200"})
	if cfg, err := png.DecodeConfig(bytes.NewReader(small.Body)); err != nil || cfg.Width < 180 || cfg.Width > 220 {
		t.Errorf("size=200 gave a %dpx image (%v)", cfg.Width, err)
	}
	if got := decodeQR(t, small.Body); got != publicURL+"/s/"+c.Code {
		t.Errorf("the small QR code reads %q", got)
	}
	s.must(400, req{method: "GET", path: path + "?size=5000"})

	// Unknown and disabled codes are the same 404.
	unknown := s.send(req{method: "GET", path: "/qr/zzzzzzzzzzzz.png"})
	s.must(200, req{method: "PATCH", path: "/api/v1/qr/codes/" + c.Code, token: adm, body: map[string]any{"disabled": true}})
	disabled := s.send(req{method: "GET", path: path})
	if unknown.Status != 404 || disabled.Status != 404 || string(unknown.Body) != string(disabled.Body) {
		t.Errorf("unknown: %s; disabled: %s; want the same 404", unknown, disabled)
	}
	s.must(404, req{method: "GET", path: "/qr/" + c.Code + ".gif"})
	s.must(404, req{method: "GET", path: "/qr/" + c.Code + "/wechat.png"})
}

// testPhoto is a small real PNG.
func testPhoto(t *testing.T, side int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	for i := range side {
		img.Set(i, i, color.RGBA{B: 255, A: 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var tokenRe = regexp.MustCompile(`name="token" value="([^"]+)"`)

// openForm GETs a code's form and returns its token and the page.
func (s *qrStack) openForm(code string) (string, string) {
	s.t.Helper()
	r := s.must(200, req{method: "GET", path: "/s/" + code, header: map[string]string{"Accept-Language": "zh-CN"}})
	m := tokenRe.FindStringSubmatch(string(r.Body))
	if m == nil {
		s.t.Fatalf("no token in the form: %s", r.Body)
	}
	return m[1], string(r.Body)
}

// formBody is a multipart form with values and photos.
func formBody(t *testing.T, values map[string]string, photos ...[]byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range values {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range photos {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="photos"; filename="现场%d.png"`, i+1))
		h.Set("Content-Type", "image/png")
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(p)
	}
	w.Close()
	return b.Bytes(), w.FormDataContentType()
}

// submit posts a form to a code, in process or over the listener (which
// enforces the body limits as a real server does).
func (s *qrStack) submit(code string, values map[string]string, overNet bool, photos ...[]byte) reply {
	s.t.Helper()
	body, ct := formBody(s.t, values, photos...)
	path := "/s/" + code + "?lang=zh"
	if !overNet {
		return s.send(req{method: "POST", path: path, body: body, header: map[string]string{"Content-Type": ct}})
	}
	hc := &http.Client{Timeout: waitFor, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Post(s.base+path, ct, bytes.NewReader(body))
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// announce sends only the header of a multipart POST that declares a
// body of n bytes, as a browser starts an upload, and returns the status
// the server answers before any of the body arrives.
func (s *qrStack) announce(path string, n int) int {
	s.t.Helper()
	return s.announceAs(path, "multipart/form-data; boundary=b", n)
}

// announceAs is announce with a content type.
func (s *qrStack) announceAs(path, contentType string, n int) int {
	s.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: gw\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, contentType, n)
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		s.t.Fatalf("no answer to an announced body of %d bytes: %v", n, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// qrConversations lists the QR channel's conversations.
func (s *qrStack) qrConversations(token string) []conversation {
	s.t.Helper()
	var out struct {
		Items []conversation `json:"items"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/conversations?channel=qr", token: token}).decode(s.t, &out)
	return out.Items
}

// blobCount counts the files kept in the blob store.
func (s *qrStack) blobCount() int {
	s.t.Helper()
	n := 0
	err := filepath.WalkDir(s.blobDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && blob.ValidID(filepath.Base(p)) {
			n++
		}
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// withoutRate drops the rate-limit counters and the signing secret from
// a snapshot: counting an attempt is all a refused form may write.
func withoutRate(m map[string]string) map[string]string {
	for k := range m {
		if strings.Contains(k, "qr:rate:") || strings.HasSuffix(k, "{qr}:secret") {
			delete(m, k)
		}
	}
	return m
}

type qrMessage struct {
	ID          string                  `json:"id"`
	Direction   string                  `json:"direction"`
	Kind        string                  `json:"kind"`
	Text        string                  `json:"text"`
	Fields      map[string]string       `json:"fields"`
	Attachments []connectors.Attachment `json:"attachments"`
}

func TestQRSubmitAndTrack(t *testing.T) {
	t.Parallel()
	s := newStack(t).withQR(qr.Config{})
	s.listen()
	adm := s.login(agentAdm.Email)
	c := s.createCode(adm, elevator)
	// A customer known by the address the form's sender will type.
	vip, err := s.rt.Ingest(context.Background(), &connectors.Message{Channel: connectors.Email, Account: "support",
		ExternalID: "<vip@example.com>", From: connectors.Identity{Type: "email", Value: "li@example.com", Name: "李总"},
		Kind: connectors.KindText, Text: "Hello"})
	if err != nil {
		t.Fatal(err)
	}

	token, page := s.openForm(c.Code)
	for _, want := range []string{"3号电梯", "EL-2231", "浦东仓库", "所在楼层", `enctype="multipart/form-data"`, `name="photos"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the form lacks %q", want)
		}
	}
	photo := testPhoto(t, 64)
	values := map[string]string{"token": token, "description": "电梯停在 2 楼，门打不开", "floor": "2F",
		"phone": "138 0013 8000", "email": "Li@Example.com", "name": "王先生"}
	// Over the network: the body is larger than the server's body limit,
	// which the QR form raises for itself.
	if len(photo) < testBodyLimit {
		photo = append(photo, make([]byte, testBodyLimit)...) // trailing bytes after IEND: still a PNG
	}
	first := s.submit(c.Code, values, true, photo)
	if first.Status != 303 || !strings.HasPrefix(first.Header.Get("Location"), "/s/t/") {
		t.Fatalf("submit: %s %v, want 303 to a tracking page", first, first.Header)
	}
	again := s.submit(c.Code, values, true, photo)
	if again.Status != 303 || again.Header.Get("Location") != first.Header.Get("Location") {
		t.Fatalf("double submit: %s %v, want 303 to the same page", again, again.Header)
	}
	convs := s.qrConversations(adm)
	if len(convs) != 1 {
		t.Fatalf("%d QR conversations after a double submit, want 1", len(convs))
	}
	conv := s.dispatched(convs[0].ID, adm)
	if conv.Account != c.Code || conv.Team != "sales" {
		t.Errorf("conversation %+v: want account %s, team sales (the code's)", conv, c.Code)
	}
	var msgs struct {
		Items []qrMessage `json:"items"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/conversations/" + conv.ID + "/messages", token: adm}).decode(t, &msgs)
	if len(msgs.Items) == 0 {
		t.Fatal("no messages")
	}
	m := msgs.Items[0]
	want := map[string]string{"qr_code": c.Code, "asset": "elevator", "asset_name": "3号电梯", "asset_serial": "EL-2231",
		"asset_site": "浦东仓库", "field.floor": "2F", "contact_phone": "+8613800138000", "contact_email": "li@example.com"}
	for k, v := range want {
		if m.Fields[k] != v {
			t.Errorf("field %s = %q, want %q", k, m.Fields[k], v)
		}
	}
	if m.Kind != "form" || m.Text != "电梯停在 2 楼，门打不开" || len(m.Attachments) != 1 || m.Attachments[0].ContentType != "image/png" {
		t.Fatalf("message %+v", m)
	}
	if f, _, err := s.srv.Blobs.Open(m.Attachments[0].Ref); err != nil {
		t.Errorf("the photo is not in the blob store: %v", err)
	} else {
		f.Close()
	}
	if n := s.blobCount(); n != 1 {
		t.Errorf("%d blobs after a double submit, want 1", n)
	}
	// The customer is the report's own handle: the phone and address typed
	// into the form are fields, never identities, so the report is not
	// filed under the customer who owns that address (vip).
	var cust struct {
		Identities []struct{ Type, Value string } `json:"identities"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/customers/" + conv.CustomerID, token: adm}).decode(t, &cust)
	if len(cust.Identities) != 1 || cust.Identities[0].Type != "visitor" || !strings.HasPrefix(cust.Identities[0].Value, "qr_") {
		t.Errorf("customer identities %+v, want only the report's handle (visitor qr_…)", cust.Identities)
	}
	if vipConv := s.conversation(vip.ConversationID, adm); conv.CustomerID == vipConv.CustomerID {
		t.Errorf("the report was filed under the customer %s who owns the address typed into the form", vipConv.CustomerID)
	}

	// Another person sends the same rendered form (a shared or cached
	// page) with their own report: it is a report of its own, on a
	// tracking page of its own, not folded into the first one.
	other := map[string]string{"token": token, "description": "按钮不亮", "floor": "1F"}
	second := s.submit(c.Code, other, false)
	if second.Status != 303 || !strings.HasPrefix(second.Header.Get("Location"), "/s/t/") ||
		second.Header.Get("Location") == first.Header.Get("Location") {
		t.Fatalf("the same form with other content: %s %v, want 303 to another tracking page", second, second.Header)
	}
	if n := len(s.qrConversations(adm)); n != 2 {
		t.Fatalf("%d QR conversations after a second person's report, want 2", n)
	}
	if again := s.submit(c.Code, other, false); again.Header.Get("Location") != second.Header.Get("Location") {
		t.Errorf("the second report sent twice: %v, want %s", again.Header, second.Header.Get("Location"))
	}
	if n := len(s.qrConversations(adm)); n != 2 {
		t.Errorf("%d QR conversations after the second report's double submit, want 2", n)
	}

	// The tracking page: the submission, the ticket, then an agent's reply
	// (twice sent, once shown), never an internal note.
	track := first.Header.Get("Location")
	tp := string(s.must(200, req{method: "GET", path: track}).Body)
	for _, want := range []string{"电梯停在 2 楼，门打不开", "#" + conv.TicketID, "所在楼层", "2F", "1 张照片"} {
		if !strings.Contains(tp, want) {
			t.Errorf("the tracking page lacks %q", want)
		}
	}
	s.must(202, req{method: "POST", path: "/api/v1/conversations/" + conv.ID + "/messages", token: adm,
		body: map[string]any{"text": "内部：联系维保公司", "internal": true}})
	s.must(202, req{method: "POST", path: "/api/v1/conversations/" + conv.ID + "/messages", token: adm,
		body: map[string]any{"text": "维修人员 30 分钟内到达。"}})
	eventually(t, "the reply on the tracking page", func() bool {
		return strings.Contains(string(s.get(track, "").Body), "维修人员 30 分钟内到达。")
	})
	tp = string(s.get(track, "").Body)
	if strings.Contains(tp, "联系维保公司") {
		t.Error("an internal note reached the tracking page")
	}
	var ev struct {
		Items  []struct{ Direction, Text string } `json:"items"`
		Number string                             `json:"number"`
	}
	trackPath, _, _ := strings.Cut(track, "?")
	s.must(200, req{method: "GET", path: trackPath + "/events"}).decode(t, &ev)
	if len(ev.Items) != 2 || ev.Items[1].Direction != "out" || ev.Number != conv.TicketID {
		t.Errorf("events %+v, want the submission and the reply, ticket %s", ev, conv.TicketID)
	}

	// The customer writes more (twice posted, once stored).
	nonce := regexp.MustCompile(`name="n" value="([^"]+)"`).FindStringSubmatch(tp)
	if nonce == nil {
		t.Fatal("no nonce in the reply form")
	}
	follow := url.Values{"n": {nonce[1]}, "text": {"好的，谢谢"}}.Encode()
	for range 2 {
		r := s.send(req{method: "POST", path: trackPath, body: []byte(follow),
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
		if r.Status != 303 {
			t.Fatalf("follow-up: %s", r)
		}
	}
	s.must(200, req{method: "GET", path: "/api/v1/conversations/" + conv.ID + "/messages", token: adm}).decode(t, &msgs)
	count := 0
	for _, m := range msgs.Items {
		if m.Direction == "in" && m.Text == "好的，谢谢" {
			count++
		}
	}
	if count != 1 {
		t.Errorf("the follow-up is in the conversation %d times, want once", count)
	}
	s.must(400, req{method: "POST", path: trackPath, body: []byte("n=" + nonce[1] + "&text=+"),
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	s.must(404, req{method: "GET", path: "/s/t/AAAAAAAAAAAAAAAAAAAAAAAA"})
}

func TestQRRefusals(t *testing.T) {
	t.Parallel()
	// Every post to a live code counts against the address: the five
	// refused below and three reports make eight.
	s := newStack(t).withQR(qr.Config{MaxPhotoBytes: 64 << 10, MaxTotalBytes: 128 << 10, SubmitsPerIPHour: 8})
	s.listen()
	adm := s.login(agentAdm.Email)
	c := s.createCode(adm, elevator)
	token, _ := s.openForm(c.Code)
	valid := func(tok string) map[string]string {
		return map[string]string{"token": tok, "description": "灯不亮", "floor": "1F"}
	}

	cases := []struct {
		name   string
		values map[string]string
		photos [][]byte
		status int
		says   string
	}{
		{"photo too large", valid(token), [][]byte{append(testPhoto(t, 8), make([]byte, 65<<10)...)}, 413, "照片太大"},
		{"not a photo", valid(token), [][]byte{[]byte("GIF89a not really")}, 415, "不支持的照片格式"},
		{"no token", map[string]string{"description": "灯不亮", "floor": "1F"}, nil, 403, "页面已过期"},
		{"tampered token", valid(strings.Replace(token, ".", ".x", 1)), nil, 403, "页面已过期"},
		{"missing answers", map[string]string{"token": token, "phone": "12"}, nil, 400, "请填写问题描述"},
	}
	for _, tc := range cases {
		before := withoutRate(s.snapshot())
		blobs := s.blobCount()
		r := s.submit(c.Code, tc.values, false, tc.photos...)
		if r.Status != tc.status || !strings.Contains(string(r.Body), tc.says) || !strings.Contains(r.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %q, want a %d page saying %q", tc.name, r.Status, clip(string(r.Body)), tc.status, tc.says)
		}
		if d := diff(before, withoutRate(s.snapshot())); d != "" || s.blobCount() != blobs {
			t.Errorf("%s wrote something:\n%s", tc.name, d)
		}
	}

	// A body over the form's own limit is refused before it is read, and
	// so is a body over the server's limit for anything but a live code's
	// multipart form: the larger limit is not anyone's for the asking.
	over := []struct {
		name, path, ctype string
		n                 int
	}{
		{"over the form's limit", "/s/" + c.Code, "multipart/form-data; boundary=b", 128<<10 + bodyRoom + 1},
		{"an unknown code", "/s/zzzzzzzzzzzz", "multipart/form-data; boundary=b", testBodyLimit + 1},
		{"not multipart", "/s/" + c.Code, "application/x-www-form-urlencoded", testBodyLimit + 1},
		{"no content type", "/s/" + c.Code, "", testBodyLimit + 1},
		{"a tracking page", "/s/t/AAAAAAAAAAAAAAAAAAAAAAAA", "multipart/form-data; boundary=b", testBodyLimit + 1},
	}
	for _, tc := range over {
		if got := s.announceAs(tc.path, tc.ctype, tc.n); got != 413 {
			t.Errorf("%s: %d, want 413 before the body is read", tc.name, got)
		}
	}

	// A disabled code takes nothing and says so.
	s.must(200, req{method: "PATCH", path: "/api/v1/qr/codes/" + c.Code, token: adm, body: map[string]any{"disabled": true}})
	before := withoutRate(s.snapshot())
	for _, r := range []reply{s.submit(c.Code, valid(token), false), s.get("/s/"+c.Code+"?lang=en", "")} {
		if r.Status != 410 || !strings.Contains(string(r.Body), "停用") && !strings.Contains(string(r.Body), "out of service") {
			t.Errorf("disabled code: %d %q, want 410 saying it is out of service", r.Status, clip(string(r.Body)))
		}
	}
	if d := diff(before, withoutRate(s.snapshot())); d != "" {
		t.Errorf("a disabled code's form wrote something:\n%s", d)
	}
	if got := s.announce("/s/"+c.Code, testBodyLimit+1); got != 413 {
		t.Errorf("a disabled code's form with a large body: %d, want 413 before the body is read", got)
	}
	s.must(404, req{method: "GET", path: "/s/zzzzzzzzzzzz"})
	s.must(200, req{method: "PATCH", path: "/api/v1/qr/codes/" + c.Code, token: adm, body: map[string]any{"disabled": false}})

	// Eight posts an hour from one address, refused ones included: after
	// the five refused above, three reports, then 429 for anything,
	// before a large body is even parsed.
	for i := range 4 {
		tok, _ := s.openForm(c.Code)
		r := s.submit(c.Code, valid(tok), false)
		want := 303
		if i == 3 {
			want = 429
		}
		if r.Status != want {
			t.Fatalf("report %d: %d, want %d", i+1, r.Status, want)
		}
		if i == 3 && !strings.Contains(string(r.Body), "提交太频繁") {
			t.Errorf("the 429 page: %q", clip(string(r.Body)))
		}
	}
	if r := s.submit(c.Code, valid(token), false, append(testPhoto(t, 8), make([]byte, 65<<10)...)); r.Status != 429 {
		t.Errorf("a photo too large once the address used its hour: %d, want 429", r.Status)
	}
	if n := len(s.qrConversations(adm)); n != 3 {
		t.Errorf("%d conversations, want 3 (the fourth report was refused)", n)
	}
}

// A code bound to an official account is also a WeChat parametric QR
// code, made through the account's API (here the loopback fake).
func TestQRWeChatCode(t *testing.T) {
	t.Parallel()
	s := newStack(t).withQR(qr.Config{})
	fake := wxfake.New(wxfake.App{AppID: "wx2c2769f8efd9abc2", Secret: "secret"})
	defer fake.Close()
	oa, err := wechat.NewOA(connectors.Env{In: s.rt, Redis: s.rdb, Prefix: s.prefix, Log: quiet(), Now: time.Now},
		func(v any) error {
			*(v.(*[]wechat.App)) = []wechat.App{{ID: "main", AppID: "wx2c2769f8efd9abc2", AppSecret: "secret", Token: "tok123", APIBase: fake.URL()}}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	s.srv.Registry.Add(oa)
	adm := s.login(agentAdm.Email)
	body := map[string]any{"asset": map[string]string{"name": "前台打印机"}, "wechat_oa": "main"}
	c := s.createCode(adm, body)
	if c.WeChatImageURL != "" {
		t.Errorf("a WeChat image before the WeChat code was made: %+v", c)
	}
	var made struct {
		qrCodeOut
		WeChat struct{ Account, Ticket, URL string } `json:"wechat"`
	}
	s.must(200, req{method: "POST", path: "/api/v1/qr/codes/" + c.Code + "/wechat", token: adm}).decode(t, &made)
	if made.WeChat.URL != wxfake.SceneURL("wx2c2769f8efd9abc2", c.Code) || made.WeChat.Ticket == "" || made.WeChat.Account != "main" ||
		made.WeChatImageURL != publicURL+"/qr/"+c.Code+"/wechat.png" {
		t.Fatalf("made %+v", made)
	}
	img := s.must(200, req{method: "GET", path: "/qr/" + c.Code + "/wechat.png"})
	if got := decodeQR(t, img.Body); got != made.WeChat.URL {
		t.Errorf("the WeChat QR code reads %q, want %q", got, made.WeChat.URL)
	}
	// Moving the code off the account drops its WeChat code.
	var moved qrCodeOut
	s.must(200, req{method: "PATCH", path: "/api/v1/qr/codes/" + c.Code, token: adm, body: map[string]any{"wechat_oa": ""}}).decode(t, &moved)
	if moved.WeChatImageURL != "" {
		t.Errorf("after leaving the account: %+v", moved)
	}
	s.must(404, req{method: "GET", path: "/qr/" + c.Code + "/wechat.png"})
	s.must(400, req{method: "PATCH", path: "/api/v1/qr/codes/" + c.Code, token: adm, body: map[string]any{"wechat_oa": "nope"}})
}
