package qr

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/connectors/email"
	"switchboard/connectors/email/mailparse"
	"switchboard/internal/redistest"
)

// relay is a loopback SMTP server standing in for a mailbox's relay.
type relay struct {
	mu   sync.Mutex
	got  [][]byte
	rcpt []string
	fail *smtp.SMTPError
}

func (r *relay) NewSession(*smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }

type relaySession struct {
	r  *relay
	to []string
}

func (s *relaySession) Reset()                               {}
func (s *relaySession) Logout() error                        { return nil }
func (s *relaySession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if s.r.fail != nil {
		return s.r.fail
	}
	s.r.got = append(s.r.got, b)
	s.r.rcpt = append(s.r.rcpt, s.to...)
	return nil
}

func (r *relay) failWith(e *smtp.SMTPError) {
	r.mu.Lock()
	r.fail = e
	r.mu.Unlock()
}

// mails returns what the relay accepted so far and its recipients.
func (r *relay) mails() ([][]byte, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.got...), append([]string(nil), r.rcpt...)
}

func startRelay(t *testing.T) (*relay, string) {
	t.Helper()
	r := &relay{}
	srv := smtp.NewServer(r)
	srv.Domain = "relay.test"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return r, l.Addr().String()
}

// tickets is an Ingester that knows every conversation as ticket 10042.
type tickets struct{}

func (tickets) Ingest(context.Context, *connectors.Message) (connectors.Accepted, error) {
	return connectors.Accepted{}, nil
}
func (tickets) TicketState(context.Context, string) (connectors.TicketState, error) {
	return connectors.TicketState{Number: "10042", Status: "open"}, nil
}

// noticeSetup builds the e-mail and QR connectors through a registry, as
// the composition root does, on one Redis, and links them.
type noticeSetup struct {
	rdb    redis.UniversalClient
	prefix string
	boxes  []email.Mailbox
	qr     Config
	email  bool // configure channels.email
}

