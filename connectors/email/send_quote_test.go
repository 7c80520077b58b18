package email

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"switchboard/connectors"
)

// quoted prefixes every line of text with "> ", as a mail client quoting it.
func quoted(text string) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\n"), "\n")
	for i, l := range lines {
		lines[i] = "> " + l
	}
	return strings.Join(lines, "\r\n")
}

// sentText is the text part of the mail the relay took last.
func sentText(t *testing.T, relay *relayServer) (entity, string) {
	t.Helper()
	m := readEntity(t, bytes.NewReader(lastSent(t, relay)))
	if m.mediaType() != "text/plain" || len(m.parts) != 0 {
		t.Fatalf("the reply is %s with %d parts, want text/plain alone", m.mediaType(), len(m.parts))
	}
	return m, strings.ReplaceAll(string(m.body), "\r\n", "\n")
}

// Replies quote the customer's latest mail below the text, with an
// attribution in the thread's language (or the mailbox's), unless the
// mailbox says not to or the mail is automatic; automatic mail carries
// Auto-Submitted, an agent's reply never.
func TestQuotedHistory(t *testing.T) {
	noQuote := func(b *Mailbox) { f := false; b.QuoteHistory = &f }
	lang := func(l string) func(*Mailbox) { return func(b *Mailbox) { b.Language = l } }
	const zhAttr = "在 2026年11月23日 08:00，王镕 <wangrong@example.cn> 写道："
	const enAttr = "On Mon, 23 Nov 2026 at 08:00, 王镕 <wangrong@example.cn> wrote:"
	for _, tc := range []struct {
		name          string
		edit          func(*Mailbox)
		subject, body string
		automatic     bool
		want          string // the whole text of the reply
	}{
		{"a Chinese thread", nil, "订单未到", "我的订单没到\n\n> 旧的引用\n请查一下", false,
			"您好，已为您查询。\n\n" + zhAttr + "\n> 我的订单没到\n>\n>> 旧的引用\n> 请查一下"},
		{"an English thread", nil, "Order missing", "My order has not arrived.  \nOrder A1001", false,
			"您好，已为您查询。\n\n" + enAttr + "\n> My order has not arrived.\n> Order A1001"},
		{"language: en on a Chinese thread", lang("en"), "订单未到", "我的订单没到", false,
			"您好，已为您查询。\n\n" + enAttr + "\n> 我的订单没到"},
		{"language: zh on an English thread", lang("zh"), "Order missing", "Where is it?", false,
			"您好，已为您查询。\n\n" + zhAttr + "\n> Where is it?"},
		{"Japanese is not Chinese", nil, "注文について", "注文した商品がまだ届きません", false,
			"您好，已为您查询。\n\n" + enAttr + "\n> 注文した商品がまだ届きません"},
		{"quote_history: false", noQuote, "订单未到", "我的订单没到", false, "您好，已为您查询。"},
		{"automatic mail", nil, "订单未到", "我的订单没到", true, "您好，已为您查询。"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			relay, relayAddr := startRelay(t)
			in := newInbox()
			edits := []func(*Mailbox){func(b *Mailbox) { b.SMTPRelay = &Relay{Addr: relayAddr, Security: "none"} }}
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			c, addr := start(t, in, edits...)
			conv := customerWrites(t, in, addr, tc.subject, tc.body)
			out := reply("01Q", conv, "您好，已为您查询。\n", nil...)
			out.Automatic = tc.automatic
			if _, err := c.Send(context.Background(), out); err != nil {
				t.Fatal(err)
			}
			m, text := sentText(t, relay)
			if got := strings.TrimRight(text, "\n"); got != tc.want {
				t.Errorf("reply text\n%s\nwant\n%s", got, tc.want)
			}
			auto, suppress := m.header.Get("Auto-Submitted"), m.header.Get("X-Auto-Response-Suppress")
			if tc.automatic && (auto != "auto-replied" || suppress != "All") || !tc.automatic && (auto != "" || suppress != "") {
				t.Errorf("automatic %v: Auto-Submitted %q, X-Auto-Response-Suppress %q", tc.automatic, auto, suppress)
			}
			// A second reply before the customer answers still quotes them.
			if _, err := c.Send(context.Background(), reply("01R", conv, "您好，已为您查询。")); err != nil {
				t.Fatal(err)
			}
			if _, text := sentText(t, relay); tc.edit == nil && !tc.automatic && !strings.Contains(text, "\n> ") {
				t.Errorf("the second reply quotes nothing:\n%s", text)
			}
		})
	}

	t.Run("a long mail is quoted in part", func(t *testing.T) {
		relay, relayAddr := startRelay(t)
		in := newInbox()
		c, addr := start(t, in, func(b *Mailbox) { b.SMTPRelay = &Relay{Addr: relayAddr, Security: "none"} })
		var long strings.Builder
		for i := 0; long.Len() < 3*quoteBytes; i++ {
			fmt.Fprintf(&long, "第%d行：订单明细，请核对。\n", i)
		}
		conv := customerWrites(t, in, addr, "订单明细", long.String())
		if _, err := c.Send(context.Background(), reply("01L", conv, "收到")); err != nil {
			t.Fatal(err)
		}
		_, text := sentText(t, relay)
		_, q, _ := strings.Cut(text, "写道：\n")
		if q == "" || len(q) > quoteBytes+quoteBytes/4 || !strings.HasSuffix(strings.TrimRight(q, "\n"), "> […]") ||
			!strings.HasPrefix(q, "> 第0行：") {
			t.Errorf("the quote of a %d-byte mail is %d bytes:\n%s", long.Len(), len(q), q)
		}
	})
}

