package kb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/rdb"
	"switchboard/internal/redistest"
)

const waitFor = 15 * time.Second

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newStore opens a store on a real Redis under a prefix of the test's own.
func newStore(t *testing.T) (*Store, redis.UniversalClient, string) {
	t.Helper()
	c, prefix := redistest.Client(t)
	return openStore(t, c, prefix), c, prefix
}

func openStore(t *testing.T, c redis.UniversalClient, prefix string) *Store {
	t.Helper()
	s, err := New(context.Background(), c, prefix, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run runs s's sync loop until the test ends.
func run(t *testing.T, s *Store) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// eventually polls cond until it holds, failing the test after waitFor.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", waitFor, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// titles searches s and returns the titles of the hits.
func titles(t *testing.T, s *Store, q, lang string) []string {
	t.Helper()
	hits, err := s.Search(context.Background(), q, lang, 10)
	if err != nil {
		t.Fatalf("Search(%q): %v", q, err)
	}
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Article.Title
	}
	return out
}

func mustPut(t *testing.T, s *Store, a Article) Article {
	t.Helper()
	got, err := s.PutArticle(context.Background(), a)
	if err != nil {
		t.Fatalf("PutArticle(%q): %v", a.Title, err)
	}
	return got
}

func TestStoreArticles(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := context.Background()
	clock := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return clock }

	a := mustPut(t, s, Article{Title: " 退货退款流程 ", Body: "签收后 7 天内可**申请退货**。", Lang: "zh-CN", Tags: []string{"退货"}, UpdatedBy: "sup"})
	if a.ID == "" || a.Title != "退货退款流程" || a.Lang != "zh" || !a.UpdatedAt.Equal(clock) || a.UpdatedBy != "sup" {
		t.Fatalf("created: %+v", a)
	}
	got, err := s.Article(ctx, a.ID)
	if err != nil || got.Title != a.Title || got.Body != a.Body || !slices.Equal(got.Tags, a.Tags) {
		t.Fatalf("Article: %+v %v", got, err)
	}
	// Found at once on the replica that wrote it, by a word of the body.
	if got := titles(t, s, "申请退货", ""); !slices.Equal(got, []string{"退货退款流程"}) {
		t.Errorf("search after create: %q", got)
	}

	clock = clock.Add(time.Hour)
	a.Title, a.Body = "Returns", "Send it back within 7 days."
	a.Lang, a.Tags = "en", nil
	upd, err := s.PutArticle(ctx, a)
	if err != nil || !upd.UpdatedAt.Equal(clock) {
		t.Fatalf("update: %+v %v", upd, err)
	}
	if got := titles(t, s, "申请退货", ""); len(got) != 0 {
		t.Errorf("the old text is still found: %q", got)
	}
	if got := titles(t, s, "return", "en"); !slices.Equal(got, []string{"Returns"}) {
		t.Errorf("search the new text: %q", got)
	}

	clock = clock.Add(time.Minute)
	b := mustPut(t, s, Article{Title: "营业时间", Body: "每天 9:00–21:00", Lang: "zh"})
	clock = clock.Add(time.Minute)
	every := mustPut(t, s, Article{Title: "WeChat 客服", Body: "关注公众号 / follow our official account"})
	for _, tc := range []struct {
		lang string
		want []string
	}{
		{"", []string{every.ID, b.ID, a.ID}},
		{"zh", []string{every.ID, b.ID}}, // no language: in every list
		{"en", []string{every.ID, a.ID}},
	} {
		list, err := s.Articles(ctx, tc.lang, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range list {
			ids = append(ids, x.ID)
			if x.Body == "" {
				t.Errorf("a listed article lacks its body: %+v", x)
			}
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("Articles(%q) = %q, want %q (newest first)", tc.lang, ids, tc.want)
		}
	}
	if list, _ := s.Articles(ctx, "", 1); len(list) != 1 {
		t.Errorf("limit 1 listed %d", len(list))
	}

	if err := s.DeleteArticle(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Article(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Article after delete: %v", err)
	}
	if got := titles(t, s, "return", ""); len(got) != 0 {
		t.Errorf("a deleted article is found: %q", got)
	}
	for _, err := range []error{
		s.DeleteArticle(ctx, a.ID),
		s.DeleteArticle(ctx, "no such id"),
		func() error { _, err := s.PutArticle(ctx, Article{ID: a.ID, Title: "t", Body: "b"}); return err }(),
		func() error { _, err := s.Article(ctx, "../../etc"); return err }(),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("an unknown id: %v, want ErrNotFound", err)
		}
	}
	if _, err := s.PutArticle(ctx, Article{Title: "", Body: "b"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an empty title: %v", err)
	}
	if _, err := s.Search(ctx, "x", "klingon", 5); !errors.Is(err, ErrInvalid) {
		t.Errorf("a bad language: %v", err)
	}
}

func TestStoreSearch(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := context.Background()
	ids := map[string]string{} // faq id → stored id
	for _, a := range faq {
		fid := a.ID
		a.ID = ""
		ids[fid] = mustPut(t, s, a).ID
	}
	hits, err := s.Search(ctx, "退款多久到账", "", 3)
	if err != nil || len(hits) == 0 {
		t.Fatalf("search: %v %v", hits, err)
	}
	top := hits[0]
	if top.Article.ID != ids["zh-return"] || top.Score <= 0 {
		t.Errorf("best hit %q (%v), want the return article", top.Article.Title, top.Score)
	}
	if !strings.Contains(top.Snippet, "退款") || strings.Contains(top.Snippet, "**") || strings.Contains(top.Snippet, "##") {
		t.Errorf("snippet %q: want plain text around the match", top.Snippet)
	}
	if len(hits) > 3 {
		t.Errorf("limit 3 gave %d hits", len(hits))
	}
	if got := titles(t, s, "refund", "zh"); len(got) != 0 {
		t.Errorf("English articles in a Chinese search: %q", got)
	}
	// Filler alone is still searched for.
	if got := titles(t, s, "hours", ""); !slices.Contains(got, "Opening hours") {
		t.Errorf("search hours: %q", got)
	}
	if got := titles(t, s, "", ""); len(got) != 0 {
		t.Errorf("an empty search found %q", got)
	}

	// Suggestions for what a customer wrote; greetings alone suggest
	// nothing.
	sugg, err := s.Suggest(ctx, []string{"你好", "我想退货怎么弄"}, 2)
	if err != nil || len(sugg) == 0 || sugg[0].Article.ID != ids["zh-return"] {
		t.Errorf("Suggest: %+v %v", sugg, err)
	}
	if sugg, _ := s.Suggest(ctx, []string{"你好", "thanks", "hours"}, 5); len(sugg) == 0 || sugg[0].Article.ID != ids["en-hours"] {
		t.Errorf("Suggest(greetings and hours): %+v", sugg)
	}
	if sugg, _ := s.Suggest(ctx, []string{"你好", "thanks"}, 5); len(sugg) != 0 {
		t.Errorf("greetings suggest %d articles", len(sugg))
	}

	// The bot's matcher on the stored articles, with its thresholds.
	ans, err := s.Answer(ctx, "我想退货怎么弄", "")
	if err != nil || !ans.Confident || ans.Article.ID != ids["zh-return"] || ans.Article.Body == "" {
		t.Errorf("Answer: %+v %v", ans, err)
	}
	s.SetBot(BotConfig{MinScore: 1, Margin: 0.9})
	if ans, _ := s.Answer(ctx, "我想退货怎么弄", ""); ans.Confident {
		t.Errorf("confident under a 0.9 margin: %+v", ans)
	}
	if ans, err := s.Answer(ctx, "asdfgh", ""); err != nil || ans.Confident || ans.Article.ID != "" {
		t.Errorf("Answer(asdfgh): %+v %v", ans, err)
	}
}

func TestSnippet(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("前文", 60) + "**退款**将在 3 个工作日内到账。" + strings.Repeat("后文", 80)
	plain := PlainText(long)
	at := strings.Index(fold(plain), "退款")
	got := snippet(long, at)
	if !strings.HasPrefix(got, "…") || !strings.HasSuffix(got, "…") || !strings.Contains(got, "退款将在 3 个工作日内到账") {
		t.Errorf("snippet around the match: %q", got)
	}
	if n := len([]rune(got)); n > snippetBefore+snippetAfter+2 {
		t.Errorf("snippet of %d characters", n)
	}
	if got := snippet("短文：## 退款", -1); got != "短文：## 退款" && got != "短文:## 退款" && !strings.HasPrefix(got, "短文") {
		t.Errorf("snippet of a short body: %q", got)
	}
	if got := snippet(long, 10*len(long)); !strings.HasSuffix(got, "后文") {
		t.Errorf("an offset past the end (a body changed meanwhile) gives the end: %q", got)
	}
}

func TestStoreCanned(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := context.Background()
	hi, err := s.PutCanned(ctx, Canned{Title: "问候", Body: "{{customer.name|您}}好，我是{{agent.name}}。", Shortcut: "/Hi", Lang: "zh"})
	if err != nil || hi.Shortcut != "hi" || hi.ID == "" {
		t.Fatalf("PutCanned: %+v %v", hi, err)
	}
	if _, err := s.PutCanned(ctx, Canned{Title: "again", Body: "x", Shortcut: "HI"}); !errors.Is(err, ErrShortcutTaken) {
		t.Errorf("a taken shortcut: %v", err)
	}
	bye, err := s.PutCanned(ctx, Canned{Title: "Goodbye", Body: "Thanks, {{customer.name}}!", Shortcut: "bye", Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	// Renaming frees the old shortcut for another reply.
	hi.Shortcut = "hello"
	if _, err := s.PutCanned(ctx, hi); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutCanned(ctx, Canned{Title: "hi", Body: "x", Shortcut: "hi"}); err != nil {
		t.Errorf("a freed shortcut: %v", err)
	}
	// Deleting frees it too.
	if err := s.DeleteCanned(ctx, bye.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutCanned(ctx, Canned{Title: "bye", Body: "x", Shortcut: "bye"}); err != nil {
		t.Errorf("the shortcut of a deleted reply: %v", err)
	}
	if _, err := s.Canned(ctx, bye.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Canned after delete: %v", err)
	}
	got, err := s.Canned(ctx, hi.ID)
	if err != nil || got.Shortcut != "hello" || got.Body != hi.Body {
		t.Errorf("Canned: %+v %v", got, err)
	}

	all, err := s.CannedList(ctx, "", 0)
	if err != nil || len(all) != 3 {
		t.Errorf("CannedList: %d %v", len(all), err)
	}
	zh, _ := s.CannedList(ctx, "zh", 0)
	if len(zh) != 3 { // the two without a language, and 问候
		t.Errorf("CannedList(zh): %d", len(zh))
	}
	for q, want := range map[string]int{"/hello": 1, "问候": 1, "AGENT.NAME": 1, "nothing like it": 0, "": 3} {
		if got, _ := s.SearchCanned(ctx, q, "", 0); len(got) != want {
			t.Errorf("SearchCanned(%q): %d, want %d", q, len(got), want)
		}
	}
}

// TestStoreFull: the 10,001st article is refused with ErrFull.
func TestStoreFull(t *testing.T) {
	t.Parallel()
	s, c, prefix := newStore(t)
	ctx := context.Background()
	pipe := c.Pipeline()
	for i := range MaxArticles {
		pipe.HSet(ctx, prefix+"{kb}:articles", fmt.Sprintf("filler%05d", i), "{}")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutArticle(ctx, Article{Title: "one too many", Body: "b"}); !errors.Is(err, ErrFull) {
		t.Errorf("PutArticle beyond %d: %v, want ErrFull", MaxArticles, err)
	}
	// Replacing one is fine when full.
	if err := c.HSet(ctx, prefix+"{kb}:articles", "filler00000", `{"id":"filler00000","title":"t","body":"b"}`).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutArticle(ctx, Article{ID: "filler00000", Title: "replaced", Body: "b"}); err != nil {
		t.Errorf("replacing an article when full: %v", err)
	}
}

// TestTwoReplicas: a write on one replica is searchable on the other,
// through the change notice.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	a, c, prefix := newStore(t)
	b := openStore(t, c, prefix)
	b.checkEvery = time.Hour // only the notice can bring the change
	run(t, a)
	run(t, b)
	ctx := context.Background()
	// Wait until b listens: a write before then is only seen at the next
	// check, which this test leaves out.
	eventually(t, "b to subscribe", func() bool {
		n, err := c.PubSubNumSub(ctx, b.channel()).Result()
		return err == nil && n[b.channel()] == 2
	})

	art := mustPut(t, a, Article{Title: "发票开具说明", Body: "下单时填写发票抬头和税号即可开具电子发票。", Lang: "zh"})
	eventually(t, "the article on replica b", func() bool { return slices.Equal(titles(t, b, "发票怎么开", ""), []string{"发票开具说明"}) })

	art.Title = "Invoices"
	art.Body, art.Lang = "We issue electronic invoices.", "en"
	if _, err := a.PutArticle(ctx, art); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the change on replica b", func() bool { return slices.Equal(titles(t, b, "invoice", "en"), []string{"Invoices"}) })

	if _, err := b.PutCanned(ctx, Canned{Title: "问候", Body: "您好", Shortcut: "hi"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b's canned reply on replica a", func() bool {
		list, _ := a.CannedList(ctx, "", 0)
		return len(list) == 1 && list[0].Shortcut == "hi"
	})

	if err := a.DeleteArticle(ctx, art.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deletion on replica b", func() bool {
		list, _ := b.Articles(ctx, "", 10)
		return len(titles(t, b, "invoice", "")) == 0 && len(list) == 0
	})
}

// TestMissedNotice: a change whose notice never came is found at the
// next periodic check.
func TestMissedNotice(t *testing.T) {
	t.Parallel()
	a, c, prefix := newStore(t)
	b := openStore(t, c, prefix)
	b.checkEvery = 20 * time.Millisecond
	run(t, b)
	ctx := context.Background()
	// Written the way PutArticle writes, without the notice.
	raw := `{"id":"silent1","title":"静默写入","body":"没有通知的修改","lang":"zh","tags":[]}`
	if err := putLua.Run(ctx, c, a.keys(), kindArticle, "silent1", raw, "1", MaxArticles, "", newGeneration()).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the silent change on b", func() bool { return slices.Equal(titles(t, b, "静默写入", ""), []string{"静默写入"}) })
}

// TestRebuild: a replica that lagged behind more deletions than the log
// keeps, or whose Redis went back in time, builds its index anew.
func TestRebuild(t *testing.T) {
	t.Parallel()
	a, c, prefix := newStore(t)
	a.keepDeleted = 2
	b := openStore(t, c, prefix) // synced by hand below, never by notice
	ctx := context.Background()
	var arts []Article
	for i := range 6 {
		arts = append(arts, mustPut(t, a, Article{Title: fmt.Sprintf("文章%d 物流", i), Body: "物流查询"}))
	}
	if err := b.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(titles(t, b, "物流", "")); n != 6 {
		t.Fatalf("b finds %d of 6", n)
	}
	for _, x := range arts[:4] {
		if err := a.DeleteArticle(ctx, x.ID); err != nil {
			t.Fatal(err)
		}
	}
	if floor, _ := c.HGet(ctx, prefix+"{kb}:meta", "floor").Int64(); floor <= b.version {
		t.Fatalf("floor %d is not past b's version %d: the test does not test a rebuild", floor, b.version)
	}
	if err := b.sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := titles(t, b, "物流", "")
	slices.Sort(got)
	if !slices.Equal(got, []string{"文章4 物流", "文章5 物流"}) {
		t.Errorf("after the rebuild b finds %q", got)
	}

	// Redis loses the knowledge base (a flush): b follows.
	keys, _ := c.Keys(ctx, prefix+"{kb}:*").Result()
	if err := c.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := titles(t, b, "物流", ""); len(got) != 0 || b.version != 0 {
		t.Errorf("after the flush b finds %q at version %d", got, b.version)
	}

	// b syncs again, then Redis is flushed and written past b's version
	// before b looks: the version alone would pass, the generation does
	// not.
	for i := range 3 {
		mustPut(t, a, Article{Title: fmt.Sprintf("旧%d 发票", i), Body: "发票"})
	}
	if err := b.sync(ctx); err != nil {
		t.Fatal(err)
	}
	seen := b.version
	keys, _ = c.Keys(ctx, prefix+"{kb}:*").Result()
	if err := c.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		mustPut(t, a, Article{Title: fmt.Sprintf("新%d 发票", i), Body: "发票"})
	}
	if v, _ := c.HGet(ctx, prefix+"{kb}:meta", "version").Int64(); v <= seen {
		t.Fatalf("Redis is at version %d, b at %d: the test does not test the generation", v, seen)
	}
	if err := b.sync(ctx); err != nil {
		t.Fatal(err)
	}
	got = titles(t, b, "发票", "")
	slices.Sort(got)
	if !slices.Equal(got, []string{"新0 发票", "新1 发票", "新2 发票", "新3 发票", "新4 发票"}) {
		t.Errorf("after a flush and new writes b finds %q", got)
	}
}

// TestStoreOnEmbeddedRedis: the scripts run on the embedded Redis of
// `make run` too.
func TestStoreOnEmbeddedRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := rdb.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	s, err := New(ctx, conn, "sb:", quiet())
	if err != nil {
		t.Fatal(err)
	}
	s.keepDeleted = 1
	a := mustPut(t, s, Article{Title: "退货", Body: "七天无理由退货"})
	b := mustPut(t, s, Article{Title: "发票", Body: "电子发票"})
	if _, err := s.PutCanned(ctx, Canned{Title: "hi", Body: "hi", Shortcut: "hi"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a.ID, b.ID} {
		if err := s.DeleteArticle(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	other, err := New(ctx, conn, "sb:", quiet())
	if err != nil {
		t.Fatal(err)
	}
	if got := titles(t, other, "退货", ""); len(got) != 0 {
		t.Errorf("deleted articles found: %q", got)
	}
	if list, _ := other.CannedList(ctx, "", 0); len(list) != 1 {
		t.Errorf("canned replies on a new replica: %d", len(list))
	}
}
