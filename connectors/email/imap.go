package email

// IMAP mailboxes: mail taken from a folder on a mail server.
//
// Every replica runs a poller for each mailbox with an imap section, but
// only the holder of the mailbox's lease talks to the server:
//
//	{em:ID}:imap:lease  string: the holder's token ("host:pid:random"),
//	                    SET NX PX 30 s, renewed every 10 s by a
//	                    compare-and-PEXPIRE script, released on shutdown
//	                    by a compare-and-DEL script (internal/lease). A
//	                    replica that finds it taken tries again every 10 s,
//	                    so when the holder dies another takes over within
//	                    about 40 s.
//	{em:ID}:imap:state  hash: folder, uidvalidity, uid (the watermark: every
//	                    mail of the folder up to uid is done).
//	{em:ID}:imap:failures hash: "uidvalidity:uid:folder" -> how often taking
//	                    that mail failed; the key expires 7 days after the
//	                    last failure, a field goes once its mail is done.
//
// The holder connects (implicit TLS, STARTTLS, or plain on loopback),
// logs in, selects the folder and compares the folder's UIDVALIDITY with
// the stored one. Then, in UID order, for each mail above the watermark
// (UID FETCH n:* answers the highest existing mail even when it is below
// n, so lower UIDs are dropped): BODY.PEEK[] (which leaves \Seen alone),
// take it (it returns once Redis holds it), only then mark it \Seen or
// MOVE it to move_to, and only then advance the watermark. A failure stops
// the run there and the connection starts over after a backoff (1 s, then
// doubling up to 1 min): a mail is never skipped, and one fetched again
// after a cut is stored once (ingest deduplicates by the Message-ID's
// external id). The watermark is written by a script that first checks the
// lease, so a replica that lost it (paused past its TTL) cannot move it.
//
// A mail that cannot be taken for a reason of its own must not hold up
// the mail behind it for ever. When take fails with an error that is not
// transient (not a connection error, a timeout, Redis loading, failing
// over or read-only, nor an error the caller marked temporary), the
// failure is counted in {em:ID}:imap:failures; the count needs Redis, so
// nothing is counted while Redis cannot be reached. At the imapMaxAttempts-th
// counted failure the mail is quarantined with the last error as its
// reason, marked done (\Seen or moved) and passed by the watermark, and
// the poller goes on with the next mail. A panic while taking a mail
// counts as such a failure.
//
// Without a stored state for this folder and UIDVALIDITY (the first start,
// another folder, or a server that renumbered the folder), the poller
// starts over: it takes the folder's unseen mail (UID SEARCH UNSEEN) and
// then sets the watermark at UIDNEXT-1. Mail already \Seen there was read
// by someone, or taken by us before the renumbering (when not moved): taking
// it again could open old, closed conversations anew, since ingest's
// deduplication records last seven days. Mail we took whose \Seen was not
// yet set is unseen and is fetched again; ingest deduplicates it.
//
// Between runs the poller IDLEs when the server can (RFC 2177; IDLE is
// ended and sent again every 25 minutes), else it polls every imap.poll.

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/lease"
)

// imapTuning holds the poller's timings; tests shorten them.
type imapTuning struct {
	lease                  time.Duration // lease TTL; renewed every third of it
	backoffMin, backoffMax time.Duration // reconnect delays
	idleRefresh            time.Duration // IDLE is sent again after this
	noIdle                 bool          // poll even when the server can IDLE
	tls                    *tls.Config   // base TLS config (tests: their CA)
	// event, when set, is told what a poller does: "lease", "idle", "wait"
	// (idle or poll wait began), "lost" (lease lost or released).
	event func(box, what string)
	// maxAttempts is how many counted failures to take a mail quarantine
	// it (imapMaxAttempts), and failSpan how long after the first of them
	// at least (imapFailSpan).
	maxAttempts int
	failSpan    time.Duration
}

