package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/rdb"
	"switchboard/session"
)

// The router keeps customer profiles: a channel that learns a customer's
// name, avatar or another of their identities after the fact reports it.
var _ connectors.Profiler = (*Router)(nil)

// Limits on what a channel's profile may set.
const (
	maxNameRunes   = 64
	maxAvatarBytes = 512
	maxAlso        = 8
	maxIdentity    = 256
	// maxHops bounds every walk along merged customers and every retry
	// loop that follows a customer being folded into another.
	maxHops = 8
)

// Sources of a customer's name (field name_source).
const (
	nameByAgent   = "agent"   // set by hand (PATCH /customers); never replaced by a channel
	nameByChannel = "channel" // from a channel's profile; replaced by the next one
)

// identityTypeRe is what an identity type of a profile may look like.
var identityTypeRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// UpdateProfile records what a channel learnt about a customer after the
// fact. Name and avatar go on the customer's profile, unless an agent set
// the name by hand. Each identity in p.Also is linked to the customer;
// one that already belongs to another customer makes the two one: the
// customer with fewer conversations is folded into the other (see merge).
// Invalid fields are ignored. The customer id may name a customer folded
// into another; the change then applies to that one. An unknown customer
// is a permanent *connectors.Error wrapping ErrNotFound, so a connector
// does not retry it. Everything is idempotent: after a failure, calling
// again with the same arguments finishes the work, including a merge that
// stopped part way.
func (r *Router) UpdateProfile(ctx context.Context, customerID string, p connectors.Profile) error {
	if customerID == "" || len(customerID) > 64 || strings.ContainsAny(customerID, "{}|: ") {
		return connectors.Permanent("", fmt.Errorf("%w: bad customer id %q", ErrInvalid, customerID))
	}
	name, avatar, also := r.cleanProfile(customerID, p)
	run := &profileRun{cust: customerID}
	defer r.announceCustomer(context.WithoutCancel(ctx), run)
	if err := r.follow(ctx, run); err != nil {
		if errors.Is(err, ErrNotFound) {
			return connectors.Permanent("", fmt.Errorf("router: update profile: %w", err))
		}
		return fmt.Errorf("router: update profile: %w", err)
	}
	// Identities first: when the customer is folded into another, the
	// name belongs on the one that remains.
	for _, id := range also {
		if err := r.link(ctx, run, id); err != nil {
			return fmt.Errorf("router: update profile: link %s: %w", id.Type, err)
		}
	}
	if name != "" || avatar != "" {
		if err := r.setProfile(ctx, run, name, avatar); err != nil {
			return fmt.Errorf("router: update profile: %w", err)
		}
	}
	if contains(run.changed, "name") {
		r.renameConversations(ctx, run.cust)
	}
	return nil
}

// renamedConversations is how many of a customer's latest conversations
// take a new name: the lists show it, older conversations keep theirs.
const renamedConversations = 20

// renameConversations copies the customer's name onto their latest
// conversations, where the lists read it. A failure is logged: the
// customer's own name is stored, and views of the customer show it.
func (r *Router) renameConversations(ctx context.Context, cust string) {
	name, err := r.rdb.HGet(ctx, r.k.customer(cust), "name").Result()
	if err != nil || name == "" {
		return
	}
	convs, err := r.rdb.ZRevRange(ctx, r.k.customerConversations(cust), 0, renamedConversations-1).Result()
	if err != nil {
		r.log.Warn("router: rename conversations", "customer", cust, "err", err)
		return
	}
	b := rdb.NewBatch(r.rdb)
	for _, c := range convs {
		b.Run(ctx, renameConvLua, []string{r.k.conv(c)}, name)
	}
	if err := r.commit.Exec(ctx, b); err != nil {
		r.log.Warn("router: rename conversations", "customer", cust, "err", err)
	}
}

// profileRun is the state of one UpdateProfile: the customer it works on
// (it changes when that customer is folded into another) and what changed.
type profileRun struct {
	cust    string
	changed []string
	merged  []string // customers folded into another during this run
}

