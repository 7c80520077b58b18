package server

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/connectors"
	"switchboard/internal/blob"
)

// Small files of each kind: the bytes http.DetectContentType recognises,
// then filler up to n bytes.
func pngOf(n int) []byte  { return fill([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), n) }
func jpegOf(n int) []byte { return fill([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), n) }
func gifOf(n int) []byte  { return fill([]byte("GIF89a\x01\x00\x01\x00"), n) }

func fill(head []byte, n int) []byte {
	out := append([]byte(nil), head...)
	for i := 0; len(out) < n; i++ {
		out = append(out, byte(i*7))
	}
	return out
}

// multipartBody is a multipart/form-data body with one part per file.
type part struct{ field, filename, contentType string }

func multipartBody(t *testing.T, parts []part, data [][]byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for i, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": p.field, "filename": p.filename}))
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pw.Write(data[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), w.FormDataContentType()
}

// headerOnly sends a request's header announcing a body of length bytes,
// and no body, and returns the status and error code the server answers
// with: only a refusal from the header comes back.
func headerOnly(t *testing.T, base, method, path, token string, length int) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitFor))
	auth := ""
	switch {
	case strings.Contains(token, " "):
		auth = "Authorization: " + token + "\r\n"
	case token != "":
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: gw\r\n%sContent-Type: image/png\r\nContent-Length: %d\r\n\r\n",
		method, path, auth, length); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s with %d bytes announced: %v", method, path, length, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, reply{Status: resp.StatusCode, Body: raw}.errorCode()
}

