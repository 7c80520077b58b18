package kb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/redis/go-redis/v9"
)

// Store is the knowledge base of one replica: Redis is the source of
// truth; a catalog (an in-memory bleve index) serves searches and lists.
// It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	log    *slog.Logger
	now    func() time.Time
	// checkEvery is how often Run compares the version with Redis's, for a
	// notice it missed.
	checkEvery time.Duration
	// keepDeleted is how many deletions the change log remembers
	// (maxTombstones; tests lower it).
	keepDeleted int

	syncMu  sync.Mutex // one sync at a time
	version int64      // under syncMu: the version the catalog has caught up with
	gen     string     // under syncMu: the change log's generation it came from

	mu  sync.RWMutex // the write lock swaps the catalog
	cat *catalog

	bot atomic.Pointer[BotConfig] // Answer's thresholds
}

// Kinds of items, as the change log names them.
const (
	kindArticle = "a"
	kindCanned  = "c"
)

// New opens the knowledge base under prefix and builds the replica's
// index from Redis. Run keeps it in sync.
func New(ctx context.Context, rdb redis.UniversalClient, prefix string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Store{rdb: rdb, prefix: prefix, log: log, now: time.Now, checkEvery: 15 * time.Second, keepDeleted: maxTombstones}
	s.bot.Store(&BotConfig{})
	cat, err := newCatalog()
	if err != nil {
		return nil, err
	}
	s.cat = cat
	if err := s.sync(ctx); err != nil {
		cat.close()
		return nil, err
	}
	return s, nil
}

// SetBot makes Answer judge by c's thresholds (MinScore, Margin; zero
// values take the defaults).
func (s *Store) SetBot(c BotConfig) {
	c = c.WithDefaults()
	s.bot.Store(&c)
}

func (s *Store) key(name string) string { return s.prefix + "{kb}:" + name }
func (s *Store) channel() string        { return s.key("changed") }

// keys are the keys every script gets, in this order.
func (s *Store) keys() []string {
	return []string{s.key("articles"), s.key("canned"), s.key("shortcuts"), s.key("meta"), s.key("changes"), s.key("gone")}
}

func (s *Store) items(kind string) string {
	if kind == kindArticle {
		return s.key("articles")
	}
	return s.key("canned")
}

// putLua stores an item and logs the change.
//
// KEYS: articles canned shortcuts meta changes gone
// ARGV[1] kind (a|c)  ARGV[2] id  ARGV[3] JSON  ARGV[4] "1" to create
// ARGV[5] most items of the kind  ARGV[6] shortcut (canned; "" for none)
// ARGV[7] a new generation id, kept if the log has none
// Returns the new version, or -1 full, -2 no such item, -3 id taken,
// -4 shortcut taken.
var putLua = redis.NewScript(`
local items = ARGV[1] == 'a' and KEYS[1] or KEYS[2]
local id = ARGV[2]
local exists = redis.call('HEXISTS', items, id) == 1
if ARGV[4] == '1' then
  if exists then return -3 end
  if redis.call('HLEN', items) >= tonumber(ARGV[5]) then return -1 end
elseif not exists then
  return -2
end
if ARGV[1] == 'c' then
  local sc = ARGV[6]
  if sc ~= '' then
    local owner = redis.call('HGET', KEYS[3], 's:' .. sc)
    if owner and owner ~= id then return -4 end
  end
  local old = redis.call('HGET', KEYS[3], 'i:' .. id)
  if old and old ~= sc then redis.call('HDEL', KEYS[3], 's:' .. old) end
  if sc == '' then
    redis.call('HDEL', KEYS[3], 'i:' .. id)
  else
    redis.call('HSET', KEYS[3], 's:' .. sc, id, 'i:' .. id, sc)
  end
end
redis.call('HSET', items, id, ARGV[3])
redis.call('HSETNX', KEYS[4], 'gen', ARGV[7])
local v = redis.call('HINCRBY', KEYS[4], 'version', 1)
local member = ARGV[1] .. ':' .. id
redis.call('ZADD', KEYS[5], v, member)
redis.call('ZREM', KEYS[6], member)
return v
`)

