package email

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"switchboard/connectors"
	"switchboard/connectors/email/mailparse"
)

// A notice is a standalone automatic mail: its own Message-ID, no
// threading headers, Auto-Submitted, the subject in encoded words, the
// link at the end; nothing from the name or the subject reaches a header
// of its own; it is filed nowhere, so the customer's answer opens a
// conversation of its own even with a ticket token in its subject.
func TestNotify(t *testing.T) {
	relay, relayAddr := startRelay(t)
	in := newInbox()
	c, addr := start(t, in, func(b *Mailbox) { b.SMTPRelay = &Relay{Addr: relayAddr, Security: "none"}; b.Name = "售后支持" })
	// Someone else's conversation is ticket 10000.
	other := mailText("li@example.cn", "support@example.com", "", "打印机", "o1@example.cn", "", "", "打印机卡纸")
	if err := deliver(t, addr, "li@example.cn", []string{"support@example.com"}, other); err != nil {
		t.Fatal(err)
	}

	link := "https://cs.example.com/s/t/AAAAAAAAAAAAAAAAAAAAAAAA?lang=zh"
	n := connectors.Notice{ID: "qr-01MSG", To: "wangrong@example.cn", Name: "王镕\r\nBcc: evil@example.com",
		Subject: "您的报修有新回复：3号电梯\r\nBcc: evil@example.com [#10000]", Lang: "zh",
		Text: "王镕，您好：\n\n客服 · 李明 回复了您的报修：\n\n> 马上到\n\n请打开您的报修页面：\n" + link + "\n"}
	if err := c.Notify(context.Background(), "support", n); err != nil {
		t.Fatal(err)
	}
	relay.mu.Lock()
	rcpt := append([]string(nil), relay.rcpt...)
	relay.mu.Unlock()
	if len(rcpt) != 1 || rcpt[0] != "wangrong@example.cn" {
		t.Fatalf("relay recipients %v", rcpt)
	}
	raw := lastSent(t, relay)
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	m, err := mailparse.Parse(raw, mailparse.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"\r\nBcc:", "\nBcc:"} {
		if strings.Contains(head, h) || m.Header.Has("Bcc") {
			t.Errorf("a header was injected:\n%s", head)
		}
	}
	checks := []struct{ what, got, want string }{
		{"Auto-Submitted", m.Header.Get("Auto-Submitted"), "auto-generated"},
		{"X-Auto-Response-Suppress", m.Header.Get("X-Auto-Response-Suppress"), "All"},
		{"Content-Language", m.Header.Get("Content-Language"), "zh"},
		{"Message-ID", m.MessageID, "notice-qr-01MSG@example.com"},
		{"From", m.From.Addr, "support@example.com"},
		{"Subject", m.Subject, "您的报修有新回复：3号电梯 Bcc: evil@example.com [#10000]"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s %q, want %q", ck.what, ck.got, ck.want)
		}
	}
	if len(m.To) != 1 || m.To[0].Addr != "wangrong@example.cn" || m.To[0].Name != "王镕 Bcc: evil@example.com" {
		t.Errorf("To %+v", m.To)
	}
	if !strings.Contains(strings.ToLower(head), "\r\nsubject: =?utf-8?") {
		t.Errorf("the subject is not in encoded words:\n%s", head)
	}
	if len(m.InReplyTo) > 0 || len(m.References) > 0 || m.Header.Has("Reply-To") {
		t.Errorf("a notice threads: In-Reply-To %v References %v Reply-To %q", m.InReplyTo, m.References, m.Header.Get("Reply-To"))
	}
	if !strings.Contains(m.Text, "> 马上到") || strings.Count(m.Text, link) != 1 {
		t.Errorf("text %q", m.Text)
	}

	// Not indexed: the customer's answer, with the ticket token of the
	// other conversation in its subject, is a conversation of its own.
	if n, _ := c.env.Redis.Exists(context.Background(), c.midKey(c.boxes[0], m.MessageID)).Result(); n != 0 {
		t.Error("the notice's Message-ID was indexed for threading")
	}
	ans := mailText("wangrong@example.cn", "support@example.com", "", "Re: "+m.Subject, "a1@example.cn", m.MessageID, "<"+m.MessageID+">", "收到")
	if err := deliver(t, addr, "wangrong@example.cn", []string{"support@example.com"}, ans); err != nil {
		t.Fatal(err)
	}
	if got := in.count(); got != 2 {
		t.Errorf("%d conversations after the answer to a notice, want 2 (its own)", got)
	}

	// A link the text does not hold goes on the last line; English.
	n2 := connectors.Notice{ID: "qr-02", To: "wangrong@example.cn", Subject: "New reply to your report", Lang: "en",
		Text: "Hello,\n\nSupport replied.", Link: link}
	if err := c.Notify(context.Background(), "support", n2); err != nil {
		t.Fatal(err)
	}
	m2, err := mailparse.Parse(lastSent(t, relay), mailparse.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimRight(m2.Text, "\r\n"), "\n"); strings.TrimSpace(lines[len(lines)-1]) != link {
		t.Errorf("the link is not the last line: %q", m2.Text)
	}
	if m2.Header.Get("Content-Language") != "en" {
		t.Errorf("Content-Language %q", m2.Header.Get("Content-Language"))
	}

	// Refusals: permanent for what cannot work, the relay's 4xx retried.
	for _, tc := range []struct {
		name, account, to string
		fail              *smtp.SMTPError
		code              string
		temporary         bool
	}{
		{"unknown mailbox", "sales", "wangrong@example.cn", nil, "", false},
		{"injected address", "support", "wangrong@example.cn\r\nBcc: evil@example.com", nil, "bad_address", false},
		{"named address", "support", "王镕 <wangrong@example.cn>", nil, "bad_address", false},
		{"own mailbox", "support", "Support@Example.com", nil, "own_mailbox", false},
		{"relay refuses", "support", "wangrong@example.cn", &smtp.SMTPError{Code: 550, Message: "no such user"}, "550", false},
		{"relay defers", "support", "wangrong@example.cn", &smtp.SMTPError{Code: 451, Message: "try later"}, "451", true},
	} {
		relay.mu.Lock()
		relay.fail = tc.fail
		before := len(relay.got)
		relay.mu.Unlock()
		err := c.Notify(context.Background(), tc.account, connectors.Notice{ID: "x", To: tc.to, Subject: "s", Text: "t"})
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Temporary != tc.temporary || ce.Code != tc.code {
			t.Errorf("%s: %v, want code %q temporary %v", tc.name, err, tc.code, tc.temporary)
		}
		relay.mu.Lock()
		if tc.fail == nil && len(relay.got) != before {
			t.Errorf("%s: a mail was sent", tc.name)
		}
		relay.mu.Unlock()
	}
}

