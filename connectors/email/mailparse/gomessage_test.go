package mailparse

import (
	"bytes"
	"strings"
	"testing"
)

// What the port onto go-message must keep: the places where go-message is
// strict and Parse is not, and the limits go-message does not enforce.
func TestGoMessagePort(t *testing.T) {
	hasWarning := func(m *Mail, piece string) bool {
		for _, w := range m.Warnings {
			if strings.Contains(w, piece) {
				return true
			}
		}
		return false
	}

	// A missing closing boundary keeps every part and warns.
	m := mustParse(t, []byte("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\nContent-Type: image/png\n\nPNG"))
	if m.Text != "one" || len(m.Attachments) != 1 || string(m.Attachments[0].Data) != "PNG" || !hasWarning(m, "without a closing boundary") {
		t.Errorf("unclosed: Text %q, Attachments %+v, Warnings %q", m.Text, m.Attachments, m.Warnings)
	}
	// A closed multipart does not warn.
	m = mustParse(t, []byte("Content-Type: multipart/mixed; boundary=b\r\n\r\npreamble\r\n--b\r\n\r\none\r\n--b--\r\nepilogue"))
	if m.Text != "one" || len(m.Warnings) > 0 {
		t.Errorf("closed: Text %q, Warnings %q", m.Text, m.Warnings)
	}
	// A multipart without a single delimiter is read as text.
	m = mustParse(t, []byte("Content-Type: multipart/mixed; boundary=b\n\njust text\n"))
	if m.Text != "just text\n" || !hasWarning(m, "with no parts") {
		t.Errorf("no parts: Text %q, Warnings %q", m.Text, m.Warnings)
	}
	// A part header go-message cannot read ends the multipart; what came
	// before stays, and the warning quotes nothing of the mail.
	m = mustParse(t, []byte("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\nsecret junk line\n\ntwo\n--b--\n"))
	if m.Text != "one" || !hasWarning(m, "malformed part") || strings.Contains(strings.Join(m.Warnings, " "), "secret") {
		t.Errorf("malformed part: Text %q, Warnings %q", m.Text, m.Warnings)
	}
	// Raw GBK in a part's header is decoded with the part's charset.
	m = mustParse(t, []byte("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nsee file\n--b\n"+
		"Content-Type: application/pdf; charset=gbk\nContent-Disposition: attachment; filename=\"\xb1\xa8\xbc\xdb.pdf\"\n\n%PDF\n--b--\n"))
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "报价.pdf" {
		t.Errorf("8-bit part header: %+v", m.Attachments)
	}
	// gb2312-labelled bodies are decoded as GB18030: four-byte characters
	// and GBK-only ones survive.
	m = mustParse(t, []byte("Content-Type: text/plain; charset=gb2312\nContent-Transfer-Encoding: base64\n\nlTSyNc316UaGtA==\n"))
	if m.Text != "𠮷王镕喆" || len(m.Warnings) > 0 {
		t.Errorf("gb2312 body: Text %q, Warnings %q", m.Text, m.Warnings)
	}
	// Base64 that the standard decoder refuses (junk, padding in the middle)
	// falls back to the lenient decoder, in attachments too.
	m = mustParse(t, []byte("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\naGVs\nbG8=\nIHdv\ncmxk\n--b--\n"))
	if len(m.Attachments) != 1 || string(m.Attachments[0].Data) != "hello world" || m.Attachments[0].Size != 11 {
		t.Errorf("lenient base64 attachment: %+v", m.Attachments)
	}
	// Quoted-printable with a raw control byte (refused by the standard
	// decoder) still decodes.
	m = mustParse(t, []byte("Content-Transfer-Encoding: quoted-printable\n\na\x01b=3Dc"))
	if m.Text != "a\x01b=c" {
		t.Errorf("lenient quoted-printable: %q", m.Text)
	}
	// An unknown transfer encoding leaves the bytes as they are.
	m = mustParse(t, []byte("Content-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n"))
	if m.Text != "begin 644 x\n" {
		t.Errorf("unknown encoding: %q", m.Text)
	}
	// A nested multipart's part header is bounded like the mail's own, and
	// the limits hold inside nested multiparts read by go-message.
	nested := []byte("Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/mixed; boundary=i\n\n--i\nX-Big: " +
		strings.Repeat("a", 2000) + "\n\nx\n--i--\n--o--\n")
	if _, err := Parse(nested, Limits{MaxHeaderBytes: 1000}); err == nil || !strings.Contains(err.Error(), "header") {
		t.Errorf("nested part header over the limit: %v", err)
	}
	// Attachment data never aliases the raw mail.
	raw := []byte("Content-Type: application/octet-stream\n\nDATA")
	m = mustParse(t, raw)
	copy(raw[len(raw)-4:], "XXXX")
	if len(m.Attachments) != 1 || !bytes.Equal(m.Attachments[0].Data, []byte("DATA")) {
		t.Errorf("attachment aliases the raw mail: %+v", m.Attachments)
	}
}