func (s noticeSetup) build() (*Connector, error) {
	reg := connectors.NewRegistry()
	reg.Register(connectors.Email, email.New)
	reg.Register(connectors.QR, New)
	env := connectors.Env{In: tickets{}, Redis: s.rdb, Prefix: s.prefix, PublicURL: "https://cs.example.com", Now: time.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	sections := map[connectors.Channel]func(any) error{
		connectors.QR: func(v any) error { *(v.(*Config)) = s.qr; return nil },
	}
	if s.email {
		sections[connectors.Email] = func(v any) error { *(v.(*[]email.Mailbox)) = s.boxes; return nil }
	}
	if err := reg.Build(env, sections); err != nil {
		return nil, err
	}
	if err := connectors.LinkNotifiers(reg); err != nil {
		return nil, err
	}
	c, _ := reg.Get(connectors.QR)
	return c.(*Connector), nil
}

func supportBox(relayAddr string) email.Mailbox {
	return email.Mailbox{ID: "support", Address: "support@example.com", Name: "售后支持", SMTPListen: "127.0.0.1:0",
		SMTPRelay: &email.Relay{Addr: relayAddr, Security: "none"}}
}

// page makes a tracking page for conversation conv and returns its token.
func page(t *testing.T, q *Connector, conv string, edit func(*tracked)) string {
	t.Helper()
	tok := newNonce()[:22] + "AA"
	tr := tracked{Code: "0123456789ab", Conversation: conv, From: connectors.Identity{Type: "visitor", Value: "qr_" + conv, Name: "王镕"},
		Email: "wangrong@example.cn", Lang: "zh", AssetName: "3号电梯", Created: time.Now()}
	if edit != nil {
		edit(&tr)
	}
	if err := q.saveTrack(context.Background(), tok, tr); err != nil {
		t.Fatal(err)
	}
	return tok
}

func replyTo(id, conv, text string) *connectors.Outbound {
	return &connectors.Outbound{ID: id, ConversationID: conv, Channel: connectors.QR, Account: "0123456789ab",
		Kind: connectors.KindText, Text: text, Author: "李明"}
}

// onPage counts the agents' replies on a tracking page.
func onPage(t *testing.T, q *Connector, tok string) int {
	t.Helper()
	evs, err := q.hub.Read(context.Background(), q.topic(tok), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if strings.Contains(string(ev.Data), `"direction":"out"`) {
			n++
		}
	}
	return n
}

// An agent's reply on a page with an e-mail address mails a notice
// through notify_mailbox, once however often the send is retried, in the
// page's language, to the address typed, with the reply and the link.
func TestReplyNotice(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	rl, relayAddr := startRelay(t)
	q, err := noticeSetup{rdb: rdb, prefix: prefix, email: true, boxes: []email.Mailbox{supportBox(relayAddr)},
		qr: Config{NotifyMailbox: "support"}}.build()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := page(t, q, "conv1", func(tr *tracked) { tr.From.Name = "王镕\r\nBcc: evil@example.com" })
	m := replyTo("out1", "conv1", "您好，\n师傅马上到。\r\nBcc: evil@example.com")
	for range 2 { // an outbox retry
		if _, err := q.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	got, rcpt := rl.mails()
	if len(got) != 1 || len(rcpt) != 1 || rcpt[0] != "wangrong@example.cn" {
		t.Fatalf("%d notices to %v after a retried send, want 1 to wangrong@example.cn", len(got), rcpt)
	}
	if n := onPage(t, q, tok); n != 1 {
		t.Errorf("%d replies on the page", n)
	}
	raw := got[0]
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	mail, err := mailparse.Parse(raw, mailparse.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(head, "\nBcc:") || mail.Header.Has("Bcc") {
		t.Errorf("a header was injected:\n%s", head)
	}
	if a := mail.Header.Get("Auto-Submitted"); a == "" || a == "no" {
		t.Errorf("Auto-Submitted %q", a)
	}
	if mail.Subject != "您的报修有新回复：3号电梯 [#10042]" || !strings.Contains(strings.ToLower(head), "\r\nsubject: =?utf-8?") {
		t.Errorf("subject %q in\n%s", mail.Subject, head)
	}
	if len(mail.To) != 1 || mail.To[0].Addr != "wangrong@example.cn" {
		t.Errorf("To %+v", mail.To)
	}
	if len(mail.InReplyTo) > 0 || len(mail.References) > 0 {
		t.Errorf("the notice threads: %v %v", mail.InReplyTo, mail.References)
	}
	link := "https://cs.example.com/s/t/" + tok + "?lang=zh"
	for _, want := range []string{"> 您好，", "> 师傅马上到。", "客服 · 李明", "3号电梯", "10042", link, "请在报修页面回复"} {
		if !strings.Contains(mail.Text, want) {
			t.Errorf("the text lacks %q:\n%s", want, mail.Text)
		}
	}

	// An English page; a second reply is a notice of its own.
	tokEN := page(t, q, "conv2", func(tr *tracked) { tr.Lang, tr.AssetName, tr.From.Name = "en", "Elevator 3", "" })
	for _, id := range []string{"out2", "out3"} {
		if _, err := q.Send(ctx, replyTo(id, "conv2", "On my way.")); err != nil {
			t.Fatal(err)
		}
	}
	got, _ = rl.mails()
	if len(got) != 3 {
		t.Fatalf("%d notices after two replies on an English page, want 3 in all", len(got))
	}
	en, err := mailparse.Parse(got[2], mailparse.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if en.Subject != "New reply to your report: Elevator 3 [#10042]" || !strings.Contains(en.Text, "Hello,") ||
		!strings.Contains(en.Text, "> On my way.") || !strings.Contains(en.Text, "https://cs.example.com/s/t/"+tokEN+"?lang=en") {
		t.Errorf("English notice: %q\n%s", en.Subject, en.Text)
	}

	// No address on the page, or an automatic message: no notice.
	page(t, q, "conv3", func(tr *tracked) { tr.Email = "" })
	if _, err := q.Send(ctx, replyTo("out4", "conv3", "好的")); err != nil {
		t.Fatal(err)
	}
	auto := replyTo("out5", "conv1", "感谢您的评价")
	auto.Automatic = true
	if _, err := q.Send(ctx, auto); err != nil {
		t.Fatal(err)
	}
	if got, _ := rl.mails(); len(got) != 3 {
		t.Errorf("%d notices, want none for a page without an address or an automatic message", len(got)-3)
	}
}

// Without notify_mailbox nothing is mailed, even with an address on the
// page and a mailbox that could.
func TestReplyNoticeOff(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	rl, relayAddr := startRelay(t)
	q, err := noticeSetup{rdb: rdb, prefix: prefix, email: true, boxes: []email.Mailbox{supportBox(relayAddr)}}.build()
	if err != nil {
		t.Fatal(err)
	}
	tok := page(t, q, "conv1", nil)
	if _, err := q.Send(context.Background(), replyTo("out1", "conv1", "马上到")); err != nil {
		t.Fatal(err)
	}
	if got, _ := rl.mails(); len(got) != 0 {
		t.Errorf("%d notices without notify_mailbox", len(got))
	}
	if n := onPage(t, q, tok); n != 1 {
		t.Errorf("%d replies on the page", n)
	}
}

// A notice that fails never fails the reply on the page: a deferral asks
// the outbox to try the send again (noticeTries in all, the page keeps
// the reply once), then the notice is given up and the send succeeds; a
// refusal is given up at once; a notice that passes on a retry is sent
// once.
func TestReplyNoticeFails(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	rl, relayAddr := startRelay(t)
	q, err := noticeSetup{rdb: rdb, prefix: prefix, email: true, boxes: []email.Mailbox{supportBox(relayAddr)},
		qr: Config{NotifyMailbox: "support"}}.build()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deferred := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}

	// Deferred every time: retried, then given up.
	tok := page(t, q, "conv1", nil)
	rl.failWith(deferred)
	m := replyTo("out1", "conv1", "马上到")
	for i := 1; i <= noticeTries; i++ {
		_, err := q.Send(ctx, m)
		var ce *connectors.Error
		if i < noticeTries {
			if !errors.As(err, &ce) || !ce.Temporary || ce.Code != "notice" || !strings.Contains(err.Error(), "try later") {
				t.Fatalf("try %d: %v, want a temporary notice error", i, err)
			}
		} else if err != nil {
			t.Fatalf("try %d: %v, want the notice given up and the send done", i, err)
		}
	}
	rl.failWith(nil)
	if _, err := q.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got, _ := rl.mails(); len(got) != 0 {
		t.Errorf("%d notices after the notice was given up", len(got))
	}
	if n := onPage(t, q, tok); n != 1 {
		t.Errorf("%d replies on the page after retries", n)
	}

	// Deferred once, then sent: one notice.
	page(t, q, "conv2", nil)
	rl.failWith(deferred)
	m2 := replyTo("out2", "conv2", "马上到")
	if _, err := q.Send(ctx, m2); err == nil {
		t.Fatal("a deferred notice was not retried")
	}
	rl.failWith(nil)
	for range 2 {
		if _, err := q.Send(ctx, m2); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := rl.mails(); len(got) != 1 {
		t.Errorf("%d notices after a deferral and two sends, want 1", len(got))
	}

	// Refused: given up at once.
	page(t, q, "conv3", nil)
	rl.failWith(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	if _, err := q.Send(ctx, replyTo("out3", "conv3", "马上到")); err != nil {
		t.Errorf("a refused notice failed the send: %v", err)
	}
}

// notify_mailbox is checked at start-up; each error names the key.
func TestNotifyMailboxConfig(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	relayless := email.Mailbox{ID: "inbound", Address: "inbound@example.com", SMTPListen: "127.0.0.1:0"}
	cases := []struct {
		name  string
		setup noticeSetup
		want  string
	}{
		{"unknown mailbox", noticeSetup{email: true, boxes: []email.Mailbox{supportBox("127.0.0.1:25")}, qr: Config{NotifyMailbox: "sales"}},
			`channels.qr: notify_mailbox: "sales" is not a mailbox of channels.email`},
		{"no relay", noticeSetup{email: true, boxes: []email.Mailbox{supportBox("127.0.0.1:25"), relayless}, qr: Config{NotifyMailbox: "inbound"}},
			`channels.qr: notify_mailbox: mailbox "inbound" has no smtp_relay`},
		{"no e-mail channel", noticeSetup{qr: Config{NotifyMailbox: "support"}},
			`channels.qr: notify_mailbox: "support" needs channels.email, which is not configured`},
		{"not an id", noticeSetup{email: true, boxes: []email.Mailbox{supportBox("127.0.0.1:25")}, qr: Config{NotifyMailbox: "support@example.com"}},
			`channels.qr: notify_mailbox: "support@example.com" is not a mailbox id`},
	}
	for _, tc := range cases {
		tc.setup.rdb, tc.setup.prefix = rdb, prefix
		_, err := tc.setup.build()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
