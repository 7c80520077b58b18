package qr

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// countLua counts one more event in a fixed window and reports the count.
//
// KEYS[1] the window's counter  ARGV[1] its TTL (ms)
var countLua = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`)

// limit is one rate limit: at most max events per clock hour for one
// subject (an address, a code, a tracking page).
type limit struct {
	kind, subject string
	max           int
}

// allow counts one event against each limit and reports whether all of
// them still allow it. Each counter is its own key (qr:rate:KIND:SUBJECT:HOUR,
// two hours' TTL), so each script runs on one slot.
func (c *Connector) allow(ctx context.Context, ls ...limit) (bool, error) {
	hour := c.now().Unix() / 3600
	p := c.env.Redis.Pipeline()
	cmds := make([]*redis.Cmd, len(ls))
	for i, l := range ls {
		key := c.env.Prefix + "qr:rate:" + l.kind + ":" + l.subject + ":" + strconv.FormatInt(hour, 10)
		cmds[i] = countLua.Eval(ctx, p, []string{key}, (2 * time.Hour).Milliseconds())
	}
	if _, err := p.Exec(ctx); err != nil {
		return false, fmt.Errorf("qr: rate limit: %w", err)
	}
	ok := true
	for i, cmd := range cmds {
		if n, _ := cmd.Int(); n > ls[i].max {
			ok = false
		}
	}
	return ok, nil
}

// ipSubject is who a per-address limit counts: the address, or its /64
// for IPv6, where one customer holds a whole /64.
func ipSubject(a netip.Addr) string {
	a = a.Unmap()
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr().String() + "/64"
	}
	return a.String()
}
