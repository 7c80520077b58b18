package server

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"switchboard/kb"
	"switchboard/router"
	"switchboard/session"
)

// The knowledge base: every agent reads and searches articles and canned
// replies; supervisors and admins write them. Without Deps.KB every route
// answers 404.

// Bounds of the knowledge-base routes.
const (
	kbMaxQueryRunes = 500 // characters of ?q=
	// kbSuggestFrom is how many of the customer's latest messages
	// suggestions are found for.
	kbSuggestFrom = 3
)

// kbRoutes mounts the knowledge-base API on the authenticated group.
func (s *Server) kbRoutes(auth fiber.Router) {
	write := allowRole(session.RoleSupervisor)
	auth.Get("/kb/articles", s.needKB, s.listKBArticles)
	auth.Post("/kb/articles", s.needKB, write, s.createKBArticle)
	auth.Get("/kb/articles/:id", s.needKB, s.getKBArticle)
	auth.Put("/kb/articles/:id", s.needKB, write, s.putKBArticle)
	auth.Delete("/kb/articles/:id", s.needKB, write, s.deleteKBArticle)
	auth.Get("/kb/canned", s.needKB, s.listCanned)
	auth.Post("/kb/canned", s.needKB, write, s.createCanned)
	auth.Get("/kb/canned/:id", s.needKB, s.getCanned)
	auth.Put("/kb/canned/:id", s.needKB, write, s.putCanned)
	auth.Delete("/kb/canned/:id", s.needKB, write, s.deleteCanned)
	auth.Get("/kb/canned/:id/render", s.needKB, s.renderCanned)
	auth.Get("/conversations/:id/suggestions", s.needKB, s.suggestions)
}

func (s *Server) needKB(c *fiber.Ctx) error {
	if s.KB == nil {
		return fiber.NewError(fiber.StatusNotFound, "the knowledge base is not enabled")
	}
	return c.Next()
}

// kbError turns the knowledge base's errors into answers; what names an
// article or a canned reply for a 404.
func kbError(err error, what string) error {
	msg := strings.ReplaceAll(err.Error(), "kb: ", "")
	switch {
	case errors.Is(err, kb.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, "no such "+what)
	case errors.Is(err, kb.ErrTooLarge):
		return fiber.NewError(fiber.StatusRequestEntityTooLarge, msg)
	case errors.Is(err, kb.ErrInvalid):
		return fiber.NewError(fiber.StatusBadRequest, msg)
	case errors.Is(err, kb.ErrFull), errors.Is(err, kb.ErrShortcutTaken):
		return fiber.NewError(fiber.StatusConflict, msg)
	}
	return err
}

// kbArticleJSON is an article in the API: the stored article, its body as
// plain text (what goes into a reply), and, for a search, its score and a
// snippet.
type kbArticleJSON struct {
	kb.Article
	Text    string   `json:"text"`
	Score   *float64 `json:"score,omitempty"`
	Snippet string   `json:"snippet,omitempty"`
}

func articleJSON(a kb.Article) kbArticleJSON {
	if a.Tags == nil {
		a.Tags = []string{}
	}
	return kbArticleJSON{Article: a, Text: kb.PlainText(a.Body)}
}

func hitsJSON(hits []kb.Hit) []kbArticleJSON {
	out := make([]kbArticleJSON, len(hits))
	for i, h := range hits {
		out[i] = articleJSON(h.Article)
		out[i].Score, out[i].Snippet = &h.Score, h.Snippet
	}
	return out
}

// kbQuery reads ?q= within its bound.
func kbQuery(c *fiber.Ctx) (string, error) {
	q := strings.TrimSpace(c.Query("q"))
	if utf8.RuneCountInString(q) > kbMaxQueryRunes {
		return "", fmt.Errorf("%w: q has more than %d characters", errBadInput, kbMaxQueryRunes)
	}
	return q, nil
}

