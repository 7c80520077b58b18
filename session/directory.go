package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
)

// ErrNotFound means no such agent.
var ErrNotFound = errors.New("session: not found")

// record is an agent as stored in Redis, password hash included.
type record struct {
	Agent
	Hash string `json:"password_hash"`
}

// Directory is the set of agents, kept in Redis and cached in memory for a
// few seconds so every request does not read it.
type Directory struct {
	rdb redis.UniversalClient
	k   Keys
	log *slog.Logger

	mu      sync.RWMutex
	byID    map[string]*record
	loaded  time.Time
	refresh time.Duration
}

// NewDirectory returns the directory under prefix.
func NewDirectory(c redis.UniversalClient, prefix string, log *slog.Logger) *Directory {
	if log == nil {
		log = slog.Default()
	}
	return &Directory{rdb: c, k: Keys{prefix}, log: log, refresh: 2 * time.Second}
}

// HashPassword returns pw as a bcrypt hash; a bcrypt hash is kept as is.
// plain reports whether pw was plain text.
func HashPassword(pw string) (hash string, plain bool, err error) {
	if isBcrypt(pw) {
		return pw, false, nil
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", true, fmt.Errorf("session: hash password: %w", err)
	}
	return string(h), true, nil
}

func isBcrypt(s string) bool {
	if _, err := bcrypt.Cost([]byte(s)); err != nil {
		return false
	}
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// Seed writes the configured agents, replacing stored records with the
// same id. Plain-text passwords are hashed, with a warning.
func (d *Directory) Seed(ctx context.Context, agents []Agent) error {
	for i := range agents {
		a := agents[i]
		if err := d.Put(ctx, &a); err != nil {
			return err
		}
	}
	return nil
}

// Put validates and stores an agent (creating or replacing it). A plain
// password is hashed.
func (d *Directory) Put(ctx context.Context, a *Agent) error {
	a.normalize()
	if err := a.Validate(); err != nil {
		return err
	}
	hash, plain, err := HashPassword(a.Password)
	if err != nil {
		return err
	}
	if plain {
		d.log.Warn("agent password given in plain text; it was hashed with bcrypt — store the hash instead", "agent", a.ID)
	}
	rec := record{Agent: *a, Hash: hash}
	rec.Password = ""
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("session: encode agent: %w", err)
	}
	// An address may belong to one agent only.
	if owner, err := d.rdb.HGet(ctx, d.k.AgentEmails(), a.Email).Result(); err == nil && owner != a.ID {
		return fmt.Errorf("email: %s already belongs to agent %s", a.Email, owner)
	}
	old, _ := d.rdb.HGet(ctx, d.k.Agents(), a.ID).Result()
	// A plain pipeline: these keys live in different hash slots, so a
	// transaction would fail on Redis Cluster. Each write is idempotent.
	pipe := d.rdb.Pipeline()
	if old != "" {
		var prev record
		if json.Unmarshal([]byte(old), &prev) == nil && prev.Email != a.Email {
			pipe.HDel(ctx, d.k.AgentEmails(), prev.Email)
		}
	}
	pipe.HSet(ctx, d.k.Agents(), a.ID, data)
	pipe.HSet(ctx, d.k.AgentEmails(), a.Email, a.ID)
	pipe.HSet(ctx, d.k.Capacity(), a.ID, a.Capacity)
	pipe.HSetNX(ctx, d.k.Presence(), a.ID, string(Offline))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("session: store agent: %w", err)
	}
	d.mu.Lock()
	d.loaded = time.Time{} // reload on next read
	d.mu.Unlock()
	a.Password = ""
	return nil
}

func (d *Directory) snapshot(ctx context.Context) (map[string]*record, error) {
	d.mu.RLock()
	if d.byID != nil && time.Since(d.loaded) < d.refresh {
		m := d.byID
		d.mu.RUnlock()
		return m, nil
	}
	d.mu.RUnlock()
	all, err := d.rdb.HGetAll(ctx, d.k.Agents()).Result()
	if err != nil {
		return nil, fmt.Errorf("session: load agents: %w", err)
	}
	m := make(map[string]*record, len(all))
	for id, raw := range all {
		var r record
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			d.log.Error("session: unreadable agent record", "agent", id, "err", err)
			continue
		}
		m[id] = &r
	}
	d.mu.Lock()
	d.byID, d.loaded = m, time.Now()
	d.mu.Unlock()
	return m, nil
}

// Get returns an agent by id.
func (d *Directory) Get(ctx context.Context, id string) (Agent, error) {
	m, err := d.snapshot(ctx)
	if err != nil {
		return Agent{}, err
	}
	r, ok := m[id]
	if !ok {
		return Agent{}, ErrNotFound
	}
	return r.Agent, nil
}

// List returns all agents ordered by id.
func (d *Directory) List(ctx context.Context) ([]Agent, error) {
	m, err := d.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Agent, 0, len(m))
	for _, r := range m {
		out = append(out, r.Agent)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Eligible returns the agents of team with every skill in skills.
func (d *Directory) Eligible(ctx context.Context, team string, skills []string) ([]Agent, error) {
	all, err := d.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []Agent
	for _, a := range all {
		if (team == "" || a.InTeam(team)) && a.HasSkills(skills) {
			out = append(out, a)
		}
	}
	return out, nil
}

// byEmail returns the stored record for an address.
func (d *Directory) byEmail(ctx context.Context, email string) (*record, error) {
	id, err := d.rdb.HGet(ctx, d.k.AgentEmails(), strings.ToLower(strings.TrimSpace(email))).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("session: find agent: %w", err)
	}
	raw, err := d.rdb.HGet(ctx, d.k.Agents(), id).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("session: find agent: %w", err)
	}
	var r record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, fmt.Errorf("session: agent record: %w", err)
	}
	return &r, nil
}

// IsHash reports whether s is already a bcrypt hash.
func IsHash(s string) bool { return isBcrypt(s) }