// CanNotify names what is missing: the mailbox, or its relay.
func TestCanNotify(t *testing.T) {
	boxes := []Mailbox{
		{ID: "support", Address: "support@example.com", SMTPListen: "127.0.0.1:0", SMTPRelay: &Relay{Addr: "127.0.0.1:25", Security: "none"}},
		{ID: "inbound", Address: "inbound@example.com", SMTPListen: "127.0.0.1:0"},
	}
	cn, err := New(connectors.Env{Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		func(v any) error { *(v.(*[]Mailbox)) = boxes; return nil })
	if err != nil {
		t.Fatal(err)
	}
	n := cn.(connectors.Notifier)
	if err := n.CanNotify("support"); err != nil {
		t.Errorf("support: %v", err)
	}
	if err := n.CanNotify("inbound"); err == nil || !strings.Contains(err.Error(), "smtp_relay") {
		t.Errorf("inbound: %v, want no smtp_relay", err)
	}
	if err := n.CanNotify("sales"); err == nil || !strings.Contains(err.Error(), `"sales" is not a mailbox`) ||
		!strings.Contains(err.Error(), "support, inbound") {
		t.Errorf("sales: %v", err)
	}
	if err := n.Notify(context.Background(), "inbound", connectors.Notice{To: "a@example.cn"}); err == nil {
		t.Error("a mailbox without a relay sent a notice")
	}
}
