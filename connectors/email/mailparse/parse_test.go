package mailparse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func mustParse(t testing.TB, raw []byte) *Mail {
	t.Helper()
	m, err := Parse(raw, Limits{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

// slowdown scales time bounds: the race detector makes code about ten times
// slower (see race_test.go).
var slowdown time.Duration = 1

func lf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// The three shared fixtures, with the values documented for them in
// shared/protocols/email.md §4.4.
func TestSharedFixtures(t *testing.T) {
	tests := []struct {
		file, sha256 string
		subject      string
		fromName     string
		fromAddr     string
		messageID    string
		inReplyTo    []string
		references   []string
		text         string
		reply        string
		token        string
		kind         Kind
		nullRP       bool
	}{
		{
			file:      "gbk-plain.eml",
			sha256:    "494cf43550929837ebbb0b844de0504ae5679e78ba1557371738f85c87a6fb97",
			subject:   "咨询：订单A1001至今未发货，请尽快处理（联系人王镕）",
			fromName:  "王镕",
			fromAddr:  "wangrong@example.cn",
			messageID: "20231114221320.4F2A9C@example.cn",
			text:      "客服您好：\r\n我在11月10日下的订单 A1001 至今未发货，请尽快处理。\r\n联系人：王镕（镕字不在GB2312中）\r\n电话：138 0013 8000\r\n谢谢！\r\n",
			reply:     "客服您好：\n我在11月10日下的订单 A1001 至今未发货，请尽快处理。\n联系人：王镕（镕字不在GB2312中）\n电话：138 0013 8000\n谢谢！",
			kind:      Human,
		},
		{
			file:       "reply-multipart.eml",
			sha256:     "5609cf9865ce721a5d1ec4dce8034dc18a359bba661cd1ae5d9b22beea97cd20",
			subject:    "Re: [#1001] 咨询：订单A1001至今未发货",
			fromName:   "王镕",
			fromAddr:   "wangrong@example.cn",
			messageID:  "CAKx9f2Q7reply20231115093005@mail.example.cn",
			inReplyTo:  []string{"ticket-1001.article-2.1700010000@support.example.com"},
			references: []string{"20231114221320.4F2A9C@example.cn", "ticket-1001.article-2.1700010000@support.example.com"},
			text:       "收到，谢谢！请问快递单号是 SF1234567890 吗？\r\n\r\n王镕\r\n\r\n在 2023-11-15 09:00，李明 <support@example.com> 写道：\r\n> 您好，订单 A1001 已于今天发出。\r\n> -- 售后支持 李明",
			reply:      "收到，谢谢！请问快递单号是 SF1234567890 吗？\n\n王镕",
			token:      "1001",
			kind:       Human,
		},
		{
			file:       "auto-reply.eml",
			sha256:     "50cb9d133474d5c7aac7d30027cf5dbfdd8ed615293d96fcf56570c87180251c",
			subject:    "自动回复: Re: [#1001] 咨询：订单A1001至今未发货",
			fromName:   "王镕",
			fromAddr:   "wangrong@example.cn",
			messageID:  "autoreply.1700014500.8812@example.cn",
			inReplyTo:  []string{"ticket-1001.article-3.1700013600@support.example.com"},
			references: []string{"ticket-1001.article-3.1700013600@support.example.com"},
			text:       "您好，我正在休假，11月20日返回，期间无法及时回复邮件。\r\nThis is an automatic reply. I am out of office until 20 Nov.\r\n",
			reply:      "您好，我正在休假，11月20日返回，期间无法及时回复邮件。\nThis is an automatic reply. I am out of office until 20 Nov.",
			token:      "1001",
			kind:       AutoReply,
			nullRP:     true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := readFixture(t, tt.file)
			sum := sha256.Sum256(raw)
			if got := hex.EncodeToString(sum[:]); got != tt.sha256 {
				t.Fatalf("fixture is not byte-exact: sha256 %s, want %s (line endings rewritten?)", got, tt.sha256)
			}
			m := mustParse(t, raw)
			if m.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.subject)
			}
			if m.From.Name != tt.fromName || m.From.Addr != tt.fromAddr {
				t.Errorf("From = %+v, want %s <%s>", m.From, tt.fromName, tt.fromAddr)
			}
			if m.MessageID != tt.messageID {
				t.Errorf("MessageID = %q, want %q", m.MessageID, tt.messageID)
			}
			if !equalIDs(m.InReplyTo, tt.inReplyTo) || !equalIDs(m.References, tt.references) {
				t.Errorf("InReplyTo = %q, References = %q; want %q, %q", m.InReplyTo, m.References, tt.inReplyTo, tt.references)
			}
			if m.Text != lf(tt.text) {
				t.Errorf("Text = %q, want %q", m.Text, lf(tt.text))
			}
			if m.Reply != tt.reply {
				t.Errorf("Reply = %q, want %q", m.Reply, tt.reply)
			}
			if tok, _ := SubjectToken(m.Subject); tok != tt.token {
				t.Errorf("SubjectToken = %q, want %q", tok, tt.token)
			}
			if c := Classify(m); c.Kind != tt.kind {
				t.Errorf("Classify = %+v, want %s", c, tt.kind)
			}
			if m.NullReturnPath != tt.nullRP {
				t.Errorf("NullReturnPath = %v", m.NullReturnPath)
			}
			if len(m.Warnings) > 0 {
				t.Errorf("Warnings = %q", m.Warnings)
			}
		})
	}
}