// deleteLua removes an item and logs the change, forgetting the oldest
// deletions beyond ARGV[3] (the floor remembers the newest forgotten).
//
// KEYS: articles canned shortcuts meta changes gone
// ARGV[1] kind  ARGV[2] id  ARGV[3] most deletions kept
// ARGV[4] a new generation id, kept if the log has none
// Returns the new version, or 0 for no such item.
var deleteLua = redis.NewScript(`
local items = ARGV[1] == 'a' and KEYS[1] or KEYS[2]
local id = ARGV[2]
if redis.call('HDEL', items, id) == 0 then return 0 end
if ARGV[1] == 'c' then
  local sc = redis.call('HGET', KEYS[3], 'i:' .. id)
  if sc then redis.call('HDEL', KEYS[3], 's:' .. sc, 'i:' .. id) end
end
redis.call('HSETNX', KEYS[4], 'gen', ARGV[4])
local v = redis.call('HINCRBY', KEYS[4], 'version', 1)
local member = ARGV[1] .. ':' .. id
redis.call('ZADD', KEYS[5], v, member)
redis.call('ZADD', KEYS[6], v, member)
local over = redis.call('ZCARD', KEYS[6]) - tonumber(ARGV[3])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[6], over)
  for i = 1, #old, 2 do
    redis.call('ZREM', KEYS[5], old[i])
    redis.call('HSET', KEYS[4], 'floor', old[i + 1])
  end
end
return v
`)

// put stores an item's JSON; create says it must be new.
func (s *Store) put(ctx context.Context, kind, id string, raw []byte, create bool, shortcut string) error {
	most := MaxArticles
	if kind == kindCanned {
		most = MaxCanned
	}
	flag := "0"
	if create {
		flag = "1"
	}
	v, err := putLua.Run(ctx, s.rdb, s.keys(), kind, id, raw, flag, most, shortcut, newGeneration()).Int64()
	if err != nil {
		return fmt.Errorf("kb: put: %w", err)
	}
	switch v {
	case -1:
		if kind == kindCanned {
			return fmt.Errorf("%w: it holds %d canned replies, the most it may", ErrFull, MaxCanned)
		}
		return fmt.Errorf("%w: it holds %d articles, the most it may", ErrFull, MaxArticles)
	case -2:
		return ErrNotFound
	case -3:
		return fmt.Errorf("kb: put: id %s taken", id) // a fresh ULID: never
	case -4:
		return fmt.Errorf("%w: another canned reply has the shortcut /%s", ErrShortcutTaken, shortcut)
	}
	s.changed(ctx, v)
	return nil
}

// remove deletes an item.
func (s *Store) remove(ctx context.Context, kind, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	v, err := deleteLua.Run(ctx, s.rdb, s.keys(), kind, id, s.keepDeleted, newGeneration()).Int64()
	if err != nil {
		return fmt.Errorf("kb: delete: %w", err)
	}
	if v == 0 {
		return ErrNotFound
	}
	s.changed(ctx, v)
	return nil
}

// changed tells the other replicas about version v and brings this one's
// catalog up to date, so what was written is found here at once. Neither
// is the write's business to fail: a replica that missed the notice
// catches up at its next check.
func (s *Store) changed(ctx context.Context, v int64) {
	if err := s.rdb.Publish(ctx, s.channel(), strconv.FormatInt(v, 10)).Err(); err != nil {
		s.log.Warn("kb: change notice not published", "version", v, "err", err)
	}
	if err := s.sync(ctx); err != nil {
		s.log.Warn("kb: local sync after a write failed", "version", v, "err", err)
	}
}