func (run *profileRun) change(fields ...string) {
	for _, f := range fields {
		if f != "" && !contains(run.changed, f) {
			run.changed = append(run.changed, f)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// cleanProfile drops the fields of p that are not fit to store, with a
// debug log for each.
func (r *Router) cleanProfile(cust string, p connectors.Profile) (name, avatar string, also []connectors.Identity) {
	name = strings.TrimSpace(p.Name)
	if name != "" && !validName(name) {
		r.log.Debug("router: profile name ignored", "customer", cust, "bytes", len(name))
		name = ""
	}
	avatar = strings.TrimSpace(p.Avatar)
	if avatar != "" && !validAvatar(avatar) {
		r.log.Debug("router: profile avatar ignored", "customer", cust, "avatar", truncate(avatar, 80))
		avatar = ""
	}
	for _, id := range p.Also {
		switch {
		case !validAlso(id):
			r.log.Debug("router: profile identity ignored", "customer", cust, "type", truncate(id.Type, 40))
		case len(also) == maxAlso:
			r.log.Debug("router: profile identity over the limit ignored", "customer", cust, "type", id.Type)
		case !containsIdentity(also, id):
			also = append(also, connectors.Identity{Type: id.Type, Value: id.Value})
		}
	}
	return name, avatar, also
}

func containsIdentity(ids []connectors.Identity, id connectors.Identity) bool {
	for _, x := range ids {
		if x.Type == id.Type && x.Value == id.Value {
			return true
		}
	}
	return false
}

// validName accepts up to maxNameRunes characters of UTF-8 without
// control characters.
func validName(s string) bool {
	return utf8.ValidString(s) && utf8.RuneCountInString(s) <= maxNameRunes && !hasControl(s)
}

// validAvatar accepts an absolute http or https URL of at most
// maxAvatarBytes, with a host and no credentials.
func validAvatar(s string) bool {
	if len(s) > maxAvatarBytes || !utf8.ValidString(s) || hasControl(s) || strings.ContainsAny(s, " \t") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// validAlso accepts an identity whose type is a short lower-case word and
// whose value is up to maxIdentity bytes of UTF-8 without control
// characters.
func validAlso(id connectors.Identity) bool {
	return identityTypeRe.MatchString(id.Type) && id.Value != "" && len(id.Value) <= maxIdentity &&
		utf8.ValidString(id.Value) && !hasControl(id.Value) && strings.TrimSpace(id.Value) == id.Value
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// handle is how a customer's :ids set names one of their identities:
// "channel|account|type|value". Identities a profile reports belong to no
// one channel account (a WeChat unionid spans apps): channel and account
// are empty.
func handle(ch connectors.Channel, account string, id connectors.Identity) string {
	return string(ch) + "|" + account + "|" + id.Type + "|" + id.Value
}

// identityOfHandle reads a handle back.
func identityOfHandle(h string) (connectors.Identity, bool) {
	parts := strings.SplitN(h, "|", 4)
	if len(parts) != 4 || parts[2] == "" || parts[3] == "" {
		return connectors.Identity{}, false
	}
	return connectors.Identity{Type: parts[2], Value: parts[3]}, true
}

// mergeReason says why an identity made two customers one, for the audit.
func mergeReason(id connectors.Identity) string {
	if id.Type == "unionid" {
		return "same WeChat unionid " + id.Value
	}
	return "same " + id.Type + " " + id.Value
}

// follow moves run.cust along merges to the customer that remains, and
// finishes any merge it finds unfinished on the way.
func (r *Router) follow(ctx context.Context, run *profileRun) error {
	final, pending, err := r.resolve(ctx, run.cust)
	if err != nil {
		return err
	}
	if pending {
		err = r.withMergeLock(ctx, func(lk *mergeLock) error {
			var folded []string
			final, folded, err = r.settle(ctx, lk, final, 0)
			run.merged = append(run.merged, folded...)
			return err
		})
		if err != nil {
			return err
		}
	}
	run.cust = final
	return nil
}

// link makes run.cust the customer of identity id: it points the identity
// at the customer and adds it to the customer's handles; an identity that
// belongs to another customer merges the two, unless an unmerge took
// those two apart (keptApart): then the identity stays with the other.
func (r *Router) link(ctx context.Context, run *profileRun, id connectors.Identity) error {
	tag := identityTag(id)
	member := handle("", "", id)
	for range maxHops {
		cur, set, err := r.pointIdentity(ctx, tag, "", run.cust)
		if err != nil {
			return err
		}
		if cur == run.cust {
			code, _, err := r.attach(ctx, run.cust, member, "", 0)
			if err != nil {
				return err
			}
			if code >= 0 {
				if set || code == 1 {
					run.change("identities")
				}
				return nil
			}
			// Our customer is being folded into another: follow it; the
			// identity moves along on the next turn.
			if err := r.follow(ctx, run); err != nil {
				return err
			}
			continue
		}
		// The identity belongs to another customer: the same person.
		other, pending, err := r.resolve(ctx, cur)
		if err != nil {
			return err
		}
		if other == run.cust && !pending {
			// Folded into ours already; the identity was left behind.
			if _, _, err := r.pointIdentity(ctx, tag, cur, run.cust); err != nil {
				return err
			}
			continue
		}
		if apart, err := r.keptApart(ctx, run.cust, other); err != nil {
			return err
		} else if apart {
			// A supervisor undid their merge: the identity stays where it is.
			r.log.Info("router: profile: not merging customers an unmerge took apart", "customer", run.cust,
				"other", other, "type", id.Type)
			return nil
		}
		winner, folded, err := r.merge(ctx, run.cust, other, mergeReason(id))
		if err != nil {
			return err
		}
		run.cust = winner
		run.merged = append(run.merged, folded...)
		if len(folded) > 0 {
			run.change("identities", "conversations")
		}
	}
	return fmt.Errorf("the customer kept changing")
}

// setProfile writes name and avatar on run.cust, following it when it is
// being folded into another customer.
func (r *Router) setProfile(ctx context.Context, run *profileRun, name, avatar string) error {
	for range maxHops {
		var defaults []any
		if name != "" {
			hs, err := r.rdb.SMembers(ctx, r.k.customerIdentities(run.cust)).Result()
			if err != nil {
				return fmt.Errorf("router: customer handles: %w", err)
			}
			for _, h := range hs {
				if id, ok := identityOfHandle(h); ok {
					defaults = append(defaults, displayName(id))
				}
			}
		}
		args := append([]any{name, avatar}, defaults...)
		v, err := setProfileLua.Run(ctx, r.rdb, []string{r.k.customer(run.cust)}, args...).Slice()
		if err != nil || len(v) != 2 {
			return fmt.Errorf("router: set profile: unexpected reply %v: %w", v, err)
		}
		code, _ := v[0].(int64)
		s, _ := v[1].(string)
		switch code {
		case 1:
			if s != "" {
				run.change(strings.Split(s, ",")...)
			}
			return nil
		case -2:
			return fmt.Errorf("%w: customer %s", ErrNotFound, run.cust)
		}
		if err := r.follow(ctx, run); err != nil {
			return err
		}
	}
	return fmt.Errorf("router: set profile: the customer kept changing")
}

// pointIdentity points the identity with tag at customer to, when it
// points nowhere or at from (when from is not empty). It returns the
// customer the identity points at afterwards and whether it changed.
func (r *Router) pointIdentity(ctx context.Context, tag, from, to string) (string, bool, error) {
	v, err := pointIdentityLua.Run(ctx, r.rdb, []string{r.k.identityCustomer(tag)}, from, to).Slice()
	if err != nil || len(v) != 2 {
		return "", false, fmt.Errorf("router: point identity: unexpected reply %v: %w", v, err)
	}
	cur, _ := v[0].(string)
	n, _ := v[1].(int64)
	return cur, n == 1, nil
}

// attach adds a handle (member) and/or a conversation (conv with score) to
// a customer, unless the customer is being folded into another. It
// returns 1 when something was added, 0 when nothing was new, or -1 with
// the customer it is being folded into (nothing written).
func (r *Router) attach(ctx context.Context, cust, member, conv string, score int64) (int64, string, error) {
	v, err := attachCustomerLua.Run(ctx, r.rdb,
		[]string{r.k.customer(cust), r.k.customerIdentities(cust), r.k.customerConversations(cust)},
		member, conv, score).Slice()
	if err != nil || len(v) != 2 {
		return 0, "", fmt.Errorf("router: attach to customer: unexpected reply %v: %w", v, err)
	}
	code, _ := v[0].(int64)
	into, _ := v[1].(string)
	if code == -2 {
		return 0, "", fmt.Errorf("%w: customer %s", ErrNotFound, cust)
	}
	return code, into, nil
}

// custState is what one customer hash says about merges.
type custState struct {
	id      string
	into    string // merging_into: decided to be folded into this customer
	done    bool   // merged_into is set: the fold finished
	pending int64  // entries in its own merge journal: folds into it not finished
	// unmerging is the merge id of an unmerge giving this customer back
	// that is not finished (unmerging_from); unmerges the entries in its
	// own unmerge journal (unmerges out of it not finished).
	unmerging string
	unmerges  int64
}

// unfinished says whether a merge or an unmerge from or into this
// customer is under way.
func (s custState) unfinished() bool {
	return (s.into != "" && !s.done) || s.pending > 0 || s.unmerging != "" || s.unmerges > 0
}

// state reads one customer's merge state (one round trip); ok is false
// when the customer does not exist.
func (r *Router) state(ctx context.Context, id string) (custState, bool, error) {
	pipe := r.rdb.Pipeline()
	ex := pipe.Exists(ctx, r.k.customer(id))
	h := pipe.HMGet(ctx, r.k.customer(id), "merging_into", "merged_into", "unmerging_from")
	n := pipe.HLen(ctx, r.k.customerMerging(id))
	u := pipe.HLen(ctx, r.k.customerUnmerging(id))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return custState{}, false, fmt.Errorf("router: customer state: %w", err)
	}
	if ex.Val() == 0 {
		return custState{}, false, nil
	}
	v := h.Val()
	return custState{id: id, into: asString(v[0]), done: asString(v[1]) != "", pending: n.Val(),
		unmerging: asString(v[2]), unmerges: u.Val()}, true, nil
}

// chain follows merging_into from customer id: the first state is id's,
// the last one that of the customer not folded into another.
func (r *Router) chain(ctx context.Context, id string) ([]custState, error) {
	var out []custState
	for len(out) <= maxHops {
		s, ok, err := r.state(ctx, id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: customer %s", ErrNotFound, id)
		}
		out = append(out, s)
		if s.into == "" {
			return out, nil
		}
		id = s.into
	}
	return nil, fmt.Errorf("router: customer %s is folded more than %d times over", out[0].id, maxHops)
}

// resolve returns the customer that id is (or is being) folded into, id
// itself when it is not, and whether a merge on the way or into it is
// unfinished.
func (r *Router) resolve(ctx context.Context, id string) (final string, pending bool, err error) {
	ch, err := r.chain(ctx, id)
	if err != nil {
		return "", false, err
	}
	for _, s := range ch {
		pending = pending || s.unfinished()
	}
	return ch[len(ch)-1].id, pending, nil
}

// followMerged follows merged_into (finished merges only) from id, for
// lookups: the customer an agent should see instead of id.
func (r *Router) followMerged(ctx context.Context, id string) (string, error) {
	for range maxHops {
		into, err := r.rdb.HGet(ctx, r.k.customer(id), "merged_into").Result()
		if errors.Is(err, redis.Nil) || (err == nil && into == "") {
			return id, nil
		}
		if err != nil {
			return "", fmt.Errorf("router: customer: %w", err)
		}
		id = into
	}
	return "", fmt.Errorf("router: customer %s is merged more than %d times over", id, maxHops)
}

// mergedCustomer is the 360° view shown for a customer that was folded
// into customer into: the view of the customer that remains.
func (r *Router) mergedCustomer(ctx context.Context, into string) (Customer, error) {
	final, err := r.followMerged(ctx, into)
	if err != nil {
		return Customer{}, err
	}
	return r.Customer(ctx, final)
}

// customerEvent is the payload of customer.updated.
type customerEvent struct {
	CustomerID string `json:"customer_id"`
	// Changed lists what changed: name, avatar, identities, conversations.
	Changed []string `json:"changed"`
	// Merged lists customers folded into this one; views of them should
	// show this one.
	Merged []string `json:"merged,omitempty"`
	// Unmerged lists customers an unmerge took out of this one again;
	// conversations listed under this one may be theirs now.
	Unmerged []string `json:"unmerged,omitempty"`
}

// announceCustomer tells every agent that a customer changed, so open
// views reload it. A failure is logged: the change is stored.
func (r *Router) announceCustomer(ctx context.Context, run *profileRun) {
	if len(run.changed) == 0 && len(run.merged) == 0 {
		return
	}
	changed := run.changed
	if changed == nil {
		changed = []string{}
	}
	data, _ := json.Marshal(customerEvent{CustomerID: run.cust, Changed: changed, Merged: run.merged})
	b := rdb.NewBatch(r.rdb)
	r.events.QueueToInbox(ctx, b, session.EventCustomerUpdated, data)
	if err := r.commit.Exec(ctx, b); err != nil {
		r.log.Warn("router: announce customer", "customer", run.cust, "err", err)
	}
}
