package email

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-message"
	"github.com/emersion/go-smtp"

	"switchboard/connectors"
	"switchboard/connectors/email/mailparse"
	"switchboard/internal/redistest"
)

// relayServer is a loopback SMTP server standing in for the relay.
type relayServer struct {
	mu   sync.Mutex
	got  [][]byte
	rcpt []string
	fail *smtp.SMTPError
}

func (r *relayServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }

type relaySession struct{ r *relayServer }

func (s *relaySession) Reset()                               {}
func (s *relaySession) Logout() error                        { return nil }
func (s *relaySession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.r.mu.Lock()
	s.r.rcpt = append(s.r.rcpt, to)
	s.r.mu.Unlock()
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
	return nil
}

func startRelay(t *testing.T) (*relayServer, string) {
	t.Helper()
	rs := &relayServer{}
	srv := smtp.NewServer(rs)
	srv.Domain = "relay.test"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return rs, l.Addr().String()
}

// A reply goes out threaded on the customer's mail, with the ticket token
// and a Message-ID that threads the customer's answer back; hostile text
// reaches no header; the relay's 5xx is permanent with its text, 4xx is
// retried.
func TestReplyByMail(t *testing.T) {
	relay, relayAddr := startRelay(t)
	in := newInbox()
	c, addr := start(t, in, func(b *Mailbox) { b.SMTPRelay = &Relay{Addr: relayAddr, Security: "none"}; b.Name = "售后支持" })
	first := mailText("王镕 <wangrong@example.cn>", "support@example.com", "", "=?UTF-8?B?6K6i5Y2V5pyq5Yiw?=\r\n =?UTF-8?B?DQpCY2M6IGV2aWxAeC5jb20=?=",
		"c1@example.cn", "", "<c0@example.cn>", "我的订单没到")
	if err := deliver(t, addr, "wangrong@example.cn", []string{"support@example.com"}, first); err != nil {
		t.Fatal(err)
	}
	conv := ""
	for k := range in.convs {
		conv = k
	}
	out := &connectors.Outbound{ID: "01MSG", ConversationID: conv, Channel: connectors.Email, Account: "support",
		To: connectors.Identity{Type: "email", Value: "wangrong@example.cn"}, Kind: connectors.KindText,
		Text: "您好，\n已为您查询。\r\nBcc: evil@example.com", Author: "李明\r\nBcc: evil@example.com",
		Thread: connectors.Thread{Token: "10042"}}
	rc, err := c.Send(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	relay.mu.Lock()
	if len(relay.got) != 1 || len(relay.rcpt) != 1 || relay.rcpt[0] != "wangrong@example.cn" {
		t.Fatalf("relay got %d mails to %v", len(relay.got), relay.rcpt)
	}
	raw := relay.got[0]
	relay.mu.Unlock()
	m, err := mailparse.Parse(raw, mailparse.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if m.MessageID != rc.ExternalID || !strings.HasSuffix(m.MessageID, "@example.com") {
		t.Errorf("Message-ID %q, receipt %q", m.MessageID, rc.ExternalID)
	}
	if len(m.InReplyTo) != 1 || m.InReplyTo[0] != "c1@example.cn" || strings.Join(m.References, " ") != "c0@example.cn c1@example.cn" {
		t.Errorf("threading: In-Reply-To %v References %v", m.InReplyTo, m.References)
	}
	if !strings.HasPrefix(m.Subject, "Re: 订单未到") || !strings.HasSuffix(m.Subject, "[#10042]") {
		t.Errorf("subject %q", m.Subject)
	}
	if m.From.Addr != "support@example.com" || !strings.Contains(m.From.Name, "李明") {
		t.Errorf("from %+v", m.From)
	}
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	if m.Header.Has("Bcc") || strings.Contains(head, "\r\nBcc:") {
		t.Errorf("a header was injected:\n%s", raw)
	}
	if !strings.Contains(m.Text, "已为您查询") {
		t.Errorf("body %q", m.Text)
	}
	// The customer's answer to the reply threads back.
	ans := mailText("wangrong@example.cn", "support@example.com", "", "Re: 订单未到 [#10042]", "c2@example.cn", m.MessageID, "", "谢谢")
	if err := deliver(t, addr, "wangrong@example.cn", []string{"support@example.com"}, ans); err != nil {
		t.Fatal(err)
	}
	if n := in.count(); n != 1 {
		t.Errorf("%d conversations after the answer to our reply", n)
	}

	// The customer's server bounces it: the reply shows failed.
	dsn := "From: MAILER-DAEMON@mx.example.cn (Mail Delivery System)\r\nTo: support@example.com\r\n" +
		"Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <dsn1@mx.example.cn>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n" +
		"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.cn\r\n\r\n" +
		"Final-Recipient: rfc822; wangrong@example.cn\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n" +
		"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <" + m.MessageID + ">\r\nSubject: x\r\n--B--\r\n"
	if err := deliver(t, addr, "", []string{"support@example.com"}, dsn); err != nil {
		t.Fatal(err)
	}
	in.mu.Lock()
	reason := in.failed[conv+"/01MSG"]
	in.mu.Unlock()
	if !strings.HasPrefix(reason, "5.1.1 ") || !strings.Contains(reason, "User unknown") {
		t.Errorf("the bounce reported %q for the reply", reason)
	}
	if n := in.count(); n != 1 {
		t.Errorf("%d conversations after the bounce", n)
	}

	for _, tc := range []struct {
		fail      *smtp.SMTPError
		temporary bool
	}{
		{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, false},
		{&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}, true},
	} {
		relay.mu.Lock()
		relay.fail = tc.fail
		relay.mu.Unlock()
		_, err := c.Send(context.Background(), out)
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Temporary != tc.temporary || !strings.Contains(ce.Msg, tc.fail.Message) {
			t.Errorf("relay %d: %v", tc.fail.Code, err)
		}
	}
}

// startEnv is start with the connector's Env edited first (a blob store).
func startEnv(t *testing.T, in connectors.Ingester, env func(*connectors.Env), edit ...func(*Mailbox)) (*Connector, string) {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	box := Mailbox{ID: "support", Address: "support@example.com", SMTPListen: "127.0.0.1:0", PlusAddress: true, MaxMessageBytes: 1 << 20}
	for _, e := range edit {
		e(&box)
	}
	e := connectors.Env{In: in, Redis: rdb, Prefix: prefix, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	env(&e)
	cn, err := New(e, func(v any) error { *(v.(*[]Mailbox)) = []Mailbox{box}; return nil })
	if err != nil {
		t.Fatal(err)
	}
	c := cn.(*Connector)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-c.listening
	return c, c.addrs["127.0.0.1:0"]
}

// entity is a mail or one of its parts as go-message reads it: the header,
// the body with its transfer encoding undone, and the parts of a multipart.
type entity struct {
	header message.Header
	body   []byte
	parts  []entity
}

func (e entity) mediaType() string { mt, _, _ := e.header.ContentType(); return mt }

// readEntity parses raw with go-message, all the way down.
func readEntity(t *testing.T, r io.Reader) entity {
	t.Helper()
	m, err := message.Read(r)
	if err != nil {
		t.Fatalf("go-message cannot read the mail: %v", err)
	}
	return entityOf(t, m)
}

func entityOf(t *testing.T, m *message.Entity) entity {
	t.Helper()
	e := entity{header: m.Header}
	if mr := m.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("go-message: part: %v", err)
			}
			e.parts = append(e.parts, entityOf(t, p))
		}
		return e
	}
	b, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatalf("go-message: body: %v", err)
	}
	e.body = b
	return e
}