// filesUnder counts the files in dir (blobs, their metadata, anything
// left half-written).
func filesUnder(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// An agent's image upload: refused without a token, over the size limit,
// for a type that is not one agents may send or bytes that are not the
// type claimed, always leaving nothing behind; accepted as a raw body or a
// multipart part, and readable through GET /blobs/{id}. The larger limit
// is the upload's alone: other routes keep body_limit. Documents:
// TestUploadDocuments.
func TestUpload(t *testing.T) {
	t.Parallel()
	plain := newStack(t)
	dir := t.TempDir()
	const maxBlob = 64 << 10 // the upload limit here: min(max_blob_bytes, 10 MiB)
	store, err := blob.Open(dir, blob.Options{MaxBlob: maxBlob})
	if err != nil {
		t.Fatal(err)
	}
	s := plain.withBlobs(store)
	s.listen()
	token := s.login(agentWang.Email)
	const path = "/api/v1/blobs"
	upload := func(body []byte, ctype string, more map[string]string) req {
		h := map[string]string{"Content-Type": ctype}
		for k, v := range more {
			h[k] = v
		}
		return req{method: "POST", path: path, token: token, body: body, header: h, net: true}
	}
	// Over the app's body limit (8 KiB here), within the upload limit.
	big := pngOf(3 * testBodyLimit)

	t.Run("refusals leave nothing behind", func(t *testing.T) {
		s := s.with(t)
		mpNoFile, mpNoFileType := multipartBody(t, []part{{"other", "a.png", "image/png"}}, [][]byte{pngOf(100)})
		mpTwo, mpTwoType := multipartBody(t, []part{{"file", "a.png", "image/png"}, {"file", "b.png", "image/png"}}, [][]byte{pngOf(100), pngOf(100)})
		mpHTML, mpHTMLType := multipartBody(t, []part{{"file", "a.html", "text/html"}}, [][]byte{[]byte("<p>hello</p>")})
		mpBig, mpBigType := multipartBody(t, []part{{"file", "a.png", "image/png"}}, [][]byte{pngOf(maxBlob + 1)})
		mpLie, mpLieType := multipartBody(t, []part{{"file", "a.png", "image/png"}}, [][]byte{jpegOf(500)})
		cases := []struct {
			name   string
			q      req
			status int
			code   string
		}{
			{"no token", req{method: "POST", path: path, body: pngOf(100), header: map[string]string{"Content-Type": "image/png"}}, 401, "unauthorized"},
			{"a dead token", req{method: "POST", path: path, token: "not-a-token", body: pngOf(100), header: map[string]string{"Content-Type": "image/png"}}, 401, "unauthorized"},
			// Without a valid token the larger limit is never granted: the body is
			// refused while it is read, before anything else looks at it.
			{"a dead token with a large body", req{method: "POST", path: path, token: "not-a-token", body: big, header: map[string]string{"Content-Type": "image/png"}, net: true}, 413, "too_large"},
			{"one byte over the limit", upload(pngOf(maxBlob+1), "image/png", nil), 413, "too_large"},
			{"multipart over the limit", upload(mpBig, mpBigType, nil), 413, "too_large"},
			{"JPEG bytes sent as PNG", upload(jpegOf(500), "image/png", nil), 415, "unsupported_media_type"},
			{"PNG bytes sent as GIF", upload(pngOf(500), "image/gif", nil), 415, "unsupported_media_type"},
			{"HTML sent as JPEG", upload([]byte("<!doctype html><script>alert(1)</script>"), "image/jpeg", nil), 415, "unsupported_media_type"},
			{"multipart part lying about its type", upload(mpLie, mpLieType, nil), 415, "unsupported_media_type"},
			{"SVG", upload([]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), "image/svg+xml", nil), 415, "unsupported_media_type"},
			{"WebP", upload(fill([]byte("RIFF\x00\x00\x00\x00WEBPVP"), 200), "image/webp", nil), 415, "unsupported_media_type"},
			{"HTML", upload([]byte("<p>hi</p>"), "text/html", nil), 415, "unsupported_media_type"},
			{"bytes of no type", upload(pngOf(100), "application/octet-stream", nil), 415, "unsupported_media_type"},
			{"no content type", upload(pngOf(100), "", nil), 415, "unsupported_media_type"},
			{"multipart HTML file", upload(mpHTML, mpHTMLType, nil), 415, "unsupported_media_type"},
			{"compressed", upload(pngOf(100), "image/png", map[string]string{"Content-Encoding": "gzip"}), 415, "unsupported_media_type"},
			{"empty", upload(nil, "image/png", nil), 400, "bad_request"},
			{"multipart without a file part", upload(mpNoFile, mpNoFileType, nil), 400, "bad_request"},
			{"multipart with two files", upload(mpTwo, mpTwoType, nil), 400, "bad_request"},
			{"a name that is not percent-encoded", upload(pngOf(100), "image/png", map[string]string{"X-Filename": "%zz"}), 400, "bad_request"},
			{"a name that is not UTF-8", upload(pngOf(100), "image/png", map[string]string{"X-Filename": "%ff%fe.png"}), 400, "bad_request"},
		}
		for _, tc := range cases {
			before := filesUnder(t, dir)
			r := s.send(tc.q)
			if r.Status != tc.status || r.errorCode() != tc.code {
				t.Errorf("%s: got %s, want %d %s", tc.name, r, tc.status, tc.code)
			}
			if after := filesUnder(t, dir); after != before {
				t.Errorf("%s: %d files in the blob store, %d before", tc.name, after, before)
			}
		}

		// Bodies over the limit are refused from the header, before they
		// are read: 8 KiB without a token, the image limit and room for
		// the multipart envelope with one.
		for _, tc := range []struct {
			name, token string
			length      int
		}{
			{"far over the limit", token, maxBlob + multipartSlack + 1},
			{"over body_limit without a token", "", testBodyLimit + 1},
			{"over body_limit with another scheme", "Basic bGk6cHc=", testBodyLimit + 1},
		} {
			if st, code := headerOnly(t, s.base, "POST", path, tc.token, tc.length); st != 413 || code != "too_large" {
				t.Errorf("%s: got %d %s, want 413 too_large", tc.name, st, code)
			}
		}
		if st, _ := headerOnly(t, s.base, "POST", "/api/v1/conversations/x/messages", token, testBodyLimit+1); st != 413 {
			t.Errorf("a reply over body_limit: got %d, want 413", st)
		}
	})

	t.Run("raw body", func(t *testing.T) {
		s := s.with(t)
		var up uploaded
		s.must(201, upload(big, "image/png", map[string]string{"X-Filename": "%E6%88%AA%E5%9B%BE%201.png"})).decode(t, &up)
		if !blob.ValidID(up.ID) || up.Name != "截图 1.png" || up.ContentType != "image/png" || up.Size != int64(len(big)) {
			t.Fatalf("upload answered %+v", up)
		}
		r := s.must(200, req{method: "GET", path: path + "/" + up.ID, token: token})
		if !bytes.Equal(r.Body, big) || r.Header.Get("Content-Type") != "image/png" {
			t.Errorf("read back %d bytes as %q, want the %d uploaded as image/png", len(r.Body), r.Header.Get("Content-Type"), len(big))
		}
		// Exactly the limit is fine; a name without a fitting extension
		// gets one, no name becomes image.<ext>.
		s.must(201, upload(jpegOf(maxBlob), "image/jpeg", map[string]string{"X-Filename": "scan"})).decode(t, &up)
		if up.Name != "scan.jpg" || up.Size != maxBlob {
			t.Errorf("at the limit: %+v", up)
		}
		s.must(201, upload(gifOf(300), "image/gif", nil)).decode(t, &up)
		if up.Name != "image.gif" {
			t.Errorf("without a name: %+v", up)
		}
		// Path variants Fiber routes here get the upload's limit too.
		s.must(201, req{method: "POST", path: path + "/", token: token, body: big, header: map[string]string{"Content-Type": "image/png"}, net: true})
	})

	t.Run("multipart", func(t *testing.T) {
		s := s.with(t)
		gif := gifOf(2 * testBodyLimit)
		body, ctype := multipartBody(t, []part{{"file", `../动图 "x".gif`, "image/gif"}}, [][]byte{gif})
		var up uploaded
		s.must(201, upload(body, ctype, nil)).decode(t, &up)
		if !blob.ValidID(up.ID) || up.Name != "动图 x.gif" || up.ContentType != "image/gif" || up.Size != int64(len(gif)) {
			t.Fatalf("upload answered %+v", up)
		}
		r := s.must(200, req{method: "GET", path: path + "/" + up.ID, token: token})
		if !bytes.Equal(r.Body, gif) {
			t.Errorf("read back %d bytes, want the %d uploaded", len(r.Body), len(gif))
		}
	})

	t.Run("other routes keep the body limit", func(t *testing.T) {
		s := s.with(t)
		huge := `{"text":"` + strings.Repeat("a", testBodyLimit+100) + `"}`
		r := s.send(req{method: "POST", path: "/api/v1/conversations/x/messages", token: token, body: huge, net: true})
		if r.Status != 413 || r.errorCode() != "too_large" {
			t.Errorf("a reply over the body limit: got %s, want 413 too_large", r)
		}
		r = s.send(req{method: "POST", path: "/channels/webchat/site/messages", body: huge, net: true})
		if r.Status != 413 || r.errorCode() != "too_large" {
			t.Errorf("a web-chat post over the body limit: got %s, want 413 too_large", r)
		}
	})

	t.Run("a server without a blob store takes none", func(t *testing.T) {
		plain := plain.with(t)
		r := plain.send(req{method: "POST", path: path, token: token, body: pngOf(100), header: map[string]string{"Content-Type": "image/png"}})
		if r.Status != 404 || r.errorCode() != "not_found" {
			t.Errorf("got %s, want 404 not_found", r)
		}
	})
}

