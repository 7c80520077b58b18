package kb

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPlainText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"heading", "## 如何申请退货 ##\n签收后 7 天内", "如何申请退货\n签收后 7 天内"},
		{"emphasis", "点击**申请退货**或 *取消* 或 _this_ ~~not~~", "点击申请退货或 取消 或 this not"},
		{"snake case keeps underscores", "set max_items to 5", "set max_items to 5"},
		{"link keeps its text", "see [退货政策](https://example.com/r \"t\") now", "see 退货政策 now"},
		{"image keeps its alt", "![收货地址截图](a.png)", "收货地址截图"},
		{"reference link", "see [the policy][p]\n\n[p]: https://example.com", "see the policy"},
		{"autolink", "mail <help@example.com> or <https://example.com/x>", "mail help@example.com or https://example.com/x"},
		{"html tags go", "a <b>bold</b> <img src=x onerror=alert(1)> b", "a bold  b"},
		{"entities", "5 &lt; 6 &amp; 7", "5 < 6 & 7"},
		{"lists and quotes", "- 第一步\n* second\n1. third\n> quoted\n- [x] done", "第一步\nsecond\nthird\nquoted\ndone"},
		{"code keeps its content", "run `make **run**` then\n```sh\n# not a heading\nmake test\n```\nend", "run make **run** then\n# not a heading\nmake test\nend"},
		{"table", "| 渠道 | 时间 |\n|---|:--:|\n| 微信 | 9:00 |", "渠道  时间\n微信  9:00"},
		{"rules and blank lines", "a\n\n\n---\n\nb\n***", "a\n\nb"},
		{"escapes", `1\. not a list \*star\*`, "1. not a list *star*"},
		{"CRLF", "a\r\nb\rc", "a\nb\nc"},
		{"unclosed things stay", "[not a link and `tick", "[not a link and `tick"},
	} {
		if got := PlainText(tc.in); got != tc.want {
			t.Errorf("%s: PlainText(%q)\n got %q\nwant %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func FuzzPlainText(f *testing.F) {
	for _, s := range []string{"## 标题\n**粗体** [链接](http://x) ![图](y)", "```\ncode\n```", "<b>x</b>&amp;", "\xff[a](", "| a | b |\n|---|"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) {
		out := PlainText(md)
		if !utf8.ValidString(out) {
			t.Fatalf("PlainText(%q) = %q: not UTF-8", md, out)
		}
		if out != strings.TrimSpace(out) {
			t.Fatalf("PlainText(%q) = %q: not trimmed", md, out)
		}
		// Nothing is made up: the text is at most the input plus what
		// entities decode to and the two spaces a table cell gets.
		if len(out) > 2*len(md)+8 {
			t.Fatalf("PlainText(%q) grew to %d bytes", md, len(out))
		}
		if again := PlainText(out); len(again) > len(out)+8 {
			t.Fatalf("PlainText grows on its own output: %q → %q", out, again)
		}
	})
}

// TestPlainTextUnclosedMarkup: a body full of markup that never closes
// is read in one pass (it would take minutes if each opening looked to
// the end of the body).
func TestPlainTextUnclosedMarkup(t *testing.T) {
	t.Parallel()
	for _, unit := range []string{"[", "![", "<", "`", "``a", "<!--", "[x](", "_a", "&", "+ ", "1. ", "> ", "# "} {
		md := strings.Repeat(unit, MaxBodyBytes/len(unit))
		out := PlainText(md)
		if !utf8.ValidString(out) || len(out) > len(md) {
			t.Errorf("PlainText of %q × %d: %d bytes", unit, MaxBodyBytes/len(unit), len(out))
		}
	}
}
