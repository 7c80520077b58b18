package email

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/blob"
	"switchboard/internal/imaptest"
	"switchboard/internal/redistest"
)

const (
	imapUser = "agent@example.com"
	imapPass = "pw-Zq7#x"
)

// counting is the recording inbox that also counts Ingest calls per
// Message-ID (a mail fetched again is ingested again and deduplicated).
type counting struct {
	*inbox
	mu    sync.Mutex
	calls map[string]int
	// before, set before the connectors run, sees each message first.
	before func(m *connectors.Message)
	// fail, set before the connectors run, may refuse a message: its
	// error is Ingest's.
	fail func(m *connectors.Message) error
}

func newCounting() *counting { return &counting{inbox: newInbox(), calls: map[string]int{}} }

func (c *counting) Ingest(ctx context.Context, m *connectors.Message) (connectors.Accepted, error) {
	c.mu.Lock()
	c.calls[m.Thread.MessageID]++
	c.mu.Unlock()
	if c.before != nil {
		c.before(m)
	}
	if c.fail != nil {
		if err := c.fail(m); err != nil {
			return connectors.Accepted{}, err
		}
	}
	return c.inbox.Ingest(ctx, m)
}

func (c *counting) callsOf(msgID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[msgID]
}

func (c *counting) totalCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.calls {
		n += k
	}
	return n
}

// stored returns how often each Message-ID was stored.
func (c *counting) stored() map[string]int {
	c.mu.Lock() // c.inbox has its own lock; this one orders the reads
	defer c.mu.Unlock()
	c.inbox.mu.Lock()
	defer c.inbox.mu.Unlock()
	out := map[string]int{}
	for _, ms := range c.inbox.convs {
		for _, m := range ms {
			out[m.Thread.MessageID]++
		}
	}
	return out
}

func (c *counting) message(msgID string) (connectors.Message, bool) {
	c.inbox.mu.Lock()
	defer c.inbox.mu.Unlock()
	for _, ms := range c.inbox.convs {
		for _, m := range ms {
			if m.Thread.MessageID == msgID {
				return m, true
			}
		}
	}
	return connectors.Message{}, false
}

// logBuf collects a connector's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rig is a Dovecot, a Redis and a recording inbox shared by the connectors
// (replicas) a test runs.
type rig struct {
	t      *testing.T
	srv    *imaptest.Server
	rdb    redis.UniversalClient
	prefix string
	in     *counting
	blobs  *blob.Store // nil: the connectors run without a blob store
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv := imaptest.Start(t, imaptest.User{Name: imapUser, Password: imapPass})
	rdb, prefix := redistest.Client(t)
	return &rig{t: t, srv: srv, rdb: rdb, prefix: prefix, in: newCounting()}
}

// box is a mailbox fetched from the rig's Dovecot over plain IMAP.
func (r *rig) box(edit ...func(*Mailbox)) Mailbox {
	b := Mailbox{ID: "support", Address: "support@example.com", PlusAddress: true, MaxMessageBytes: 1 << 20,
		IMAP: &IMAP{Addr: r.srv.Addr(), InsecurePlain: true, User: imapUser, Password: imapPass}}
	for _, e := range edit {
		e(&b)
	}
	return b
}

// replica is one running connector.
type replica struct {
	c      *Connector
	log    *logBuf
	events chan string
	stop   func()
}

// run starts a connector (a replica) with one mailbox.
func (r *rig) run(box Mailbox, tune func(*imapTuning), reg prometheus.Registerer) *replica {
	t := r.t
	t.Helper()
	rp := &replica{log: &logBuf{}, events: make(chan string, 1000)}
	cn, err := New(connectors.Env{In: r.in, Redis: r.rdb, Prefix: r.prefix, Metrics: reg, Blobs: r.blobs,
		Log: slog.New(slog.NewTextHandler(rp.log, &slog.HandlerOptions{Level: slog.LevelDebug}))},
		func(v any) error { *(v.(*[]Mailbox)) = []Mailbox{box}; return nil })
	if err != nil {
		t.Fatal(err)
	}
	rp.c = cn.(*Connector)
	rp.c.tune.event = func(_, what string) {
		select {
		case rp.events <- what:
		default:
		}
	}
	if tune != nil {
		tune(&rp.c.tune)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rp.c.Run(ctx) }()
	var once sync.Once
	rp.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(rp.stop)
	return rp
}

// await waits for the replica's next event what.
func (rp *replica) await(t *testing.T, what string, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e := <-rp.events:
			if e == what {
				return
			}
		case <-timeout:
			t.Fatalf("no %q event within %s; log:\n%s", what, d, rp.log)
		}
	}
}

// drain forgets the events so far.
func (rp *replica) drain() {
	for {
		select {
		case <-rp.events:
		default:
			return
		}
	}
}

// eventually waits for cond, checking every 20 ms.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client logs in to the rig's Dovecot, as a mail client would.
func (r *rig) client() *imapclient.Client {
	r.t.Helper()
	cl, err := imapclient.DialInsecure(r.srv.Addr(), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { cl.Close() })
	if err := cl.Login(imapUser, imapPass).Wait(); err != nil {
		r.t.Fatal(err)
	}
	return cl
}

