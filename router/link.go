package router

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/phone"
	"switchboard/session"
)

// Agents link identities to customers by hand, unlink them, and make
// records of new customers (a caller's). None of it ever merges: an
// identity that belongs to another customer is refused with
// *IdentityTakenError, and the agent decides whether to merge the two
// (MergeCustomers). Each change is audited on the customer, in the same
// script as the change on the customer's slot. All of it runs under the
// merge lock, so it never meets a merge or an unmerge half way.

// Identity types an agent may link by hand.
const (
	IdentityPhone = "phone"
	IdentityEmail = "email"
)

// Scripts of linking (loaded on first use, not with the router's others).
var (
	linkCustomerLua   = script("link_customer")
	unlinkCustomerLua = script("unlink_customer")
)

// maxEmailBytes bounds an e-mail address (RFC 5321's path limit).
const maxEmailBytes = 254

// IdentityTakenError refuses to link an identity that belongs to another
// customer, CustomerID. It wraps ErrConflict. Nothing was written.
type IdentityTakenError struct {
	Identity   connectors.Identity
	CustomerID string
}

func (e *IdentityTakenError) Error() string {
	return fmt.Sprintf("router: %s %s belongs to customer %s", e.Identity.Type, e.Identity.Value, e.CustomerID)
}

// Unwrap makes the error an ErrConflict.
func (e *IdentityTakenError) Unwrap() error { return ErrConflict }

// cleanIdentity checks an identity an agent typed: a phone number becomes
// E.164 (numbers without a country code are read in the configured
// region), an e-mail address is lower-cased and must be a bare address.
func (r *Router) cleanIdentity(typ, value string) (connectors.Identity, error) {
	value = strings.TrimSpace(value)
	switch typ {
	case IdentityPhone:
		region := r.cfg.DefaultRegion
		if region == "" {
			region = "CN"
		}
		n, err := phone.Parse(value, region)
		if err != nil {
			return connectors.Identity{}, fmt.Errorf("%w: %q is not a valid phone number", ErrInvalid, truncate(value, 64))
		}
		return connectors.Identity{Type: IdentityPhone, Value: n.E164}, nil
	case IdentityEmail:
		v := strings.ToLower(value)
		if !validEmail(v) {
			return connectors.Identity{}, fmt.Errorf("%w: %q is not an e-mail address", ErrInvalid, truncate(value, 64))
		}
		return connectors.Identity{Type: IdentityEmail, Value: v}, nil
	}
	return connectors.Identity{}, fmt.Errorf("%w: type must be phone or email", ErrInvalid)
}

// validEmail accepts a bare address (no name, no angle brackets) of at
// most maxEmailBytes, with one @ and a domain.
func validEmail(s string) bool {
	if len(s) > maxEmailBytes || !utf8.ValidString(s) || hasControl(s) || strings.ContainsAny(s, " \t|{}") ||
		strings.Count(s, "@") != 1 {
		return false
	}
	a, err := netmail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s && !strings.HasSuffix(s, "@")
}

// LinkIdentity makes an identity (typ "phone" or "email", value as an
// agent typed it) one of customer id's, on behalf of agent a, and returns
// the customer's view. Linking an identity the customer has already
// changes nothing. An identity of another customer is refused with
// *IdentityTakenError, nothing written. A customer merged into another
// gets the identity on that one.
func (r *Router) LinkIdentity(ctx context.Context, a session.Agent, id, typ, value string) (Customer, error) {
	idn, err := r.cleanIdentity(typ, value)
	if err != nil {
		return Customer{}, err
	}
	cust, err := r.actOn(ctx, a, id)
	if err != nil {
		return Customer{}, err
	}
	changed := false
	err = r.withMergeLock(ctx, func(lk *mergeLock) error {
		if cust, _, err = r.settle(ctx, lk, cust, 0); err != nil {
			return err
		}
		changed, err = r.linkLocked(ctx, a.ID, cust, idn)
		return err
	})
	if err != nil {
		return Customer{}, err
	}
	if changed {
		r.announce(ctx, cust, []string{"identities"}, nil, nil)
	}
	return r.Customer(ctx, cust)
}

