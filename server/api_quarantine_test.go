package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/text/encoding/simplifiedchinese"

	"switchboard/connectors"
	"switchboard/connectors/email"
	"switchboard/internal/blob"
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

// mailBomb is a mail nested deeper than the parser takes.
func mailBomb(from, to, subject string) string {
	var b strings.Builder
	if from != "" {
		fmt.Fprintf(&b, "From: %s\r\n", from)
	}
	fmt.Fprintf(&b, "To: %s\r\nSubject: %s\r\nMIME-Version: 1.0\r\n", to, subject)
	for i := range 40 {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("\r\nx\r\n")
	return b.String()
}

// quarantineItemJSON is an item of GET /email/quarantine, as tests read it.
type quarantineItemJSON struct {
	ID             string    `json:"id"`
	Mailbox        string    `json:"mailbox"`
	MailboxAddress string    `json:"mailbox_address"`
	At             time.Time `json:"at"`
	Reason         string    `json:"reason"`
	Source         string    `json:"source"`
	Sender         string    `json:"sender"`
	FromName       string    `json:"from_name"`
	FromAddress    string    `json:"from_address"`
	Subject        string    `json:"subject"`
	Size           int64     `json:"size"`
	Kept           int64     `json:"kept"`
	HeaderOnly     bool      `json:"header_only"`
	RawURL         string    `json:"raw_url"`
}

type quarantinePage struct {
	Items      []quarantineItemJSON `json:"items"`
	NextBefore string               `json:"next_before"`
}

// withEmail runs a real e-mail connector with two mailboxes on one SMTP
// listener, in the stack's registry, and returns a stack whose server has
// a blob store, and the listener's address.
func (s *stack) withEmail() (*stack, string) {
	t := s.t
	t.Helper()
	store, err := blob.Open(t.TempDir(), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	boxes := []email.Mailbox{
		{ID: "support", Address: "support@example.com", SMTPListen: addr},
		{ID: "sales", Address: "sales@example.com", SMTPListen: addr},
	}
	cn, err := email.New(connectors.Env{In: s.rt, Redis: s.rdb, Prefix: s.prefix, Log: quiet(), Now: time.Now, Blobs: store},
		func(v any) error { *(v.(*[]email.Mailbox)) = boxes; return nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cn.(connectors.Runner).Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	s.srv.Registry.Add(cn) // in place of the fake e-mail channel
	return s.withBlobs(store), addr
}

// smtpSend hands a mail to the listener at addr, retrying while it is
// not up yet.
func smtpSend(t *testing.T, addr, from, to, raw string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		cl, err := smtp.Dial(addr)
		if err == nil {
			err = cl.Hello("mx.test")
			if err == nil {
				err = cl.SendMail(from, []string{to}, strings.NewReader(raw))
			}
			cl.Close()
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("SMTP to %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestQuarantineAPI(t *testing.T) {
	t.Parallel()
	base := newStack(t)
	agent, sup, adm := base.login(agentLi.Email), base.login(agentSup.Email), base.login(agentAdm.Email)

	// Without an e-mail connector that has a quarantine: nothing to list.
	var empty quarantinePage
	base.must(200, req{method: "GET", path: "/api/v1/email/quarantine", token: sup}).decode(t, &empty)
	if empty.Items == nil || len(empty.Items) != 0 {
		t.Errorf("without a quarantine: %+v, want an empty list", empty)
	}

	s, addr := base.withEmail()
	subject := "咨询：订单A1001至今未发货"
	bomb1 := mailBomb(gbkWord(t, "王镕")+" <wangrong@example.cn>", "support@example.com", gbkWord(t, subject))
	smtpSend(t, addr, "bounce-1@example.cn", "support@example.com", bomb1)
	noFrom := "To: sales@example.com\r\nSubject: =?UTF-8?B?5peg5Y+R5Lu25Lq6?=\r\nMessage-ID: <nofrom@x>\r\n\r\nhello\r\n"
	smtpSend(t, addr, "someone@example.org", "sales@example.com", noFrom)
	bomb2 := mailBomb("<b@example.org>", "support@example.com", "second")
	smtpSend(t, addr, "", "support@example.com", bomb2)

	list := func(token, query string) quarantinePage {
		t.Helper()
		var p quarantinePage
		s.must(200, req{method: "GET", path: "/api/v1/email/quarantine" + query, token: token}).decode(t, &p)
		return p
	}
	var all quarantinePage
	eventually(t, "three quarantined mails", func() bool { all = list(sup, ""); return len(all.Items) == 3 })
	got := make([]string, len(all.Items))
	for i, it := range all.Items {
		got[i] = it.Mailbox + "|" + it.Subject
	}
	if want := []string{"support|second", "sales|无发件人", "support|" + subject}; !slices.Equal(got, want) {
		t.Errorf("list (mailbox|subject), newest first: %q, want %q", got, want)
	}
	first := all.Items[2]
	if first.FromName != "王镕" || first.FromAddress != "wangrong@example.cn" || first.Sender != "bounce-1@example.cn" ||
		first.Source != "smtp" || first.MailboxAddress != "support@example.com" || !strings.Contains(first.Reason, "nesting") ||
		first.Size < int64(len(bomb1)) || first.Kept != first.Size || first.HeaderOnly || first.At.IsZero() {
		t.Errorf("the GBK bomb's entry: %+v", first)
	}
	if nf := all.Items[1]; nf.Reason != "no From address" || nf.FromAddress != "" || nf.Sender != "someone@example.org" {
		t.Errorf("the mail without From: %+v", nf)
	}
	if all.Items[0].Sender != "<>" {
		t.Errorf("a null envelope sender shows as %q, want <>", all.Items[0].Sender)
	}
	if all.NextBefore != "" {
		t.Errorf("a full page has next_before %q", all.NextBefore)
	}
	for i := 1; i < len(all.Items); i++ {
		if all.Items[i].At.After(all.Items[i-1].At) {
			t.Errorf("not newest first: %v after %v", all.Items[i].At, all.Items[i-1].At)
		}
	}

	// Page by page, the same entries in the same order.
	var paged []string
	cursor := ""
	for range 5 {
		q := "?limit=1"
		if cursor != "" {
			q += "&before=" + url.QueryEscape(cursor)
		}
		p := list(adm, q)
		for _, it := range p.Items {
			paged = append(paged, it.Mailbox+"|"+it.Subject)
		}
		if cursor = p.NextBefore; cursor == "" {
			break
		}
	}
	if !slices.Equal(paged, got) {
		t.Errorf("pages of one: %q, want %q", paged, got)
	}

	// The kept mail, as a download that is never rendered.
	raw := s.must(200, req{method: "GET", path: first.RawURL, token: sup})
	if ct := raw.Header.Get("Content-Type"); ct != "message/rfc822" {
		t.Errorf("raw Content-Type %q", ct)
	}
	if cd := raw.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".eml") {
		t.Errorf("raw Content-Disposition %q", cd)
	}
	if raw.Header.Get("X-Content-Type-Options") != "nosniff" || raw.Header.Get("Content-Security-Policy") != "sandbox" {
		t.Errorf("raw security headers %v", raw.Header)
	}
	if !strings.Contains(string(raw.Body), gbkWord(t, subject)) || int64(len(raw.Body)) != first.Kept {
		t.Errorf("raw body (%d bytes, want %d): %.200q", len(raw.Body), first.Kept, raw.Body)
	}

	// Agents see none of it; without a token nothing at all.
	del := "/api/v1/email/quarantine/support/" + first.ID
	for _, q := range []req{
		{method: "GET", path: "/api/v1/email/quarantine", token: agent},
		{method: "GET", path: first.RawURL, token: agent},
		{method: "DELETE", path: del, token: agent},
		{method: "DELETE", path: "/api/v1/email/quarantine/support/not-an-id", token: agent},
	} {
		if r := s.send(q); r.Status != 403 || r.errorCode() != "forbidden" || strings.Contains(string(r.Body), "wangrong") {
			t.Errorf("agent %s %s: %s, want 403", q.method, q.path, r)
		}
	}
	if r := s.get("/api/v1/email/quarantine", ""); r.Status != 401 {
		t.Errorf("no token: %s, want 401", r)
	}

	// Bad ids and cursors change nothing.
	s.settle()
	before := s.snapshot()
	for _, tc := range []struct {
		q    req
		want int
	}{
		{req{method: "DELETE", path: "/api/v1/email/quarantine/support/not-an-id"}, 400},
		{req{method: "DELETE", path: "/api/v1/email/quarantine/support/99999999999999999999-0"}, 400},
		{req{method: "DELETE", path: "/api/v1/email/quarantine/support/1-2-3"}, 400},
		{req{method: "DELETE", path: "/api/v1/email/quarantine/sup%2Fport/1-0"}, 400},
		{req{method: "DELETE", path: "/api/v1/email/quarantine/nobox/" + first.ID}, 404},
		{req{method: "DELETE", path: "/api/v1/email/quarantine/support/1-0"}, 404},
		{req{method: "DELETE", path: "/api/v1/email/quarantine/sales/" + first.ID}, 404}, // another mailbox's id
		{req{method: "GET", path: "/api/v1/email/quarantine/support/1-0/raw"}, 404},
		{req{method: "GET", path: "/api/v1/email/quarantine/support/x/raw"}, 400},
		{req{method: "GET", path: "/api/v1/email/quarantine?before=garbage"}, 400},
		{req{method: "GET", path: "/api/v1/email/quarantine?before=1-0.bad%2Fbox"}, 400},
		{req{method: "GET", path: "/api/v1/email/quarantine?limit=0"}, 400},
		{req{method: "GET", path: "/api/v1/email/quarantine?limit=201"}, 400},
	} {
		tc.q.token = sup
		if r := s.send(tc.q); r.Status != tc.want {
			t.Errorf("%s %s: %s, want %d", tc.q.method, tc.q.path, r, tc.want)
		}
	}
	if d := diff(before, s.snapshot()); d != "" {
		t.Errorf("refused requests changed Redis:\n%s", d)
	}

	// Dismissed: gone from the list, its download too; a second dismissal
	// finds nothing.
	s.must(204, req{method: "DELETE", path: del, token: adm})
	after := list(sup, "")
	if len(after.Items) != 2 || slices.ContainsFunc(after.Items, func(it quarantineItemJSON) bool { return it.ID == first.ID }) {
		t.Errorf("after dismissing: %+v", after.Items)
	}
	s.must(404, req{method: "DELETE", path: del, token: sup})
	s.must(404, req{method: "GET", path: first.RawURL, token: sup})
}
