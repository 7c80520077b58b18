package email

import (
	"context"
	"strings"
	"testing"

	"switchboard/connectors"
)

// The threading table, continued: several people answering one mail. Each
// mail lands in the conversation its want names: a label seen before, or
// "new:LABEL" for a conversation no mail so far is in, named LABEL from
// then on.
func TestThreadingSharedMail(t *testing.T) {
	_, relayAddr := startRelay(t)
	in := newInbox()
	c, addr := start(t, in, func(b *Mailbox) { b.SMTPRelay = &Relay{Addr: relayAddr, Security: "none"} })
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
	// Customer A writes, and an agent answers her through Switchboard.
	if err := deliver(t, addr, "anna@a.example", []string{"support@example.com"},
		mailText("Anna <anna@a.example>", "support@example.com", "", "发票抬头有误", "a0@a.example", "", "", "请改一下发票抬头")); err != nil {
		t.Fatal(err)
	}
	convA := convOf("a0@a.example")
	rc, err := c.Send(context.Background(), &connectors.Outbound{ID: "01AG", ConversationID: convA, Channel: connectors.Email, Account: "support",
		To: connectors.Identity{Type: "email", Value: "anna@a.example"}, Kind: connectors.KindText, Text: "已重开发票", Thread: connectors.Thread{Token: "10000"}})
	if err != nil {
		t.Fatal(err)
	}
	toA := rc.ExternalID
	// A notice Switchboard never saw: the company's maintenance notice,
	// sent from another system to undisclosed recipients.
	const notice = "notice-2026-11@mailer.example.com"
	const subject = "Re: 系统维护通知"

	convs := map[string]string{"A": convA}
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"A answers the notice", mailText("Anna <anna@a.example>", "support@example.com", "", subject, "na1@a.example", notice, "<"+notice+">", "维护期间能下单吗？"), "new:notice-A"},
		{"B answers the notice", mailText("Bo <bo@b.example>", "support@example.com", "", subject, "nb1@b.example", notice, "<"+notice+">", "维护几个小时？"), "new:notice-B"},
		{"A again, on her first answer", mailText("anna@a.example", "support@example.com", "", subject, "na2@a.example", "na1@a.example", "<"+notice+"> <na1@a.example>", "补充一下"), "notice-A"},
		{"B again, on his first answer", mailText("bo@b.example", "support@example.com", "", subject, "nb2@b.example", "nb1@b.example", "<"+notice+"> <nb1@b.example>", "还有"), "notice-B"},
		{"B once more, on the notice itself", mailText("bo@b.example", "support@example.com", "", subject, "nb3@b.example", notice, "<"+notice+">", "再问一次"), "notice-B"},
		{"someone not on A's answer answers it", mailText("li@a.example", "support@example.com", "", subject, "nl1@a.example", "na1@a.example", "<"+notice+"> <na1@a.example>", "我是同事"), "new:notice-L"},
		{"C, not on the agent's mail to A, answers it", mailText("Chen <chen@c.example>", "support@example.com", "", "Re: 发票抬头有误 [#10000]", "c1@c.example", toA, "<a0@a.example> <"+toA+">", "我也要改发票"), "new:C"},
		{"A answers the agent's mail", mailText("anna@a.example", "support@example.com", "", "Re: 发票抬头有误 [#10000]", "a1@a.example", toA, "<a0@a.example> <"+toA+">", "收到"), "A"},
		{"C again, on the same mail", mailText("chen@c.example", "support@example.com", "", "Re: 发票抬头有误 [#10000]", "c2@c.example", toA, "<a0@a.example> <"+toA+">", "请回复"), "C"},
		{"C again, on his own mail", mailText("chen@c.example", "support@example.com", "", "Re: 发票抬头有误 [#10000]", "c3@c.example", "c1@c.example", "<a0@a.example> <"+toA+"> <c1@c.example>", "请回复我"), "C"},
	} {
		from := tc.raw[len("From: "):strings.Index(tc.raw, "\r\n")]
		if i := strings.Index(from, "<"); i >= 0 {
			from = strings.Trim(from[i:], "<>")
		}
		if err := deliver(t, addr, from, []string{"support@example.com"}, tc.raw); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		id := tc.raw[strings.Index(tc.raw, "Message-ID: <")+13:]
		id = id[:strings.Index(id, ">")]
		got := convOf(id)
		if label, isNew := strings.CutPrefix(tc.want, "new:"); isNew {
			for l, conv := range convs {
				if conv == got {
					t.Errorf("%s: landed in %s's conversation %s, want a new one", tc.name, l, got)
				}
			}
			if got == "" {
				t.Errorf("%s: not stored", tc.name)
			}
			convs[label] = got
			continue
		}
		if want := convs[tc.want]; got != want {
			t.Errorf("%s: landed in %q, want %s's conversation %s", tc.name, got, tc.want, want)
		}
	}
}
