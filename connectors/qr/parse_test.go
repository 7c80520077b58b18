package qr

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
)

// tinyPNG is a real PNG of w×h pixels.
func tinyPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, 0, color.RGBA{R: 200, A: 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// part is one part of a test form.
type part struct {
	name, filename, ctype string
	data                  []byte
}

// multipartBody builds a multipart/form-data body and its content type.
func multipartBody(t testing.TB, parts ...part) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		disp := `form-data; name="` + p.name + `"`
		if p.filename != "" || p.ctype != "" {
			disp += `; filename="` + p.filename + `"`
			h.Set("Content-Type", p.ctype)
		}
		h.Set("Content-Disposition", disp)
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(p.data)
	}
	w.Close()
	return b.Bytes(), w.FormDataContentType()
}

func TestParseForm(t *testing.T) {
	img := tinyPNG(t, 8, 8)
	jpegHead := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0}, make([]byte, 64)...)
	heic := append([]byte{0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'h', 'e', 'i', 'c'}, make([]byte, 64)...)
	l := limits{maxPhotos: 2, maxPhoto: int64(len(img)) + 10, maxTotal: int64(2*len(img)) + 10}
	text := func(name, v string) part { return part{name: name, data: []byte(v)} }
	photoPart := func(data []byte) part { return part{name: "photos", filename: "p.png", ctype: "image/png", data: data} }

	cases := []struct {
		name       string
		parts      []part
		ctype      string // overrides the multipart type
		body       string // with ctype: the body as is
		status     int    // 0: parsed
		values     map[string]string
		photos     int
		photoTypes []string
	}{
		{name: "fields and two photos", parts: []part{text("description", "坏了"), text("phone", "13800138000"), photoPart(img), photoPart(img)},
			values: map[string]string{"description": "坏了", "phone": "13800138000"}, photos: 2, photoTypes: []string{"image/png", "image/png"}},
		{name: "jpeg sniffed", parts: []part{{name: "photos", filename: "a.jpg", ctype: "application/octet-stream", data: jpegHead}},
			photos: 1, photoTypes: []string{"image/jpeg"}},
		{name: "empty file input skipped", parts: []part{text("description", "x"), {name: "photos", ctype: "application/octet-stream"}},
			values: map[string]string{"description": "x"}},
		{name: "first value wins", parts: []part{text("a", "1"), text("a", "2")}, values: map[string]string{"a": "1"}},
		{name: "urlencoded", ctype: "application/x-www-form-urlencoded", body: "description=%E5%9D%8F&token=t",
			values: map[string]string{"description": "坏", "token": "t"}},
		{name: "three photos", parts: []part{photoPart(img), photoPart(img), photoPart(img)}, status: http.StatusRequestEntityTooLarge},
		{name: "photo too large", parts: []part{photoPart(append(img, make([]byte, 20)...))}, status: http.StatusRequestEntityTooLarge},
		{name: "heic refused", parts: []part{{name: "photos", filename: "a.heic", ctype: "image/heic", data: heic}}, status: http.StatusUnsupportedMediaType},
		{name: "text as photo refused", parts: []part{{name: "photos", filename: "a.png", ctype: "image/png", data: []byte("hello")}}, status: http.StatusUnsupportedMediaType},
		{name: "file in another input", parts: []part{{name: "description", filename: "a.txt", ctype: "text/plain", data: []byte("x")}}, status: http.StatusBadRequest},
		{name: "long value", parts: []part{text("description", strings.Repeat("x", maxValueBytes+1))}, status: http.StatusRequestEntityTooLarge},
		{name: "too many parts", parts: func() []part {
			var ps []part
			for range maxParts + 1 {
				ps = append(ps, text("x", "y"))
			}
			return ps
		}(), status: http.StatusBadRequest},
		{name: "json", ctype: "application/json", body: `{"description":"x"}`, status: http.StatusUnsupportedMediaType},
		{name: "no content type", ctype: "", body: "x", status: http.StatusUnsupportedMediaType},
		{name: "no boundary", ctype: "multipart/form-data", body: "x", status: http.StatusBadRequest},
		{name: "broken multipart", ctype: "multipart/form-data; boundary=b", body: "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx", status: http.StatusBadRequest},
		{name: "bad urlencoded", ctype: "application/x-www-form-urlencoded", body: "a=%zz", status: http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, ctype := []byte(tc.body), tc.ctype
			if tc.parts != nil {
				body, ctype = multipartBody(t, tc.parts...)
			}
			p, err := parseForm(ctype, body, l)
			if tc.status != 0 {
				var rf *refusal
				if !errors.As(err, &rf) || rf.status != tc.status {
					t.Fatalf("parseForm: %v, want a refusal with status %d", err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseForm: %v", err)
			}
			for k, v := range tc.values {
				if p.values[k] != v {
					t.Errorf("value %s = %q, want %q", k, p.values[k], v)
				}
			}
			if len(p.photos) != tc.photos {
				t.Fatalf("%d photos, want %d", len(p.photos), tc.photos)
			}
			for i, ct := range tc.photoTypes {
				if p.photos[i].contentType != ct {
					t.Errorf("photo %d type %s, want %s", i, p.photos[i].contentType, ct)
				}
			}
		})
	}
}

// FuzzParseForm: no body makes the parser panic, accept more than the
// limits, or answer anything but a refusal.
func FuzzParseForm(f *testing.F) {
	img := tinyPNG(f, 4, 4)
	body, ctype := multipartBody(f, part{name: "description", data: []byte("电梯不动了")}, part{name: "photos", filename: "a.png", ctype: "image/png", data: img})
	f.Add(body, ctype)
	f.Add([]byte("description=x&phone=1"), "application/x-www-form-urlencoded")
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"photos\"; filename=\"x\"\r\n\r\n\x89PNG\r\n--b--"), "multipart/form-data; boundary=b")
	l := limits{maxPhotos: 2, maxPhoto: 4096, maxTotal: 6000}
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		p, err := parseForm(ctype, body, l)
		if err != nil {
			var rf *refusal
			if !errors.As(err, &rf) || rf.status < 400 || rf.status > 499 {
				t.Fatalf("error %v is not a 4xx refusal", err)
			}
			return
		}
		var total int64
		if len(p.photos) > l.maxPhotos {
			t.Fatalf("%d photos taken", len(p.photos))
		}
		for _, ph := range p.photos {
			total += int64(len(ph.data))
			if int64(len(ph.data)) > l.maxPhoto || photoTypes[ph.contentType] == "" || len(ph.data) == 0 {
				t.Fatalf("photo of %d bytes, type %s taken", len(ph.data), ph.contentType)
			}
		}
		if total > l.maxTotal {
			t.Fatalf("%d bytes of photos taken", total)
		}
		for k, v := range p.values {
			if len(v) > maxValueBytes {
				t.Fatalf("value %s of %d bytes taken", k, len(v))
			}
		}
	})
}
