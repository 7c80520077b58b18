package kb

import (
	"slices"
	"testing"
)

func TestPrepareDropsFiller(t *testing.T) {
	t.Parallel()
	c := faqCatalog(t)
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"我想退货怎么弄", []string{"退货"}},
		{"快递到哪了", []string{"快递"}},
		{"请问退款多久到账呢？", []string{"退款", "款多", "多久", "久到", "到账"}},
		{"你们老板是谁", []string{"老板"}},
		{"会员积分有效期", []string{"会员", "员积", "积分", "分有", "有效", "效期"}}, // 会 and 有 stay inside words
		{"了解一下退货了吗", []string{"了解", "退货"}},                        // 了 leads 了解, trails 退货了
		{"How do I get a REFUND?", []string{"refund"}},
		{"Where are my returns", []string{"return"}},
		{"我要agent", []string{"agent"}},
		{"ｉＰｈｏｎｅ１５ 退货", []string{"iphone15", "退货"}},
		{"hello", nil},
	} {
		q := prepare(c.an, c.stops, tc.in, false)
		if got := q.distinct(); !slices.Equal(got, tc.want) {
			t.Errorf("prepare(%q) terms %q, want %q", tc.in, got, tc.want)
		}
	}
	// Keeping the filler keeps every term.
	if got := prepare(c.an, c.stops, "hello", true).distinct(); !slices.Equal(got, []string{"hello"}) {
		t.Errorf("prepare(hello, keep filler) = %q", got)
	}
}

func TestCoverage(t *testing.T) {
	t.Parallel()
	c := faqCatalog(t)
	for _, tc := range []struct {
		question string
		matched  []string
		want     float64
	}{
		{"退货", []string{"退货"}, 1},
		{"退货", nil, 0},
		{"退货运费", []string{"退货"}, 0.5},              // 退 货 of 退 货 运 费
		{"退货运费", []string{"退货", "运费"}, 1},          // 货运 not needed: every character covered
		{"发票怎么开", []string{"发票"}, 1},               // the lone 开 does not count
		{"refund policy", []string{"refund"}, 0.5}, // a word each
		{"退货 refund", []string{"refund"}, 0.5},     // a word counts as two characters
		{"hello", []string{"hello"}, 0},            // nothing significant
	} {
		q := prepare(c.an, c.stops, tc.question, false)
		m := map[string]bool{}
		for _, x := range tc.matched {
			m[x] = true
		}
		if got := q.coverage(m); got != tc.want {
			t.Errorf("coverage of %q by %q = %v, want %v", tc.question, tc.matched, got, tc.want)
		}
	}
}

func TestFold(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ＡＢＣ１２３": "ABC123",
		"退货？　好的": "退货? 好的",
		"plain":  "plain",
		"":       "",
	} {
		got := fold(in)
		if got != want {
			t.Errorf("fold(%q) = %q, want %q", in, got, want)
		}
		if len([]rune(got)) != len([]rune(in)) {
			t.Errorf("fold(%q) changed the number of characters", in)
		}
	}
}

func FuzzPrepare(f *testing.F) {
	for _, s := range []string{"我想退货怎么弄", "how do I get a refund", "ｉＰｈｏｎｅ", "\xff\xfe退", "了了了", ""} {
		f.Add(s)
	}
	c, err := newCatalog()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := prepare(c.an, c.stops, s, false)
		all := map[string]bool{}
		for _, x := range q.distinct() {
			all[x] = true
		}
		if cov := q.coverage(all); cov != 0 && cov != 1 {
			t.Fatalf("coverage of %q by all its terms = %v, want 0 or 1", s, cov)
		}
		if cov := q.coverage(nil); cov != 0 {
			t.Fatalf("coverage of %q by nothing = %v", s, cov)
		}
		if len(q.distinct()) > maxQueryTerms {
			t.Fatalf("%d terms", len(q.distinct()))
		}
	})
}
