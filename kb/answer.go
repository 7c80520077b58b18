package kb

import (
	"cmp"
	"context"
	"errors"
	"slices"
)

// Answer is the knowledge base's best answer to a customer's question.
type Answer struct {
	// Article is the best match; zero when nothing matched.
	Article Article `json:"article"`
	// Score is the best match's score in 0–1 (see Store.Answer), Runner
	// the runner-up's (0 when there is none).
	Score  float64 `json:"score"`
	Runner float64 `json:"runner"`
	// Confident says the bot may send the article: Score is at least the
	// minimum score and at least the margin above Runner.
	Confident bool `json:"confident"`
}

// answerCandidates are the hits an answer is chosen from.
const answerCandidates = 5

// Answer matches a customer's question against the articles in lang (""
// for every language).
//
// bleve's scores rank the hits of one search but are not comparable
// across searches, so they do not decide alone. The score of a candidate
// (the best 5 hits) is
//
//	coverage × (½ + ½ × relevance)
//
// where coverage is the share of the question's significant words (filler
// such as 请问, 怎么, "how do I" left out) that the article holds in its
// title, tags or body, and relevance is its bleve score over the best
// one's. Both are in 0–1, and so is the score: an article that holds all
// of the question and ranks first scores 1; one that holds half of it
// scores at most 0.5. The answer is the best-scoring candidate; it is
// Confident when its score is at least MinScore (default 0.6) and at least
// Margin (default 0.15) above the runner-up's (BotConfig, SetBot). A
// question with no significant words ("你好", "asdfgh" matches nothing)
// has no answer.
func (s *Store) Answer(ctx context.Context, question, lang string) (Answer, error) {
	lang, err := NormalizeLang(lang)
	if err != nil {
		return Answer{}, err
	}
	s.mu.RLock()
	m, err := s.cat.match(ctx, question, lang)
	s.mu.RUnlock()
	if err != nil || m.id == "" {
		return Answer{}, err
	}
	a, err := s.Article(ctx, m.id)
	if errors.Is(err, ErrNotFound) {
		return Answer{}, nil // deleted since the index saw it
	}
	if err != nil {
		return Answer{}, err
	}
	return Answer{Article: a, Score: m.score, Runner: m.runner, Confident: s.bot.Load().Judge(m.score, m.runner)}, nil
}

// match is the best candidate for a question: its id ("" for none), its
// score and the runner-up's.
type match struct {
	id            string
	score, runner float64
}

// match finds the best candidate for question among the articles in lang.
func (c *catalog) match(ctx context.Context, question, lang string) (match, error) {
	q := prepare(c.an, c.stops, question, false)
	raw, err := c.search(ctx, q.distinct(), lang, answerCandidates)
	if err != nil || len(raw) == 0 {
		return match{}, err
	}
	scores := rank(q, raw)
	order := make([]int, len(raw))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })
	m := match{id: raw[order[0]].id, score: scores[order[0]]}
	if len(order) > 1 {
		m.runner = scores[order[1]]
	}
	return m, nil
}

// rank scores each hit for question q in 0–1 (see Answer).
func rank(q question, hits []rawHit) []float64 {
	top := 0.0
	for _, h := range hits {
		top = max(top, h.score)
	}
	out := make([]float64, len(hits))
	for i, h := range hits {
		rel := 1.0
		if top > 0 {
			rel = h.score / top
		}
		out[i] = q.coverage(h.matched) * (0.5 + 0.5*rel)
	}
	return out
}