func defaultIMAPTuning() imapTuning {
	return imapTuning{lease: 30 * time.Second, backoffMin: time.Second, backoffMax: time.Minute, idleRefresh: 25 * time.Minute,
		maxAttempts: imapMaxAttempts, failSpan: imapFailSpan}
}

// imapMaxAttempts is how often taking a fetched mail may fail with an error
// that is not transient before the mail is quarantined and passed over. The
// attempts are spread by the reconnect backoff (1 s, 2 s, 4 s, 8 s: about
// 15 s for the fifth).
const imapMaxAttempts = 5

// imapFailSpan is how long a mail must have kept failing, from its first
// counted failure, before it is quarantined: a failure of some other part
// of the system that looks like the mail's fault (a full Redis Cluster
// shard answering OOM, a router error under a storm) passes in minutes and
// must not cost good mail its place in the inbox.
const imapFailSpan = 15 * time.Minute

// imapFailuresTTL is how long the failure counts of a mailbox are kept
// after its last failure.
const imapFailuresTTL = 7 * 24 * time.Hour

// Time limits for one IMAP command and for fetching one mail's body.
const (
	imapCmdTimeout  = 2 * time.Minute
	imapBodyTimeout = 10 * time.Minute
	imapDialTimeout = 30 * time.Second
)

var (
	// saveWatermark writes the folder's state if the caller holds the lease
	// (the lease package does not fence; this check is what does).
	// KEYS[1] lease, KEYS[2] state; ARGV[1] token, ARGV[2] folder,
	// ARGV[3] uidvalidity, ARGV[4] uid. Returns 1, or 0 without the lease.
	saveWatermark = redis.NewScript(`if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[2], 'folder', ARGV[2], 'uidvalidity', ARGV[3], 'uid', ARGV[4])
return 1`)
)

var errLeaseLost = errors.New("email: IMAP lease lost")

func (c *Connector) leaseKey(box *Mailbox) string {
	return c.env.Prefix + "{em:" + box.ID + "}:imap:lease"
}
func (c *Connector) imapStateKey(box *Mailbox) string {
	return c.env.Prefix + "{em:" + box.ID + "}:imap:state"
}
func (c *Connector) imapFailuresKey(box *Mailbox) string {
	return c.env.Prefix + "{em:" + box.ID + "}:imap:failures"
}

// poller takes one mailbox's mail from its IMAP folder.
type poller struct {
	c     *Connector
	box   *Mailbox
	im    *IMAP
	log   *slog.Logger
	lease *lease.Lease
	token string // this poller's lease value
	// failing names the mails whose failures this poller counted, whose
	// counts go once they are done.
	failing map[string]bool
}

// imapState is a folder's watermark as kept in Redis.
type imapState struct {
	folder      string
	uidValidity uint32
	uid         imap.UID
}

// pollIMAP runs box's poller until ctx ends: it waits for the mailbox's
// lease and, while it holds it, takes the mail.
func (c *Connector) pollIMAP(ctx context.Context, box *Mailbox) {
	l := lease.New(c.env.Redis, c.leaseKey(box), c.tune.lease)
	p := &poller{c: c, box: box, im: box.IMAP, log: c.env.Log.With("mailbox", box.ID),
		lease: l, token: l.Token(), failing: map[string]bool{}}
	warned := false
	for ctx.Err() == nil {
		ok, err := l.Acquire(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !warned {
				p.log.Warn("email: IMAP lease not checked; retrying", "err", err)
				warned = true
			}
		case ok:
			warned = false
			p.hold(ctx)
		}
		sleep(ctx, c.tune.lease/3)
	}
}

// hold fetches mail while the lease is ours, and releases it when ctx ends.
func (p *poller) hold(ctx context.Context) {
	lctx, cancel := context.WithCancelCause(ctx)
	p.log.Info("email: IMAP lease taken; this replica fetches the mailbox", "holder", p.token)
	p.event("lease")
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		if p.lease.Keep(lctx, func(err error) { p.log.Warn("email: IMAP lease not renewed", "err", err) }) {
			cancel(errLeaseLost)
		}
	}()
	p.run(lctx, cancel)
	lost := context.Cause(lctx)
	cancel(nil)
	<-renewed
	if errors.Is(lost, errLeaseLost) {
		p.log.Warn("email: IMAP lease lost; another replica may fetch the mailbox now")
	} else {
		rctx, done := context.WithTimeout(context.Background(), 2*time.Second)
		err := p.lease.Release(rctx)
		done()
		if err != nil {
			p.log.Warn("email: IMAP lease not released; it expires by itself", "err", err)
		}
	}
	p.event("lost")
}

