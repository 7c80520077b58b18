package email

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"

	"switchboard/connectors"
	"switchboard/internal/blob"
)

// A reply's files go out as attachments: multipart/mixed, the text part
// first, then each file with its type, Content-Disposition: attachment and
// an RFC 2231 name that decodes to what was uploaded, the bytes in base64.
// Nothing in a name or type can add a header, and no header line grows
// long, even for a long Chinese name.
func TestReplyAttachments(t *testing.T) {
	store, err := blob.Open(t.TempDir(), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	relay, relayAddr := startRelay(t)
	in := newInbox()
	c, addr := startEnv(t, in, func(e *connectors.Env) { e.Blobs = store },
		func(b *Mailbox) { b.SMTPRelay = &Relay{Addr: relayAddr, Security: "none"}; b.Name = "售后支持" })
	conv := customerWrites(t, in, addr, "报价", "请发报价单")

	put := func(name, ctype string, data []byte) connectors.Attachment {
		t.Helper()
		m, err := store.Put(context.Background(), blob.NewID(), bytes.NewReader(data), name, ctype)
		if err != nil {
			t.Fatal(err)
		}
		return connectors.Attachment{Name: m.Name, ContentType: m.ContentType, Size: m.Size, Ref: m.ID}
	}
	pdfData := []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n")
	pdf := put("报价单.pdf", "application/pdf", pdfData)
	longName := strings.Repeat("二〇二六年度茶叶采购合同（修订稿）", 4) + ".docx"
	const docxType = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	docxData := append([]byte("PK\x03\x04"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 3000)...)
	docx := put(longName, docxType, docxData)
	csvData := []byte("编号,名称\r\n1,龙井\r\n2,碧螺春\r\n")
	csv := put("orders.csv", "text/csv", csvData)
	pngData := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR fake")
	png := put("截图.png", "image/png", pngData)
	hostile := connectors.Attachment{Name: "a.pdf\r\nBcc: evil@example.com", ContentType: "application/pdf\r\nBcc: evil@example.com", Ref: pdf.Ref}

	type want struct {
		name, ctype string
		data        []byte
	}
	for i, tc := range []struct {
		name string
		atts []connectors.Attachment
		want []want
	}{
		{"a Chinese PDF", []connectors.Attachment{pdf}, []want{{"报价单.pdf", "application/pdf", pdfData}}},
		{"several files, one with a long Chinese name", []connectors.Attachment{docx, csv, png},
			[]want{{longName, docxType, docxData}, {"orders.csv", "text/csv", csvData}, {"截图.png", "image/png", pngData}}},
		{"CR and LF in a name and a type", []connectors.Attachment{hostile},
			[]want{{"a.pdf Bcc: evil@example.com", "application/octet-stream", pdfData}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := reply("01ATT"+string(rune('A'+i)), conv, "您好，附件请查收。", tc.atts...)
			if _, err := c.Send(context.Background(), out); err != nil {
				t.Fatal(err)
			}
			raw := lastSent(t, relay)
			m := readEntity(t, bytes.NewReader(raw))
			if m.mediaType() != "multipart/mixed" || len(m.parts) != 1+len(tc.want) {
				t.Fatalf("%s with %d parts, want multipart/mixed with the text and %d files:\n%s", m.mediaType(), len(m.parts), len(tc.want), raw)
			}
			text := m.parts[0]
			_, params, _ := text.header.ContentType()
			if text.mediaType() != "text/plain" || !strings.EqualFold(params["charset"], "utf-8") ||
				!strings.HasPrefix(string(text.body), "您好，附件请查收。") {
				t.Errorf("first part %s %v: %q", text.mediaType(), params, text.body)
			}
			for j, w := range tc.want {
				p := m.parts[j+1]
				ah := mail.AttachmentHeader{Header: p.header}
				disp, _, err := p.header.ContentDisposition()
				name, nerr := ah.Filename()
				if err != nil || nerr != nil || disp != "attachment" || name != w.name {
					t.Errorf("file %d: disposition %q, name %q (%v, %v), want attachment named %q", j+1, disp, name, err, nerr, w.name)
				}
				if p.mediaType() != w.ctype || !strings.EqualFold(p.header.Get("Content-Transfer-Encoding"), "base64") {
					t.Errorf("file %d: %s in %s, want %s in base64", j+1, p.mediaType(), p.header.Get("Content-Transfer-Encoding"), w.ctype)
				}
				if !bytes.Equal(p.body, w.data) {
					t.Errorf("file %d: %d bytes arrived, want the %d stored", j+1, len(p.body), len(w.data))
				}
			}
			for _, e := range append([]entity{m}, m.parts...) {
				if e.header.Has("Bcc") {
					t.Errorf("a Bcc header was injected:\n%s", raw)
				}
			}
			for _, line := range strings.Split(string(raw), "\r\n") {
				if len(line) > 998 {
					t.Errorf("a line of %d octets", len(line))
				}
				if strings.Contains(line, "filename") && len(line) > 78 {
					t.Errorf("a header line of %d characters: %s", len(line), line)
				}
			}
		})
	}

	// Refusals: nothing reaches the relay.
	t.Run("refusals", func(t *testing.T) {
		big1 := put("a.zip", "application/zip", bytes.Repeat([]byte("x"), maxAttachBytes/2+1))
		big2 := put("b.zip", "application/zip", bytes.Repeat([]byte("y"), maxAttachBytes/2+1))
		bare, _ := start(t, newInbox(), func(b *Mailbox) { b.SMTPRelay = &Relay{Addr: relayAddr, Security: "none"} })
		gone := connectors.Attachment{Name: "gone.pdf", ContentType: "application/pdf", Ref: blob.NewID()}
		for _, tc := range []struct {
			name string
			c    *Connector
			atts []connectors.Attachment
			code string
		}{
			{"a file no longer stored", c, []connectors.Attachment{pdf, gone}, "attachment_missing"},
			{"files over what mail carries", c, []connectors.Attachment{big1, big2}, "too_large"},
			{"no blob store", bare, []connectors.Attachment{pdf}, "attachments_unsupported"},
		} {
			relay.mu.Lock()
			before := len(relay.got)
			relay.mu.Unlock()
			_, err := tc.c.Send(context.Background(), reply("01REF", conv, "x", tc.atts...))
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Temporary || ce.Code != tc.code {
				t.Errorf("%s: %v, want a permanent %s", tc.name, err, tc.code)
			}
			relay.mu.Lock()
			if len(relay.got) != before {
				t.Errorf("%s: the relay got a mail", tc.name)
			}
			relay.mu.Unlock()
		}
		if !c.CanAttach("support") || c.CanAttach("nosuch") || bare.CanAttach("support") {
			t.Errorf("CanAttach: with a store %v, unknown mailbox %v, without a store %v; want true, false, false",
				c.CanAttach("support"), c.CanAttach("nosuch"), bare.CanAttach("support"))
		}
	})
}
