package kb

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
)

// A customer's question is mostly not about the subject: "我想退货怎么弄",
// "how do I get a refund". Before a question is searched its filler goes:
// Chinese filler phrases anywhere, single filler characters at the edges
// of what remains of a run of Chinese, English filler words. What is left
// are the significant terms. Their coverage by an article (the share of
// the question's significant words that the article contains) is what
// makes a bot's answer confident (see Answer); bleve's score only ranks.

// zhFiller are phrases that say nothing about the subject, removed wherever
// they occur (longest first).
var zhFiller = []string{
	"请问", "你好", "您好", "你们好", "谢谢", "麻烦你", "麻烦", "我想要", "我想", "我要", "想要", "需要",
	"怎么样", "怎么办", "怎么", "怎样", "如何", "为什么", "为啥", "什么时候", "啥时候", "时候", "什么",
	"能不能", "可不可以", "可以", "是不是", "有没有", "能否", "是否", "一下", "帮我", "帮忙", "你们",
	"我们", "我的", "你的", "在哪里", "在哪儿", "在哪", "到哪里", "到哪儿", "到哪", "哪里", "哪儿",
	"知道", "告诉我", "请教", "咨询", "一个", "这个", "那个", "是谁", "谁是", "多少",
}

// zhLeadFiller and zhTrailFiller are single characters dropped where a
// run of Chinese starts or ends ("我退货了吗" → 退货) but kept inside one
// and at the other end (了解 keeps 了).
const (
	zhLeadFiller  = "我你您想请就也又那这"
	zhTrailFiller = "吗呢啊吧呀了的么哦嘛啦弄搞是谁哪呗哈"
)

// enFiller are English words that say nothing about the subject.
var enFiller = strings.Fields(`how what where when why which who whom whose do does did done doing
	i im i'm i’m me my mine we us our ours you your yours can could would should will shall may might must
	is are am was were be been being the a an to of for in on at by from it its it's this that these those
	please pls plz want wanna need get got hi hello hey thanks thank there here any some about with and or
	if so just still yet help know tell ask question dont don't`)

// zhFillerReplacer blanks the Chinese filler phrases.
var zhFillerReplacer = func() *strings.Replacer {
	list := slices.Clone(zhFiller)
	slices.SortStableFunc(list, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, p := range list {
		pairs = append(pairs, p, " ")
	}
	return strings.NewReplacer(pairs...)
}()

// maxQueryTerms bounds the distinct terms one search asks for.
const maxQueryTerms = 64

// maxQueryBytes bounds the text a question is read from.
const maxQueryBytes = 4 << 10

// qterm is one significant token of a question.
type qterm struct {
	term       string
	start, end int  // byte offsets in question.text
	cjk        bool // a Chinese bigram or lone character
	double     bool // a bigram
}

// question is a prepared question: its text after filler removal and
// its significant tokens.
type question struct {
	text  string
	terms []qterm
}

// prepare reads a question: filler out (unless keepFiller), analyzed
// with the index's analyzer.
func prepare(a analysis.Analyzer, enStops map[string]bool, q string, keepFiller bool) question {
	if len(q) > maxQueryBytes {
		q = q[:maxQueryBytes]
	}
	q = strings.ToLower(fold(strings.ToValidUTF8(q, " ")))
	if !keepFiller {
		q = trimEdgeFiller(zhFillerReplacer.Replace(q))
	}
	out := question{text: q}
	seen := map[string]bool{}
	for _, tok := range a.Analyze([]byte(q)) {
		term := string(tok.Term)
		cjk := isCJK(tok)
		if !cjk && !keepFiller && enStops[term] || !seen[term] && len(seen) == maxQueryTerms {
			continue
		}
		seen[term] = true
		out.terms = append(out.terms, qterm{term: term, start: tok.Start, end: tok.End, cjk: cjk, double: tok.Type == analysis.Double})
	}
	return out
}

// distinct returns the question's distinct terms (at most maxQueryTerms:
// prepare keeps no more).
func (q question) distinct() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range q.terms {
		if !seen[t.term] {
			seen[t.term] = true
			out = append(out, t.term)
		}
	}
	return out
}

// coverage is the share of the question's significant words that an
// article matched (matched holds the article's matched terms), in 0–1.
// A Chinese character counts 1 and is covered when a matched bigram
// holds it; an English word counts 2 (about one two-character Chinese
// word). Lone Chinese characters left after the filler went do not
// count: the index holds bigrams, which they can never match.
func (q question) coverage(matched map[string]bool) float64 {
	var total, covered float64
	words := map[string]bool{}
	chars := map[int]bool{} // byte offset of a character → covered
	for _, t := range q.terms {
		switch {
		case !t.cjk:
			if _, done := words[t.term]; done {
				continue
			}
			words[t.term] = matched[t.term]
		case t.double:
			for i := t.start; i < t.end; {
				_, n := utf8.DecodeRuneInString(q.text[i:])
				chars[i] = chars[i] || matched[t.term]
				i += max(n, 1)
			}
		}
	}
	for _, ok := range words {
		total += 2
		if ok {
			covered += 2
		}
	}
	for _, ok := range chars {
		total++
		if ok {
			covered++
		}
	}
	if total == 0 {
		return 0
	}
	return covered / total
}

// trimEdgeFiller drops zhLeadFiller characters at the start and
// zhTrailFiller characters at the end of every run of Han characters,
// putting spaces in their place.
func trimEdgeFiller(s string) string {
	rs := []rune(s)
	for i := 0; i < len(rs); {
		if !unicode.Is(unicode.Han, rs[i]) {
			i++
			continue
		}
		j := i
		for j < len(rs) && unicode.Is(unicode.Han, rs[j]) {
			j++
		}
		lo, hi := i, j
		for lo < hi && strings.ContainsRune(zhLeadFiller, rs[lo]) {
			rs[lo] = ' '
			lo++
		}
		for hi > lo && strings.ContainsRune(zhTrailFiller, rs[hi-1]) {
			rs[hi-1] = ' '
			hi--
		}
		i = j
	}
	return string(rs)
}

// stopTerms are the English filler words as the analyzer indexes them
// (stemmed: "please" → "pleas").
func stopTerms(a analysis.Analyzer) map[string]bool {
	out := map[string]bool{}
	for _, w := range enFiller {
		for _, tok := range a.Analyze([]byte(w)) {
			out[string(tok.Term)] = true
		}
	}
	return out
}
