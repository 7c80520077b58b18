package email

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"switchboard/connectors"
	"switchboard/internal/redistest"
)

// inbox is an Ingester that keeps conversations as the router does:
// joined when the channel says so, else one per sender and thread key.
type inbox struct {
	mu      sync.Mutex
	convs   map[string][]connectors.Message // conversation -> messages
	open    map[string]string               // sender|key -> conversation
	tickets map[string]string               // ticket number -> conversation
	seen    map[string]string               // dedup -> conversation
	failed  map[string]string               // conversation/message -> reason
}

func (in *inbox) ReportFailure(_ context.Context, conv, msg, code, reason string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.failed == nil {
		in.failed = map[string]string{}
	}
	in.failed[conv+"/"+msg] = code + " " + reason
	return nil
}

func newInbox() *inbox {
	return &inbox{convs: map[string][]connectors.Message{}, open: map[string]string{}, tickets: map[string]string{}, seen: map[string]string{}}
}

func (in *inbox) Ingest(_ context.Context, m *connectors.Message) (connectors.Accepted, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	dk := m.From.Value + "|" + m.ExternalID
	if conv, ok := in.seen[dk]; ok {
		return connectors.Accepted{ConversationID: conv, Duplicate: true}, nil
	}
	conv := m.Thread.Conversation
	if conv == "" {
		k := m.From.Value + "|" + m.Thread.Key
		if conv = in.open[k]; conv == "" {
			conv = fmt.Sprintf("c%d", len(in.convs)+1)
			in.open[k] = conv
			in.tickets[fmt.Sprint(10000+len(in.convs))] = conv
		}
	}
	in.seen[dk] = conv
	in.convs[conv] = append(in.convs[conv], *m)
	return connectors.Accepted{ConversationID: conv, CustomerID: "u-" + m.From.Value}, nil
}

func (in *inbox) ConversationByTicket(_ context.Context, n string) (string, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.tickets[n], nil
}

func (in *inbox) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.convs)
}

// start runs a connector with one mailbox on a loopback listener.
func start(t *testing.T, in connectors.Ingester, edit ...func(*Mailbox)) (*Connector, string) {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	box := Mailbox{ID: "support", Address: "support@example.com", SMTPListen: "127.0.0.1:0", PlusAddress: true, MaxMessageBytes: 1 << 20}
	for _, e := range edit {
		e(&box)
	}
	cn, err := New(connectors.Env{In: in, Redis: rdb, Prefix: prefix, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		func(v any) error { *(v.(*[]Mailbox)) = []Mailbox{box}; return nil })
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

// deliver speaks SMTP to addr like an MTA and returns the server's answer
// to DATA (nil for 250).
func deliver(t *testing.T, addr, from string, to []string, raw string) error {
	t.Helper()
	cl, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Hello("mx.test"); err != nil {
		t.Fatal(err)
	}
	return cl.SendMail(from, to, strings.NewReader(raw))
}

func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	if err != nil {
		return -1
	}
	return 250
}

func mailText(from, to, cc, subject, msgID, inReplyTo, refs, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", from, to)
	if cc != "" {
		fmt.Fprintf(&b, "Cc: %s\r\n", cc)
	}
	fmt.Fprintf(&b, "Subject: %s\r\nMessage-ID: <%s>\r\nDate: Mon, 23 Nov 2026 08:00:00 +0800\r\n", subject, msgID)
	if inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\n", inReplyTo)
	}
	if refs != "" {
		fmt.Fprintf(&b, "References: %s\r\n", refs)
	}
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", body)
	return b.String()
}