func equalIDs(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

func TestReplyMultipartDetails(t *testing.T) {
	m := mustParse(t, readFixture(t, "reply-multipart.eml"))
	if len(m.To) != 1 || m.To[0].Name != "售后支持" || m.To[0].Addr != "reply+7d0c3a52-6a1f-4c8e-9f55-2b7e1d4a0c11@support.example.com" {
		t.Errorf("To = %+v", m.To)
	}
	want := time.Date(2023, 11, 15, 9, 30, 5, 0, time.FixedZone("", 8*3600))
	if !m.Date.Equal(want) {
		t.Errorf("Date = %v, want %v", m.Date, want)
	}
	if m.TextFromHTML {
		t.Error("TextFromHTML set although the mail has text/plain")
	}
	// The HTML alternative is kept, sanitized: the blockquote stays, its
	// type attribute goes, the <html><head><meta> go.
	wantHTML := "<div>收到，谢谢！请问快递单号是 <b>SF1234567890</b> 吗？</div><div><br></div><div>王镕</div><blockquote>在 2023-11-15 09:00，李明 &lt;support@example.com&gt; 写道：<br>您好，订单 A1001 已于今天发出。<br>-- 售后支持 李明</blockquote>"
	if strings.TrimSpace(m.HTML) != wantHTML {
		t.Errorf("HTML = %q\nwant   %q", m.HTML, wantHTML)
	}
	// Rendering that HTML as text gives the same reply.
	if got := ReplyText(htmlToText(m.rawHTML)); got != m.Reply {
		t.Errorf("reply from the HTML = %q, want %q", got, m.Reply)
	}
}

// Our own fixtures: what each one is for is in its name.
func TestFixtures(t *testing.T) {
	tests := []struct {
		file     string
		subject  string
		from     Address
		text     string // exact, when set
		contains string // else a piece of Text
		reply    string // when set
		kind     Kind
		reason   string // a piece of the reason, when set
		token    string
	}{
		{file: "big5.eml", subject: "詢問：訂單 B2024 何時出貨？", from: Address{"陳大文", "chan.taiman@example.hk"},
			text: "您好：\n我的訂單 B2024 還沒有收到，請幫忙查詢。\n謝謝！\n陳大文\n", kind: Human},
		{file: "iso-2022-jp.eml", subject: "お問い合わせ：注文番号 J3003 について", from: Address{"山田太郎", "taro.yamada@example.jp"},
			text: "ご担当者様\n\n注文番号 J3003 の発送予定を教えてください。\nよろしくお願いいたします。\n山田太郎\n", kind: Human},
		{file: "gb18030.eml", subject: "生僻字𠮷与㐀的订单", from: Address{"王镕喆", "zhe@example.cn"},
			text: "姓名：𠮷田 㐀\n地址：北京市海淀区\n欧元符号：€\n", kind: Human},
		{file: "outlook-reply.eml", subject: "RE: [#10042] Order A1001", from: Address{"John Smith", "john.smith@example.org"},
			contains: "Your order A1001 was shipped today.",
			reply:    "Hi Li Ming,\n\nThe tracking number still shows nothing. Can you check?\n\nBest regards\nJohn",
			kind:     Human, token: "10042"},
		{file: "mailing-list.eml", subject: "[example-announce] November newsletter", from: Address{"Example News", "news@lists.example.org"},
			text: "Our November news.\n", kind: Bulk, reason: "Precedence: list"},
		{file: "exchange-oof.eml", subject: "自动答复: [#10042] Order A1001", from: Address{"李明", "liming@corp.example"},
			text: "我将于11月27日返回。", kind: AutoReply, reason: "X-MS-Exchange-Inbox-Rules-Loop", token: "10042"},
		{file: "gmail-vacation.eml", subject: "Re: [#10042] Order A1001", from: Address{"Wang Wei", "wang.wei@gmail.example"},
			text: "I am on vacation until 1 December and will read your message when I get back.\n",
			kind: AutoReply, reason: "Auto-Submitted: auto-replied", token: "10042"},
		{file: "bounce-dsn.eml", subject: "Undelivered Mail Returned to Sender", from: Address{"Mail Delivery System", "mailer-daemon@mx.example.com"},
			contains: "could not\nbe delivered", kind: Bounce, reason: "delivery-status"},
		{file: "hostile-html.eml", subject: "hostile html", from: Address{"Mallory", "mallory@example.net"},
			contains: "Order A1001 & more", kind: Human},
		{file: "threading.eml", subject: "回复：Re: 【#10042】 Order", from: Address{"", "customer@example.cn"},
			text: "ok\n", kind: Human, token: "10042"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m := mustParse(t, readFixture(t, tt.file))
			if m.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.subject)
			}
			if m.From != tt.from {
				t.Errorf("From = %+v, want %+v", m.From, tt.from)
			}
			if tt.text != "" && m.Text != tt.text {
				t.Errorf("Text = %q, want %q", m.Text, tt.text)
			}
			if tt.contains != "" && !strings.Contains(m.Text, tt.contains) {
				t.Errorf("Text = %q, want it to contain %q", m.Text, tt.contains)
			}
			if tt.reply != "" && m.Reply != tt.reply {
				t.Errorf("Reply = %q, want %q", m.Reply, tt.reply)
			}
			c := Classify(m)
			if c.Kind != tt.kind || !strings.Contains(c.Reason, tt.reason) {
				t.Errorf("Classify = %s %q, want %s with %q", c.Kind, c.Reason, tt.kind, tt.reason)
			}
			if tok, _ := SubjectToken(m.Subject); tok != tt.token {
				t.Errorf("SubjectToken = %q, want %q", tok, tt.token)
			}
			if len(m.Warnings) > 0 {
				t.Errorf("Warnings = %q", m.Warnings)
			}
		})
	}
}