// When the customer answers a reply that quoted them, their message shows
// only what they wrote, however their mail client quoted ours; the whole
// text is kept with it.
func TestAnswerToQuotedReply(t *testing.T) {
	relay, relayAddr := startRelay(t)
	in := newInbox()
	c, addr := start(t, in, func(b *Mailbox) { b.SMTPRelay = &Relay{Addr: relayAddr, Security: "none"}; b.Name = "售后支持" })
	conv := customerWrites(t, in, addr, "订单未到", "我的订单没到，请查一下")
	rc, err := c.Send(context.Background(), reply("01A", conv, "您好，已为您查询：\n包裹明天送达。"))
	if err != nil {
		t.Fatal(err)
	}
	_, ours := sentText(t, relay)
	if !strings.Contains(ours, "写道：\n> 我的订单没到") {
		t.Fatalf("the reply does not quote the customer:\n%s", ours)
	}
	const answer = "谢谢，收到了"
	for i, tc := range []struct{ name, body string }{
		{"Gmail, English", answer + "\r\n\r\nOn Mon, 23 Nov 2026 at 10:05, 李明 · 售后支持 <support@example.com> wrote:\r\n\r\n" + quoted(ours)},
		{"Gmail, attribution wrapped", answer + "\r\n\r\nOn Mon, Nov 23, 2026 at 10:05 AM 李明 · 售后支持 <\r\nsupport@example.com> wrote:\r\n" + quoted(ours)},
		{"Foxmail, Chinese attribution", answer + "\r\n\r\n在 2026-11-23 10:05，李明 · 售后支持 <support@example.com> 写道：\r\n" + quoted(ours)},
		{"Outlook, our text unquoted", answer + "\r\n\r\n________________________________\r\nFrom: 李明 · 售后支持 <support@example.com>\r\n" +
			"Sent: Monday, November 23, 2026 10:05 AM\r\nTo: wangrong@example.cn\r\nSubject: Re: 订单未到 [#10042]\r\n\r\n" + ours},
		{"QQ Mail", answer + "\r\n\r\n------------------&nbsp;原始邮件&nbsp;------------------\r\n发件人: \"李明 · 售后支持\"<support@example.com>;\r\n" +
			"发送时间: 2026年11月23日(星期一) 上午10:05\r\n收件人: \"王镕\"<wangrong@example.cn>;\r\n\r\n" + ours},
		{"below the quote", quoted(ours) + "\r\n\r\n" + answer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.ReplaceAll(tc.body, "&nbsp;", "\u00a0")
			id := fmt.Sprintf("ans%d@example.cn", i)
			raw := mailText("王镕 <wangrong@example.cn>", "support@example.com", "", "Re: 订单未到 [#10042]", id, rc.ExternalID,
				"<c1@example.cn> <"+rc.ExternalID+">", body)
			if err := deliver(t, addr, "wangrong@example.cn", []string{"support@example.com"}, raw); err != nil {
				t.Fatal(err)
			}
			in.mu.Lock()
			defer in.mu.Unlock()
			var got *connectors.Message
			for _, m := range in.convs[conv] {
				if m.Thread.MessageID == id {
					got = &m
				}
			}
			switch {
			case got == nil:
				t.Fatalf("the answer did not join the conversation %s", conv)
			case got.Text != answer:
				t.Errorf("the answer shows %q, want %q", got.Text, answer)
			case !strings.Contains(got.Fields["full_text"], "包裹明天送达"):
				t.Errorf("the whole text is not kept: %q", got.Fields["full_text"])
			}
		})
	}
}

