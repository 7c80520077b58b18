package kb

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNormalizeArticle(t *testing.T) {
	t.Parallel()
	ok := Article{Title: "  退货 ", Body: "正文", Lang: "zh-CN", Tags: []string{" 退货", "退货", "", "Refund", "refund"}}
	if err := normalizeArticle(&ok); err != nil {
		t.Fatal(err)
	}
	if ok.Title != "退货" || ok.Lang != "zh" || !slices.Equal(ok.Tags, []string{"退货", "Refund"}) {
		t.Errorf("normalized: %+v", ok)
	}
	many := make([]string, MaxTags+1)
	for i := range many {
		many[i] = strings.Repeat("t", i+1)
	}
	for _, tc := range []struct {
		name string
		a    Article
		want error
		says string
	}{
		{"empty title", Article{Title: " ", Body: "b"}, ErrInvalid, "title is empty"},
		{"empty body", Article{Title: "t", Body: "\n "}, ErrInvalid, "body is empty"},
		{"long title", Article{Title: strings.Repeat("退", MaxTitleRunes+1), Body: "b"}, ErrTooLarge, "title has 201 characters"},
		{"title at the limit", Article{Title: strings.Repeat("退", MaxTitleRunes), Body: "b"}, nil, ""},
		{"long body", Article{Title: "t", Body: strings.Repeat("x", MaxBodyBytes+1)}, ErrTooLarge, "body has 65537 bytes"},
		{"body at the limit", Article{Title: "t", Body: strings.Repeat("x", MaxBodyBytes)}, nil, ""},
		{"too many tags", Article{Title: "t", Body: "b", Tags: many}, ErrTooLarge, "21 tags"},
		{"long tag", Article{Title: "t", Body: "b", Tags: []string{strings.Repeat("x", MaxTagRunes+1)}}, ErrTooLarge, "tag"},
		{"bad lang", Article{Title: "t", Body: "b", Lang: "中文"}, ErrInvalid, "lang"},
		{"control in title", Article{Title: "a\x00b", Body: "b"}, ErrInvalid, "control"},
		{"not UTF-8", Article{Title: "t", Body: "\xff"}, ErrInvalid, "UTF-8"},
	} {
		err := normalizeArticle(&tc.a)
		if !errors.Is(err, tc.want) || (err != nil && !strings.Contains(err.Error(), tc.says)) {
			t.Errorf("%s: %v; want %v saying %q", tc.name, err, tc.want, tc.says)
		}
	}
}

func TestNormalizeCanned(t *testing.T) {
	t.Parallel()
	c := Canned{Title: "问候", Body: "您好", Shortcut: " /Hello-1 "}
	if err := normalizeCanned(&c); err != nil || c.Shortcut != "hello-1" {
		t.Fatalf("%+v %v", c, err)
	}
	zh := Canned{Title: "问候", Body: "您好", Shortcut: "问候"}
	if err := normalizeCanned(&zh); err != nil {
		t.Errorf("a Chinese shortcut: %v", err)
	}
	for _, tc := range []struct {
		c    Canned
		want error
	}{
		{Canned{Title: "t", Body: "b", Shortcut: "a b"}, ErrInvalid},
		{Canned{Title: "t", Body: "b", Shortcut: "a/b"}, ErrInvalid},
		{Canned{Title: "t", Body: "b", Shortcut: strings.Repeat("a", MaxShortcutRune+1)}, ErrTooLarge},
		{Canned{Title: "t", Body: strings.Repeat("x", MaxCannedBytes+1)}, ErrTooLarge},
	} {
		if err := normalizeCanned(&tc.c); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.c, err, tc.want)
		}
	}
}

func TestNormalizeLang(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "", "zh": "zh", "zh-CN": "zh", "zh_Hans_CN": "zh", "EN": "en", "en-GB": "en", "yue": "yue"} {
		if got, err := NormalizeLang(in); err != nil || got != want {
			t.Errorf("NormalizeLang(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"chinese", "z", "1", "中文", "zh-" + strings.Repeat("x", 40)} {
		if _, err := NormalizeLang(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("NormalizeLang(%q): %v, want ErrInvalid", bad, err)
		}
	}
}
