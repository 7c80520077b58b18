package kb

import (
	"fmt"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/cjk" // registers cjk_width and cjk_bigram
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/token/porter"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"
)

// analyzerName is the analyzer of every text field: Chinese and English
// alike.
const analyzerName = "kb_text"

// Indexed fields and the weight a match in each carries.
const (
	fieldTitle = "title"
	fieldBody  = "body"
	fieldTags  = "tags"
	fieldLang  = "lang"

	boostTitle = 3.0
	boostTags  = 2.0
	boostBody  = 1.0
)

// newMapping is the index mapping: one static document type with the
// title, the body as plain text, the tags (all three through the kb_text
// analyzer) and the language as a keyword.
func newMapping() (*mapping.IndexMappingImpl, error) {
	m := bleve.NewIndexMapping()
	err := m.AddCustomAnalyzer(analyzerName, map[string]any{
		"type":      custom.Name,
		"tokenizer": unicode.Name,
		"token_filters": []any{
			cjk.WidthName,  // full-width Latin letters and half-width kana to their usual width
			lowercase.Name, // "Refund" finds "refund"
			cjk.BigramName, // 退货运费 → 退货 货运 运费
			porter.Name,    // "returns" finds "return"; Chinese passes unchanged
		},
	})
	if err != nil {
		return nil, fmt.Errorf("kb: analyzer: %w", err)
	}
	text := func() *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Analyzer = analyzerName
		f.Store = false
		f.IncludeInAll = false
		f.IncludeTermVectors = true // for the terms a hit matched (coverage, snippets)
		return f
	}
	lang := bleve.NewKeywordFieldMapping()
	lang.Analyzer = keyword.Name
	lang.Store = false
	lang.IncludeInAll = false
	lang.IncludeTermVectors = false

	doc := bleve.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt(fieldTitle, text())
	doc.AddFieldMappingsAt(fieldBody, text())
	doc.AddFieldMappingsAt(fieldTags, text())
	doc.AddFieldMappingsAt(fieldLang, lang)
	m.DefaultMapping = doc
	m.DefaultAnalyzer = analyzerName
	m.StoreDynamic = false
	m.IndexDynamic = false
	m.DocValuesDynamic = false
	return m, nil
}

// indexDoc is what the index holds of an article.
func indexDoc(a Article) map[string]any {
	tags := make([]string, len(a.Tags))
	for i, t := range a.Tags {
		tags[i] = fold(t)
	}
	lang := a.Lang
	if lang == "" {
		lang = anyLang
	}
	return map[string]any{
		fieldTitle: fold(a.Title),
		fieldBody:  indexedBody(a.Body),
		fieldTags:  tags,
		fieldLang:  lang,
	}
}

// indexedBody is the body's text as indexed: the snippet's byte offsets
// point into it.
func indexedBody(md string) string { return fold(PlainText(md)) }

// fold turns full-width ASCII (Ａ, １, ？) into its usual form and the
// ideographic space into a space, rune for rune, so that the tokenizer
// sees "iPhone15" whichever way it was typed. (cjk_width does the same
// after tokenizing, but the tokenizer drops full-width digits.)
func fold(s string) string {
	if !strings.ContainsFunc(s, wide) {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\u3000':
			return ' '
		case r >= '\uFF01' && r <= '\uFF5E':
			return r - 0xFF01 + 0x21
		}
		return r
	}, s)
}

func wide(r rune) bool { return r == '\u3000' || (r >= '\uFF01' && r <= '\uFF5E') }

// isCJK reports whether a token is Chinese, Japanese or Korean script
// (a bigram or a lone character).
func isCJK(tok *analysis.Token) bool {
	return tok.Type == analysis.Ideographic || tok.Type == analysis.Double || tok.Type == analysis.Single
}