// quote_history defaults to true and stays false when set so; language is
// en, zh or unset.
func TestReplyConfig(t *testing.T) {
	no := false
	for _, tc := range []struct {
		name      string
		edit      func(*Mailbox)
		wantQuote bool
		wantErr   string
	}{
		{"defaults", func(*Mailbox) {}, true, ""},
		{"quote_history: false", func(b *Mailbox) { b.QuoteHistory = &no }, false, ""},
		{"language: zh", func(b *Mailbox) { b.Language = "zh" }, true, ""},
		{"language: en", func(b *Mailbox) { b.Language = "en" }, true, ""},
		{"language: fr", func(b *Mailbox) { b.Language = "fr" }, true, "language: "},
		{"language: zh-CN", func(b *Mailbox) { b.Language = "zh-CN" }, true, "language: "},
	} {
		b := Mailbox{ID: "support", Address: "support@example.com", SMTPListen: ":2525"}
		tc.edit(&b)
		errs := b.check()
		switch {
		case tc.wantErr == "" && len(errs) > 0:
			t.Errorf("%s: %v", tc.name, errs)
		case tc.wantErr != "" && (len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.wantErr)):
			t.Errorf("%s: %v, want one error on %q", tc.name, errs, tc.wantErr)
		case b.QuoteHistory == nil || *b.QuoteHistory != tc.wantQuote:
			t.Errorf("%s: quote_history %v, want %v", tc.name, b.QuoteHistory, tc.wantQuote)
		}
	}
}

// A reply quotes only the person it goes to: when the thread's latest mail
// came from a colleague on Cc who answered the mailbox alone, the reply to
// the customer quotes nothing rather than pass on the colleague's words.
func TestQuoteOnlyTheRecipient(t *testing.T) {
	relay, relayAddr := startRelay(t)
	in := newInbox()
	c, addr := start(t, in, func(b *Mailbox) { b.SMTPRelay = &Relay{Addr: relayAddr, Security: "none"} })
	first := mailText("王镕 <wangrong@example.cn>", "support@example.com", "李娜 <lina@example.cn>", "发票", "q1@example.cn", "", "", "请开发票")
	if err := deliver(t, addr, "wangrong@example.cn", []string{"support@example.com"}, first); err != nil {
		t.Fatal(err)
	}
	colleague := mailText("李娜 <lina@example.cn>", "support@example.com", "", "Re: 发票", "q2@example.cn", "q1@example.cn",
		"<q1@example.cn>", "内部说明：他上个月的账还没结")
	if err := deliver(t, addr, "lina@example.cn", []string{"support@example.com"}, colleague); err != nil {
		t.Fatal(err)
	}
	if n := in.count(); n != 1 {
		t.Fatalf("%d conversations, want the colleague's mail on the customer's", n)
	}
	if _, err := c.Send(context.Background(), reply("01C", "c1", "发票已开")); err != nil {
		t.Fatal(err)
	}
	if _, text := sentText(t, relay); strings.Contains(text, "账还没结") || strings.Contains(text, "\n> ") {
		t.Errorf("the reply to the customer quotes the colleague:\n%s", text)
	}
	// Once the customer writes again, replies quote them again.
	again := mailText("王镕 <wangrong@example.cn>", "support@example.com", "", "Re: 发票", "q3@example.cn", "q2@example.cn",
		"<q1@example.cn> <q2@example.cn>", "抬头写公司名")
	if err := deliver(t, addr, "wangrong@example.cn", []string{"support@example.com"}, again); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), reply("01D", "c1", "好的")); err != nil {
		t.Fatal(err)
	}
	if _, text := sentText(t, relay); !strings.Contains(text, "> 抬头写公司名") {
		t.Errorf("the reply does not quote the customer's own mail:\n%s", text)
	}
}