// lastSent is the raw mail the relay took last.
func lastSent(t *testing.T, relay *relayServer) []byte {
	t.Helper()
	relay.mu.Lock()
	defer relay.mu.Unlock()
	if len(relay.got) == 0 {
		t.Fatal("the relay got no mail")
	}
	return relay.got[len(relay.got)-1]
}

// customerWrites delivers a first mail from wangrong@example.cn and
// returns its conversation.
func customerWrites(t *testing.T, in *inbox, addr, subject, body string) string {
	t.Helper()
	raw := mailText("王镕 <wangrong@example.cn>", "support@example.com", "", subject, "c1@example.cn", "", "", body)
	raw = strings.Replace(raw, "Subject: "+subject, "Subject: "+mime.BEncoding.Encode("utf-8", subject), 1)
	if err := deliver(t, addr, "wangrong@example.cn", []string{"support@example.com"}, raw); err != nil {
		t.Fatal(err)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for conv, ms := range in.convs {
		for _, m := range ms {
			if m.Thread.MessageID == "c1@example.cn" {
				return conv
			}
		}
	}
	t.Fatal("the customer's mail was not stored")
	return ""
}

// reply is an agent's reply in conversation conv.
func reply(id, conv, text string, atts ...connectors.Attachment) *connectors.Outbound {
	return &connectors.Outbound{ID: id, ConversationID: conv, Channel: connectors.Email, Account: "support",
		To: connectors.Identity{Type: "email", Value: "wangrong@example.cn"}, Kind: connectors.KindText,
		Text: text, Author: "李明", Attachments: atts, Thread: connectors.Thread{Token: "10042"}}
}