// run connects again and again, with exponential backoff, until ctx ends
// or the lease turns out lost.
func (p *poller) run(ctx context.Context, cancel context.CancelCauseFunc) {
	delay := p.c.tune.backoffMin
	for {
		healthy, err := p.session(ctx)
		if errors.Is(err, errLeaseLost) {
			cancel(errLeaseLost)
		}
		if ctx.Err() != nil {
			return
		}
		if healthy {
			delay = p.c.tune.backoffMin
		}
		p.c.m.imapErrors.WithLabelValues(p.box.ID).Inc()
		p.log.Warn("email: IMAP mailbox failed; connecting again", "addr", p.im.Addr, "in", delay, "err", err)
		// Up to a fifth less, so replicas and mailboxes spread out.
		sleep(ctx, delay-time.Duration(mrand.Int64N(int64(delay/5)+1)))
		delay = min(2*delay, p.c.tune.backoffMax)
	}
}

// session is one connection: it takes what is new, then waits for more,
// until an error or the end of ctx. healthy reports that it got as far as
// waiting at least once.
func (p *poller) session(ctx context.Context) (healthy bool, err error) {
	exists := make(chan struct{}, 1)
	cl, err := p.dial(&imapclient.Options{
		Dialer: &net.Dialer{Timeout: imapDialTimeout},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil { // "* N EXISTS": maybe new mail
				select {
				case exists <- struct{}{}:
				default:
				}
			}
		}},
	})
	if err != nil {
		return false, fmt.Errorf("email: IMAP connect to %s: %w", p.im.Addr, err)
	}
	defer cl.Close()
	stop := context.AfterFunc(ctx, func() { _ = cl.Close() })
	defer stop()

	if err := within(cl, imapCmdTimeout, func() error { return cl.Login(p.im.User, p.im.Password).Wait() }); err != nil {
		return false, fmt.Errorf("email: IMAP login as %s: %w", p.im.User, err)
	}
	if p.im.MoveTo != "" {
		if err := p.ensureFolder(cl, p.im.MoveTo); err != nil {
			return false, err
		}
	}
	var sel *imap.SelectData
	if err := within(cl, imapCmdTimeout, func() (err error) { sel, err = cl.Select(p.im.Folder, nil).Wait(); return err }); err != nil {
		return false, fmt.Errorf("email: IMAP select %s: %w", p.im.Folder, err)
	}
	st, err := p.loadState(ctx)
	if err != nil {
		return false, err
	}
	if st.folder != p.im.Folder || st.uidValidity != sel.UIDValidity {
		if st.folder != "" {
			p.log.Warn("email: IMAP folder renumbered (UIDVALIDITY changed) or replaced; taking its unseen mail again, "+
				"ingest drops what was stored already", "folder", p.im.Folder, "was", st.folder, "uidvalidity_was", st.uidValidity,
				"uidvalidity", sel.UIDValidity)
		} else {
			p.log.Info("email: IMAP folder seen for the first time; taking its unseen mail", "folder", p.im.Folder,
				"uidvalidity", sel.UIDValidity)
		}
		if st, err = p.startOver(ctx, cl, sel); err != nil {
			return false, err
		}
	}
	idle := !p.c.tune.noIdle && cl.Caps().Has(imap.CapIdle)
	for {
		select { // what arrives from now on is seen by the next fetch
		case <-exists:
		default:
		}
		if !idle {
			// A NOOP lets the server tell of new mail first.
			if err := within(cl, imapCmdTimeout, func() error { return cl.Noop().Wait() }); err != nil {
				return healthy, fmt.Errorf("email: IMAP noop: %w", err)
			}
		}
		if err := p.catchUp(ctx, cl, &st); err != nil {
			return healthy, err
		}
		healthy = true
		if idle {
			err = p.idle(ctx, cl, exists)
		} else {
			p.event("wait")
			err = sleep(ctx, p.im.Poll)
		}
		if err != nil {
			return healthy, err
		}
	}
}