func TestBounceReport(t *testing.T) {
	m := mustParse(t, readFixture(t, "bounce-dsn.eml"))
	if !m.NullReturnPath || m.ReturnPath != "" {
		t.Errorf("Return-Path: null %v, %q", m.NullReturnPath, m.ReturnPath)
	}
	c := Classify(m)
	if c.Kind != Bounce || c.Bounce == nil {
		t.Fatalf("Classify = %+v", c)
	}
	want := &BounceReport{
		OriginalMessageIDs: []string{"ticket-1002.article-1.1700014998@support.example.com"},
		Recipients: []BounceRecipient{{
			Addr: "nobody@example.net", Action: "failed", Status: "5.1.1",
			Diagnostic: "550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown",
		}},
		Action: "failed", Status: "5.1.1",
		Diagnostic: "550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown",
	}
	if !reflect.DeepEqual(c.Bounce, want) {
		t.Errorf("Bounce = %+v\nwant     %+v", c.Bounce, want)
	}
	// The report parts are not attachments.
	if len(m.Attachments) != 0 {
		t.Errorf("Attachments = %+v", m.Attachments)
	}
}

// A bounce with no report (qmail style) still yields the original id.
func TestBounceWithoutReport(t *testing.T) {
	raw := "From: MAILER-DAEMON@mx.example.net\nTo: support@example.com\nSubject: failure notice\n\n" +
		"Hi. This is the qmail-send program.\n<x@example.org>:\nSorry, no mailbox here by that name.\n\n" +
		"--- Below this line is a copy of the message.\n\nReturn-Path: <support@example.com>\n" +
		"Message-ID: <ticket-10050.article-1.1700000000@support.example.com>\nSubject: hi\n\nbody\n"
	c := Classify(mustParse(t, []byte(raw)))
	if c.Kind != Bounce || c.Reason != "From: MAILER-DAEMON" {
		t.Fatalf("Classify = %+v", c)
	}
	if got := c.Bounce.OriginalMessageIDs; len(got) != 1 || got[0] != "ticket-10050.article-1.1700000000@support.example.com" {
		t.Errorf("OriginalMessageIDs = %q", got)
	}
	if c.Bounce.Status != "" {
		t.Errorf("Status = %q without a delivery-status part", c.Bounce.Status)
	}
}

