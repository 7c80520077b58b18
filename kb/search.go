package kb

import (
	"context"
	"strings"
	"unicode/utf8"
)

// Hit is an article a search found.
type Hit struct {
	Article Article `json:"article"`
	// Score is bleve's relevance score: it orders the hits of one search
	// and means nothing across searches.
	Score float64 `json:"score"`
	// Snippet is plain text around the first match in the body.
	Snippet string `json:"snippet"`
}

// Snippet length, in characters, before and after the first match.
const (
	snippetBefore = 30
	snippetAfter  = 90
)

// Search finds up to limit (1–50, default 10) articles in lang ("" for
// every language) about query, best first. Filler words are left out of
// the query ("我想退货怎么弄" searches 退货) unless nothing else is left.
func (s *Store) Search(ctx context.Context, query, lang string, limit int) ([]Hit, error) {
	return s.search(ctx, query, lang, limit, true)
}

// Suggest finds up to limit articles (1–50, default 10) about what a
// customer wrote (the latest messages of a conversation), in any
// language. Unlike Search it finds nothing in filler alone: "你好" or
// "thanks" suggest no article.
func (s *Store) Suggest(ctx context.Context, texts []string, limit int) ([]Hit, error) {
	return s.search(ctx, strings.Join(texts, "\n"), "", limit, false)
}

// search is Search; with fallback, a query of filler only is searched
// with its filler.
func (s *Store) search(ctx context.Context, query, lang string, limit int, fallback bool) ([]Hit, error) {
	lang, err := NormalizeLang(lang)
	if err != nil {
		return nil, err
	}
	limit = clampLimit(limit, 10, searchMaxLimit)
	s.mu.RLock()
	cat := s.cat
	q := prepare(cat.an, cat.stops, query, false)
	if len(q.terms) == 0 && fallback {
		q = prepare(cat.an, cat.stops, query, true)
	}
	raw, err := cat.search(ctx, q.distinct(), lang, limit)
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(raw))
	for i, h := range raw {
		ids[i] = h.id
	}
	got, err := s.articlesByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]Hit, 0, len(raw))
	for _, h := range raw {
		a, ok := got[h.id]
		if !ok {
			continue // deleted since the index saw it
		}
		out = append(out, Hit{Article: a, Score: h.score, Snippet: snippet(a.Body, h.bodyAt)})
	}
	return out, nil
}

// snippet is the body's plain text around byte offset at of its indexed
// form (indexedBody), or its start when at < 0. The indexed form has as
// many characters as the plain text, so the offset is turned into a
// character count and back.
func snippet(body string, at int) string {
	plain := PlainText(body)
	runes := []rune(plain)
	start := 0
	if at > 0 {
		folded := fold(plain)
		if at > len(folded) {
			at = len(folded)
		}
		start = utf8.RuneCountInString(folded[:at]) - snippetBefore
		if start < 0 {
			start = 0
		}
	}
	end := min(len(runes), start+snippetBefore+snippetAfter)
	if end-start < snippetBefore+snippetAfter {
		start = max(0, end-snippetBefore-snippetAfter)
	}
	text := strings.Join(strings.Fields(string(runes[start:end])), " ")
	if start > 0 {
		text = "…" + text
	}
	if end < len(runes) {
		text += "…"
	}
	return text
}