// dial connects as the config says: implicit TLS, STARTTLS or plain.
func (p *poller) dial(opts *imapclient.Options) (*imapclient.Client, error) {
	host, _, _ := net.SplitHostPort(p.im.Addr)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if p.c.tune.tls != nil {
		cfg = p.c.tune.tls.Clone()
	}
	cfg.ServerName = host
	opts.TLSConfig = cfg
	switch p.im.security {
	case "starttls":
		return imapclient.DialStartTLS(p.im.Addr, opts)
	case "plain": // only for a loopback host (checked with the config)
		return imapclient.DialInsecure(p.im.Addr, opts)
	default:
		return imapclient.DialTLS(p.im.Addr, opts)
	}
}

// ensureFolder creates folder unless it exists.
func (p *poller) ensureFolder(cl *imapclient.Client, folder string) error {
	var found []*imap.ListData
	err := within(cl, imapCmdTimeout, func() (err error) { found, err = cl.List("", folder, nil).Collect(); return err })
	if err != nil {
		return fmt.Errorf("email: IMAP list %s: %w", folder, err)
	}
	if len(found) > 0 {
		return nil
	}
	if err := within(cl, imapCmdTimeout, func() error { return cl.Create(folder, nil).Wait() }); err != nil {
		return fmt.Errorf("email: IMAP create %s (move_to): %w", folder, err)
	}
	p.log.Info("email: IMAP folder created for move_to", "folder", folder)
	return nil
}

// idle waits in IDLE until the server tells of new mail, or for the
// refresh interval, then ends IDLE.
func (p *poller) idle(ctx context.Context, cl *imapclient.Client, exists <-chan struct{}) error {
	var cmd *imapclient.IdleCommand
	if err := within(cl, imapCmdTimeout, func() (err error) { cmd, err = cl.Idle(); return err }); err != nil {
		return fmt.Errorf("email: IMAP idle: %w", err)
	}
	p.event("idle")
	p.event("wait")
	refresh := time.NewTimer(p.c.tune.idleRefresh)
	defer refresh.Stop()
	select {
	case <-exists:
	case <-refresh.C:
	case <-ctx.Done():
		return ctx.Err()
	case <-cl.Closed():
		return errors.New("email: IMAP connection closed while idle")
	}
	err := within(cl, imapCmdTimeout, func() error {
		if err := cmd.Close(); err != nil {
			return err
		}
		return cmd.Wait()
	})
	if err != nil {
		return fmt.Errorf("email: IMAP end of idle: %w", err)
	}
	return nil
}

// startOver takes the folder's unseen mail, in UID order, then sets the
// watermark at UIDNEXT-1 (or the highest UID taken). It writes the state
// only at the end: interrupted, it starts over again, and what it took is
// no longer unseen (or no longer in the folder).
func (p *poller) startOver(ctx context.Context, cl *imapclient.Client, sel *imap.SelectData) (imapState, error) {
	var uids []imap.UID
	err := within(cl, imapCmdTimeout, func() error {
		data, err := cl.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
		if err == nil {
			uids = data.AllUIDs()
		}
		return err
	})
	if err != nil {
		return imapState{}, fmt.Errorf("email: IMAP search unseen: %w", err)
	}
	st := imapState{folder: p.im.Folder, uidValidity: sel.UIDValidity}
	if sel.UIDNext > 0 {
		st.uid = sel.UIDNext - 1
	}
	if len(uids) > 0 {
		var set imap.UIDSet
		set.AddNum(uids...)
		mails, err := p.list(cl, set, 0)
		if err != nil {
			return imapState{}, err
		}
		for _, m := range mails {
			if err := p.one(ctx, cl, sel.UIDValidity, m); err != nil {
				return imapState{}, err
			}
			st.uid = max(st.uid, m.uid)
		}
	}
	if err := p.saveState(ctx, st); err != nil {
		return imapState{}, err
	}
	return st, nil
}