func TestNestedInlineImage(t *testing.T) {
	m := mustParse(t, readFixture(t, "nested.eml"))
	if m.Text != "Hello, see our logo:\n[logo]\nThanks" {
		t.Errorf("Text = %q (text/plain of the alternative)", m.Text)
	}
	if m.HTML != "<p>Hello, see our logo:</p><p>Thanks</p>" {
		t.Errorf("HTML = %q (images dropped without a mapping)", m.HTML)
	}
	if len(m.Attachments) != 2 {
		t.Fatalf("Attachments = %+v", m.Attachments)
	}
	img, pdf := m.Attachments[0], m.Attachments[1]
	if img.ContentType != "image/png" || img.ContentID != "logo.123@example.com" || !img.Inline || img.Name != "image.png" ||
		img.Size != 70 || !bytes.HasPrefix(img.Data, []byte("\x89PNG")) {
		t.Errorf("inline image = %+v", img)
	}
	if pdf.Name != "invoice.pdf" || pdf.ContentType != "application/pdf" || pdf.Inline || string(pdf.Data) != "%PDF-1.4 invoice body" || pdf.Size != 21 {
		t.Errorf("attachment = %+v", pdf)
	}
	got := m.HTMLWith(func(cid string) (string, bool) {
		if cid == "logo.123@example.com" {
			return "/api/v1/blobs/b1?x=1&y=2", true
		}
		return "", false
	})
	want := `<p>Hello, see our logo:</p><img src="/api/v1/blobs/b1?x=1&amp;y=2" alt="logo"><p>Thanks</p>`
	if got != want {
		t.Errorf("HTMLWith = %q\nwant       %q", got, want)
	}
}

