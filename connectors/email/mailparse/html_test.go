package mailparse

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// mapAll maps every cid: to a fixed URL.
func mapAll(string) (string, bool) { return "https://blobs.example/b1", true }

func TestSanitizeHTML(t *testing.T) {
	tests := []struct {
		name, in, want string
		src            func(string) (string, bool)
	}{
		{"script", "<script>alert(1)</script>ok", "ok", nil},
		{"upper-case script with src", "<SCRIPT SRC=x></SCRIPT>ok", "ok", nil},
		{"self-closing style still swallows its text", "<style/>p{}</style>ok", "ok", nil},
		{"style attribute and on* handlers", `<p style="x" onmouseover="y" class="c" id="i">t</p>`, "<p>t</p>", nil},
		{"img with onerror, no cid", `<img src=x onerror=alert(1)>`, "", mapAll},
		{"remote img dropped", `<img src="https://tracker.example/p.gif">`, "", mapAll},
		{"cid img mapped", `<img src="cid:a@b" onerror="x" alt='a"b' width="10" height="x">`, `<img src="https://blobs.example/b1" alt="a&#34;b" width="10">`, mapAll},
		{"cid img percent-encoded", `<img src="CID:%3Ca%40b%3E">`, `<img src="u:a@b">`, func(c string) (string, bool) { return "u:" + c, true }},
		{"cid img refused by the mapping", `<img src="cid:a@b">`, "", func(string) (string, bool) { return "", false }},
		{"cid img without a mapping", `<img src="cid:a@b">`, "", nil},
		{"javascript link", `<a href="javascript:alert(1)">x</a>`, "x", nil},
		{"javascript link, mixed case and spaces", `<a href="  JaVaScRiPt:alert(1)">x</a>`, "x", nil},
		{"javascript link, entity newline", `<a href="jav&#x0A;ascript:alert(1)">x</a>`, "x", nil},
		{"javascript link, entity j", `<a href="&#106;avascript:alert(1)">x</a>`, "x", nil},
		{"vbscript and data links", `<a href="vbscript:x">a</a><a href="data:text/html,x">b</a>`, "ab", nil},
		{"relative link", `<a href="/path">r</a>`, "r", nil},
		{"http link", `<a href="http://ok.example/?a=1&amp;b=2" onclick="x" target="_blank" title="t">x</a>`,
			`<a href="http://ok.example/?a=1&amp;b=2" rel="noopener noreferrer" title="t">x</a>`, nil},
		{"mailto link", `<a href="mailto:a@b.example">m</a>`, `<a href="mailto:a@b.example" rel="noopener noreferrer">m</a>`, nil},
		{"iframe", `<iframe src="https://evil.example/">inner</iframe>t`, "t", nil},
		{"object, param, embed", `<object data="x"><param name="a"><embed src="y"></object>t`, "t", nil},
		{"form and controls", `<form action="x"><input value="v"><button>b</button><select><option>o</option></select><textarea>ta</textarea>label</form>`, "label", nil},
		{"svg with script", `<svg onload="x"><script>alert(1)</script><a href="http://x.example">t</a></svg>after`, "after", nil},
		{"math", `<math><mi xlink:href="javascript:x">t</mi></math>`, "", nil},
		{"noscript", `<noscript><p>x</p></noscript>t`, "t", nil},
		{"head, title, meta, base, link", `<head><title>T</title><meta http-equiv="refresh" content="0;url=javascript:x"><base href="javascript:x"><link rel="stylesheet" href="x"></head>body`, "body", nil},
		{"comments and conditional comments", `<!-- c --><!--[if mso]><p>x</p><![endif]-->t`, "t", nil},
		{"doctype and html/body", `<!DOCTYPE html><html><body bgcolor="red"><p>t</p></body></html>`, "<p>t</p>", nil},
		{"unbalanced tags are closed", `<b><i>x</b>y<div>z`, "<b><i>x</i></b>y<div>z</div>", nil},
		{"stray end tags", `</div></b>stray`, "stray", nil},
		{"table attributes", `<table border="1"><tr><td colspan="2" width="5" rowspan="x">c</td></tr></table>`, `<table><tr><td colspan="2">c</td></tr></table>`, nil},
		{"ol start", `<ol start="3" type="a"><li>x</li></ol>`, `<ol start="3"><li>x</li></ol>`, nil},
		{"escaped text stays escaped", `&lt;script&gt;alert(1)&lt;/script&gt; &amp; "q"`, `&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;q&#34;`, nil},
		{"unknown elements keep their text", `<font color="red"><center>hi</center></font>`, "hi", nil},
		{"headings, pre, code, hr", `<h1>a</h1><pre><code>b</code></pre><hr class="x">`, "<h1>a</h1><pre><code>b</code></pre><hr>", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SanitizeHTML(tt.in, tt.src)
			if got != tt.want {
				t.Errorf("SanitizeHTML(%q)\n = %q\nwant %q", tt.in, got, tt.want)
			}
			checkSafeHTML(t, got)
		})
	}
}

