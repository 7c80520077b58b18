package kb

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/search/query"
)

// catalog is one replica's copy of the knowledge base: an in-memory bleve
// index of the articles, their details without bodies (for lists; bodies
// are read from Redis when asked for), and the canned replies. A full
// re-sync builds a new catalog and swaps it in.
type catalog struct {
	idx   bleve.Index
	an    analysis.Analyzer
	stops map[string]bool

	mu       sync.RWMutex
	articles map[string]Article // bodies left out
	canned   map[string]Canned
}

func newCatalog() (*catalog, error) {
	m, err := newMapping()
	if err != nil {
		return nil, err
	}
	idx, err := bleve.NewMemOnly(m)
	if err != nil {
		return nil, fmt.Errorf("kb: index: %w", err)
	}
	an := idx.Mapping().AnalyzerNamed(analyzerName)
	if an == nil {
		_ = idx.Close()
		return nil, fmt.Errorf("kb: analyzer %s missing", analyzerName)
	}
	return &catalog{idx: idx, an: an, stops: stopTerms(an), articles: map[string]Article{}, canned: map[string]Canned{}}, nil
}

func (c *catalog) close() { _ = c.idx.Close() }

// putArticle indexes a, replacing what the index had under its id.
func (c *catalog) putArticle(a Article) error {
	if err := c.idx.Index(a.ID, indexDoc(a)); err != nil {
		return fmt.Errorf("kb: index %s: %w", a.ID, err)
	}
	a.Body = ""
	c.mu.Lock()
	c.articles[a.ID] = a
	c.mu.Unlock()
	return nil
}

func (c *catalog) deleteArticle(id string) error {
	c.mu.Lock()
	delete(c.articles, id)
	c.mu.Unlock()
	if err := c.idx.Delete(id); err != nil {
		return fmt.Errorf("kb: unindex %s: %w", id, err)
	}
	return nil
}

func (c *catalog) putCanned(x Canned) {
	c.mu.Lock()
	c.canned[x.ID] = x
	c.mu.Unlock()
}

func (c *catalog) deleteCanned(id string) {
	c.mu.Lock()
	delete(c.canned, id)
	c.mu.Unlock()
}

// newestFirst orders by last change, newest first, then by id.
func newestFirst[T any](at func(T) int64, id func(T) string) func(a, b T) int {
	return func(a, b T) int {
		if c := cmp.Compare(at(b), at(a)); c != 0 {
			return c
		}
		return cmp.Compare(id(a), id(b))
	}
}

// articleIDs lists the ids of the articles in lang, newest first.
func (c *catalog) articleIDs(lang string, limit int) []string {
	c.mu.RLock()
	list := make([]Article, 0, len(c.articles))
	for _, a := range c.articles {
		if langMatches(a.Lang, lang) {
			list = append(list, a)
		}
	}
	c.mu.RUnlock()
	slices.SortFunc(list, newestFirst(func(a Article) int64 { return a.UpdatedAt.UnixNano() }, func(a Article) string { return a.ID }))
	ids := make([]string, 0, min(limit, len(list)))
	for _, a := range list[:min(limit, len(list))] {
		ids = append(ids, a.ID)
	}
	return ids
}

// cannedList lists the canned replies in lang that keep says to, newest
// first.
func (c *catalog) cannedList(lang string, keep func(Canned) bool, limit int) []Canned {
	c.mu.RLock()
	list := make([]Canned, 0, len(c.canned))
	for _, x := range c.canned {
		if langMatches(x.Lang, lang) && keep(x) {
			list = append(list, x)
		}
	}
	c.mu.RUnlock()
	slices.SortFunc(list, newestFirst(func(x Canned) int64 { return x.UpdatedAt.UnixNano() }, func(x Canned) string { return x.ID }))
	return list[:min(limit, len(list))]
}

// rawHit is an article the index found, before its body is read.
type rawHit struct {
	id    string
	score float64
	// matched are the question's terms the article holds, in any field.
	matched map[string]bool
	// bodyAt is the byte offset in the indexed body of the first match
	// there, -1 for none.
	bodyAt int
}

// search finds the articles in lang (any language for "") that hold any
// of terms, best first.
func (c *catalog) search(ctx context.Context, terms []string, lang string, size int) ([]rawHit, error) {
	if len(terms) == 0 {
		return nil, nil
	}
	var should []query.Query
	for _, t := range terms {
		for _, f := range []struct {
			name  string
			boost float64
		}{{fieldTitle, boostTitle}, {fieldTags, boostTags}, {fieldBody, boostBody}} {
			q := bleve.NewTermQuery(t)
			q.SetField(f.name)
			q.SetBoost(f.boost)
			should = append(should, q)
		}
	}
	var q query.Query = bleve.NewDisjunctionQuery(should...)
	if lang != "" {
		b := bleve.NewBooleanQuery()
		b.AddMust(q)
		b.AddFilter(bleve.NewDisjunctionQuery(langTerm(lang), langTerm(anyLang)))
		q = b
	}
	req := bleve.NewSearchRequestOptions(q, size, 0, false)
	req.IncludeLocations = true
	res, err := c.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("kb: search: %w", err)
	}
	out := make([]rawHit, 0, len(res.Hits))
	for _, h := range res.Hits {
		hit := rawHit{id: h.ID, score: h.Score, matched: map[string]bool{}, bodyAt: -1}
		for field, terms := range h.Locations {
			for term, locs := range terms {
				hit.matched[term] = true
				if field != fieldBody {
					continue
				}
				for _, l := range locs {
					if hit.bodyAt < 0 || int(l.Start) < hit.bodyAt {
						hit.bodyAt = int(l.Start)
					}
				}
			}
		}
		out = append(out, hit)
	}
	return out, nil
}

func langTerm(lang string) *query.TermQuery {
	q := bleve.NewTermQuery(lang)
	q.SetField(fieldLang)
	return q
}