func TestRFC2231Filenames(t *testing.T) {
	m := mustParse(t, readFixture(t, "rfc2231.eml"))
	want := []struct{ name, ct, data string }{
		{"报价单.pdf", "application/pdf", "%PDF-1.4 quote"},                                                           // filename*=gbk''…
		{"合同（最终版）.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "PK contract"}, // *0* and *1* continuation, UTF-8 split inside a character
		{"发票.xlsx", "application/vnd.ms-excel", "PK invoice"},                                                      // "=?GBK?B?…?=" in a quoted parameter
		{"passwd", "text/plain", "root:x:0:0"},                                                                     // no directories
	}
	if len(m.Attachments) != len(want) {
		t.Fatalf("Attachments = %+v", m.Attachments)
	}
	for i, w := range want {
		a := m.Attachments[i]
		if a.Name != w.name || a.ContentType != w.ct || string(a.Data) != w.data || a.Size != int64(len(w.data)) || a.Inline || a.Omitted {
			t.Errorf("attachment %d = %+v, want %s %s %q", i, a, w.name, w.ct, w.data)
		}
	}
	if m.Text != "see attachments" {
		t.Errorf("Text = %q", m.Text)
	}
}

func TestHostileHTMLFixture(t *testing.T) {
	m := mustParse(t, readFixture(t, "hostile-html.eml"))
	if !m.TextFromHTML {
		t.Error("TextFromHTML not set for an HTML-only mail")
	}
	all := func(string) (string, bool) { return "https://blobs.example/x", true }
	for _, out := range []string{m.HTML, m.HTMLWith(all)} {
		low := strings.ToLower(out)
		for _, bad := range []string{"<script", "alert", "onerror", "onload", "onclick", "javascript", "style", "<iframe", "<object",
			"<form", "<input", "<svg", "data:", "tracker", "evil", "<title", "target=", "class="} {
			if strings.Contains(low, bad) {
				t.Errorf("sanitized HTML contains %q:\n%s", bad, out)
			}
		}
		for _, good := range []string{"<p>Order <b>A1001</b> &amp; more</p>",
			`<a href="https://example.com/track?a=1&amp;b=2" rel="noopener noreferrer">site</a>`,
			"<div>Second line<br>third line</div>", "<blockquote>quoted</blockquote>", "click me"} {
			if !strings.Contains(out, good) {
				t.Errorf("sanitized HTML lacks %q:\n%s", good, out)
			}
		}
	}
	wantText := "Order A1001 & more\n\nclick me entity tab data site <https://example.com/track?a=1&b=2>\nSecond line\nthird line\n> quoted"
	if m.Text != wantText {
		t.Errorf("Text = %q\nwant   %q", m.Text, wantText)
	}
	if m.Reply != "Order A1001 & more\n\nclick me entity tab data site <https://example.com/track?a=1&b=2>\nSecond line\nthird line" {
		t.Errorf("Reply = %q", m.Reply)
	}
}

func TestThreadingJunk(t *testing.T) {
	m := mustParse(t, readFixture(t, "threading.eml"))
	if m.MessageID != "20231125.abc@example.cn" {
		t.Errorf("MessageID = %q (no brackets)", m.MessageID)
	}
	if want := []string{"ticket-10042.article-5.1700020000@support.example.com"}; !reflect.DeepEqual(m.InReplyTo, want) {
		t.Errorf("InReplyTo = %q, want %q (a comment and a quoted date around it)", m.InReplyTo, want)
	}
	want := []string{
		"20231114221320.4F2A9C@example.cn",
		"ticket-10042.article-2.1700010000@support.example.com",
		"ticket-10042.article-5.1700020000@support.example.com",
		"broken.id@example.cn",
	}
	if !reflect.DeepEqual(m.References, want) {
		t.Errorf("References = %q, want %q", m.References, want)
	}
	if NormalizeSubject(m.Subject) != "【#10042】 Order" {
		t.Errorf("NormalizeSubject = %q", NormalizeSubject(m.Subject))
	}
}

// Every fixture parses to the same Mail with CRLF and with LF line breaks.
func TestLineEndings(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) < 15 {
		t.Fatalf("fixtures: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw := readFixture(t, filepath.Base(f))
			asLF := bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
			asCRLF := bytes.ReplaceAll(asLF, []byte("\n"), []byte("\r\n"))
			a, b := mustParse(t, asLF), mustParse(t, asCRLF)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("LF and CRLF differ:\nLF:   %+v\nCRLF: %+v", a, b)
			}
			if ca, cb := Classify(a), Classify(b); !reflect.DeepEqual(ca, cb) {
				t.Errorf("Classify differs: %+v vs %+v", ca, cb)
			}
		})
	}
}

func TestRawEightBitHeaders(t *testing.T) {
	// Subject and From name in raw GBK bytes, not encoded-words.
	raw := []byte("From: \xcd\xf5\xe9\x46 <w@example.cn>\r\nSubject: \xb6\xa9\xb5\xa5A1001\r\n" +
		"Content-Type: text/plain; charset=gbk\r\n\r\n\xc4\xfa\xba\xc3\r\n")
	m := mustParse(t, raw)
	if m.Subject != "订单A1001" || m.From.Name != "王镕" || m.Text != "您好\n" {
		t.Errorf("Subject %q, From %+v, Text %q", m.Subject, m.From, m.Text)
	}
	// Big5 bytes with the body's charset naming them.
	raw = []byte("Subject: \xad\x71\xb3\xe6\r\nContent-Type: text/plain; charset=big5\r\n\r\nx")
	if m := mustParse(t, raw); m.Subject != "訂單" {
		t.Errorf("Subject %q, want 訂單", m.Subject)
	}
}