// catchUp takes every mail above the watermark, in UID order, advancing the
// watermark after each.
func (p *poller) catchUp(ctx context.Context, cl *imapclient.Client, st *imapState) error {
	if st.uid == math.MaxUint32 {
		return nil
	}
	var set imap.UIDSet
	set.AddRange(st.uid+1, 0) // n:*
	mails, err := p.list(cl, set, st.uid)
	if err != nil {
		return err
	}
	for _, m := range mails {
		if err := p.one(ctx, cl, st.uidValidity, m); err != nil {
			return err
		}
		next := *st
		next.uid = m.uid
		if err := p.saveState(ctx, next); err != nil {
			return err
		}
		*st = next
	}
	return nil
}

// mailRef is one mail of the folder: its UID and size.
type mailRef struct {
	uid  imap.UID
	size int64
}

// list returns the UIDs and sizes of the mail in set above floor, in UID
// order. `UID FETCH n:*` also answers the folder's highest mail when that is
// below n: floor drops it.
func (p *poller) list(cl *imapclient.Client, set imap.UIDSet, floor imap.UID) ([]mailRef, error) {
	var msgs []*imapclient.FetchMessageBuffer
	err := within(cl, imapCmdTimeout, func() (err error) {
		msgs, err = cl.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("email: IMAP fetch sizes: %w", err)
	}
	var out []mailRef
	for _, m := range msgs {
		if m.UID > floor {
			out = append(out, mailRef{m.UID, m.RFC822Size})
		}
	}
	slices.SortFunc(out, func(a, b mailRef) int { return cmp.Compare(a.uid, b.uid) })
	return out, nil
}

// one takes one mail: fetched without setting \Seen, stored (take returns
// once Redis holds it), then marked \Seen or moved. A mail over
// max_message_bytes is quarantined with its header only and left on the
// server; one that failed to be taken too often is quarantined (failed).
func (p *poller) one(ctx context.Context, cl *imapclient.Client, uidValidity uint32, ref mailRef) (err error) {
	set := imap.UIDSetNum(ref.uid)
	var field string
	if ref.size > p.box.MaxMessageBytes {
		section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
		var header []byte
		if header, err = p.fetch(cl, set, section, imapCmdTimeout); err != nil {
			return err
		}
		err = p.c.quarantineKept(ctx, p.box, header, ref.size, fetched, fmt.Sprintf("%d bytes, over max_message_bytes (%d): only the header is kept here, "+
			"the mail is still on the IMAP server", ref.size, p.box.MaxMessageBytes))
		if err != nil {
			err = fmt.Errorf("email: IMAP mail UID %d not quarantined: %w", ref.uid, err)
		}
	} else {
		var raw []byte
		if raw, err = p.fetch(cl, set, &imap.FetchItemBodySection{Peek: true}, imapBodyTimeout); err != nil {
			return err
		}
		if raw == nil {
			p.log.Info("email: IMAP mail gone before it was fetched (expunged)", "uid", ref.uid)
			return nil
		}
		field = failureField(uidValidity, ref.uid, p.im.Folder)
		if err = p.take(ctx, raw); err != nil {
			err = p.failed(ctx, field, ref.uid, raw, err)
		}
	}
	if err != nil {
		return err
	}
	// The failures are forgotten once the mail is marked done: a mail
	// quarantined but not yet marked is not quarantined again.
	defer func() {
		if err == nil && field != "" {
			p.succeeded(ctx, field)
		}
	}()
	p.c.m.imapFetched.WithLabelValues(p.box.ID).Inc()
	if p.im.MoveTo != "" {
		err = within(cl, imapCmdTimeout, func() error { _, err := cl.Move(set, p.im.MoveTo).Wait(); return err })
		if err != nil {
			return fmt.Errorf("email: IMAP move UID %d to %s: %w", ref.uid, p.im.MoveTo, err)
		}
		return nil
	}
	err = within(cl, imapCmdTimeout, func() error {
		return cl.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
	})
	if err != nil {
		return fmt.Errorf("email: IMAP mark UID %d seen: %w", ref.uid, err)
	}
	return nil
}

// take takes a fetched mail; a panic is an error (a mail that makes take
// panic is then quarantined like one that keeps failing, instead of
// stopping the process on every replica in turn).
func (p *poller) take(ctx context.Context, raw []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("email: taking an IMAP mail panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("email: panic while taking the mail: %v", r)
		}
	}()
	return p.c.take(ctx, p.box, raw, fetched, "")
}