// The threading table: which conversation each mail lands in.
func TestThreading(t *testing.T) {
	in := newInbox()
	_, addr := start(t, in)
	send := func(raw string) {
		t.Helper()
		if err := deliver(t, addr, "someone@example.cn", []string{"support@example.com"}, raw); err != nil {
			t.Fatalf("deliver: %v", err)
		}
	}
	convOf := func(msgID string) string {
		in.mu.Lock()
		defer in.mu.Unlock()
		for c, ms := range in.convs {
			for _, m := range ms {
				if m.Thread.MessageID == msgID {
					return c
				}
			}
		}
		return ""
	}
	// The first mail, copied to a colleague.
	send(mailText("王镕 <wangrong@example.cn>", "support@example.com", "li@example.cn", "订单A1001未发货", "m1@example.cn", "", "", "客服您好"))
	root := convOf("m1@example.cn")
	if root == "" {
		t.Fatal("the first mail was not stored")
	}
	cases := []struct {
		name, raw, want string // want: "root", or "new"
	}{
		{"reply with In-Reply-To", mailText("wangrong@example.cn", "support@example.com", "", "Re: 订单A1001未发货", "m2@example.cn", "m1@example.cn", "<m1@example.cn>", "谢谢"), "root"},
		{"Outlook-rewritten In-Reply-To, good References", mailText("wangrong@example.cn", "support@example.com", "", "答复: 订单", "m3@example.cn", "rewritten@outlook", "<m1@example.cn> <m2@example.cn>", "好的"), "root"},
		{"the colleague on Cc replies", mailText("li@example.cn", "support@example.com", "", "Re: 订单", "m4@example.cn", "m1@example.cn", "", "我补充一下"), "root"},
		{"a stranger replies to a forwarded mail", mailText("stranger@example.org", "support@example.com", "", "Re: 订单", "m5@example.org", "m1@example.cn", "<m1@example.cn>", "not mine"), "new"},
		{"subject token only", mailText("wangrong@example.cn", "support@example.com", "", "Re: [#10000] 订单", "m6@example.cn", "", "", "只有单号"), "root"},
		{"a stranger with the subject token", mailText("other@example.org", "support@example.com", "", "Re: [#10000]", "m7@example.org", "", "", "guessing"), "new"},
		{"a new subject from the known customer", mailText("wangrong@example.cn", "support@example.com", "", "发票问题", "m8@example.cn", "", "", "另一个问题"), "new"},
	}
	for _, tc := range cases {
		send(tc.raw)
		id := tc.raw[strings.Index(tc.raw, "Message-ID: <")+13:]
		id = id[:strings.Index(id, ">")]
		got := convOf(id)
		switch {
		case got == "":
			t.Errorf("%s: not stored", tc.name)
		case tc.want == "root" && got != root:
			t.Errorf("%s: landed in %s, want the thread's %s", tc.name, got, root)
		case tc.want == "new" && got == root:
			t.Errorf("%s: merged into the thread %s", tc.name, root)
		}
	}
}

// Automatic mail never opens a conversation; answering a known thread it
// is kept there, passive.
func TestAutomaticMail(t *testing.T) {
	in := newInbox()
	_, addr := start(t, in)
	auto, err := os.ReadFile("mailparse/testdata/auto-reply.eml")
	if err != nil {
		t.Fatal(err)
	}
	if err := deliver(t, addr, "", []string{"support@example.com"}, string(auto)); err != nil {
		t.Fatal(err)
	}
	list := mailText("news@lists.example.org", "support@example.com", "", "Weekly digest", "l1@lists", "", "", "news") // + List-Id below
	list = strings.Replace(list, "MIME-Version", "List-Id: <news.lists.example.org>\r\nPrecedence: list\r\nMIME-Version", 1)
	if err := deliver(t, addr, "bounces@lists.example.org", []string{"support@example.com"}, list); err != nil {
		t.Fatal(err)
	}
	if n := in.count(); n != 0 {
		t.Fatalf("%d conversations from automatic mail", n)
	}
	// A vacation reply to a thread we know is kept on it, passive.
	if err := deliver(t, addr, "a@example.cn", []string{"support@example.com"},
		mailText("a@example.cn", "support@example.com", "", "help", "h1@example.cn", "", "", "help me")); err != nil {
		t.Fatal(err)
	}
	ooo := mailText("a@example.cn", "support@example.com", "", "自动回复: help", "h2@example.cn", "h1@example.cn", "", "我在休假")
	ooo = strings.Replace(ooo, "MIME-Version", "Auto-Submitted: auto-replied\r\nMIME-Version", 1)
	if err := deliver(t, addr, "a@example.cn", []string{"support@example.com"}, ooo); err != nil {
		t.Fatal(err)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.convs) != 1 {
		t.Fatalf("%d conversations", len(in.convs))
	}
	for _, ms := range in.convs {
		if len(ms) != 2 || ms[0].Passive || !ms[1].Passive {
			t.Errorf("messages %+v", ms)
		}
	}
}