func TestBodies(t *testing.T) {
	tests := []struct {
		name, raw, text string
		html            string
		fromHTML        bool
	}{
		{"no header", "\r\nhello", "hello", "", false},
		{"no MIME headers, LF", "Subject: x\n\nplain\nbody\n", "plain\nbody\n", "", false},
		{"unknown charset kept as UTF-8", "Content-Type: text/plain; charset=x-nonesuch\n\nh\xc3\xa9", "hé", "", false},
		{"unlabelled 8-bit GBK", "Content-Type: text/plain\n\n\xc4\xfa\xba\xc3", "您好", "", false},
		{"quoted-printable with soft breaks", "Content-Transfer-Encoding: quoted-printable\n\nab=\ncd=3D=c3=A9 \nx=\n", "abcd=é\nx", "", false},
		{"base64 with junk and missing padding", "Content-Transfer-Encoding: BASE64\n\naGVs!!bG8\n", "hello", "", false},
		{"flowed", "Content-Type: text/plain; format=flowed\n\nThis is \nflowed.\n> quoted \n> too\n-- \nsig", "This is flowed.\n> quoted too\n-- \nsig", "", false},
		{"flowed delsp", "Content-Type: text/plain; format=flowed; delsp=yes\n\n中文 \n段落", "中文段落", "", false},
		{"html only, charset from meta", "Content-Type: text/html\n\n<meta charset=\"gbk\"><p>\xc4\xfa\xba\xc3</p>", "您好", "<p>您好</p>", true},
		{"multipart without boundary", "Content-Type: multipart/mixed\n\nhello", "hello", "", false},
		{"missing closing boundary", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo", "one\ntwo", "", false},
		{"boundary prefix of another line", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--bx\n--b--\n", "one\n--bx", "", false},
		{"mixed with two text parts", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst\n--b\nContent-Type: image/gif\n\nGIF\n--b\n\nsecond\n--b--", "first\nsecond", "", false},
		{"text attachment is not body", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nbody\n--b\nContent-Disposition: attachment\n\nfile\n--b--", "body", "", false},
		{"BOM dropped", "Content-Type: text/plain; charset=utf-8\n\n\xef\xbb\xbfhi", "hi", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, []byte(tt.raw))
			want := tt.text
			if m.Text != want || m.HTML != tt.html || m.TextFromHTML != tt.fromHTML {
				t.Errorf("Text %q HTML %q fromHTML %v; want %q %q %v", m.Text, m.HTML, m.TextFromHTML, want, tt.html, tt.fromHTML)
			}
		})
	}
}

// Mail bombs are refused, quickly, with a reason that names the limit.
func TestLimits(t *testing.T) {
	deep := func(n int) []byte {
		var b bytes.Buffer
		b.WriteString("Subject: deep\r\n")
		for i := 0; i < n; i++ {
			b.WriteString("Content-Type: multipart/mixed; boundary=\"b" + strconv.Itoa(i) + "\"\r\n\r\n--b" + strconv.Itoa(i) + "\r\n")
		}
		b.WriteString("\r\nleaf\r\n")
		return b.Bytes()
	}
	manyParts := func(n int) []byte {
		var b bytes.Buffer
		b.WriteString("Content-Type: multipart/mixed; boundary=x\r\n\r\n")
		for i := 0; i < n; i++ {
			b.WriteString("--x\r\n\r\np\r\n")
		}
		b.WriteString("--x--\r\n")
		return b.Bytes()
	}
	manyAttachments := func(n int) []byte {
		var b bytes.Buffer
		b.WriteString("Content-Type: multipart/mixed; boundary=x\r\n\r\n")
		for i := 0; i < n; i++ {
			b.WriteString("--x\r\nContent-Type: image/png\r\n\r\np\r\n")
		}
		b.WriteString("--x--\r\n")
		return b.Bytes()
	}
	hugeHeader := append([]byte("Subject: x\r\nX-Big: "), bytes.Repeat([]byte("a"), 10<<20)...)
	hugeHeader = append(hugeHeader, "\r\n\r\nbody"...)
	foldedHuge := append([]byte("Subject: x\r\n"), bytes.Repeat([]byte("X-A: b\r\n"), 2<<20)...)
	foldedHuge = append(foldedHuge, "\r\nbody"...)
	partHeader := append([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nX-Big: "), bytes.Repeat([]byte("a"), 300<<10)...)
	partHeader = append(partHeader, "\r\n\r\nbody\r\n--x--"...)

	tests := []struct {
		name string
		raw  []byte
		lim  Limits
		want error
	}{
		{"nesting depth 100", deep(100), Limits{}, ErrTooDeep},
		{"nesting one over a set limit", deep(5), Limits{MaxDepth: 4}, ErrTooDeep},
		{"10 MB header", hugeHeader, Limits{}, ErrHeaderTooLarge},
		{"2 million header fields", foldedHuge, Limits{}, ErrHeaderTooLarge},
		{"huge part header", partHeader, Limits{}, ErrHeaderTooLarge},
		{"5000 parts", manyParts(5000), Limits{}, ErrTooManyParts},
		{"101 attachments", manyAttachments(101), Limits{}, ErrTooManyAttachments},
		{"over MaxBytes", bytes.Repeat([]byte("a"), 2000), Limits{MaxBytes: 1000}, ErrTooLarge},
		{"empty", []byte(" \r\n\r\n "), Limits{}, ErrEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			m, err := Parse(tt.raw, tt.lim)
			took := time.Since(start)
			var r *Refused
			if !errors.As(err, &r) || !errors.Is(err, tt.want) || m != nil {
				t.Fatalf("Parse = %v, %v; want a *Refused wrapping %v", m, err, tt.want)
			}
			if r.Reason == "" || strings.ContainsAny(r.Reason, "\r\n") || len(r.Reason) > 100 {
				t.Errorf("Reason = %q", r.Reason)
			}
			if took > 3*time.Second*slowdown {
				t.Errorf("took %v", took)
			}
		})
	}
	// Just under the limits is fine.
	if _, err := Parse(deep(DefaultMaxDepth), Limits{}); err != nil {
		t.Errorf("depth %d: %v", DefaultMaxDepth, err)
	}
	if _, err := Parse(manyParts(DefaultMaxParts-1), Limits{}); err != nil {
		t.Errorf("%d parts: %v", DefaultMaxParts-1, err)
	}
}

func TestSoftLimits(t *testing.T) {
	big := strings.Repeat("A", 3000)
	raw := "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("界", 1000) +
		"\r\n--x\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=big.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n" + big +
		"\r\n--x\r\nContent-Type: text/csv; name=big.csv\r\n\r\n" + big + "\r\n--x--\r\n"
	m, err := Parse([]byte(raw), Limits{MaxAttachmentBytes: 1000, MaxBodyBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Truncated || len(m.Text) > 100 || m.Text != strings.Repeat("界", 33) {
		t.Errorf("Text %d bytes %q, Truncated %v", len(m.Text), m.Text, m.Truncated)
	}
	if len(m.Attachments) != 2 {
		t.Fatalf("Attachments = %+v", m.Attachments)
	}
	for _, a := range m.Attachments {
		if !a.Omitted || a.Data != nil {
			t.Errorf("%s: Omitted %v, %d bytes kept", a.Name, a.Omitted, len(a.Data))
		}
	}
	if m.Attachments[0].Size != 2250 || m.Attachments[1].Size != 3000 {
		t.Errorf("sizes %d %d", m.Attachments[0].Size, m.Attachments[1].Size)
	}
}

// Inputs built to make a naive parser quadratic finish quickly.
func TestPathologicalHeaders(t *testing.T) {
	n := 200 << 10
	for name, v := range map[string]string{
		"many =?":             strings.Repeat("=?", n/2),
		"many unclosed words": strings.Repeat("=?utf-8?b?", n/10),
		"many colons":         strings.Repeat(":", n),
		"many commas":         strings.Repeat("a,", n/2),
		"many angles":         strings.Repeat("<", n),
		"many quotes":         strings.Repeat(`"a" `, n/4),
		"many parens":         strings.Repeat("(", n),
	} {
		t.Run(name, func(t *testing.T) {
			raw := "From: " + v + "\r\nTo: " + v + "\r\nSubject: " + v + "\r\nReferences: " + v + "\r\nContent-Type: text/plain; " + v + "\r\n\r\nbody"
			start := time.Now()
			if _, err := Parse([]byte(raw), Limits{MaxHeaderBytes: 2 << 20}); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 3*time.Second*slowdown {
				t.Errorf("took %v", took)
			}
		})
	}
}

// A forwarded mail stays one attachment, named after its subject; its text
// is not mixed into the body and its parts are not walked.
func TestForwardedMessage(t *testing.T) {
	inner := "Subject: =?utf-8?B?6K6i5Y2V6Zeu6aKY?=\r\nMessage-ID: <inner@x.example>\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\ninner text\r\n--i--\r\n"
	raw := "From: a@x.example\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n\r\nsee below\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n" + inner + "--o--\r\n"
	m := mustParse(t, []byte(raw))
	if m.Text != "see below" {
		t.Errorf("Text = %q", m.Text)
	}
	if len(m.Attachments) != 1 {
		t.Fatalf("Attachments = %+v", m.Attachments)
	}
	a := m.Attachments[0]
	if a.Name != "订单问题.eml" || a.ContentType != "message/rfc822" || string(a.Data) != strings.TrimSuffix(inner, "\r\n") {
		t.Errorf("attachment = %q %s %q", a.Name, a.ContentType, a.Data)
	}
	if c := Classify(m); c.Kind != Human {
		t.Errorf("Classify = %+v", c)
	}
	if m.HTMLWith(mapAll) != "" {
		t.Error("HTMLWith of a mail without HTML is not empty")
	}
}

// Bodies built to make a naive renderer or reply finder quadratic finish
// quickly and stay within the limits.
func TestPathologicalBodies(t *testing.T) {
	n := 512 << 10
	tokens := []string{"=?", "?=", "?B?", "<", ">", "\"", "(", ",", ":", "@", "\r\n", "\n", " ", "--b", "\n\n",
		"re:", "回复：", "[#", "]", "12345", "> ", "On x wrote:", "From: a", "Sent: b", "<p>", "<blockquote>",
		"</b>", "<a href=http://x>", "&amp;", "a", "é", "\xff", "<br>", "<li>", "<pre>", "<td>"}
	var mix strings.Builder
	for i := 0; mix.Len() < n; i++ {
		mix.WriteString(tokens[(i*7919+i/3)%len(tokens)])
	}
	for name, body := range map[string]string{
		"nested blockquotes": strings.Repeat("<blockquote>x\n", n/14),
		"line breaks":        strings.Repeat("<br>", n/4),
		"unclosed links":     strings.Repeat("<a href=http://x.example/>x ", n/28),
		"nested divs":        strings.Repeat("<div>", n/5),
		"nested lists":       strings.Repeat("<ul><li>x", n/9),
		"quote lines":        strings.Repeat("> x\nOn a\n", n/9),
		"mix":                mix.String(),
	} {
		t.Run(name, func(t *testing.T) {
			for _, ct := range []string{"text/html", "text/plain"} {
				raw := "Content-Type: " + ct + "; charset=utf-8\r\n\r\n" + body
				start := time.Now()
				m, err := Parse([]byte(raw), Limits{})
				if err != nil {
					t.Fatal(err)
				}
				ReplyText(m.Text)
				m.HTMLWith(mapAll)
				if took := time.Since(start); took > 3*time.Second*slowdown {
					t.Errorf("%s took %v", ct, took)
				}
				if len(m.Text) > DefaultMaxBodyBytes || len(m.HTML) > 7*DefaultMaxBodyBytes {
					t.Errorf("%s: text %d bytes, HTML %d bytes", ct, len(m.Text), len(m.HTML))
				}
			}
		})
	}
}

// Huge limits do not overflow.
func TestHugeLimits(t *testing.T) {
	huge := int(^uint(0) >> 1)
	lim := Limits{MaxBytes: huge, MaxHeaderBytes: huge, MaxDepth: huge, MaxParts: huge, MaxAttachments: huge, MaxAttachmentBytes: huge, MaxBodyBytes: huge}
	for _, f := range []string{"nested.eml", "reply-multipart.eml", "hostile-html.eml"} {
		if _, err := Parse(readFixture(t, f), lim); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := Parse([]byte("Subject: only a header"), lim); err != nil {
		t.Error(err)
	}
	if got := (Limits{MaxDepth: -1, MaxParts: 7}).withDefaults(); got.MaxDepth != DefaultMaxDepth || got.MaxParts != 7 || got.MaxBytes != DefaultMaxBytes {
		t.Errorf("withDefaults = %+v", got)
	}
}