// Replies and notes with uploaded images: the message and the connector
// get the store's name, type and size; refs that are not uploads are
// refused, as are images on a channel that cannot carry them.
func TestReplyWithImages(t *testing.T) {
	t.Parallel()
	plain := newStack(t)
	store, err := blob.Open(t.TempDir(), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := plain.withBlobs(store)
	s.fake.attach.Store(true) // e-mail carries images here
	ctx := context.Background()
	sup := s.login(agentSup.Email)
	up := func(data []byte, ctype, name string) uploaded {
		t.Helper()
		var u uploaded
		s.must(201, req{method: "POST", path: "/api/v1/blobs", token: sup, body: data,
			header: map[string]string{"Content-Type": ctype, "X-Filename": name}}).decode(t, &u)
		return u
	}
	png, jpg := up(pngOf(2000), "image/png", "chart.png"), up(jpegOf(3000), "image/jpeg", "photo.jpg")

	acc, err := s.rt.Ingest(ctx, &connectors.Message{Channel: connectors.Email, Account: "support", ExternalID: "<img@example.com>",
		From: connectors.Identity{Type: "email", Value: "erin@example.com", Name: "Erin"}, Kind: connectors.KindText, Text: "Can you show me?"})
	if err != nil {
		t.Fatal(err)
	}
	convE := acc.ConversationID
	_, convW := s.customerWrites("site", visitorID("images"), "hello")
	s.dispatched(convE, sup)
	s.dispatched(convW, sup)

	var cv struct {
		CanAttach bool `json:"can_attach"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/conversations/" + convE, token: sup}).decode(t, &cv)
	if !cv.CanAttach {
		t.Error("the e-mail conversation does not say it can carry images")
	}
	r := s.must(200, req{method: "GET", path: "/api/v1/conversations/" + convW, token: sup})
	if strings.Contains(string(r.Body), "can_attach") {
		t.Errorf("the web-chat conversation says it can carry images: %s", r)
	}

	type att struct {
		Name        string `json:"name"`
		ContentType string `json:"content_type"`
		Size        int64  `json:"size"`
		Ref         string `json:"ref"`
	}
	var m struct {
		message
		Attachments []att `json:"attachments"`
	}
	body := map[string]any{"text": "Here you are", "idempotency_key": "img-1",
		// The client's name, type and size are ignored: the store's count.
		"attachments": []map[string]any{{"ref": png.ID, "name": "evil.html", "content_type": "text/html", "size": 1}, {"ref": jpg.ID}}}
	s.must(202, req{method: "POST", path: "/api/v1/conversations/" + convE + "/messages", token: sup, body: body}).decode(t, &m)
	want := []att{{"chart.png", "image/png", 2000, png.ID}, {"photo.jpg", "image/jpeg", 3000, jpg.ID}}
	if m.Kind != "text" || m.Text != "Here you are" || len(m.Attachments) != 2 || m.Attachments[0] != want[0] || m.Attachments[1] != want[1] {
		t.Fatalf("reply %+v, want text with %+v", m, want)
	}
	s.waitSent(convE, m.ID, sup)
	sent := s.fake.Sent()
	if len(sent) != 1 || sent[0].ID != m.ID || sent[0].Kind != connectors.KindText || sent[0].Text != "Here you are" || len(sent[0].Attachments) != 2 ||
		sent[0].Attachments[0].Ref != png.ID || sent[0].Attachments[1].ContentType != "image/jpeg" {
		t.Fatalf("the connector got %+v", sent)
	}
	// The same key again: the same message, not sent twice.
	var again struct {
		message
		Attachments []att `json:"attachments"`
	}
	s.must(202, req{method: "POST", path: "/api/v1/conversations/" + convE + "/messages", token: sup, body: body}).decode(t, &again)
	if again.ID != m.ID || len(again.Attachments) != 2 {
		t.Errorf("a repeated request answered %+v, want message %s with its images", again, m.ID)
	}

	// An image alone is a message of kind image.
	s.must(202, req{method: "POST", path: "/api/v1/conversations/" + convE + "/messages", token: sup,
		body: map[string]any{"text": " ", "attachments": []map[string]string{{"ref": png.ID}}}}).decode(t, &m)
	if m.Kind != "image" || m.Text != "" || len(m.Attachments) != 1 {
		t.Errorf("image-only reply %+v", m)
	}
	s.waitSent(convE, m.ID, sup)
	var list struct {
		Preview string `json:"preview"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/conversations/" + convE, token: sup}).decode(t, &list)
	if list.Preview != "[图片 image]" {
		t.Errorf("preview after an image-only reply %q", list.Preview)
	}

	// Refusals.
	s.settle()
	msgs := "/api/v1/conversations/" + convE + "/messages"
	ten := make([]map[string]string, 10)
	for i := range ten {
		ten[i] = map[string]string{"ref": blob.NewID()}
	}
	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
		code   string
	}{
		{"an id nobody uploaded", msgs, map[string]any{"text": "x", "attachments": []map[string]string{{"ref": blob.NewID()}}}, 400, "bad_request"},
		{"a malformed ref", msgs, map[string]any{"text": "x", "attachments": []map[string]string{{"ref": "../../etc/passwd"}}}, 400, "bad_request"},
		{"ten images", msgs, map[string]any{"text": "x", "attachments": ten}, 400, "bad_request"},
		{"the same image twice", msgs, map[string]any{"text": "x", "attachments": []map[string]string{{"ref": png.ID}, {"ref": png.ID}}}, 400, "bad_request"},
		{"neither text nor images", msgs, map[string]any{"text": "", "attachments": []map[string]string{}}, 400, "bad_request"},
		{"images on web chat", "/api/v1/conversations/" + convW + "/messages", map[string]any{"text": "x", "attachments": []map[string]string{{"ref": png.ID}}}, 422, "attachments_unsupported"},
	} {
		before := s.snapshot()
		r := s.send(req{method: "POST", path: tc.path, token: sup, body: tc.body})
		if r.Status != tc.status || r.errorCode() != tc.code {
			t.Errorf("%s: got %s, want %d %s", tc.name, r, tc.status, tc.code)
		}
		if d := diff(before, s.snapshot()); d != "" {
			t.Errorf("%s changed Redis:\n%s", tc.name, d)
		}
	}

	// A note may carry images on any channel.
	s.must(202, req{method: "POST", path: "/api/v1/conversations/" + convW + "/messages", token: sup,
		body: map[string]any{"text": "the customer's screenshot", "internal": true, "attachments": []map[string]string{{"ref": jpg.ID}}}}).decode(t, &m)
	if m.Direction != "note" || len(m.Attachments) != 1 || m.Attachments[0].Ref != jpg.ID {
		t.Errorf("note %+v", m)
	}
}

// zipOf is a zip archive holding the named files, each with a little
// content: an Office document when the names are its parts.
func zipOf(t *testing.T, names ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "<?xml version=\"1.0\"?><part name=%q/>", n)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Documents for e-mail customers: PDF, text, CSV, Word, Excel, PowerPoint
// and zip files are taken (also under the names Windows browsers give zip
// and CSV files), each only when its bytes are what the type says, up to
// their own limit, which is not the images'.
func TestUploadDocuments(t *testing.T) {
	t.Parallel()
	plain := newStack(t)
	dir := t.TempDir()
	store, err := blob.Open(dir, blob.Options{MaxBlob: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s := plain.withBlobs(store)
	s.listen()
	token := s.login(agentWang.Email)
	const path = "/api/v1/blobs"
	upload := func(body []byte, ctype, name string) req {
		h := map[string]string{"Content-Type": ctype}
		if name != "" {
			h["X-Filename"] = url.PathEscape(name)
		}
		return req{method: "POST", path: path, token: token, body: body, header: h, net: true}
	}
	const (
		docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
		xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
		pptx = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	)
	pdf := fill([]byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), 5000)
	docxData := zipOf(t, "[Content_Types].xml", "_rels/.rels", "word/document.xml")
	xlsxData := zipOf(t, "[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml")
	pptxData := zipOf(t, "[Content_Types].xml", "ppt/presentation.xml")
	zipData := zipOf(t, "readme.txt", "data/orders.csv")
	csv := []byte("编号,名称,数量\r\n1,龙井,2\r\n")
	mpDocx, mpDocxType := multipartBody(t, []part{{"file", "合同.docx", docx}}, [][]byte{docxData})

	t.Run("accepted", func(t *testing.T) {
		s := s.with(t)
		for _, tc := range []struct {
			name     string
			q        req
			data     []byte
			wantName string
			wantType string
		}{
			{"a PDF with a Chinese name", upload(pdf, "application/pdf", "报价单.pdf"), pdf, "报价单.pdf", "application/pdf"},
			{"a PDF without a name", upload(pdf, "application/pdf", ""), pdf, "document.pdf", "application/pdf"},
			{"plain text, the extension added", upload([]byte("订单 A1001 的物流单号：SF123\n"), "text/plain", "物流"), []byte("订单 A1001 的物流单号：SF123\n"), "物流.txt", "text/plain"},
			{"CSV", upload(csv, "text/csv", "orders.csv"), csv, "orders.csv", "text/csv"},
			{"CSV as Windows with Excel names it", upload(csv, "application/vnd.ms-excel", "orders.csv"), csv, "orders.csv", "text/csv"},
			{"Word", upload(docxData, docx, "合同.docx"), docxData, "合同.docx", docx},
			{"Excel", upload(xlsxData, xlsx, "明细.xlsx"), xlsxData, "明细.xlsx", xlsx},
			{"PowerPoint", upload(pptxData, pptx, "方案"), pptxData, "方案.pptx", pptx},
			{"zip", upload(zipData, "application/zip", "资料.zip"), zipData, "资料.zip", "application/zip"},
			{"zip as Windows names it", upload(zipData, "application/x-zip-compressed", "资料.zip"), zipData, "资料.zip", "application/zip"},
			{"Word in a multipart part", upload(mpDocx, mpDocxType, ""), docxData, "合同.docx", docx},
		} {
			var up uploaded
			r := s.send(tc.q)
			if r.Status != 201 {
				t.Errorf("%s: got %s, want 201", tc.name, r)
				continue
			}
			r.decode(t, &up)
			if up.Name != tc.wantName || up.ContentType != tc.wantType || up.Size != int64(len(tc.data)) {
				t.Errorf("%s: stored %+v, want %q as %s, %d bytes", tc.name, up, tc.wantName, tc.wantType, len(tc.data))
			}
			back := s.must(200, req{method: "GET", path: path + "/" + up.ID, token: token})
			if !bytes.Equal(back.Body, tc.data) || !strings.HasPrefix(back.Header.Get("Content-Disposition"), "attachment") {
				t.Errorf("%s: read back %d bytes, %q", tc.name, len(back.Body), back.Header.Get("Content-Disposition"))
			}
		}
	})

	t.Run("refused, leaving nothing behind", func(t *testing.T) {
		s := s.with(t)
		ole := fill([]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), 2000) // a legacy .doc or .xls
		for _, tc := range []struct {
			name   string
			q      req
			status int
		}{
			{"a zip sent as Word", upload(zipData, docx, "x.docx"), 415},
			{"Word sent as Excel", upload(docxData, xlsx, "x.xlsx"), 415},
			{"a PNG sent as PDF", upload(pngOf(500), "application/pdf", "x.pdf"), 415},
			{"binary bytes sent as text", upload(pngOf(500), "text/plain", "x.txt"), 415},
			{"HTML sent as text", upload([]byte("<!DOCTYPE html><script>alert(1)</script>"), "text/plain", "x.txt"), 415},
			{"a legacy .xls as Windows names it", upload(ole, "application/vnd.ms-excel", "x.xls"), 415},
			{"a legacy .doc", upload(ole, "application/msword", "x.doc"), 415},
			{"an executable", upload(fill([]byte("MZ\x90\x00"), 500), "application/x-msdownload", "x.exe"), 415},
			{"a truncated zip", upload(zipData[:len(zipData)-30], "application/zip", "x.zip"), 415},
		} {
			before := filesUnder(t, dir)
			if r := s.send(tc.q); r.Status != tc.status || r.errorCode() != "unsupported_media_type" {
				t.Errorf("%s: got %s, want %d unsupported_media_type", tc.name, r, tc.status)
			}
			if after := filesUnder(t, dir); after != before {
				t.Errorf("%s: %d files in the blob store, %d before", tc.name, after, before)
			}
		}
	})

	t.Run("their own size limit", func(t *testing.T) {
		s := s.with(t)
		// Over the images' limit, within the documents'.
		mid := MaxUploadBytes + 1
		s.must(201, upload(fill([]byte("%PDF-1.7\n"), mid), "application/pdf", "big.pdf"))
		for _, tc := range []struct {
			name string
			q    req
		}{
			{"an image over its limit", upload(pngOf(mid), "image/png", "big.png")},
			{"a document over its limit", upload(fill([]byte("%PDF-1.7\n"), MaxDocumentBytes+1), "application/pdf", "huge.pdf")},
		} {
			before := filesUnder(t, dir)
			if r := s.send(tc.q); r.Status != 413 || r.errorCode() != "too_large" {
				t.Errorf("%s: got %s, want 413 too_large", tc.name, r)
			}
			if after := filesUnder(t, dir); after != before {
				t.Errorf("%s: %d files in the blob store, %d before", tc.name, after, before)
			}
		}
	})
}
