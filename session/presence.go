package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Status is the presence an agent chooses.
type Status string

// Presence states. Only online agents get new conversations.
const (
	Online  Status = "online"
	Away    Status = "away"
	Offline Status = "offline"
)

// ParseStatus checks a status name.
func ParseStatus(s string) (Status, error) {
	switch Status(s) {
	case Online, Away, Offline:
		return Status(s), nil
	}
	return "", fmt.Errorf("status %q is not one of online, away, offline", s)
}

// DefaultGrace is how long an agent counts as online after the last
// heartbeat. Browsers throttle timers in background tabs to about once a
// minute, so the grace must be longer than that or presence flaps.
const DefaultGrace = 90 * time.Second

// Presence is an agent's availability as others see it.
type Presence struct {
	Status   Status    `json:"status"`
	Load     int       `json:"load"`
	Capacity int       `json:"capacity"`
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// Presences reads and writes presence, heartbeats, capacity and load.
type Presences struct {
	rdb   redis.UniversalClient
	k     Keys
	Grace time.Duration
	now   func() time.Time
	// OnAvailable, when set, is called after an agent goes online, so the
	// router can hand them waiting conversations.
	OnAvailable func(ctx context.Context, agent string)
}

// NewPresences returns presence under prefix.
func NewPresences(c redis.UniversalClient, prefix string) *Presences {
	return &Presences{rdb: c, k: Keys{prefix}, Grace: DefaultGrace, now: time.Now}
}

// Set records the status an agent chose, counting as a heartbeat.
func (p *Presences) Set(ctx context.Context, agent string, s Status) (Presence, error) {
	pipe := p.rdb.Pipeline()
	pipe.HSet(ctx, p.k.Presence(), agent, string(s))
	pipe.HSet(ctx, p.k.Seen(), agent, p.now().UnixMilli())
	if _, err := pipe.Exec(ctx); err != nil {
		return Presence{}, fmt.Errorf("session: set presence: %w", err)
	}
	if s == Online && p.OnAvailable != nil {
		p.OnAvailable(ctx, agent)
	}
	return p.Get(ctx, agent)
}

// Heartbeat marks the agent as still there.
func (p *Presences) Heartbeat(ctx context.Context, agent string) error {
	if err := p.rdb.HSet(ctx, p.k.Seen(), agent, p.now().UnixMilli()).Err(); err != nil {
		return fmt.Errorf("session: heartbeat: %w", err)
	}
	return nil
}

// Get returns one agent's presence.
func (p *Presences) Get(ctx context.Context, agent string) (Presence, error) {
	m, err := p.read(ctx, agent)
	if err != nil {
		return Presence{}, err
	}
	return m[agent], nil
}

// All returns the presence of the given agents.
func (p *Presences) All(ctx context.Context, agents ...string) (map[string]Presence, error) {
	return p.read(ctx, agents...)
}

func (p *Presences) read(ctx context.Context, agents ...string) (map[string]Presence, error) {
	out := make(map[string]Presence, len(agents))
	if len(agents) == 0 {
		return out, nil
	}
	pipe := p.rdb.Pipeline()
	st := pipe.HMGet(ctx, p.k.Presence(), agents...)
	seen := pipe.HMGet(ctx, p.k.Seen(), agents...)
	load := pipe.HMGet(ctx, p.k.Load(), agents...)
	capa := pipe.HMGet(ctx, p.k.Capacity(), agents...)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("session: read presence: %w", err)
	}
	now := p.now()
	for i, a := range agents {
		pr := Presence{Status: Offline, Load: atoi(load.Val()[i]), Capacity: atoi(capa.Val()[i])}
		if ms := atoi(seen.Val()[i]); ms > 0 {
			pr.LastSeen = time.UnixMilli(int64(ms)).UTC()
		}
		if s, ok := st.Val()[i].(string); ok && Status(s) != Offline {
			// A chosen status counts only while heartbeats keep coming.
			if !pr.LastSeen.IsZero() && now.Sub(pr.LastSeen) <= p.Grace {
				pr.Status = Status(s)
			}
		}
		out[a] = pr
	}
	return out, nil
}

func atoi(v any) int {
	s, ok := v.(string)
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(s)
	return n
}
