package mailparse

import "testing"

func TestReplyText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"Gmail", "Thanks!\n\nOn Mon, Nov 13, 2023 at 10:00 AM Li Ming <support@example.com> wrote:\n> old\n> older", "Thanks!"},
		{"Gmail, attribution wrapped", "Thanks!\n\nOn Mon, Nov 13, 2023 at 10:00 AM Li Ming <\nsupport@example.com> wrote:\n\n> old", "Thanks!"},
		{"CRLF", "a\r\n\r\nOn Tue, Li wrote:\r\n> b\r\n", "a"},
		{"Chinese attribution", "好的\n\n在 2023年11月15日 09:00，李明 写道：\n> 旧", "好的"},
		{"Chinese attribution, ASCII colon, no quotes", "好的\n在 2023-11-15 09:00，李明 <s@example.com> 写道:\n旧内容\n更旧", "好的"},
		{"name first, then 于 … 写道", "ok\n李明 <s@example.com> 于2023年11月15日周三 09:00写道：\n> 旧", "ok"},
		{"Outlook", "Hi\n\n________________________________\nFrom: Li <s@example.com>\nSent: Wednesday, November 15, 2023 9:00 AM\nTo: x\nSubject: y\n\nold", "Hi"},
		{"Outlook, bold rendering", "Hi\n\n*From:* Li\n*Sent:* today\nold", "Hi"},
		{"Outlook, Date instead of Sent", "Hi\n\nFrom: Li\nTo: x\nDate: today\nold", "Hi"},
		{"Chinese Outlook", "您好\n\n发件人: 李明 <s@example.com>\n发送时间: 2023年11月15日 9:00\n收件人: x\n主题: y\n\nold", "您好"},
		{"Foxmail, full-width colons", "收到\n\n发件人：李明\n发送时间：2023-11-15\nold", "收到"},
		{"Original Message", "New\n\n-----Original Message-----\nFrom: x\nold", "New"},
		{"原始邮件", "新\n\n-----原始邮件-----\n旧", "新"},
		{"QQ mail with nbsp", "新\n\n------------------\u00a0原始邮件\u00a0------------------\n旧", "新"},
		{"Gmail forward", "FYI\n\n---------- Forwarded message ---------\nFrom: a\nold", "FYI"},
		{"Apple forward", "FYI\n\nBegin forwarded message:\n\nFrom: a\nold", "FYI"},
		{"interleaved quotes", "> q1\nanswer1\n> q2\nanswer2", "answer1\nanswer2"},
		{"a forward with nothing new keeps everything", "-----Original Message-----\nFrom: x\nSent: y\n\ncontent\n", "-----Original Message-----\nFrom: x\nSent: y\n\ncontent"},
		{"From: in prose is not a header block", "From: the warehouse we got the box.\nThanks\n", "From: the warehouse we got the box.\nThanks"},
		{"On … without wrote is prose", "On time delivery please.\nThanks", "On time delivery please.\nThanks"},
		{"empty", "", ""},
		// Switchboard's own replies quote the customer below an attribution
		// ("On <date>, <name> wrote:" or "在 <date>，<name> 写道："); the
		// customer's answer quotes all of it once more.
		{"answer to a quoted reply, Gmail", "谢谢\n\nOn Mon, 23 Nov 2026 at 10:05, 李明 · 售后支持 <support@example.com> wrote:\n" +
			"> 您好，已为您查询。\n>\n> 在 2026年11月23日 08:00，王镕 <wangrong@example.cn> 写道：\n>> 我的订单没到", "谢谢"},
		{"answer to a quoted reply, Outlook", "Thanks\n\n________________________________\nFrom: Li Ming · Support <support@example.com>\n" +
			"Sent: Monday, November 23, 2026 10:05 AM\nTo: Wang\n\nHello,\n\nOn Mon, 23 Nov 2026 at 08:00, Wang <w@example.cn> wrote:\n> Where is it?", "Thanks"},
		{"answer below a quoted reply", "> 您好，已为您查询。\n>\n> 在 2026年11月23日 08:00，王镕 <wangrong@example.cn> 写道：\n>> 我的订单没到\n\n谢谢", "谢谢"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReplyText(tt.in); got != tt.want {
				t.Errorf("ReplyText(%q)\n = %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// An HTML-only Outlook reply: the rendering keeps the header block as lines,
// so the reply is found there too.
func TestReplyTextFromOutlookHTML(t *testing.T) {
	raw := "Content-Type: text/html; charset=utf-8\r\n\r\n" +
		`<div>Hi Li Ming,</div><div><br></div><div>Any news?</div>` +
		`<hr><div id="divRplyFwdMsg"><font face="Calibri"><b>From:</b> Li Ming &lt;support@example.com&gt;<br><b>Sent:</b> Wednesday, November 15, 2023 9:00 AM<br><b>To:</b> John</font></div>` +
		`<div>Your order was shipped.</div>`
	m := mustParse(t, []byte(raw))
	if !m.TextFromHTML || m.Reply != "Hi Li Ming,\n\nAny news?" {
		t.Errorf("TextFromHTML %v, Text %q, Reply %q", m.TextFromHTML, m.Text, m.Reply)
	}
}

func TestUnflow(t *testing.T) {
	tests := []struct {
		name, in string
		delsp    bool
		want     string
	}{
		{"joins soft breaks", "a \nb \nc\nd", false, "a b c\nd"},
		{"space-stuffing removed", " From here\n >not quoted", false, "From here\n>not quoted"},
		{"quote depth ends a paragraph", "a \n> b \n> c\n>> d", false, "a\n> b c\n>> d"},
		{"signature separator is not flowed", "-- \nsig", false, "-- \nsig"},
		{"delsp", "ab \ncd", true, "abcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unflow(tt.in, tt.delsp); got != tt.want {
				t.Errorf("unflow(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