// failureField names a mail in the failures hash.
func failureField(uidValidity uint32, uid imap.UID, folder string) string {
	return strconv.FormatUint(uint64(uidValidity), 10) + ":" + strconv.FormatUint(uint64(uid), 10) + ":" + folder
}

// failed handles a mail that take refused: a transient failure, or one
// that cannot be counted (Redis unreachable), is returned and the mail
// tried again after the backoff; a counted one too, until it has failed
// maxAttempts times over at least failSpan. Then it is quarantined with
// the error as its reason and failed returns nil, so the mail is marked
// done and the mailbox goes on. A mail quarantined before whose marking
// failed is not quarantined again.
func (p *poller) failed(ctx context.Context, field string, uid imap.UID, raw []byte, cause error) error {
	err := fmt.Errorf("email: IMAP mail UID %d not stored: %w", uid, cause)
	if ctx.Err() != nil || transient(cause) {
		return err
	}
	key := p.c.imapFailuresKey(p.box)
	now := p.c.env.Now()
	tx := p.c.env.Redis.TxPipeline()
	n := tx.HIncrBy(ctx, key, field, 1)
	tx.HSetNX(ctx, key, field+"@", now.UnixMilli())
	first := tx.HGet(ctx, key, field+"@")
	quarantined := tx.HGet(ctx, key, field+"!")
	tx.Expire(ctx, key, imapFailuresTTL)
	if _, cerr := tx.Exec(ctx); cerr != nil && !errors.Is(cerr, redis.Nil) {
		p.log.Warn("email: IMAP mail not stored, and the failure not counted", "uid", uid, "err", cause, "count_err", cerr)
		return err
	}
	p.failing[field] = true
	if quarantined.Val() != "" {
		return nil // quarantined on an earlier attempt; mark it done now
	}
	limit := max(p.c.tune.maxAttempts, 1)
	since, _ := first.Int64()
	failing := now.Sub(time.UnixMilli(since))
	if n.Val() < int64(limit) || failing < p.c.tune.failSpan {
		p.log.Warn("email: IMAP mail not stored; trying again", "uid", uid, "attempt", n.Val(), "of", limit,
			"failing_for", failing.Round(time.Second).String(), "err", cause)
		return err
	}
	reason := fmt.Sprintf("not stored after %d attempts over %s: %s", n.Val(), failing.Round(time.Second), cut(cause.Error(), 1000))
	if qerr := p.c.quarantine(ctx, p.box, raw, fetched, reason); qerr != nil {
		return fmt.Errorf("%w; not quarantined either: %w", err, qerr)
	}
	if herr := p.c.env.Redis.HSet(ctx, key, field+"!", 1).Err(); herr != nil {
		p.log.Warn("email: IMAP mail quarantined but not noted so; should marking it fail, it may be quarantined twice",
			"uid", uid, "err", herr)
	}
	p.log.Warn("email: IMAP mail quarantined after failing again and again; going on with the next", "uid", uid, "attempts", n.Val())
	return nil
}

