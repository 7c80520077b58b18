package kb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// readLua reads the changes after a version, a page at a time: the
// current version, floor and generation, then member, version and JSON
// ("" for a deleted item) of each change, oldest first.
//
// KEYS: articles canned shortcuts meta changes gone
// ARGV[1] after this version  ARGV[2] page size
var readLua = redis.NewScript(`
local meta = redis.call('HMGET', KEYS[4], 'version', 'floor', 'gen')
local out = {meta[1] or '0', meta[2] or '0', meta[3] or ''}
local page = redis.call('ZRANGEBYSCORE', KEYS[5], '(' .. ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
for i = 1, #page, 2 do
  local m = page[i]
  local items = string.sub(m, 1, 1) == 'a' and KEYS[1] or KEYS[2]
  out[#out + 1] = m
  out[#out + 1] = page[i + 1]
  out[#out + 1] = redis.call('HGET', items, string.sub(m, 3)) or ''
end
return out
`)

// errRebuild says the catalog cannot catch up change by change: Redis
// forgot a deletion it never saw, went back in time (a flush, a restore)
// or holds another change log (flushed and written again, whatever the
// version: the log's generation, set by its first change, differs).
var errRebuild = errors.New("kb: catalog must be rebuilt")

// sync brings the catalog up to Redis's version: change by change, or
// by building a new catalog when it cannot.
func (s *Store) sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.RLock()
	cat := s.cat
	s.mu.RUnlock()
	// At version 0 the catalog is empty: nothing to check.
	v, gen, err := s.load(ctx, cat, s.version, s.gen, s.version > 0)
	if errors.Is(err, errRebuild) {
		return s.rebuild(ctx)
	}
	if err != nil {
		return err
	}
	s.version, s.gen = v, gen
	return nil
}

// rebuild loads everything into a new catalog and swaps it in once it is
// complete; searches meanwhile use the old one.
func (s *Store) rebuild(ctx context.Context) error {
	cat, err := newCatalog()
	if err != nil {
		return err
	}
	v, gen, err := s.load(ctx, cat, 0, "", false)
	if err != nil {
		cat.close()
		return err
	}
	s.mu.Lock()
	old := s.cat
	s.cat = cat
	s.mu.Unlock()
	old.close()
	if s.version != 0 {
		s.log.Info("kb: index rebuilt", "from_version", s.version, "version", v)
	}
	s.version, s.gen = v, gen
	return nil
}

// load applies the changes after version since to cat and returns the
// version cat then reflects and the log's generation. With checked, it
// answers errRebuild when those changes are no longer all known, or the
// log is not of generation gen (when known).
func (s *Store) load(ctx context.Context, cat *catalog, since int64, gen string, checked bool) (int64, string, error) {
	for {
		vals, err := readLua.Run(ctx, s.rdb, s.keys(), since, pageSize).StringSlice()
		if err != nil {
			return 0, "", fmt.Errorf("kb: read changes: %w", err)
		}
		if len(vals) < 3 || (len(vals)-3)%3 != 0 {
			return 0, "", fmt.Errorf("kb: read changes: malformed answer of %d values", len(vals))
		}
		version, _ := strconv.ParseInt(vals[0], 10, 64)
		floor, _ := strconv.ParseInt(vals[1], 10, 64)
		if checked && (version < since || since < floor || (gen != "" && vals[2] != gen)) {
			return 0, "", errRebuild
		}
		gen = vals[2]
		n := 0
		for i := 3; i < len(vals); i += 3 {
			at, err := strconv.ParseInt(vals[i+1], 10, 64)
			if err != nil {
				return 0, "", fmt.Errorf("kb: read changes: version %q: %w", vals[i+1], err)
			}
			if err := cat.apply(vals[i], vals[i+2]); err != nil {
				return 0, "", err
			}
			since = at
			n++
		}
		if n < pageSize {
			return max(since, version), gen, nil
		}
	}
}

// newGeneration is a random id for a change log that has none yet.
func newGeneration() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// apply puts one change (member "a:<id>" or "c:<id>", its JSON or "" for
// a deletion) into the catalog.
func (c *catalog) apply(member, raw string) error {
	kind, id, ok := strings.Cut(member, ":")
	if !ok {
		return fmt.Errorf("kb: malformed change %q", member)
	}
	switch kind {
	case kindArticle:
		if raw == "" {
			return c.deleteArticle(id)
		}
		var a Article
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			return fmt.Errorf("kb: decode article %s: %w", id, err)
		}
		return c.putArticle(a)
	case kindCanned:
		if raw == "" {
			c.deleteCanned(id)
			return nil
		}
		var x Canned
		if err := json.Unmarshal([]byte(raw), &x); err != nil {
			return fmt.Errorf("kb: decode canned reply %s: %w", id, err)
		}
		c.putCanned(x)
	default:
		return fmt.Errorf("kb: malformed change %q", member)
	}
	return nil
}

// Run keeps the replica's catalog in sync until ctx ends: on each notice
// of a change (pub/sub), when its subscription starts or comes back after
// a lost connection, and every checkEvery for a notice it missed. A
// failed sync is logged and tried again at the next of these.
func (s *Store) Run(ctx context.Context) error {
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	ps := s.rdb.Subscribe(ctx, s.channel())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ps.Close() // ends listen's Receive; runs before the Wait
	wg.Go(func() { s.listen(ctx, ps, poke) })

	t := time.NewTicker(s.checkEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-t.C:
		}
		if err := s.sync(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("kb: sync failed; trying again at the next notice or check", "err", err)
		}
	}
}

// listen pokes on every notice and (re)subscription; after an error it
// pokes too (the connection comes back on the next Receive) and backs
// off.
func (s *Store) listen(ctx context.Context, ps *redis.PubSub, poke func()) {
	backoff := 100 * time.Millisecond
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			poke()
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		switch msg.(type) {
		case *redis.Subscription, *redis.Message:
			poke()
		}
	}
}