// listKBArticles searches articles with ?q= (limit 1–50, default 20, best
// first) or lists them without (limit 1–200, default 50, newest first);
// ?lang= keeps those in one language and those with none.
func (s *Server) listKBArticles(c *fiber.Ctx) error {
	q, err := kbQuery(c)
	if err != nil {
		return err
	}
	if q != "" {
		limit, err := queryLimit(c, 20, 50)
		if err != nil {
			return err
		}
		hits, err := s.KB.Search(c.UserContext(), q, c.Query("lang"), limit)
		if err != nil {
			return kbError(err, "article")
		}
		return c.JSON(fiber.Map{"items": hitsJSON(hits)})
	}
	limit, err := queryLimit(c, 50, 200)
	if err != nil {
		return err
	}
	list, err := s.KB.Articles(c.UserContext(), c.Query("lang"), limit)
	if err != nil {
		return kbError(err, "article")
	}
	items := make([]kbArticleJSON, len(list))
	for i, a := range list {
		items[i] = articleJSON(a)
	}
	return c.JSON(fiber.Map{"items": items})
}

// kbArticleInput is the body of a create or a replace.
type kbArticleInput struct {
	Title string   `json:"title"`
	Body  string   `json:"body"`
	Lang  string   `json:"lang"`
	Tags  []string `json:"tags"`
}

func (s *Server) saveKBArticle(c *fiber.Ctx, id string) (kb.Article, error) {
	var in kbArticleInput
	if err := decode(c, &in); err != nil {
		return kb.Article{}, err
	}
	a, err := s.KB.PutArticle(c.UserContext(), kb.Article{ID: id, Title: in.Title, Body: in.Body, Lang: in.Lang, Tags: in.Tags,
		UpdatedBy: agentOf(c).ID})
	if err != nil {
		return kb.Article{}, kbError(err, "article")
	}
	s.log.Info("kb article saved", "article", a.ID, "by", a.UpdatedBy, "created", id == "")
	return a, nil
}

func (s *Server) createKBArticle(c *fiber.Ctx) error {
	a, err := s.saveKBArticle(c, "")
	if err != nil {
		return err
	}
	c.Location("/api/v1/kb/articles/" + a.ID)
	return c.Status(fiber.StatusCreated).JSON(articleJSON(a))
}

func (s *Server) putKBArticle(c *fiber.Ctx) error {
	a, err := s.saveKBArticle(c, c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(articleJSON(a))
}

func (s *Server) getKBArticle(c *fiber.Ctx) error {
	a, err := s.KB.Article(c.UserContext(), c.Params("id"))
	if err != nil {
		return kbError(err, "article")
	}
	return c.JSON(articleJSON(a))
}

func (s *Server) deleteKBArticle(c *fiber.Ctx) error {
	if err := s.KB.DeleteArticle(c.UserContext(), c.Params("id")); err != nil {
		return kbError(err, "article")
	}
	s.log.Info("kb article deleted", "article", c.Params("id"), "by", agentOf(c).ID)
	return c.SendStatus(fiber.StatusNoContent)
}

// cannedJSON is a canned reply in the API.
func cannedJSON(x kb.Canned) kb.Canned {
	if x.Tags == nil {
		x.Tags = []string{}
	}
	return x
}

// listCanned lists canned replies, newest first: ?q= keeps those whose
// shortcut, title, body or tags hold it, ?lang= those in one language and
// those with none; limit 1–2000, default 200.
func (s *Server) listCanned(c *fiber.Ctx) error {
	q, err := kbQuery(c)
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, 200, kb.MaxCanned)
	if err != nil {
		return err
	}
	list, err := s.KB.SearchCanned(c.UserContext(), q, c.Query("lang"), limit)
	if err != nil {
		return kbError(err, "canned reply")
	}
	for i := range list {
		list[i] = cannedJSON(list[i])
	}
	return c.JSON(fiber.Map{"items": list})
}

// kbCannedInput is the body of a create or a replace.
type kbCannedInput struct {
	Title    string   `json:"title"`
	Body     string   `json:"body"`
	Lang     string   `json:"lang"`
	Shortcut string   `json:"shortcut"`
	Tags     []string `json:"tags"`
}

