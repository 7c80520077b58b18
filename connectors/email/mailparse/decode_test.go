package mailparse

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

func TestDecodeWords(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "Hello world", "Hello world"},
		{"UTF-8 B", "=?UTF-8?B?5L2g5aW9?=", "你好"},
		{"character split across words", "=?UTF-8?B?5L2g5Q==?= =?UTF-8?B?pb0=?=", "你好"},
		{"split across folded words", "=?utf-8?b?5L2g5Q==?=\r\n =?UTF-8?B?pb0=?=", "你好"},
		{"GBK words, shared fixture", "=?GBK?B?18nRr6O6tqm1pUExMDAx1sG98c60t6K79aOsx+u+ob/stKbA7aOowarPtcjLzfU=?= =?GBK?B?6UajqQ==?=",
			"咨询：订单A1001至今未发货，请尽快处理（联系人王镕）"},
		{"gb2312 label with GBK-only characters", "=?gb2312?B?zfXpRoa0?=", "王镕喆"},
		{"GB18030 four-byte", "=?GB18030?B?lTSyNQ==?=", "𠮷"},
		{"Big5", "=?big5?B?rXGz5g==?=", "訂單"},
		{"ISO-2022-JP", "=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "テスト"},
		{"Q with underscores and lower-case hex", "=?utf-8?q?caf=c3=a9_au_lait?=", "café au lait"},
		{"text around words keeps its spaces", "Re: =?utf-8?Q?W=C3=B6rld?= !", "Re: Wörld !"},
		{"adjacent words, other charsets: no space", "=?utf-8?B?5L2g?= =?gbk?B?usM=?=", "你好"},
		{"word glued to text", "abc=?utf-8?B?5L2g?=def", "abc你def"},
		{"RFC 2231 language in a word", "=?utf-8*zh?B?5L2g?=", "你"},
		{"malformed word stays", "=?utf-8?X?abc?= and =?", "=?utf-8?X?abc?= and =?"},
		{"unknown charset", "=?x-nonesuch?B?aGk=?=", "hi"},
		{"invalid UTF-8 replaced", "=?utf-8?B?/w==?=", "\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decodeWords(tt.in); got != tt.want {
				t.Errorf("decodeWords(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Address
	}{
		{"plain", "support@example.com", []Address{{"", "support@example.com"}}},
		{"name and upper case", "Wang Rong <WangRong@Example.CN>", []Address{{"Wang Rong", "wangrong@example.cn"}}},
		{"quoted encoded-word (Foxmail, Outlook)", `"=?GBK?B?zfXpRg==?=" <wangrong@example.cn>`, []Address{{"王镕", "wangrong@example.cn"}}},
		{"encoded-word with a comma inside", "=?utf-8?Q?Smith=2C_John?= <j@x.org>, b@y.org", []Address{{"Smith, John", "j@x.org"}, {"", "b@y.org"}}},
		{"unquoted comma in the name", "Smith, John <j@x.org>", []Address{{"Smith, John", "j@x.org"}}},
		{"comment as name", "MAILER-DAEMON@mx.example.com (Mail Delivery System)", []Address{{"Mail Delivery System", "mailer-daemon@mx.example.com"}}},
		{"address without a domain", "MAILER-DAEMON (Mail Delivery System)", []Address{{"Mail Delivery System", "mailer-daemon"}}},
		{"group", "Team: a@x.org, \"B, b\" <b@x.org>;, c@x.org", []Address{{"", "a@x.org"}, {"B, b", "b@x.org"}, {"", "c@x.org"}}},
		{"empty group", "undisclosed-recipients:;", nil},
		{"quoted escapes", `"a \"q\" b" <a@x.org>`, []Address{{`a "q" b`, "a@x.org"}}},
		{"mailto and route", "<mailto:A@X.org>, <@relay.example:b@x.org>", []Address{{"", "a@x.org"}, {"", "b@x.org"}}},
		{"no closing bracket", "Name <a@x.org", []Address{{"Name", "a@x.org"}}},
		{"name after a bare address", "a@x.org Alice", []Address{{"Alice", "a@x.org"}}},
		{"null", "<>", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseAddressList(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseAddressList(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseMsgIDs(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"one", "<a@b>", []string{"a@b"}},
		{"several, folded", "<a@b>\r\n <c@d>\r\n\t<e@f>", []string{"a@b", "c@d", "e@f"}},
		{"commas", "<a@b>,<c@d>, <e@f>", []string{"a@b", "c@d", "e@f"}},
		{"missing brackets", "a@b c@d", []string{"a@b", "c@d"}},
		{"comment and quoted junk", `<a@b> (Tom's message of "Mon, 1 Jan 2024 <x@y>")`, []string{"a@b"}},
		{"old In-Reply-To prose", `Your message of "Mon, 1 Jan" <a@b>`, []string{"a@b"}},
		{"whitespace inside brackets", "<a\r\n .b@c>", []string{"a.b@c"}},
		{"junk before an id", "<junk <a@b>", []string{"a@b"}},
		{"duplicates", "<a@b> <a@b> a@b", []string{"a@b"}},
		{"unclosed", "<a@b", []string{"a@b"}},
		{"words without @ dropped", "hello world", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseMsgIDs(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseMsgIDs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	// Long References keep the first id and the latest ones.
	var b bytes.Buffer
	for i := 0; i < 150; i++ {
		b.WriteString("<id" + string(rune('A'+i%26)) + string(rune('a'+i/26)) + "@x> ")
	}
	got := parseMsgIDs(b.String())
	if len(got) != maxIDs || got[0] != "idAa@x" || got[len(got)-1] != "idTf@x" {
		t.Errorf("%d ids, first %q, last %q", len(got), got[0], got[len(got)-1])
	}
}

func TestParseParamField(t *testing.T) {
	tests := []struct {
		name, in, value string
		params          params
	}{
		{"simple", `text/plain; charset="GBK"`, "text/plain", params{"charset": "GBK"}},
		{"folded, upper case", "Text/HTML;\r\n\tcharset=utf-8; Format=Flowed", "text/html", params{"charset": "utf-8", "format": "Flowed"}},
		{"RFC 2231 GBK", "attachment; filename*=gbk''%B1%A8%BC%DB.pdf", "attachment", params{"filename": "报价.pdf"}},
		{"RFC 2231 continuation", "attachment; filename*0*=UTF-8''%E4%BD; filename*1*=%A0.txt", "attachment", params{"filename": "你.txt"}},
		{"RFC 2231 plain continuation", `attachment; filename*0="a b"; filename*1=".txt"`, "attachment", params{"filename": "a b.txt"}},
		{"RFC 2231 wins", `attachment; filename="old.txt"; filename*=utf-8''new.txt`, "attachment", params{"filename": "new.txt"}},
		{"RFC 2231 with language", "attachment; filename*=utf-8'zh-cn'%E4%BD%A0", "attachment", params{"filename": "你"}},
		{"RFC 2047 in quotes", `attachment; filename="=?UTF-8?B?5L2g5aW9LnR4dA==?="`, "attachment", params{"filename": "你好.txt"}},
		{"escaped quote", `x/y; a="b\"c"; d=e`, "x/y", params{"a": `b"c`, "d": "e"}},
		{"junk and duplicates", `multipart/mixed; ; novalue; boundary="x"; boundary="y"`, "multipart/mixed", params{"boundary": "x"}},
		{"semicolon in a quoted value", `x/y; boundary="a;b"`, "x/y", params{"boundary": "a;b"}},
		{"empty", "", "", params{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, p := parseParamField(tt.in)
			if v != tt.value || !reflect.DeepEqual(p, tt.params) {
				t.Errorf("parseParamField(%q) = %q %v, want %q %v", tt.in, v, p, tt.value, tt.params)
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	raw := "From user@x Mon Jan  1 00:00:00 2024\r\nSubject: a\r\n b\r\n\tc\r\nnot a field\r\nX-Empty:\r\nKey With Space: v\r\n to: <a@b>\r\nTo: x@y"
	want := Header{{"Subject", "a b c"}, {"X-Empty", ""}, {"To", "x@y"}}
	if got := parseHeader([]byte(raw), ""); !reflect.DeepEqual(got, want) {
		t.Errorf("parseHeader = %q, want %q", got, want)
	}
	h := Header{{"Message-ID", "1"}, {"message-id", "2"}}
	if h.Get("MESSAGE-ID") != "1" || !h.Has("Message-Id") || len(h.Values("message-ID")) != 2 || h.Has("x") {
		t.Error("Header lookups are not case-insensitive")
	}
}

func TestTransferDecoding(t *testing.T) {
	if got := string(decodeBase64([]byte("aGVs\r\nbG8=\r\nIHdv\ncmxk"))); got != "hello world" {
		t.Errorf("base64 with padding in the middle = %q", got)
	}
	if n := base64Size([]byte("aGVs\r\nbG8=\r\nIHdv\ncmxk")); n != len("hello world") {
		t.Errorf("base64Size = %d", n)
	}
	tests := []struct{ in, want string }{
		{"a=3Db", "a=b"},
		{"soft=\r\nbreak", "softbreak"},
		{"soft= \t\nbreak", "softbreak"},
		{"trailing   \r\nspace", "trailing\r\nspace"},
		{"keep  inner  spaces", "keep  inner  spaces"},
		{"stray = sign", "stray = sign"},
		{"bad =ZZ hex", "bad =ZZ hex"},
		{"end=", "end"},
	}
	for _, tt := range tests {
		if got := string(decodeQP([]byte(tt.in))); got != tt.want {
			t.Errorf("decodeQP(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	want := time.Date(2023, 11, 14, 22, 13, 20, 0, time.FixedZone("", 8*3600))
	for _, in := range []string{
		"Tue, 14 Nov 2023 22:13:20 +0800",
		"Tue, 14 Nov 2023 22:13:20 +0800 (CST)",
		"Tue,14 Nov 2023 22:13:20 +0800",
		"14 Nov 2023 22:13:20 +0800",
		"2023-11-14 22:13:20 +0800",
	} {
		if got := parseDate(in); !got.Equal(want) {
			t.Errorf("parseDate(%q) = %v", in, got)
		}
	}
	if got := parseDate("yesterday"); !got.IsZero() {
		t.Errorf("parseDate(junk) = %v", got)
	}
}

func TestCleanFilename(t *testing.T) {
	tests := []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\x\a.doc`, "a.doc"},
		{"a\x00b\r\n.txt", "ab.txt"},
		{"..", ""},
		{"  spaced.txt ", "spaced.txt"},
	}
	for _, tt := range tests {
		if got := cleanFilename(tt.in); got != tt.want {
			t.Errorf("cleanFilename(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := cleanFilename(string(bytes.Repeat([]byte("名"), 200)) + ".pdf")
	if len(long) > 255 || long[len(long)-4:] != ".pdf" {
		t.Errorf("long name: %d bytes, %q", len(long), long[len(long)-4:])
	}
}