// flags returns the flags of every mail in folder by UID.
func (r *rig) flags(folder string) map[imap.UID][]imap.Flag {
	r.t.Helper()
	cl := r.client()
	defer cl.Logout()
	sel, err := cl.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[imap.UID][]imap.Flag{}
	if sel.NumMessages == 0 {
		return out
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	msgs, err := cl.Fetch(all, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, m := range msgs {
		out[m.UID] = m.Flags
	}
	return out
}

func allSeen(fl map[imap.UID][]imap.Flag) bool {
	for _, f := range fl {
		if !slices.Contains(f, imap.FlagSeen) {
			return false
		}
	}
	return true
}

func (r *rig) deliver(raw string) { r.t.Helper(); r.srv.Deliver(r.t, imapUser, []byte(raw)) }

func (r *rig) state() map[string]string {
	h, err := r.rdb.HGetAll(context.Background(), r.prefix+"{em:support}:imap:state").Result()
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

// waitUID waits for the watermark to reach uid (it is written just after
// the mail is marked \Seen, so after the mail is stored) and returns the
// state then, or as it is after 5 s.
func (r *rig) waitUID(uid string) map[string]string {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := r.state()
		if s["uid"] == uid || time.Now().After(deadline) {
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

func plain(msgID, from, subject string) string {
	return mailText(from, "support@example.com", "", subject, msgID, "", "", "hello from "+from)
}

// Mail in the INBOX is fetched once, decoded, stored and marked \Seen;
// mail without Return-Path is no bounce; a poller started again fetches
// nothing twice; IDLE brings new mail at once.
func TestIMAPFetchOnce(t *testing.T) {
	r := newRig(t)
	gbk, err := os.ReadFile("mailparse/testdata/gbk-plain.eml")
	if err != nil {
		t.Fatal(err)
	}
	r.deliver(string(gbk))
	r.deliver(plain("m1@example.cn", "li@example.cn", "no return path")) // an envelope we do not know: no bounce
	nullRP := "Return-Path: <>\r\n" + plain("m2@example.cn", "zhao@example.cn", "null return path")
	r.deliver(nullRP) // "Return-Path: <>" is a null reverse path: not filed
	reg := prometheus.NewRegistry()
	rp := r.run(r.box(), nil, reg)
	rp.await(t, "idle", 10*time.Second)

	st := r.in.stored()
	if len(st) != 2 || st["20231114221320.4F2A9C@example.cn"] != 1 || st["m1@example.cn"] != 1 {
		t.Fatalf("stored %v, want the GBK mail and m1 once each; log:\n%s", st, rp.log)
	}
	m, _ := r.in.message("20231114221320.4F2A9C@example.cn")
	if m.From.Value != "wangrong@example.cn" || m.From.Name != "王镕" || !strings.Contains(m.Text, "订单 A1001 至今未发货") ||
		m.Fields["subject"] != "咨询：订单A1001至今未发货，请尽快处理（联系人王镕）" || m.Account != "support" {
		t.Errorf("GBK mail became %+v", m)
	}
	if fl := r.flags("INBOX"); len(fl) != 3 || !allSeen(fl) {
		t.Errorf("flags %v, want 3 mails \\Seen", fl)
	}
	if s := r.state(); s["uid"] != "3" || s["folder"] != "INBOX" || s["uidvalidity"] != strconv.FormatUint(uint64(r.srv.UIDValidity(t, imapUser)), 10) {
		t.Errorf("state %v", s)
	}
	if got := counterValue(rp.c.m.imapFetched.WithLabelValues("support")); got != 3 {
		t.Errorf("fetched metric %v, want 3", got)
	}

	// Delivered while the poller idles: here at once, not after a poll.
	start := time.Now()
	r.deliver(plain("m3@example.cn", "li@example.cn", "while idle"))
	eventually(t, 5*time.Second, "mail delivered during IDLE", func() bool { return r.in.stored()["m3@example.cn"] == 1 })
	t.Logf("IDLE delivery took %s", time.Since(start))
	// Stored comes before marked and the watermark: stop only after both.
	if s := r.waitUID("4"); s["uid"] != "4" {
		t.Fatalf("watermark %v, want uid 4", s)
	}

	// Started again, the poller takes up where it stopped.
	rp.stop()
	calls := r.in.totalCalls()
	rp2 := r.run(r.box(), nil, reg)
	rp2.await(t, "idle", 10*time.Second)
	if got := r.in.totalCalls(); got != calls {
		t.Errorf("%d ingest calls after a restart, want none", got-calls)
	}
	r.deliver(plain("m4@example.cn", "li@example.cn", "after restart"))
	eventually(t, 5*time.Second, "mail after the restart", func() bool { return r.in.stored()["m4@example.cn"] == 1 })
	if strings.Contains(rp.log.String()+rp2.log.String(), imapPass) {
		t.Error("the password was logged")
	}
}

// Without IDLE the folder is polled every imap.poll.
func TestIMAPPolling(t *testing.T) {
	r := newRig(t)
	rp := r.run(r.box(func(b *Mailbox) { b.IMAP.Poll = time.Second }), func(tu *imapTuning) { tu.noIdle = true }, nil)
	rp.await(t, "wait", 10*time.Second)
	r.deliver(plain("p1@example.cn", "li@example.cn", "polled"))
	eventually(t, 4*time.Second, "polled mail", func() bool { return r.in.stored()["p1@example.cn"] == 1 })
	select {
	case e := <-rp.events:
		if e == "idle" {
			t.Error("idled with noIdle")
		}
	default:
	}
}

// Dovecot restarted while the poller idles, and again while a mail is
// being stored (after the fetch, before \Seen and the watermark): the poller
// reconnects, nothing is lost, nothing stored twice.
func TestIMAPServerRestart(t *testing.T) {
	r := newRig(t)
	cut, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	r.in.before = func(m *connectors.Message) {
		if m.Thread.MessageID == "cut@example.cn" {
			once.Do(func() { cut <- struct{}{}; <-resume })
		}
	}
	rp := r.run(r.box(), nil, nil)
	rp.await(t, "idle", 10*time.Second)
	r.deliver(plain("a@example.cn", "li@example.cn", "before"))
	eventually(t, 5*time.Second, "first mail", func() bool { return r.in.stored()["a@example.cn"] == 1 })

	r.srv.Restart() // while idle
	r.deliver(plain("b@example.cn", "li@example.cn", "after a restart"))
	eventually(t, 10*time.Second, "mail after the restart", func() bool { return r.in.stored()["b@example.cn"] == 1 })

	r.deliver(plain("cut@example.cn", "li@example.cn", "cut mid-fetch"))
	select {
	case <-cut:
	case <-time.After(10 * time.Second):
		t.Fatalf("the mail was not fetched; log:\n%s", rp.log)
	}
	r.srv.Restart() // the connection dies with the mail fetched, not yet marked
	close(resume)
	eventually(t, 10*time.Second, "the cut mail fetched again, \\Seen", func() bool {
		return r.in.callsOf("cut@example.cn") == 2 && allSeen(r.flags("INBOX"))
	})
	r.deliver(plain("c@example.cn", "li@example.cn", "after the cut"))
	eventually(t, 10*time.Second, "mail after the cut", func() bool { return r.in.stored()["c@example.cn"] == 1 })
	want := map[string]int{"a@example.cn": 1, "b@example.cn": 1, "cut@example.cn": 1, "c@example.cn": 1}
	if st := r.in.stored(); fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("stored %v, want %v", st, want)
	}
	if s := r.waitUID("4"); s["uid"] != "4" {
		t.Errorf("watermark %v, want uid 4", s)
	}
}

// A new UIDVALIDITY starts the folder over: what is still unseen is fetched
// again and deduplicated, new mail still comes.
func TestIMAPUIDValidity(t *testing.T) {
	r := newRig(t)
	rp := r.run(r.box(), nil, nil)
	rp.await(t, "idle", 10*time.Second)
	r.deliver(plain("u1@example.cn", "li@example.cn", "one"))
	r.deliver(plain("u2@example.cn", "li@example.cn", "two"))
	eventually(t, 5*time.Second, "two mails", func() bool { return len(r.in.stored()) == 2 && allSeen(r.flags("INBOX")) })
	// As if the \Seen of u2 had not been stored before the renumbering.
	cl := r.client()
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	rp.drain()
	uv := r.srv.ResetUIDValidity(t, imapUser)
	rp.await(t, "idle", 10*time.Second) // reconnected and started over
	r.deliver(plain("u3@example.cn", "li@example.cn", "three"))
	eventually(t, 5*time.Second, "mail after the renumbering", func() bool { return r.in.stored()["u3@example.cn"] == 1 })

	want := map[string]int{"u1@example.cn": 1, "u2@example.cn": 1, "u3@example.cn": 1}
	if st := r.in.stored(); fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("stored %v, want %v", st, want)
	}
	if n := r.in.callsOf("u2@example.cn"); n != 2 {
		t.Errorf("the unseen mail was ingested %d times, want 2 (fetched again, deduplicated)", n)
	}
	if n := r.in.callsOf("u1@example.cn"); n != 1 {
		t.Errorf("the seen mail was ingested %d times, want 1", n)
	}
	if s := r.waitUID("3"); s["uidvalidity"] != strconv.FormatUint(uint64(uv), 10) || s["uid"] != "3" {
		t.Errorf("state %v, want uidvalidity %d uid 3", s, uv)
	}
	if !strings.Contains(rp.log.String(), "UIDVALIDITY changed") {
		t.Errorf("the renumbering was not logged:\n%s", rp.log)
	}
	if !allSeen(r.flags("INBOX")) {
		t.Error("mail left unseen")
	}
}

// With move_to the mail leaves the folder once stored (the folder is
// created when missing).
func TestIMAPMoveTo(t *testing.T) {
	r := newRig(t)
	r.deliver(plain("mv1@example.cn", "li@example.cn", "move me"))
	rp := r.run(r.box(func(b *Mailbox) { b.IMAP.MoveTo = "Processed" }), nil, nil)
	rp.await(t, "idle", 10*time.Second)
	r.deliver(plain("mv2@example.cn", "li@example.cn", "move me too"))
	eventually(t, 5*time.Second, "two mails stored", func() bool { return len(r.in.stored()) == 2 })
	eventually(t, 5*time.Second, "INBOX emptied", func() bool { return len(r.flags("INBOX")) == 0 })
	if got := r.flags("Processed"); len(got) != 2 {
		t.Errorf("%d mails in move_to, want 2", len(got))
	}
}

// Mail over max_message_bytes is quarantined with its header only, marked
// done, and the mailbox goes on.
func TestIMAPOversized(t *testing.T) {
	r := newRig(t)
	r.deliver(mailText("li@example.cn", "support@example.com", "", "big", "big@example.cn", "", "",
		strings.Repeat(strings.Repeat("x", 70)+"\r\n", 100)))
	r.deliver(plain("small@example.cn", "li@example.cn", "small"))
	rp := r.run(r.box(func(b *Mailbox) { b.MaxMessageBytes = 4096 }), nil, nil)
	rp.await(t, "idle", 10*time.Second)
	if st := r.in.stored(); len(st) != 1 || st["small@example.cn"] != 1 {
		t.Errorf("stored %v, want only the small mail", st)
	}
	q, err := r.rdb.XRange(context.Background(), r.prefix+"{em:support}:quarantine", "-", "+").Result()
	if err != nil || len(q) != 1 || !strings.Contains(fmt.Sprint(q[0].Values["reason"]), "over max_message_bytes (4096)") {
		t.Errorf("quarantine %v %v", q, err)
	}
	if fl := r.flags("INBOX"); len(fl) != 2 || !allSeen(fl) {
		t.Errorf("flags %v", fl)
	}
}

// A mail that take keeps refusing with an error that is not transient is
// quarantined at the imapMaxAttempts-th attempt with that error as its
// reason (and its GBK subject decoded), marked \Seen, passed by the
// watermark, and the mail behind it comes in: at the first start
// (startOver), and while idling (catchUp) for a mail that makes take
// panic.
func TestIMAPPoisonMail(t *testing.T) {
	r := newRig(t)
	store, err := blob.Open(t.TempDir(), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.blobs = store
	refused := errors.New("router: invalid request: account or external id has reserved characters")
	r.in.fail = func(m *connectors.Message) error {
		switch {
		case strings.HasPrefix(m.Thread.MessageID, "poison-panic"):
			panic("a bug that this mail trips")
		case strings.HasPrefix(m.Thread.MessageID, "poison"):
			return fmt.Errorf("router: ingest: %w", refused)
		}
		return nil
	}
	subject := "咨询：订单A1001至今未发货"
	r.deliver(mailText("li@example.cn", "support@example.com", "", gbkWord(t, subject), "poison1@example.cn", "", "", "first"))
	r.deliver(plain("ok1@example.cn", "li@example.cn", "behind the poison"))
	rp := r.run(r.box(), func(tu *imapTuning) {
		tu.backoffMin, tu.backoffMax, tu.failSpan = 20*time.Millisecond, 80*time.Millisecond, 0
	}, nil)
	rp.await(t, "idle", 20*time.Second)

	ctx := context.Background()
	check := func(when string, wantStored []string, wantQuarantined int, wantReason, wantUID string) {
		t.Helper()
		// The watermark moves last: after it, the rest is done.
		if s := r.waitUID(wantUID); s["uid"] != wantUID {
			t.Errorf("%s: watermark %v, want uid %s", when, s, wantUID)
		}
		st := r.in.stored()
		for _, id := range wantStored {
			if st[id] != 1 {
				t.Errorf("%s: %s stored %d times, want once (stored: %v)", when, id, st[id], st)
			}
		}
		for id := range st {
			if strings.HasPrefix(id, "poison") {
				t.Errorf("%s: the poison mail %s was stored", when, id)
			}
		}
		q, _, err := rp.c.Quarantined(ctx, "", 10)
		if err != nil || len(q) != wantQuarantined {
			t.Fatalf("%s: quarantine %+v %v, want %d entries; log:\n%s", when, q, err, wantQuarantined, rp.log)
		}
		e := q[0] // the newest
		if !strings.Contains(e.Reason, fmt.Sprintf("not stored after %d attempts", imapMaxAttempts)) ||
			!strings.Contains(e.Reason, wantReason) || e.Source != "imap" || e.Subject != subject ||
			e.FromAddress != "li@example.cn" || !e.HasRaw || e.Kept != e.Size || e.Account != "support" {
			t.Errorf("%s: quarantine entry %+v", when, e)
		}
		if fl := r.flags("INBOX"); !allSeen(fl) {
			t.Errorf("%s: flags %v, want all \\Seen", when, fl)
		}
		if n, err := r.rdb.Exists(ctx, r.prefix+"{em:support}:imap:failures").Result(); err != nil || n != 0 {
			t.Errorf("%s: failure counts left behind (%d, %v)", when, n, err)
		}
	}
	check("first start", []string{"ok1@example.cn"}, 1, "reserved characters", "2")
	if n := r.in.callsOf("poison1@example.cn"); n != imapMaxAttempts {
		t.Errorf("the poison mail was tried %d times, want %d", n, imapMaxAttempts)
	}
	if !strings.Contains(rp.log.String(), "attempt=4 of=5") {
		t.Errorf("the attempts are not logged:\n%s", rp.log)
	}

	// While idling: the same through catchUp.
	r.deliver(mailText("li@example.cn", "support@example.com", "", gbkWord(t, subject), "poison-panic@example.cn", "", "", "again"))
	r.deliver(plain("ok2@example.cn", "li@example.cn", "behind the second poison"))
	eventually(t, 20*time.Second, "the mail behind the second poison mail", func() bool { return r.in.stored()["ok2@example.cn"] == 1 })
	check("while idling", []string{"ok1@example.cn", "ok2@example.cn"}, 2, "panic while taking the mail: a bug that this mail trips", "4")
	if n := r.in.callsOf("poison-panic@example.cn"); n != imapMaxAttempts {
		t.Errorf("the second poison mail was tried %d times, want %d", n, imapMaxAttempts)
	}
	raw, q, err := rp.c.QuarantinedRaw(ctx, "support", mustNewest(t, rp.c).ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(raw)
	raw.Close()
	if !strings.Contains(string(b), "Message-ID: <poison-panic@example.cn>") || int64(len(b)) != q.Kept {
		t.Errorf("kept mail (%d bytes, entry says %d): %.300q", len(b), q.Kept, b)
	}
}

// mustNewest returns the newest quarantine entry.
func mustNewest(t *testing.T, c *Connector) connectors.Quarantined {
	t.Helper()
	q, _, err := c.Quarantined(context.Background(), "", 1)
	if err != nil || len(q) != 1 {
		t.Fatalf("quarantine: %+v %v", q, err)
	}
	return q[0]
}

// Redis going away while a mail is taken, and coming back before the
// failure would be counted, quarantines nothing even with one attempt
// allowed: the take step's connection error is transient. The mail is
// taken once Redis answers again.
func TestIMAPRedisOutage(t *testing.T) {
	srv := imaptest.Start(t, imaptest.User{Name: imapUser, Password: imapPass})
	rs := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	opts, err := redis.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	r := &rig{t: t, srv: srv, rdb: rdb, prefix: redistest.Prefix(t), in: newCounting()}
	down, back := make(chan error, 1), make(chan struct{})
	var once sync.Once
	r.in.fail = func(m *connectors.Message) error {
		var err error
		if m.Thread.MessageID == "outage@example.cn" {
			once.Do(func() {
				rs.Stop() // Redis dies under the take step
				err = rdb.Ping(context.Background()).Err()
				down <- err
				<-back // and is back before the failure is handled
			})
		}
		if err != nil {
			return fmt.Errorf("router: ingest identity: %w", err)
		}
		return nil
	}
	rp := r.run(r.box(), func(tu *imapTuning) {
		tu.backoffMin, tu.backoffMax, tu.maxAttempts, tu.failSpan = 20*time.Millisecond, 80*time.Millisecond, 1, 0
	}, nil)
	rp.await(t, "idle", 10*time.Second)
	r.deliver(plain("outage@example.cn", "li@example.cn", "during an outage"))
	select {
	case err := <-down:
		if err == nil {
			t.Fatal("Redis answered after it was stopped")
		}
		t.Logf("the take step failed with %v", err)
	case <-time.After(10 * time.Second):
		t.Fatalf("the mail was not fetched; log:\n%s", rp.log)
	}
	rs.Restart()
	close(back)
	eventually(t, 20*time.Second, "the mail stored once Redis is back", func() bool { return r.in.stored()["outage@example.cn"] == 1 })
	if s := r.waitUID("1"); s["uid"] != "1" {
		t.Errorf("watermark %v, want uid 1", s)
	}
	ctx := context.Background()
	if n, err := rdb.XLen(ctx, r.prefix+"{em:support}:quarantine").Result(); err != nil || n != 0 {
		t.Errorf("%d mails quarantined (%v), want none; log:\n%s", n, err, rp.log)
	}
	if n, err := rdb.Exists(ctx, r.prefix+"{em:support}:imap:failures").Result(); err != nil || n != 0 {
		t.Errorf("the outage was counted as a failure of the mail (%d, %v)", n, err)
	}
	if n := r.in.callsOf("outage@example.cn"); n != 2 {
		t.Errorf("%d ingest calls, want 2 (the failed one, then the one that stored it)", n)
	}
	if !allSeen(r.flags("INBOX")) {
		t.Error("the mail was not marked \\Seen")
	}
}

// Replicas share the mailbox through the lease: each mail is stored once,
// and another replica takes over when the holder stops or loses the lease.
func TestIMAPReplicas(t *testing.T) {
	r := newRig(t)
	tune := func(tu *imapTuning) { tu.lease = 1500 * time.Millisecond }
	a, b := r.run(r.box(), tune, nil), r.run(r.box(), tune, nil)
	holder, other := a, b
	select {
	case <-a.events:
	case <-b.events:
		holder, other = b, a
	case <-time.After(5 * time.Second):
		t.Fatal("no replica took the lease")
	}
	holder.await(t, "idle", 10*time.Second)
	for i := range 3 {
		r.deliver(plain(fmt.Sprintf("r%d@example.cn", i), "li@example.cn", "to the replicas"))
	}
	eventually(t, 5*time.Second, "three mails", func() bool { return len(r.in.stored()) == 3 })
	if n := r.in.totalCalls(); n != 3 {
		t.Errorf("%d ingest calls for 3 mails: both replicas fetched", n)
	}

	// The holder stops: it releases the lease, the other takes over.
	other.drain()
	holder.stop()
	other.await(t, "idle", 5*time.Second)
	r.deliver(plain("r3@example.cn", "li@example.cn", "after the takeover"))
	eventually(t, 5*time.Second, "mail after the takeover", func() bool { return r.in.stored()["r3@example.cn"] == 1 })

	// The lease vanishes under the holder (as if it had expired): a third
	// replica may take it, the old holder stops when its renewal fails.
	r.run(r.box(), tune, nil) // a third replica
	if err := r.rdb.Del(context.Background(), r.prefix+"{em:support}:imap:lease").Err(); err != nil {
		t.Fatal(err)
	}
	for i := 4; i < 8; i++ {
		r.deliver(plain(fmt.Sprintf("r%d@example.cn", i), "li@example.cn", "during the change"))
	}
	eventually(t, 10*time.Second, "eight mails", func() bool { return len(r.in.stored()) == 8 })
	for id, n := range r.in.stored() {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
	eventually(t, 5*time.Second, "the old holder noticing", func() bool { return strings.Contains(other.log.String(), "IMAP lease lost") })
	t.Logf("%d ingest calls for 8 mails", r.in.totalCalls())
	if s := r.waitUID("8"); s["uid"] != "8" {
		t.Errorf("watermark %v, want uid 8", s)
	}
}

// A wrong password: logged (never the password), retried with growing
// delays, the connector keeps running.
func TestIMAPBadPassword(t *testing.T) {
	r := newRig(t)
	reg := prometheus.NewRegistry()
	rp := r.run(r.box(func(b *Mailbox) { b.IMAP.Password = "wrong-" + imapPass }),
		func(tu *imapTuning) { tu.backoffMin, tu.backoffMax = 100*time.Millisecond, 400*time.Millisecond }, reg)
	delays := regexp.MustCompile(`connecting again.* in=(\S+)`)
	eventually(t, 15*time.Second, "four failed logins", func() bool {
		return len(delays.FindAllString(rp.log.String(), -1)) >= 4
	})
	var got []string
	for _, m := range delays.FindAllStringSubmatch(rp.log.String(), 4) {
		got = append(got, m[1])
	}
	if fmt.Sprint(got) != "[100ms 200ms 400ms 400ms]" {
		t.Errorf("delays %v, want doubling from 100ms up to 400ms", got)
	}
	log := rp.log.String()
	if !strings.Contains(log, "IMAP login as "+imapUser) || !strings.Contains(strings.ToLower(log), "authentication failed") {
		t.Errorf("the login failure is not logged clearly:\n%s", log)
	}
	if strings.Contains(log, imapPass) {
		t.Errorf("the password was logged:\n%s", log)
	}
	if n := counterValue(rp.c.m.imapErrors.WithLabelValues("support")); n < 4 {
		t.Errorf("errors metric %v, want at least 4", n)
	}
	rp.stop() // returns nil: checked by stop
}

// Implicit TLS and STARTTLS, against go-imap's in-memory server with a
// certificate of the test's own.
func TestIMAPTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	for _, mode := range []string{"tls", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			mem := imapmemserver.New()
			user := imapmemserver.NewUser(imapUser, imapPass)
			if err := user.Create("INBOX", nil); err != nil {
				t.Fatal(err)
			}
			mem.AddUser(user)
			cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
			opts := &imapserver.Options{
				NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
					return mem.NewSession(), nil, nil
				},
				Caps:   imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
				Logger: slog.NewLogLogger(slog.NewTextHandler(io.Discard, nil), slog.LevelError),
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if mode == "tls" {
				ln = tls.NewListener(ln, cfg)
			} else {
				opts.TLSConfig = cfg
			}
			srv := imapserver.New(opts)
			go func() { _ = srv.Serve(ln) }()
			t.Cleanup(func() { _ = srv.Close() })
			raw := plain("tls-"+mode+"@example.cn", "li@example.cn", "over "+mode)
			if _, err := user.Append("INBOX", bytes.NewReader([]byte(raw)), &imap.AppendOptions{Time: time.Now()}); err != nil {
				t.Fatal(err)
			}
			rdb, prefix := redistest.Client(t)
			r := &rig{t: t, rdb: rdb, prefix: prefix, in: newCounting()}
			box := Mailbox{ID: "support", Address: "support@example.com", MaxMessageBytes: 1 << 20,
				IMAP: &IMAP{Addr: ln.Addr().String(), StartTLS: mode == "starttls", User: imapUser, Password: imapPass}}
			rp := r.run(box, func(tu *imapTuning) { tu.tls = &tls.Config{RootCAs: pool} }, nil)
			eventually(t, 10*time.Second, "mail over "+mode, func() bool { return r.in.stored()["tls-"+mode+"@example.cn"] == 1 })
			if strings.Contains(rp.log.String(), "failed") {
				t.Errorf("log:\n%s", rp.log)
			}
		})
	}
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imap test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// How take treats the envelope: an explicit null reverse path (SMTP <>, or
// Return-Path: <> on fetched mail) makes human mail a bounce; fetched mail
// without one is taken as it is; the per-sender limit defers SMTP mail and
// quarantines fetched mail; a fetched mail's +tag comes from Delivered-To.
func TestTakeEnvelope(t *testing.T) {
	in := newCounting()
	rdb, prefix := redistest.Client(t)
	cn, err := New(connectors.Env{In: in, Redis: rdb, Prefix: prefix, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		func(v any) error {
			*(v.(*[]Mailbox)) = []Mailbox{{ID: "support", Address: "support@example.com", SMTPListen: "127.0.0.1:0",
				PlusAddress: true, PerSenderPerHour: 2}}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	c := cn.(*Connector)
	box := c.boxes[0]
	ctx := context.Background()
	cases := []struct {
		name   string
		raw    string
		env    envelope
		stored bool
	}{
		{"SMTP, null sender", plain("e1@x", "a@example.cn", "hi"), smtpEnvelope(""), false},
		{"SMTP, a sender", plain("e2@x", "a@example.cn", "hi"), smtpEnvelope("a@example.cn"), true},
		{"fetched, no Return-Path", plain("e3@x", "b@example.cn", "hi"), fetched, true},
		{"fetched, Return-Path <>", "Return-Path: <>\r\n" + plain("e4@x", "c@example.cn", "hi"), fetched, false},
		{"fetched, Return-Path of the sender", "Return-Path: <c@example.cn>\r\n" + plain("e5@x", "c@example.cn", "hi"), fetched, true},
	}
	for _, tc := range cases {
		if err := c.take(ctx, box, []byte(tc.raw), tc.env, ""); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		id := tc.raw[strings.Index(tc.raw, "Message-ID: <")+13:]
		id = id[:strings.Index(id, ">")]
		if got := in.stored()[id] == 1; got != tc.stored {
			t.Errorf("%s: stored %v, want %v", tc.name, got, tc.stored)
		}
	}

	// Over the limit (2 new conversations an hour): SMTP mail deferred,
	// fetched mail quarantined.
	for i := range 2 {
		if err := c.take(ctx, box, []byte(plain(fmt.Sprintf("f%d@x", i), "flood@example.org", fmt.Sprint("s", i))), fetched, ""); err != nil {
			t.Fatal(err)
		}
	}
	if got := code(c.take(ctx, box, []byte(plain("f2@x", "flood@example.org", "s2")), smtpEnvelope("flood@example.org"), "")); got != 450 {
		t.Errorf("SMTP over the limit: %d, want 450", got)
	}
	if err := c.take(ctx, box, []byte(plain("f3@x", "flood@example.org", "s3")), fetched, ""); err != nil {
		t.Errorf("fetched over the limit: %v, want quarantined", err)
	}
	q, err := rdb.XRange(ctx, prefix+"{em:support}:quarantine", "-", "+").Result()
	if err != nil || len(q) != 1 || !strings.Contains(fmt.Sprint(q[0].Values["reason"]), "per_sender_per_hour") {
		t.Errorf("quarantine %v %v", q, err)
	}

	// A fetched reply to support+TICKET@ joins the ticket's thread.
	in.inbox.mu.Lock()
	ticket, conv := "", ""
	for n, cv := range in.inbox.tickets {
		for _, m := range in.inbox.convs[cv] {
			if m.Thread.MessageID == "e3@x" {
				ticket, conv = n, cv
			}
		}
	}
	in.inbox.mu.Unlock()
	reply := "Delivered-To: support+" + ticket + "@example.com\r\n" + plain("e6@x", "b@example.cn", "no thread headers")
	if err := c.take(ctx, box, []byte(reply), fetched, ""); err != nil {
		t.Fatal(err)
	}
	if m, ok := in.message("e6@x"); !ok || m.Thread.Conversation != conv || conv == "" {
		t.Errorf("the +tag reply landed in %q, want %q (ticket %s)", m.Thread.Conversation, conv, ticket)
	}
}

// The imap section's validation, with key paths.
func TestIMAPConfig(t *testing.T) {
	no := false
	yes := true
	cases := []struct {
		name string
		box  func(*Mailbox)
		want string // "" valid; else a substring of the error
	}{
		{"imap only", nil, ""},
		{"imap and smtp_listen", func(b *Mailbox) { b.SMTPListen = ":2525" }, ""},
		{"neither", func(b *Mailbox) { b.IMAP = nil }, "[0].smtp_listen: or imap is required"},
		{"bad addr", func(b *Mailbox) { b.IMAP.Addr = "imap.example.com" }, "[0].imap.addr: "},
		{"starttls", func(b *Mailbox) { b.IMAP.StartTLS = true }, ""},
		{"starttls with tls false", func(b *Mailbox) { b.IMAP.StartTLS, b.IMAP.TLS = true, &no }, ""},
		{"starttls with tls true", func(b *Mailbox) { b.IMAP.StartTLS, b.IMAP.TLS = true, &yes }, "[0].imap.tls: true (implicit TLS) excludes"},
		{"tls false alone", func(b *Mailbox) { b.IMAP.TLS = &no }, "[0].imap.tls: false needs starttls"},
		{"starttls and plain", func(b *Mailbox) { b.IMAP.StartTLS, b.IMAP.InsecurePlain = true, true }, "[0].imap.starttls: and insecure_plain"},
		{"plain on a remote host", func(b *Mailbox) { b.IMAP.InsecurePlain = true }, "[0].imap.insecure_plain: is only allowed for a loopback host"},
		{"plain on a private address", func(b *Mailbox) { b.IMAP.InsecurePlain, b.IMAP.Addr = true, "10.0.0.5:143" }, "[0].imap.insecure_plain"},
		{"plain on 127.0.0.1", func(b *Mailbox) { b.IMAP.InsecurePlain, b.IMAP.Addr = true, "127.0.0.1:143" }, ""},
		{"plain on ::1", func(b *Mailbox) { b.IMAP.InsecurePlain, b.IMAP.Addr = true, "[::1]:143" }, ""},
		{"plain on localhost", func(b *Mailbox) { b.IMAP.InsecurePlain, b.IMAP.Addr = true, "localhost:143" }, ""},
		{"no user", func(b *Mailbox) { b.IMAP.User = "" }, "[0].imap.user: is required"},
		{"no password", func(b *Mailbox) { b.IMAP.Password = "" }, "[0].imap.password: is required"},
		{"move_to is the folder", func(b *Mailbox) { b.IMAP.MoveTo = "inbox" }, "[0].imap.move_to"},
		{"move_to another folder", func(b *Mailbox) { b.IMAP.MoveTo = "Done" }, ""},
		{"poll too short", func(b *Mailbox) { b.IMAP.Poll = 500 * time.Millisecond }, "[0].imap.poll: must be at least 1s"},
	}
	for _, tc := range cases {
		box := Mailbox{ID: "support", Address: "support@example.com",
			IMAP: &IMAP{Addr: "imap.example.com:993", User: "support@example.com", Password: "secret"}}
		if tc.box != nil {
			tc.box(&box)
		}
		cn, err := New(connectors.Env{}, func(v any) error { *(v.(*[]Mailbox)) = []Mailbox{box}; return nil })
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		case tc.want == "" && tc.name == "imap only":
			im := cn.(*Connector).boxes[0].IMAP
			if im.Folder != "INBOX" || im.Poll != time.Minute || im.security != "tls" {
				t.Errorf("defaults: folder %q poll %s security %q", im.Folder, im.Poll, im.security)
			}
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the password is in the error: %v", tc.name, err)
		}
	}
}

// A mail that has failed maxAttempts times but for less than failSpan is
// not quarantined yet: it keeps being tried (a failure elsewhere that
// looks like the mail's fault must not cost it its place in the inbox).
func TestIMAPFailSpan(t *testing.T) {
	r := newRig(t)
	store, err := blob.Open(t.TempDir(), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.blobs = store
	r.in.fail = func(m *connectors.Message) error {
		if strings.HasPrefix(m.Thread.MessageID, "poison") {
			return errors.New("router: ingest: conversation kept closing under us")
		}
		return nil
	}
	r.deliver(mailText("li@example.cn", "support@example.com", "", "订单", "poison-span@example.cn", "", "", "x"))
	rp := r.run(r.box(), func(tu *imapTuning) {
		tu.backoffMin, tu.backoffMax, tu.maxAttempts, tu.failSpan = 10*time.Millisecond, 20*time.Millisecond, 2, time.Hour
	}, nil)
	eventually(t, 20*time.Second, "the mail tried four times", func() bool { return r.in.callsOf("poison-span@example.cn") >= 4 })
	if q, _, err := rp.c.Quarantined(context.Background(), "", 10); err != nil || len(q) != 0 {
		t.Errorf("quarantine %+v %v, want nothing before failSpan", q, err)
	}
	if fl := r.flags("INBOX"); allSeen(fl) {
		t.Errorf("flags %v: the failing mail was marked done", fl)
	}
}