// linkLocked points the identity at customer cust and adds its handle
// ("||type|value") with an audit entry, under the merge lock. It reports
// whether anything changed. The identity's pointer is written only when
// it points nowhere, so a refusal writes nothing. A pointer at a customer
// that does not exist (a message whose customer was never written) is
// taken over.
func (r *Router) linkLocked(ctx context.Context, who, cust string, id connectors.Identity) (bool, error) {
	tag := identityTag(id)
	for range maxHops {
		cur, set, err := r.pointIdentity(ctx, tag, "", cust)
		if err != nil {
			return false, err
		}
		if cur != cust {
			other, err := r.followMerged(ctx, cur)
			if err != nil {
				return false, err
			}
			n, err := r.rdb.Exists(ctx, r.k.customer(other)).Result()
			if err != nil {
				return false, fmt.Errorf("router: customer: %w", err)
			}
			if other != cust && n == 1 {
				return false, &IdentityTakenError{Identity: id, CustomerID: other}
			}
			// Left behind by a merge into cust, or pointing at nobody.
			if _, _, err := r.pointIdentity(ctx, tag, cur, cust); err != nil {
				return false, err
			}
			continue
		}
		force := "0"
		if set {
			force = "1"
		}
		v, err := linkCustomerLua.Run(ctx, r.rdb,
			[]string{r.k.customer(cust), r.k.customerIdentities(cust), r.k.customerAudit(cust)},
			handle("", "", id), force, "action", AuditLink, "who", who, "when", ms(r.now()),
			"type", id.Type, "value", id.Value).Slice()
		if err != nil || len(v) != 2 {
			return false, fmt.Errorf("router: link identity: unexpected reply %v: %w", v, err)
		}
		switch code, _ := v[0].(int64); code {
		case 1:
			return true, nil
		case 0:
			return false, nil
		case -2:
			return false, fmt.Errorf("%w: customer %s", ErrNotFound, cust)
		default:
			return false, fmt.Errorf("%w: customer %s is being merged into %v", ErrConflict, cust, v[1])
		}
	}
	return false, fmt.Errorf("router: link identity: the identity kept changing")
}

// UnlinkIdentity takes an identity off customer id, on behalf of agent
// a, and returns the customer's view. The identity becomes free: it
// points at nobody, the customer's handles for it go, and the customer's
// open conversations with it stop taking its messages (its next message
// opens a new conversation, for a new customer); the customer keeps every
// conversation. typ and value name the identity as the customer's view
// shows it; a phone number or e-mail address may also be given as an
// agent would type it. An identity the customer does not have is
// ErrNotFound.
func (r *Router) UnlinkIdentity(ctx context.Context, a session.Agent, id, typ, value string) (Customer, error) {
	cust, err := r.actOn(ctx, a, id)
	if err != nil {
		return Customer{}, err
	}
	err = r.withMergeLock(ctx, func(lk *mergeLock) error {
		if cust, _, err = r.settle(ctx, lk, cust, 0); err != nil {
			return err
		}
		idn, err := r.ownIdentity(ctx, cust, typ, value)
		if err != nil {
			return err
		}
		return r.unlinkLocked(ctx, a.ID, cust, idn)
	})
	if err != nil {
		return Customer{}, err
	}
	r.announce(ctx, cust, []string{"identities"}, nil, nil)
	return r.Customer(ctx, cust)
}