// SMTP answers: unknown recipients 550, oversized 552, unparseable mail
// quarantined (250), a GBK mail decoded, a retry stored once.
func TestListenerAnswers(t *testing.T) {
	in := newInbox()
	c, addr := start(t, in, func(b *Mailbox) { b.MaxMessageBytes = 64 << 10 })
	gbk, err := os.ReadFile("mailparse/testdata/gbk-plain.eml")
	if err != nil {
		t.Fatal(err)
	}
	if got := code(deliver(t, addr, "wangrong@example.cn", []string{"nobody@example.com"}, string(gbk))); got != 550 {
		t.Errorf("unknown recipient: %d, want 550", got)
	}
	if got := code(deliver(t, addr, "wangrong@example.cn", []string{"support@other.example"}, string(gbk))); got != 550 {
		t.Errorf("another domain: %d, want 550", got)
	}
	big := mailText("a@example.cn", "support@example.com", "", "big", "big@x", "", "", strings.Repeat(strings.Repeat("x", 70)+"\r\n", 1024))
	if got := code(deliver(t, addr, "a@example.cn", []string{"support@example.com"}, big)); got != 552 {
		t.Errorf("oversized: %d, want 552", got)
	}
	for i := 0; i < 2; i++ { // an MTA's retry
		if got := code(deliver(t, addr, "wangrong@example.cn", []string{"support+10042@example.com"}, string(gbk))); got != 250 {
			t.Fatalf("GBK mail: %d", got)
		}
	}
	in.mu.Lock()
	var msgs []connectors.Message
	for _, ms := range in.convs {
		msgs = append(msgs, ms...)
	}
	in.mu.Unlock()
	if len(msgs) != 1 {
		t.Fatalf("%d messages from one mail delivered twice", len(msgs))
	}
	m := msgs[0]
	if m.From.Value != "wangrong@example.cn" || m.From.Name != "王镕" || !strings.Contains(m.Text, "订单 A1001 至今未发货") ||
		m.Fields["subject"] != "咨询：订单A1001至今未发货，请尽快处理（联系人王镕）" {
		t.Errorf("GBK mail became %+v", m)
	}
	// A mail bomb is quarantined with its reason, not stored, not retried.
	var bomb strings.Builder
	bomb.WriteString("From: a@example.cn\r\nTo: support@example.com\r\nSubject: bomb\r\nMIME-Version: 1.0\r\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&bomb, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	bomb.WriteString("\r\nx\r\n")
	if got := code(deliver(t, addr, "a@example.cn", []string{"support@example.com"}, bomb.String())); got != 250 {
		t.Errorf("mail bomb: %d, want 250 (quarantined)", got)
	}
	q, err := c.env.Redis.XRange(context.Background(), c.env.Prefix+"{em:support}:quarantine", "-", "+").Result()
	if err != nil || len(q) != 1 || q[0].Values["reason"] == "" {
		t.Errorf("quarantine %+v %v", q, err)
	}
	if n := in.count(); n != 1 {
		t.Errorf("%d conversations after the bomb", n)
	}
}

// A sender opening conversations in a loop is deferred with 450.
func TestPerSenderLimit(t *testing.T) {
	in := newInbox()
	_, addr := start(t, in, func(b *Mailbox) { b.PerSenderPerHour = 3 })
	var codes []int
	for i := 0; i < 5; i++ {
		codes = append(codes, code(deliver(t, addr, "loop@example.org", []string{"support@example.com"},
			mailText("loop@example.org", "support@example.com", "", fmt.Sprint("subject ", i), fmt.Sprintf("loop%d@x", i), "", "", "hi"))))
	}
	if fmt.Sprint(codes) != "[250 250 250 450 450]" {
		t.Errorf("codes %v", codes)
	}
	_ = time.Second
}
