package mailparse

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, p := range files {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/alternative; boundary=b\n\n--b\n\nx\n--b\nContent-Type: text/html\n\n<p onclick=x>y<img src=cid:c>\n--b--\n--a\nContent-ID: <c>\nContent-Type: image/png\n\npng\n--a--"))
	f.Add([]byte("Subject: =?gb2312?B?zfXpRoa0?= =?utf-8?q?=E4?=\nFrom: \"=?GBK?B?zfXpRg==?=\" <A@B>\nContent-Type: text/plain; format=flowed; charset=iso-2022-jp\n\n\x1b$B%F%9%H\x1b(B \n> x"))
	lim := Limits{MaxBytes: 1 << 20, MaxHeaderBytes: 64 << 10, MaxDepth: 8, MaxParts: 64, MaxAttachments: 16, MaxBodyBytes: 64 << 10}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw, lim)
		if err != nil {
			var r *Refused
			if !errors.As(err, &r) || m != nil || !utf8.ValidString(r.Reason) || r.Reason == "" {
				t.Fatalf("Parse = %v, %v: want a *Refused with a reason", m, err)
			}
			return
		}
		checkStrings(t, "Mail", reflect.ValueOf(m).Elem())
		c := Classify(m)
		checkStrings(t, "Class", reflect.ValueOf(c))
		checkSafeHTML(t, m.HTML)
		checkSafeHTML(t, m.HTMLWith(mapAll))
		if len(m.Text) > lim.MaxBodyBytes || len(m.HTML) > lim.MaxBodyBytes*7 {
			t.Fatalf("bodies over the limit: text %d, html %d", len(m.Text), len(m.HTML))
		}
	})
}

// checkStrings fails on any string reachable from v that is not valid UTF-8.
func checkStrings(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			t.Fatalf("%s = %q is not valid UTF-8", path, v.String())
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			checkStrings(t, path, v.Elem())
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // attachment bytes
		}
		for i := 0; i < v.Len(); i++ {
			checkStrings(t, path+"["+strconv.Itoa(i)+"]", v.Index(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			checkStrings(t, path+"[key]", k)
			checkStrings(t, path+"[value]", v.MapIndex(k))
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				checkStrings(t, path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		}
	}
}

func FuzzSubjectToken(f *testing.F) {
	for _, s := range []string{
		"Re: [#1001] 咨询：订单A1001至今未发货", "【#10042】", "［＃１００４２］", "[ # 123456789 ]",
		"回复：答复: 转发：Re[2]: Fwd: x", "Re：\u3000[#0010042]", "=?utf-8?B?5L2g?=", "\xff\xfe[#10042]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, ok := SubjectToken(s)
		if ok != (tok != "") {
			t.Fatalf("SubjectToken(%q) = %q, %v", s, tok, ok)
		}
		if ok && (len(tok) < 4 || len(tok) > 9 || tok[0] == '0' || strings.Trim(tok, "0123456789") != "") {
			t.Fatalf("SubjectToken(%q) = %q: not 4 to 9 digits", s, tok)
		}
		n := NormalizeSubject(s)
		if NormalizeSubject(n) != n {
			t.Fatalf("NormalizeSubject is not idempotent on %q: %q, then %q", s, n, NormalizeSubject(n))
		}
		if utf8.ValidString(s) && !utf8.ValidString(n) {
			t.Fatalf("NormalizeSubject(%q) = %q is not valid UTF-8", s, n)
		}
		if r := ReplyText(s); utf8.ValidString(s) && !utf8.ValidString(r) {
			t.Fatalf("ReplyText(%q) = %q is not valid UTF-8", s, r)
		}
	})
}
