package imaptest_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/internal/imaptest"
)

// conn is just enough of an IMAP client to check the server: commands
// whose answers have no literals.
type conn struct {
	t   *testing.T
	c   net.Conn
	r   *bufio.Reader
	tag int
}

func dial(t *testing.T, addr string) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	ic := &conn{t: t, c: c, r: bufio.NewReader(c)}
	for {
		line := ic.line()
		if !strings.HasPrefix(line, "* OK") {
			t.Fatalf("greeting: %q", line)
		}
		if !strings.Contains(line, "Waiting for authentication") {
			return ic
		}
	}
}

func (c *conn) line() string {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (after %q)", err, line)
	}
	return strings.TrimRight(line, "\r\n")
}

// do sends one command and returns its untagged lines and the tagged
// status ("OK ...", "NO ...", "BAD ...").
func (c *conn) do(format string, args ...any) (untagged []string, status string) {
	c.t.Helper()
	c.tag++
	tag := "a" + strconv.Itoa(c.tag)
	if _, err := fmt.Fprintf(c.c, tag+" "+format+"\r\n", args...); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	for {
		line := c.line()
		if rest, ok := strings.CutPrefix(line, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, line)
	}
}

func (c *conn) ok(format string, args ...any) []string {
	c.t.Helper()
	untagged, status := c.do(format, args...)
	if !strings.HasPrefix(status, "OK") {
		c.t.Fatalf("%s: %s (untagged: %q)", strings.Fields(format)[0], status, untagged)
	}
	return untagged
}

func (c *conn) login(u imaptest.User) {
	c.t.Helper()
	c.ok("LOGIN %s %s", strconv.Quote(u.Name), strconv.Quote(u.Password))
}

// selectInbox returns the EXISTS count and UIDVALIDITY that SELECT reports.
func (c *conn) selectInbox() (exists int, uidvalidity uint32) {
	c.t.Helper()
	exists, uidvalidity = -1, 0
	for _, l := range c.ok("SELECT INBOX") {
		if n, ok := strings.CutSuffix(l, " EXISTS"); ok {
			exists = atoi(c.t, strings.TrimPrefix(n, "* "))
		}
		if v, ok := strings.CutPrefix(l, "* OK [UIDVALIDITY "); ok {
			uidvalidity = uint32(atoi(c.t, v[:strings.IndexByte(v, ']')]))
		}
	}
	if exists < 0 || uidvalidity == 0 {
		c.t.Fatalf("SELECT without EXISTS or UIDVALIDITY")
	}
	return exists, uidvalidity
}

func (c *conn) statusUIDValidity() uint32 {
	c.t.Helper()
	for _, l := range c.ok("STATUS INBOX (UIDVALIDITY)") {
		if v, ok := strings.CutPrefix(l, "* STATUS INBOX (UIDVALIDITY "); ok {
			return uint32(atoi(c.t, strings.TrimSuffix(v, ")")))
		}
	}
	c.t.Fatalf("STATUS without UIDVALIDITY")
	return 0
}