func (s *Server) saveCanned(c *fiber.Ctx, id string) (kb.Canned, error) {
	var in kbCannedInput
	if err := decode(c, &in); err != nil {
		return kb.Canned{}, err
	}
	x, err := s.KB.PutCanned(c.UserContext(), kb.Canned{ID: id, Title: in.Title, Body: in.Body, Lang: in.Lang,
		Shortcut: in.Shortcut, Tags: in.Tags, UpdatedBy: agentOf(c).ID})
	if err != nil {
		return kb.Canned{}, kbError(err, "canned reply")
	}
	s.log.Info("kb canned reply saved", "canned", x.ID, "by", x.UpdatedBy, "created", id == "")
	return x, nil
}

func (s *Server) createCanned(c *fiber.Ctx) error {
	x, err := s.saveCanned(c, "")
	if err != nil {
		return err
	}
	c.Location("/api/v1/kb/canned/" + x.ID)
	return c.Status(fiber.StatusCreated).JSON(cannedJSON(x))
}

func (s *Server) putCanned(c *fiber.Ctx) error {
	x, err := s.saveCanned(c, c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(cannedJSON(x))
}

func (s *Server) getCanned(c *fiber.Ctx) error {
	x, err := s.KB.Canned(c.UserContext(), c.Params("id"))
	if err != nil {
		return kbError(err, "canned reply")
	}
	return c.JSON(cannedJSON(x))
}

func (s *Server) deleteCanned(c *fiber.Ctx) error {
	if err := s.KB.DeleteCanned(c.UserContext(), c.Params("id")); err != nil {
		return kbError(err, "canned reply")
	}
	s.log.Info("kb canned reply deleted", "canned", c.Params("id"), "by", agentOf(c).ID)
	return c.SendStatus(fiber.StatusNoContent)
}

// renderCanned fills a canned reply's placeholders: {{agent.name}} with
// the caller's name and, with ?conversation=, {{customer.name}} and
// {{ticket.number}} with that conversation's. Without a conversation those
// two stay as written. Answers {"id","text"}.
func (s *Server) renderCanned(c *fiber.Ctx) error {
	ctx := c.UserContext()
	x, err := s.KB.Canned(ctx, c.Params("id"))
	if err != nil {
		return kbError(err, "canned reply")
	}
	vars := kb.Vars{kb.VarAgentName: agentOf(c).Name}
	if id := c.Query("conversation"); id != "" {
		conv, err := s.Router.Conversation(ctx, id)
		if err != nil {
			return err
		}
		// The customer record has the name as it is now (an agent may
		// have set it); the conversation keeps the one it was opened with.
		name := conv.CustomerName
		if conv.CustomerID != "" {
			cust, err := s.Router.Customer(ctx, conv.CustomerID)
			switch {
			case err == nil && cust.Name != "":
				name = cust.Name
			case err != nil && !errors.Is(err, router.ErrNotFound):
				return err
			}
		}
		vars[kb.VarCustomerName], vars[kb.VarTicketNumber] = name, conv.TicketID
	}
	return c.JSON(fiber.Map{"id": x.ID, "text": kb.Render(x.Body, vars)})
}

// suggestions finds articles about what the customer wrote last in a
// conversation (its latest kbSuggestFrom messages from the customer):
// limit 1–20, default 5, best first, in the shape of a search. Any agent
// may ask, as for the conversation's messages.
func (s *Server) suggestions(c *fiber.Ctx) error {
	limit, err := queryLimit(c, 5, 20)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	msgs, err := s.Router.Messages(ctx, c.Params("id"), "", "", 50)
	if err != nil {
		return err
	}
	var texts []string
	for i := len(msgs) - 1; i >= 0 && len(texts) < kbSuggestFrom; i-- {
		if m := msgs[i]; m.Direction == router.In && strings.TrimSpace(m.Text) != "" {
			texts = append(texts, m.Text)
		}
	}
	hits, err := s.KB.Suggest(ctx, texts, limit)
	if err != nil {
		return kbError(err, "article")
	}
	return c.JSON(fiber.Map{"items": hitsJSON(hits)})
}