// get reads one item's JSON into v.
func (s *Store) get(ctx context.Context, kind, id string, v any) error {
	if !validID(id) {
		return ErrNotFound
	}
	raw, err := s.rdb.HGet(ctx, s.items(kind), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("kb: get: %w", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("kb: decode %s: %w", id, err)
	}
	return nil
}

// stamp gives a change its time and author's id.
func (s *Store) stamp() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// PutArticle creates an article (empty ID: it gets a new one) or replaces
// one; an ID that names no article is ErrNotFound. It answers the article
// as stored (trimmed, language normalized, UpdatedAt set); the caller sets
// UpdatedBy. Bad input is ErrInvalid or ErrTooLarge; the 10,001st article
// is ErrFull.
func (s *Store) PutArticle(ctx context.Context, a Article) (Article, error) {
	if err := normalizeArticle(&a); err != nil {
		return Article{}, err
	}
	create := a.ID == ""
	if create {
		a.ID = ulid.Make().String()
	} else if !validID(a.ID) {
		return Article{}, ErrNotFound
	}
	a.UpdatedAt = s.stamp()
	raw, err := json.Marshal(a)
	if err != nil {
		return Article{}, fmt.Errorf("kb: encode: %w", err)
	}
	if err := s.put(ctx, kindArticle, a.ID, raw, create, ""); err != nil {
		return Article{}, err
	}
	return a, nil
}

// Article returns one article; an unknown id is ErrNotFound.
func (s *Store) Article(ctx context.Context, id string) (Article, error) {
	var a Article
	err := s.get(ctx, kindArticle, id, &a)
	return a, err
}

// DeleteArticle deletes one article; an unknown id is ErrNotFound.
func (s *Store) DeleteArticle(ctx context.Context, id string) error {
	return s.remove(ctx, kindArticle, id)
}

// Articles lists up to limit articles in lang ("" for all; articles with
// no language are in every list), most recently changed first.
func (s *Store) Articles(ctx context.Context, lang string, limit int) ([]Article, error) {
	lang, err := NormalizeLang(lang)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	ids := s.cat.articleIDs(lang, clampLimit(limit, 50, MaxArticles))
	s.mu.RUnlock()
	got, err := s.articlesByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]Article, 0, len(ids))
	for _, id := range ids {
		if a, ok := got[id]; ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// articlesByID reads articles from Redis; ids deleted meanwhile are
// missing from the answer.
func (s *Store) articlesByID(ctx context.Context, ids []string) (map[string]Article, error) {
	out := make(map[string]Article, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.key("articles"), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("kb: read articles: %w", err)
	}
	for i, v := range vals {
		raw, ok := v.(string)
		if !ok {
			continue
		}
		var a Article
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			return nil, fmt.Errorf("kb: decode %s: %w", ids[i], err)
		}
		out[ids[i]] = a
	}
	return out, nil
}

// PutCanned creates a canned reply (empty ID) or replaces one, as
// PutArticle does. A shortcut another reply has is ErrShortcutTaken.
func (s *Store) PutCanned(ctx context.Context, c Canned) (Canned, error) {
	if err := normalizeCanned(&c); err != nil {
		return Canned{}, err
	}
	create := c.ID == ""
	if create {
		c.ID = ulid.Make().String()
	} else if !validID(c.ID) {
		return Canned{}, ErrNotFound
	}
	c.UpdatedAt = s.stamp()
	raw, err := json.Marshal(c)
	if err != nil {
		return Canned{}, fmt.Errorf("kb: encode: %w", err)
	}
	if err := s.put(ctx, kindCanned, c.ID, raw, create, c.Shortcut); err != nil {
		return Canned{}, err
	}
	return c, nil
}

// Canned returns one canned reply; an unknown id is ErrNotFound.
func (s *Store) Canned(ctx context.Context, id string) (Canned, error) {
	var c Canned
	err := s.get(ctx, kindCanned, id, &c)
	return c, err
}

// DeleteCanned deletes one canned reply; an unknown id is ErrNotFound.
func (s *Store) DeleteCanned(ctx context.Context, id string) error {
	return s.remove(ctx, kindCanned, id)
}

// CannedList lists up to limit canned replies in lang ("" for all),
// most recently changed first.
func (s *Store) CannedList(ctx context.Context, lang string, limit int) ([]Canned, error) {
	return s.SearchCanned(ctx, "", lang, limit)
}

// SearchCanned lists the canned replies in lang whose shortcut, title,
// body or tags contain q (case-insensitive; "" for all), most recently
// changed first. There are few canned replies: this is a plain scan of
// the replica's copy.
func (s *Store) SearchCanned(_ context.Context, q, lang string, limit int) ([]Canned, error) {
	lang, err := NormalizeLang(lang)
	if err != nil {
		return nil, err
	}
	needle := foldCase(q)
	keep := func(c Canned) bool {
		if needle == "" {
			return true
		}
		for _, f := range append([]string{"/" + c.Shortcut, c.Title, c.Body}, c.Tags...) {
			if containsFolded(f, needle) {
				return true
			}
		}
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cat.cannedList(lang, keep, clampLimit(limit, 200, listMaxLimit)), nil
}

// clampLimit is limit within 1–most, def when not positive.
func clampLimit(limit, def, most int) int {
	if limit <= 0 {
		return def
	}
	return min(limit, most)
}
