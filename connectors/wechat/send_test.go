package wechat

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"switchboard/connectors"
	"switchboard/connectors/wechat/wxfake"
	"switchboard/internal/blob"
	"switchboard/internal/redistest"
)

// A reply with a file WeChat cannot send (a document an agent uploaded for
// e-mail, an SVG) fails for good before any part of it goes out, naming the
// file; images of the types WeChat takes still go.
func TestSendRefusesNonImages(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	fake := wxfake.New(wxfake.App{AppID: testAppID, Secret: "secret"})
	defer fake.Close()
	store, err := blob.Open(t.TempDir(), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(name, ctype string, data []byte) connectors.Attachment {
		t.Helper()
		m, err := store.Put(context.Background(), blob.NewID(), bytes.NewReader(data), name, ctype)
		if err != nil {
			t.Fatal(err)
		}
		return connectors.Attachment{Name: m.Name, ContentType: m.ContentType, Size: m.Size, Ref: m.ID}
	}
	png := put("shot.png", "image/png", []byte("\x89PNG\r\n\x1a\nfake image bytes"))
	pdf := put("报价单.pdf", "application/pdf", []byte("%PDF-1.4\n%%EOF\n"))
	svg := put("logo.svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`))
	c := replica(t, fake, connectors.Env{Redis: rdb, Prefix: prefix, Blobs: store})

	for i, tc := range []struct {
		name string
		atts []connectors.Attachment
		bad  string // the file named in the refusal; "" when the reply goes out
	}{
		{"a PDF after an image", []connectors.Attachment{png, pdf}, "报价单.pdf"},
		{"an SVG", []connectors.Attachment{svg}, "logo.svg"},
		{"a type that does not parse", []connectors.Attachment{{Name: "x", ContentType: "image/", Ref: png.Ref}}, "x"},
		{"a PNG", []connectors.Attachment{png}, ""},
	} {
		uploads, sent := len(fake.Uploads()), len(fake.Sent())
		m := outbound("nonimg"+string(rune('a'+i)), "请查收")
		m.Attachments = tc.atts
		_, err := c.Send(context.Background(), m)
		if tc.bad == "" {
			if err != nil || len(fake.Sent()) != sent+2 {
				t.Errorf("%s: %v, %d messages sent, want the image and the text", tc.name, err, len(fake.Sent())-sent)
			}
			continue
		}
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Temporary || ce.Code != "attachments_unsupported" || !strings.Contains(ce.Msg, tc.bad) {
			t.Errorf("%s: %v, want a permanent attachments_unsupported naming %s", tc.name, err, tc.bad)
		}
		if len(fake.Uploads()) != uploads || len(fake.Sent()) != sent {
			t.Errorf("%s: %d uploads and %d messages went out before the refusal", tc.name, len(fake.Uploads())-uploads, len(fake.Sent())-sent)
		}
	}
}