func TestSanitizeHTMLDepth(t *testing.T) {
	in := strings.Repeat("<div>", 1000) + "x" + strings.Repeat("</div>", 1000)
	got := SanitizeHTML(in, nil)
	if strings.Count(got, "<div>") != maxHTMLDepth || strings.Count(got, "</div>") != maxHTMLDepth || !strings.Contains(got, "x") {
		t.Errorf("%d opened, %d closed", strings.Count(got, "<div>"), strings.Count(got, "</div>"))
	}
	// Unclosed nesting is closed at the end.
	got = SanitizeHTML(strings.Repeat("<span>", 10), nil)
	if got != strings.Repeat("<span>", 10)+strings.Repeat("</span>", 10) {
		t.Errorf("unclosed: %q", got)
	}
}

// checkSafeHTML re-reads sanitized HTML: only allowed elements and
// attributes, links with safe schemes, images only from the mapping.
func checkSafeHTML(t testing.TB, s string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return
		case html.CommentToken, html.DoctypeToken:
			t.Fatalf("comment or doctype in sanitized HTML: %q", s)
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			tok := z.Token()
			if !allowedTags[tok.Data] {
				t.Fatalf("element %q in sanitized HTML: %q", tok.Data, s)
			}
			for _, a := range tok.Attr {
				ok := false
				switch a.Key {
				case "href":
					_, ok = safeHref(a.Val)
					ok = ok && tok.Data == "a"
				case "rel":
					ok = tok.Data == "a" && a.Val == "noopener noreferrer"
				case "src":
					ok = tok.Data == "img" && !strings.HasPrefix(strings.ToLower(a.Val), "javascript")
				case "title", "alt", "width", "height", "colspan", "rowspan", "start":
					ok = true
				}
				if !ok {
					t.Fatalf("attribute %s=%q on %s in sanitized HTML: %q", a.Key, a.Val, tok.Data, s)
				}
			}
		}
	}
}

func TestHTMLToText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"paragraphs", "<p>a</p><p>b</p>", "a\n\nb"},
		{"br", "a<br>b<br/>c", "a\nb\nc"},
		{"Gmail empty line", "<div>a</div><div><br></div><div>b</div>", "a\n\nb"},
		{"inline elements", "x<b>y</b>z and <i>more</i> text", "xyz and more text"},
		{"whitespace collapses", "  a \n\t b  ", "a b"},
		{"list", "<ul><li>one</li><li>two</li></ul>after", "- one\n- two\nafter"},
		{"nested blockquotes", "top<blockquote>q<blockquote>qq</blockquote>q2</blockquote>after", "top\n> q\n> > qq\n> q2\nafter"},
		{"pre keeps spaces", "<pre>  a\n   b</pre>c", "  a\n   b\nc"},
		{"link with text", `<a href="https://x.example/p">link</a>`, "link <https://x.example/p>"},
		{"link showing its URL", `<a href="https://x.example">https://x.example</a>`, "https://x.example"},
		{"unsafe link", `<a href="javascript:x">link</a>`, "link"},
		{"script, style, title dropped", "<title>T</title><script>x</script><style>y</style>t", "t"},
		{"entities and nbsp", "a&nbsp;&nbsp;b &amp; c &lt;d&gt;", "a b & c <d>"},
		{"table", "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"},
		{"blank lines collapse", "<p>a</p><br><br><br><p>b</p>", "a\n\nb"},
		{"control characters do not fake quotes", "a\x01b\x02c", "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := htmlToText(tt.in); got != tt.want {
				t.Errorf("htmlToText(%q)\n = %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}