func (c *conn) uids() []int {
	c.t.Helper()
	var uids []int
	for _, l := range c.ok("UID FETCH 1:* (UID)") {
		// * 2 FETCH (UID 2)
		if _, rest, ok := strings.Cut(l, " FETCH (UID "); ok {
			uids = append(uids, atoi(c.t, strings.TrimSuffix(rest, ")")))
		}
	}
	return uids
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

func mail(subject string) []byte {
	return []byte("From: customer@example.com\r\nTo: support@example.com\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@example.com>\r\n\r\nHello.\r\n")
}

func TestServer(t *testing.T) {
	alice := imaptest.User{Name: "alice@example.com", Password: "s3cret pass"}
	bob := imaptest.User{Name: "bob", Password: "pw"}
	s := imaptest.Start(t, alice, bob)

	c := dial(t, s.Addr())
	c.login(alice)
	exists, v1 := c.selectInbox()
	if exists != 0 {
		t.Fatalf("new INBOX has %d messages", exists)
	}
	if uids := c.uids(); len(uids) != 0 {
		t.Fatalf("new INBOX has UIDs %v", uids)
	}

	s.Deliver(t, alice.Name, mail("one"))
	s.Deliver(t, alice.Name, []byte("Subject: two\n\nLF line ends.\n"))
	sawExists := false
	for _, l := range c.ok("NOOP") {
		sawExists = sawExists || l == "* 2 EXISTS"
	}
	if !sawExists {
		t.Fatalf("NOOP after two deliveries did not report 2 EXISTS")
	}
	if uids := c.uids(); fmt.Sprint(uids) != "[1 2]" {
		t.Fatalf("UIDs after two deliveries: %v", uids)
	}
	if got := c.statusUIDValidity(); got != v1 {
		t.Fatalf("STATUS UIDVALIDITY %d, SELECT said %d", got, v1)
	}
	if got := s.UIDValidity(t, alice.Name); got != v1 {
		t.Fatalf("UIDValidity %d, IMAP says %d", got, v1)
	}

	// Mailboxes are per user.
	b := dial(t, s.Addr())
	b.login(bob)
	if exists, _ := b.selectInbox(); exists != 0 {
		t.Fatalf("bob's INBOX has %d messages", exists)
	}
	b.ok("LOGOUT")

	v2 := s.ResetUIDValidity(t, alice.Name)
	if v2 == v1 {
		t.Fatalf("ResetUIDValidity kept %d", v1)
	}
	c2 := dial(t, s.Addr())
	c2.login(alice)
	if got := c2.statusUIDValidity(); got != v2 {
		t.Fatalf("STATUS UIDVALIDITY after reset %d, want %d", got, v2)
	}
	if exists, got := c2.selectInbox(); exists != 2 || got != v2 {
		t.Fatalf("SELECT after reset: %d EXISTS, UIDVALIDITY %d; want 2, %d", exists, got, v2)
	}

	// Stop cuts the connections and refuses new ones; Restart brings the
	// same users and mail back on the same address.
	addr := s.Addr()
	s.Stop()
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatalf("%s still accepts connections after Stop", addr)
	}
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("Restart moved the server from %s to %s", addr, s.Addr())
	}
	c3 := dial(t, s.Addr())
	c3.login(alice)
	if exists, got := c3.selectInbox(); exists != 2 || got != v2 {
		t.Fatalf("SELECT after restart: %d EXISTS, UIDVALIDITY %d; want 2, %d", exists, got, v2)
	}
	if uids := c3.uids(); fmt.Sprint(uids) != "[1 2]" {
		t.Fatalf("UIDs after restart: %v", uids)
	}
	c3.ok("LOGOUT")
}

func TestWrongPassword(t *testing.T) {
	u := imaptest.User{Name: "carol", Password: "right"}
	s := imaptest.Start(t, u)
	c := dial(t, s.Addr())
	start := time.Now()
	if _, status := c.do("LOGIN carol wrong"); !strings.HasPrefix(status, "NO") {
		t.Fatalf("LOGIN with a wrong password: %s", status)
	}
	if _, status := c.do("LOGIN nobody right"); !strings.HasPrefix(status, "NO") {
		t.Fatalf("LOGIN as an unknown user: %s", status)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("failed logins took %v; auth_failure_delay = 0 should make it about 1s", d)
	}
	c.login(u)
}

// The restarted server is reachable while a session from before is cut.
func TestStopCutsSessions(t *testing.T) {
	u := imaptest.User{Name: "dave", Password: "pw"}
	s := imaptest.Start(t, u)
	c := dial(t, s.Addr())
	c.login(u)
	c.selectInbox()
	s.Restart()
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, _ := bufio.NewReader(c.r).ReadString(0) // reads until the server closes
	if !strings.Contains(rest, "* BYE") {
		t.Errorf("old session ended without BYE: %q", rest)
	}
	if _, err := fmt.Fprintf(c.c, "a9 NOOP\r\n"); err == nil {
		if line, err := c.r.ReadString('\n'); err == nil {
			t.Fatalf("old session still answers after Restart: %q", line)
		}
	}
	c2 := dial(t, s.Addr())
	c2.login(u)
}

func TestSwaks(t *testing.T) {
	p := imaptest.Swaks(t)
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("swaks at %s: %v", p, err)
	}
	out, err := exec.Command(p, "--version").CombinedOutput()
	if err != nil || !strings.Contains(strings.ToLower(string(out)), "swaks") {
		t.Fatalf("swaks --version: %v: %s", err, out)
	}
}

// Long test names make t.TempDir() too long for Dovecot's unix sockets;
// Start then works in a shorter directory.
func TestLongTestName(t *testing.T) {
	t.Run(strings.Repeat("a_subtest_name_that_is_rather_long_", 3), func(t *testing.T) {
		u := imaptest.User{Name: "erin", Password: "pw"}
		s := imaptest.Start(t, u)
		if strings.Contains(s.Dir, "a_subtest_name") {
			t.Errorf("Start worked in the long t.TempDir() %s", s.Dir)
		}
		s.Deliver(t, u.Name, mail("long"))
		c := dial(t, s.Addr())
		c.login(u)
		if exists, _ := c.selectInbox(); exists != 1 {
			t.Fatalf("%d EXISTS, want 1", exists)
		}
	})
}