// ownIdentity finds the identity typ/value among customer cust's, as
// given or, for a phone number or an e-mail address, as cleanIdentity
// reads it.
func (r *Router) ownIdentity(ctx context.Context, cust, typ, value string) (connectors.Identity, error) {
	cands := []connectors.Identity{{Type: typ, Value: value}}
	if idn, err := r.cleanIdentity(typ, value); err == nil && idn.Value != value {
		cands = append(cands, idn)
	}
	hs, err := r.rdb.SMembers(ctx, r.k.customerIdentities(cust)).Result()
	if err != nil {
		return connectors.Identity{}, fmt.Errorf("router: customer handles: %w", err)
	}
	for _, c := range cands {
		if c.Type == "" || c.Value == "" {
			continue
		}
		for _, h := range hs {
			if x, ok := identityOfHandle(h); ok && x == c {
				return c, nil
			}
		}
		cur, err := r.rdb.Get(ctx, r.k.identityCustomer(identityTag(c))).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return connectors.Identity{}, fmt.Errorf("router: identity: %w", err)
		}
		if cur == cust {
			return c, nil
		}
	}
	return connectors.Identity{}, fmt.Errorf("%w: customer %s has no %s %s", ErrNotFound, cust, typ, truncate(value, 64))
}

// unlinkLocked frees identity id of customer cust, under the merge lock:
// its open conversations first, then its pointer, then the handles with
// the audit entry.
func (r *Router) unlinkLocked(ctx context.Context, who, cust string, id connectors.Identity) error {
	tag := identityTag(id)
	if err := r.forgetOpen(ctx, cust, tag); err != nil {
		return err
	}
	deleted, err := forgetIdentityLua.Run(ctx, r.rdb, []string{r.k.identityCustomer(tag)}, cust).Int()
	if err != nil {
		return fmt.Errorf("router: unlink identity: %w", err)
	}
	hs, err := r.rdb.SMembers(ctx, r.k.customerIdentities(cust)).Result()
	if err != nil {
		return fmt.Errorf("router: customer handles: %w", err)
	}
	var mine []any
	for _, h := range hs {
		if x, ok := identityOfHandle(h); ok && x == id {
			mine = append(mine, h)
		}
	}
	args := append([]any{deleted, len(mine)}, mine...)
	args = append(args, "action", AuditUnlink, "who", who, "when", ms(r.now()), "type", id.Type, "value", id.Value)
	if err := unlinkCustomerLua.Run(ctx, r.rdb,
		[]string{r.k.customerIdentities(cust), r.k.customerAudit(cust)}, args...).Err(); err != nil {
		return fmt.Errorf("router: unlink identity: %w", err)
	}
	return nil
}

// forgetOpen detaches identity tag from customer cust's conversations
// that are not closed, so its next message opens a new conversation.
func (r *Router) forgetOpen(ctx context.Context, cust, tag string) error {
	for start := int64(0); ; start += mergeChunk {
		convs, err := r.rdb.ZRange(ctx, r.k.customerConversations(cust), start, start+mergeChunk-1).Result()
		if err != nil {
			return fmt.Errorf("router: customer conversations: %w", err)
		}
		pipe := r.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, len(convs))
		for i, c := range convs {
			cmds[i] = pipe.HMGet(ctx, r.k.conv(c), "itag", "status", "channel", "account", "thread")
		}
		if len(convs) > 0 {
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return fmt.Errorf("router: customer conversations: %w", err)
			}
		}
		for i, c := range cmds {
			v := c.Val()
			if asString(v[0]) != tag || asString(v[1]) == "closed" {
				continue
			}
			key := r.k.identityOpen(tag, connectors.Channel(asString(v[2])), asString(v[3]), asString(v[4]))
			if err := forgetIdentityLua.Run(ctx, r.rdb, []string{key}, convs[i]).Err(); err != nil {
				return fmt.Errorf("router: forget open conversation: %w", err)
			}
		}
		if len(convs) < mergeChunk {
			return nil
		}
	}
}