// succeeded forgets the failures of a mail that is done. The count is
// best effort: one left behind expires with the hash.
func (p *poller) succeeded(ctx context.Context, field string) {
	if !p.failing[field] {
		return
	}
	if err := p.c.env.Redis.HDel(ctx, p.c.imapFailuresKey(p.box), field, field+"@", field+"!").Err(); err != nil {
		p.log.Debug("email: IMAP failure count not cleared; it expires", "err", err)
		return
	}
	delete(p.failing, field)
}

// transient reports whether err is a failure of the moment that says
// nothing about the mail: a connection or timeout (to Redis or anything
// else), Redis loading, failing over, read-only or out of clients, or an
// error its maker marked temporary.
func transient(err error) bool {
	var ne net.Error
	var ce *connectors.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, errLeaseLost),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout), errors.As(err, &ne):
		return true
	case errors.As(err, &ce):
		return ce.Temporary
	case redis.IsLoadingError(err), redis.IsReadOnlyError(err), redis.IsClusterDownError(err), redis.IsTryAgainError(err),
		redis.IsMasterDownError(err), redis.IsMaxClientsError(err):
		return true
	}
	if _, ok := redis.IsMovedError(err); ok {
		return true
	}
	// A shard out of memory, unable to persist or to reach its replicas, or
	// busy with a script, says nothing about the mail either.
	var re redis.Error
	if errors.As(err, &re) {
		for _, p := range []string{"OOM ", "MISCONF ", "NOREPLICAS ", "BUSY ", "NOTBUSY "} {
			if strings.HasPrefix(re.Error(), p) {
				return true
			}
		}
	}
	_, ok := redis.IsAskError(err)
	return ok
}

// fetch returns one body section of the mail in set, nil when the mail is
// gone.
func (p *poller) fetch(cl *imapclient.Client, set imap.UIDSet, section *imap.FetchItemBodySection, limit time.Duration) ([]byte, error) {
	var msgs []*imapclient.FetchMessageBuffer
	err := within(cl, limit, func() (err error) {
		msgs, err = cl.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("email: IMAP fetch: %w", err)
	}
	for _, m := range msgs {
		if set.Contains(m.UID) {
			if b := m.FindBodySection(section); b != nil {
				return b, nil
			}
			return nil, fmt.Errorf("email: IMAP fetch: the server answered UID %d without its body", m.UID)
		}
	}
	return nil, nil
}

func (p *poller) loadState(ctx context.Context) (imapState, error) {
	h, err := p.c.env.Redis.HGetAll(ctx, p.c.imapStateKey(p.box)).Result()
	if err != nil {
		return imapState{}, fmt.Errorf("email: IMAP state: %w", err)
	}
	uv, err1 := strconv.ParseUint(h["uidvalidity"], 10, 32)
	uid, err2 := strconv.ParseUint(h["uid"], 10, 32)
	if err1 != nil || err2 != nil || h["folder"] == "" {
		return imapState{}, nil // none, or unreadable: start over
	}
	return imapState{folder: h["folder"], uidValidity: uint32(uv), uid: imap.UID(uid)}, nil
}

// saveState writes the watermark, if the lease is still ours.
func (p *poller) saveState(ctx context.Context, st imapState) error {
	n, err := saveWatermark.Run(ctx, p.c.env.Redis, []string{p.c.leaseKey(p.box), p.c.imapStateKey(p.box)},
		p.token, st.folder, st.uidValidity, uint32(st.uid)).Int()
	if err != nil {
		return fmt.Errorf("email: IMAP state: %w", err)
	}
	if n != 1 {
		return errLeaseLost
	}
	return nil
}

func (p *poller) event(what string) {
	if f := p.c.tune.event; f != nil {
		f(p.box.ID, what)
	}
}

// within runs f, closing the connection if f takes longer than limit (a
// server that stopped answering would otherwise hold the poller forever).
func within(cl *imapclient.Client, limit time.Duration, f func() error) error {
	t := time.AfterFunc(limit, func() { _ = cl.Close() })
	err := f()
	if !t.Stop() && err != nil {
		return fmt.Errorf("no answer within %s: %w", limit, err)
	}
	return err
}

// sleep waits for d or the end of ctx, and returns ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
