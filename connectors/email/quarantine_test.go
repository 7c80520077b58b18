package email

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"golang.org/x/text/encoding/simplifiedchinese"

	"switchboard/connectors"
	"switchboard/internal/blob"
	"switchboard/internal/redistest"
)

// gbkWord encodes s as an RFC 2047 encoded-word in GBK, as Chinese mail
// clients write subjects and names.
func gbkWord(t *testing.T, s string) string {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return "=?GBK?B?" + base64.StdEncoding.EncodeToString(b) + "?="
}

// quarantineConnector is a connector with two mailboxes, not running, on
// a real Redis, with a blob store.
func quarantineConnector(t *testing.T) *Connector {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	store, err := blob.Open(t.TempDir(), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cn, err := New(connectors.Env{Redis: rdb, Prefix: prefix, Blobs: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		func(v any) error {
			*(v.(*[]Mailbox)) = []Mailbox{
				{ID: "support", Address: "support@example.com", SMTPListen: "127.0.0.1:0"},
				{ID: "sales", Address: "sales@example.com", SMTPListen: "127.0.0.1:0"},
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return cn.(*Connector)
}

// The list is newest first across mailboxes, entries of the same
// millisecond in mailbox order, and paging by the cursor gives the same
// sequence whatever the page size.
func TestQuarantineList(t *testing.T) {
	c := quarantineConnector(t)
	ctx := context.Background()
	add := func(box, id, subject string) {
		t.Helper()
		err := c.env.Redis.XAdd(ctx, &redis.XAddArgs{Stream: c.env.Prefix + "{em:" + box + "}:quarantine", ID: id,
			Values: []any{"reason", "test", "subject", subject, "bytes", 10, "blob", ""}}).Err()
		if err != nil {
			t.Fatal(err)
		}
	}
	add("support", "1000-0", "s1")
	add("support", "2000-0", "s2")
	add("support", "2000-1", "s3")
	add("support", "3000-0", "s5")
	add("sales", "1000-0", "b1")
	add("sales", "3000-0", "b3")
	add("sales", "999999-0", "b9")
	want := []string{"sales|b9", "sales|b3", "support|s5", "support|s3", "support|s2", "sales|b1", "support|s1"}
	for _, size := range []int{1, 2, 3, 7, 50} {
		var got []string
		cursor := ""
		for range 10 {
			items, next, err := c.Quarantined(ctx, cursor, size)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				got = append(got, it.Account+"|"+it.Subject)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages of %d: %q, want %q", size, got, want)
		}
	}
	items, _, err := c.Quarantined(ctx, "", 1)
	if err != nil || len(items) != 1 || items[0].At.UnixMilli() != 999999 || items[0].Size != 10 || items[0].HasRaw ||
		items[0].AccountAddress != "sales@example.com" || items[0].Source != "smtp" {
		t.Errorf("an entry without at, size or blob: %+v %v", items, err)
	}
	for _, bad := range []string{"x", "1-0", "1-0.", "1-0.a/b", "a-b.support", "99999999999999999999-0.support"} {
		if _, _, err := c.Quarantined(ctx, bad, 5); !errors.Is(err, connectors.ErrQuarantineBadID) {
			t.Errorf("cursor %q: %v, want ErrQuarantineBadID", bad, err)
		}
	}
}

// quarantine keeps the mail, decodes what it can of its header, and
// Dismiss and QuarantinedRaw find entries only where they are.
func TestQuarantineKeep(t *testing.T) {
	c := quarantineConnector(t)
	ctx := context.Background()
	box := c.boxes[0]
	raw := "Return-Path: <>\n" + "From: " + gbkWord(t, "王镕") + " <WangRong@Example.cn>\nSubject: " + gbkWord(t, "退货申请") +
		"\nContent-Type: multipart/mixed; boundary=x\n\n--x\n"
	if err := c.quarantine(ctx, box, []byte(raw), fetched, "a reason"); err != nil {
		t.Fatal(err)
	}
	if err := c.quarantineKept(ctx, box, []byte("Subject: big\r\n\r\n"), 5000, smtpEnvelope("a@example.org"), "too big"); err != nil {
		t.Fatal(err)
	}
	items, _, err := c.Quarantined(ctx, "", 10)
	if err != nil || len(items) != 2 {
		t.Fatalf("%+v %v", items, err)
	}
	big, lf := items[0], items[1]
	if lf.Subject != "退货申请" || lf.FromName != "王镕" || lf.FromAddress != "wangrong@example.cn" || lf.Sender != "<>" ||
		lf.Source != "imap" || lf.Reason != "a reason" || lf.Size != int64(len(raw)) || lf.Kept != lf.Size || !lf.HasRaw {
		t.Errorf("an LF mail fetched with Return-Path <>: %+v", lf)
	}
	if big.Subject != "big" || big.Size != 5000 || big.Kept != 16 || big.Sender != "a@example.org" || big.Source != "smtp" {
		t.Errorf("a header kept of a larger mail: %+v", big)
	}
	f, q, err := c.QuarantinedRaw(ctx, "support", lf.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != raw || q.Kept != int64(len(raw)) {
		t.Errorf("raw %q (kept %d), want the mail", b, q.Kept)
	}

	for _, tc := range []struct {
		box, id string
		want    error
	}{
		{"sales", lf.ID, connectors.ErrQuarantineNotFound},
		{"nobox", lf.ID, connectors.ErrQuarantineNotFound},
		{"support", "1-0", connectors.ErrQuarantineNotFound},
		{"support", "1", connectors.ErrQuarantineBadID},
		{"support", "-1-0", connectors.ErrQuarantineBadID},
		{"../x", lf.ID, connectors.ErrQuarantineBadID},
		{"", lf.ID, connectors.ErrQuarantineBadID},
	} {
		if err := c.Dismiss(ctx, tc.box, tc.id); !errors.Is(err, tc.want) {
			t.Errorf("Dismiss(%q, %q): %v, want %v", tc.box, tc.id, err, tc.want)
		}
		if _, _, err := c.QuarantinedRaw(ctx, tc.box, tc.id); !errors.Is(err, tc.want) {
			t.Errorf("QuarantinedRaw(%q, %q): %v, want %v", tc.box, tc.id, err, tc.want)
		}
	}
	if n, _ := c.env.Redis.Exists(ctx, c.env.Prefix+"{em:sales}:quarantine").Result(); n != 0 {
		t.Error("looking for an entry made the sales quarantine")
	}
	if err := c.Dismiss(ctx, "support", lf.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Dismiss(ctx, "support", lf.ID); !errors.Is(err, connectors.ErrQuarantineNotFound) {
		t.Errorf("dismissed twice: %v", err)
	}
	if items, _, _ := c.Quarantined(ctx, "", 10); len(items) != 1 || items[0].ID != big.ID {
		t.Errorf("after dismissing: %+v", items)
	}
}

// The header of a mail that does not parse as a whole is still read.
func TestQuarantineHeaderOf(t *testing.T) {
	var bomb strings.Builder
	bomb.WriteString("From: " + gbkWord(t, "李明") + " <li@example.cn>\r\nSubject: " + gbkWord(t, "邮件炸弹") + "\r\nMIME-Version: 1.0\r\n")
	for i := range 40 {
		bomb.WriteString("Content-Type: multipart/mixed; boundary=b" + string(rune('a'+i%26)) + "\r\n\r\n--b" + string(rune('a'+i%26)) + "\r\n")
	}
	for _, tc := range []struct {
		name string
		raw  string
		want quarantinedHeader
	}{
		{"a mail bomb", bomb.String(), quarantinedHeader{fromName: "李明", fromAddr: "li@example.cn", subject: "邮件炸弹"}},
		{"LF only, the body not read", "Subject: a\nReturn-Path: <x@y.example>\n\nSubject: b\n", quarantinedHeader{subject: "a", returnPath: "x@y.example"}},
		{"a header without a body", "Subject: only\r\n", quarantinedHeader{subject: "only"}},
		{"empty", "", quarantinedHeader{}},
		{"a body first", "\r\nSubject: no\r\n", quarantinedHeader{}},
		{"one endless line", strings.Repeat("x", 100<<10), quarantinedHeader{}},
	} {
		if got := quarantineHeaderOf([]byte(tc.raw)); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
