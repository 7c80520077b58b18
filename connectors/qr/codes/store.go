package codes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Errors of a Store.
var (
	ErrNotFound = errors.New("codes: no such code")
	// ErrConflict is an update that lost to concurrent ones five times.
	ErrConflict = errors.New("codes: changed concurrently, try again")
	// ErrBadCursor is a list cursor List did not make.
	ErrBadCursor = errors.New("codes: malformed cursor")
)

// Store keeps codes in Redis: a hash per code ({qr}:code:CODE with the
// code's JSON and its revision) and an index by creation time
// ({qr}:codes, members "<ms, 13 digits>:<code>" at score 0, so they sort
// by time and a page ends at an exact member). All of them share the hash
// tag {qr}, so each script runs on one slot.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
}

// NewStore returns the store under prefix.
func NewStore(c redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: c, prefix: prefix, now: time.Now}
}

func (s *Store) key(code string) string { return s.prefix + "{qr}:code:" + code }
func (s *Store) index() string          { return s.prefix + "{qr}:codes" }

// createLua stores a code unless its id is taken.
//
// KEYS[1] the code's hash  KEYS[2] the index
// ARGV[1] JSON  ARGV[2] index member
var createLua = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'rev', 1)
redis.call('ZADD', KEYS[2], 0, ARGV[2])
return 1
`)

// updateLua replaces a code's JSON if its revision is still ARGV[2].
//
// KEYS[1] the code's hash  ARGV[1] JSON  ARGV[2] expected revision
var updateLua = redis.NewScript(`
local rev = redis.call('HGET', KEYS[1], 'rev')
if not rev then return -1 end
if rev ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'rev', tonumber(rev) + 1)
return 1
`)

// Create gives c a fresh code and stores it; c must be valid.
func (s *Store) Create(ctx context.Context, c *Code) error {
	now := s.now().UTC()
	c.CreatedAt, c.UpdatedAt, c.Rev = now, now, 1
	for range 5 {
		c.Code = New()
		b, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("codes: encode: %w", err)
		}
		member := fmt.Sprintf("%013d:%s", now.UnixMilli(), c.Code)
		ok, err := createLua.Run(ctx, s.rdb, []string{s.key(c.Code), s.index()}, b, member).Int()
		if err != nil {
			return fmt.Errorf("codes: create: %w", err)
		}
		if ok == 1 {
			return nil
		}
	}
	return errors.New("codes: create: no free code after 5 tries")
}

// Get returns one code; an unknown or malformed one is ErrNotFound.
func (s *Store) Get(ctx context.Context, code string) (Code, error) {
	if !Valid(code) {
		return Code{}, ErrNotFound
	}
	v, err := s.rdb.HMGet(ctx, s.key(code), "json", "rev").Result()
	if err != nil {
		return Code{}, fmt.Errorf("codes: get: %w", err)
	}
	return decode(v)
}

func decode(v []any) (Code, error) {
	js, _ := v[0].(string)
	rev, _ := v[1].(string)
	if js == "" {
		return Code{}, ErrNotFound
	}
	var c Code
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		return Code{}, fmt.Errorf("codes: decode: %w", err)
	}
	c.Rev, _ = strconv.ParseInt(rev, 10, 64)
	return c, nil
}

// List returns up to limit codes, newest first, after the cursor of a
// previous page ("" for the first page), and the cursor of the next page
// ("" when there is none). A cursor not made by List is ErrBadCursor.
func (s *Store) List(ctx context.Context, cursor string, limit int) ([]Code, string, error) {
	max := "+"
	if cursor != "" {
		if !cursorRe.MatchString(cursor) {
			return nil, "", ErrBadCursor
		}
		max = "(" + cursor
	}
	members, err := s.rdb.ZRevRangeByLex(ctx, s.index(), &redis.ZRangeBy{Max: max, Min: "-", Count: int64(limit)}).Result()
	if err != nil {
		return nil, "", fmt.Errorf("codes: list: %w", err)
	}
	p := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(members))
	for i, m := range members {
		_, code, _ := strings.Cut(m, ":")
		cmds[i] = p.HMGet(ctx, s.key(code), "json", "rev")
	}
	if len(members) > 0 {
		if _, err := p.Exec(ctx); err != nil {
			return nil, "", fmt.Errorf("codes: list: %w", err)
		}
	}
	out := make([]Code, 0, len(members))
	for _, cmd := range cmds {
		c, err := decode(cmd.Val())
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		out = append(out, c)
	}
	next := ""
	if limit > 0 && len(members) == limit {
		next = members[len(members)-1]
	}
	return out, next, nil
}

var cursorRe = regexp.MustCompile(`^[0-9]{13}:[0-9a-z]{12}$`)

// Update applies change to the stored code and stores the result, unless
// change fails. A concurrent update makes it start over with the new
// version, at most five times.
func (s *Store) Update(ctx context.Context, code string, change func(*Code) error) (Code, error) {
	for range 5 {
		c, err := s.Get(ctx, code)
		if err != nil {
			return Code{}, err
		}
		rev := c.Rev
		if err := change(&c); err != nil {
			return Code{}, err
		}
		c.Code, c.Rev, c.UpdatedAt = code, rev+1, s.now().UTC()
		b, err := json.Marshal(c)
		if err != nil {
			return Code{}, fmt.Errorf("codes: encode: %w", err)
		}
		n, err := updateLua.Run(ctx, s.rdb, []string{s.key(code)}, b, rev).Int()
		if err != nil {
			return Code{}, fmt.Errorf("codes: update: %w", err)
		}
		switch n {
		case 1:
			return c, nil
		case -1:
			return Code{}, ErrNotFound
		}
	}
	return Code{}, ErrConflict
}