// CreateCustomer makes the record of a new customer, named name (1–64
// characters) by agent a, with a phone number and an e-mail address when
// given (either may be ""), and returns its view. An identity that
// belongs to another customer is refused with *IdentityTakenError, and
// nothing is written.
func (r *Router) CreateCustomer(ctx context.Context, a session.Agent, name, phoneNumber, email string) (Customer, error) {
	name, err := callerName(name)
	if err != nil {
		return Customer{}, err
	}
	if name == "" {
		return Customer{}, fmt.Errorf("%w: name is required", ErrInvalid)
	}
	var ids []connectors.Identity
	for _, x := range [][2]string{{IdentityPhone, phoneNumber}, {IdentityEmail, email}} {
		if strings.TrimSpace(x[1]) == "" {
			continue
		}
		idn, err := r.cleanIdentity(x[0], x[1])
		if err != nil {
			return Customer{}, err
		}
		ids = append(ids, idn)
	}
	cust := newID()
	err = r.withMergeLock(ctx, func(lk *mergeLock) error {
		for _, idn := range ids {
			if err := r.identityFree(ctx, idn); err != nil {
				return err
			}
		}
		now := ms(r.now())
		pipe := r.rdb.Pipeline()
		pipe.HSet(ctx, r.k.customer(cust), "id", cust, "name", name, "name_source", nameByAgent, "created_at", now)
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: r.k.customerAudit(cust), Values: []any{"action", AuditCreate,
			"who", a.ID, "when", now, "name", name}})
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("router: create customer: %w", err)
		}
		for _, idn := range ids {
			if _, err := r.linkLocked(ctx, a.ID, cust, idn); err != nil {
				r.dropCustomer(ctx, cust, ids)
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Customer{}, err
	}
	return r.Customer(ctx, cust)
}

// identityFree refuses an identity that belongs to a customer.
func (r *Router) identityFree(ctx context.Context, id connectors.Identity) error {
	cur, err := r.rdb.Get(ctx, r.k.identityCustomer(identityTag(id))).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("router: identity: %w", err)
	}
	other, err := r.followMerged(ctx, cur)
	if err != nil {
		return err
	}
	if n, err := r.rdb.Exists(ctx, r.k.customer(other)).Result(); err != nil || n == 0 {
		return err
	}
	return &IdentityTakenError{Identity: id, CustomerID: other}
}

// dropCustomer takes back a customer CreateCustomer made when one of its
// identities turned out to be taken after all (a message came in between
// the check and the link). Failures are logged.
func (r *Router) dropCustomer(ctx context.Context, cust string, ids []connectors.Identity) {
	ctx = context.WithoutCancel(ctx)
	for _, idn := range ids {
		if err := forgetIdentityLua.Run(ctx, r.rdb, []string{r.k.identityCustomer(identityTag(idn))}, cust).Err(); err != nil {
			r.log.Warn("router: take back a new customer", "customer", cust, "err", err)
		}
	}
	if err := r.rdb.Del(ctx, r.k.customer(cust), r.k.customerIdentities(cust), r.k.customerAudit(cust)).Err(); err != nil {
		r.log.Warn("router: take back a new customer", "customer", cust, "err", err)
	}
}

// FindCustomers looks a customer up by an identity (typ "phone" or
// "email", value as an agent typed it): the customer it belongs to (the
// one that remains, if it was merged), or none.
func (r *Router) FindCustomers(ctx context.Context, typ, value string) ([]Customer, error) {
	idn, err := r.cleanIdentity(typ, value)
	if err != nil {
		return nil, err
	}
	cur, err := r.rdb.Get(ctx, r.k.identityCustomer(identityTag(idn))).Result()
	if errors.Is(err, redis.Nil) {
		return []Customer{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("router: find customer: %w", err)
	}
	c, err := r.Customer(ctx, cur)
	if errors.Is(err, ErrNotFound) {
		return []Customer{}, nil
	}
	if err != nil {
		return nil, err
	}
	return []Customer{c}, nil
}
