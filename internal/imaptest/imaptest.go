package imaptest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/peer"
)

// MailUID and MailGID own the mail when the tests run as root: Dovecot
// refuses uid 0 for mail. 65534 is nobody/nogroup on Debian.
const (
	MailUID = 65534
	MailGID = 65534
)

// User is a mailbox owner: an IMAP login name and its password. Neither may
// contain ':' or a line break (the passwd-file format); the name may not
// contain '%' or whitespace either.
type User struct {
	Name     string
	Password string
}

// Server is a Dovecot owned by one test.
type Server struct {
	t     testing.TB
	bins  binaries
	Dir   string // holds dovecot.conf, the users file, logs, run/, state/ and mail/
	Port  int
	homes map[string]string // user name -> home directory (Maildir is home/Maildir)

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has been waited for
}

type binaries struct {
	dovecot, lda, doveadm, version string
}

var (
	lookupOnce sync.Once
	lookedUp   binaries
	lookupErr  string
)

// findBinaries looks for Dovecot's programs once per test binary.
func findBinaries() (binaries, string) {
	lookupOnce.Do(func() {
		find := func(name string, fallbacks ...string) string {
			if p, err := exec.LookPath(name); err == nil {
				return p
			}
			for _, p := range fallbacks {
				if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
					return p
				}
			}
			return ""
		}
		b := binaries{
			dovecot: find("dovecot", "/usr/sbin/dovecot", "/usr/local/sbin/dovecot"),
			lda: find("dovecot-lda", "/usr/lib/dovecot/dovecot-lda", "/usr/libexec/dovecot/dovecot-lda",
				"/usr/local/libexec/dovecot/dovecot-lda"),
			doveadm: find("doveadm", "/usr/bin/doveadm", "/usr/local/bin/doveadm"),
		}
		switch {
		case b.dovecot == "":
			lookupErr = "dovecot (Debian package dovecot-imapd)"
		case b.lda == "":
			lookupErr = "dovecot-lda (Debian package dovecot-core)"
		case b.doveadm == "":
			lookupErr = "doveadm (Debian package dovecot-core)"
		default:
			out, err := exec.Command(b.dovecot, "--version").Output()
			b.version = strings.TrimSpace(string(out))
			if err != nil {
				lookupErr = fmt.Sprintf("a working dovecot (%s --version: %v)", b.dovecot, err)
			} else if !strings.HasPrefix(b.version, "2.3.") {
				// The generated config is Dovecot 2.3 syntax; 2.4 changed it.
				lookupErr = fmt.Sprintf("Dovecot 2.3 (found %s at %s)", b.version, b.dovecot)
			}
		}
		lookedUp = b
	})
	return lookedUp, lookupErr
}

// Require skips t (or under CI=true fails it) unless Dovecot 2.3 with
// dovecot-lda and doveadm is installed. Start calls it.
func Require(t testing.TB) {
	t.Helper()
	_, missing := findBinaries()
	peer.Require(t, missing == "", missing)
}

// Swaks returns the path of the swaks SMTP client, skipping t (or under
// CI=true failing it) when swaks is not installed.
func Swaks(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("swaks")
	peer.Require(t, err == nil, "swaks (Debian package swaks)")
	return p
}

// Start runs a Dovecot of the test's own with the given users, each with an
// empty INBOX, and waits until it greets IMAP clients. It stops when the
// test ends.
func Start(t testing.TB, users ...User) *Server {
	t.Helper()
	Require(t)
	bins, _ := findBinaries()
	s := &Server{t: t, bins: bins, homes: map[string]string{}}
	t.Cleanup(s.Stop)
	s.Dir = workDir(t)
	s.prepare(users)
	var err error
	for attempt := 1; ; attempt++ {
		s.Port = freePort(t)
		if err = s.writeConfig(); err != nil {
			t.Fatalf("imaptest: %v", err)
		}
		if err = s.start(); err == nil {
			return s
		}
		// Another process may take the free port before Dovecot binds it.
		if !errors.Is(err, errPortTaken) || attempt == 5 {
			break
		}
	}
	t.Fatalf("imaptest: %v\n%s", err, s.Log())
	return nil
}

// Addr returns the IMAP listener's host:port (plaintext, 127.0.0.1).
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// ConfigPath returns the generated dovecot.conf, for doveadm -c and the like.
func (s *Server) ConfigPath() string { return filepath.Join(s.Dir, "dovecot.conf") }

// Log returns Dovecot's log so far, including what the master process wrote
// to stderr before its log was set up.
func (s *Server) Log() string {
	var b strings.Builder
	if out, _ := os.ReadFile(filepath.Join(s.Dir, "dovecot.stderr")); len(out) > 0 {
		b.WriteString("--- dovecot stderr ---\n")
		b.Write(out)
	}
	log, _ := os.ReadFile(filepath.Join(s.Dir, "dovecot.log"))
	b.WriteString("--- dovecot.log ---\n")
	b.Write(log)
	return b.String()
}

// Deliver puts raw (an RFC 5322 message, CRLF or LF line ends) into user's
// INBOX as an MTA would, through dovecot-lda. The server must be running:
// the LDA looks the user up through it. Clients with INBOX selected see the
// new message on their next NOOP or in IDLE.
func (s *Server) Deliver(t testing.TB, user string, raw []byte) {
	t.Helper()
	s.checkUser(t, user)
	if _, err := s.run(raw, s.bins.lda, "-c", s.ConfigPath(), "-d", user); err != nil {
		t.Fatalf("imaptest: deliver to %s: %v\n%s", user, err, s.Log())
	}
}

// UIDValidity returns the UIDVALIDITY of user's INBOX, as doveadm reports
// it. The server must be running.
func (s *Server) UIDValidity(t testing.TB, user string) uint32 {
	t.Helper()
	s.checkUser(t, user)
	out, err := s.run(nil, s.bins.doveadm, "-c", s.ConfigPath(), "-f", "flow",
		"mailbox", "status", "-u", user, "uidvalidity", "INBOX")
	if err != nil {
		t.Fatalf("imaptest: uidvalidity of %s: %v\n%s", user, err, s.Log())
	}
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, "uidvalidity="); ok {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				break
			}
			return uint32(n)
		}
	}
	t.Fatalf("imaptest: no uidvalidity in doveadm's answer %q", out)
	return 0
}

// ResetUIDValidity gives user's INBOX a new UIDVALIDITY (the old one plus
// one) and returns it, the way a server announces that the UIDs a client
// cached are no longer valid. It uses
// `doveadm mailbox update --uid-validity`, so the messages, their UIDs and
// UIDNEXT stay as they were. Dovecot disconnects sessions that have INBOX
// selected ("* BYE IMAP session state is inconsistent, please relogin.");
// new sessions report the new value in SELECT and STATUS. The server must
// be running.
func (s *Server) ResetUIDValidity(t testing.TB, user string) uint32 {
	t.Helper()
	next := s.UIDValidity(t, user) + 1
	if next == 0 {
		next = 1
	}
	if _, err := s.run(nil, s.bins.doveadm, "-c", s.ConfigPath(), "mailbox", "update",
		"-u", user, "--uid-validity", strconv.FormatUint(uint64(next), 10), "INBOX"); err != nil {
		t.Fatalf("imaptest: reset uidvalidity of %s: %v\n%s", user, err, s.Log())
	}
	if got := s.UIDValidity(t, user); got != next {
		t.Fatalf("imaptest: set UIDVALIDITY %d for %s, Dovecot reports %d", next, user, got)
	}
	return next
}

// Stop ends the server and every connection to it: SIGTERM to Dovecot's
// process group (clients with a session get "* BYE Server shutting down."),
// SIGKILL after five seconds. The mail stays. Stop is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	select {
	case <-s.done: // the master died by itself; its pid may be reused
		s.cmd = nil
		return
	default:
	}
	// The master is our child and not yet waited for while done is open,
	// so its pid, which is also its process group id, is still its own.
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
	}
	s.cmd = nil
}

// Restart stops the server and starts it again on the same port with the
// same users and mail.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	// The port is free once the old imap-login processes are gone; they
	// got SIGTERM with the master but may take a moment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if !errors.Is(err, errPortTaken) || time.Now().After(deadline) {
			s.t.Fatalf("imaptest: restart: %v\n%s", err, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var errPortTaken = errors.New("port already in use")

// start runs the master in the foreground in its own process group and
// waits for an IMAP greeting.
func (s *Server) start() error {
	// A master killed hard leaves its pidfile; a new master refuses to
	// start if that pid now belongs to some other process.
	_ = os.Remove(filepath.Join(s.Dir, "run", "master.pid"))
	stderr, err := os.OpenFile(filepath.Join(s.Dir, "dovecot.stderr"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer stderr.Close()
	logBefore := fileSize(filepath.Join(s.Dir, "dovecot.log"))
	stderrBefore := fileSize(stderr.Name())

	cmd := exec.Command(s.bins.dovecot, "-F", "-c", s.ConfigPath())
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bins.dovecot, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			news := tail(filepath.Join(s.Dir, "dovecot.log"), logBefore) + tail(stderr.Name(), stderrBefore)
			if strings.Contains(news, "Address already in use") {
				return fmt.Errorf("dovecot on port %d: %w", s.Port, errPortTaken)
			}
			return fmt.Errorf("dovecot exited at startup: %v", cmd.ProcessState)
		default:
		}
		if greeted(s.Addr()) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("dovecot did not greet IMAP clients on %s within 10s", s.Addr())
}

// greeted reports whether an IMAP server at addr sends its ready greeting.
// Dovecot may first send "* OK Waiting for authentication process to
// respond.." and the real greeting once its auth process answers.
func greeted(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "* OK") {
			return false
		}
		if !strings.Contains(line, "Waiting for authentication") {
			_, _ = c.Write([]byte("x LOGOUT\r\n"))
			return true
		}
	}
}

// run runs a Dovecot tool with a time limit and returns its output.
func (s *Server) run(stdin []byte, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v\nstdout: %s\nstderr: %s",
			filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

func (s *Server) checkUser(t testing.TB, user string) {
	t.Helper()
	if _, ok := s.homes[user]; !ok {
		t.Fatalf("imaptest: %q is not a user of this server", user)
	}
}

// workDir returns the directory for one server: t.TempDir(), unless its
// path is too long for Dovecot's unix sockets (at most 107 bytes, and
// run/token-login/imap-urlauth is the longest), has characters Dovecot's
// config would misread, or (as root) lies below a directory the mail uid
// cannot search; then a short directory under $TMPDIR or /tmp, removed when
// the test ends.
func workDir(t testing.TB) string {
	t.Helper()
	root := os.Geteuid() == 0
	dir := t.TempDir()
	if root {
		// The test's temporary directories are 0700 (the parent) and 0755;
		// the mail uid and Dovecot's service users must traverse them.
		if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
			t.Fatalf("imaptest: %v", err)
		}
	}
	why := unusable(dir, root)
	if why == "" {
		return dir
	}
	for _, base := range []string{os.TempDir(), "/tmp"} {
		d, err := os.MkdirTemp(base, "imaptest")
		if err != nil {
			why += "; " + err.Error()
			continue
		}
		t.Cleanup(func() { _ = os.RemoveAll(d) })
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatalf("imaptest: %v", err)
		}
		w := unusable(d, root)
		if w == "" {
			return d
		}
		why += "; " + w
	}
	t.Fatalf("imaptest: no usable directory for Dovecot: %s", why)
	return ""
}

// unusable says why Dovecot cannot work in dir, or returns "".
func unusable(dir string, root bool) string {
	if len(dir)+len("/run/token-login/imap-urlauth") >= 100 {
		return dir + ": too long for Dovecot's unix sockets"
	}
	if strings.ContainsAny(dir, " \t\n\"'#%\\$:{}=") {
		return dir + ": has characters Dovecot's config would misread"
	}
	if root {
		for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
			st, err := os.Stat(d)
			if err != nil {
				return err.Error()
			}
			if st.Mode().Perm()&0o001 == 0 {
				return fmt.Sprintf("%s (mode %v) is not searchable by uid %d", d, st.Mode().Perm(), MailUID)
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return ""
}

// prepare writes the users file and creates the homes, owned by the uid
// that reads the mail.
func (s *Server) prepare(users []User) {
	t := s.t
	t.Helper()
	uid, gid := s.mailIDs()
	mail := filepath.Join(s.Dir, "mail")
	for _, d := range []string{mail, filepath.Join(s.Dir, "run"), filepath.Join(s.Dir, "state")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("imaptest: %v", err)
		}
	}
	var passwd strings.Builder
	for i, u := range users {
		if u.Name == "" || strings.ContainsAny(u.Name, ":%\r\n \t") || strings.ContainsAny(u.Password, ":\r\n") {
			t.Fatalf("imaptest: user %q: the name must be non-empty without ':', '%%' or whitespace, "+
				"the password without ':' or line breaks", u.Name)
		}
		if _, dup := s.homes[u.Name]; dup {
			t.Fatalf("imaptest: user %q given twice", u.Name)
		}
		home := filepath.Join(mail, fmt.Sprintf("u%d", i))
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatalf("imaptest: %v", err)
		}
		if err := os.Lchown(home, uid, gid); err != nil {
			t.Fatalf("imaptest: %v", err)
		}
		s.homes[u.Name] = home
		// name:password:uid:gid:(gecos):home
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s:%d:%d::%s\n", u.Name, u.Password, uid, gid, home)
	}
	// Dovecot's auth process (user dovecot when root) reads this file.
	if err := os.WriteFile(filepath.Join(s.Dir, "users"), []byte(passwd.String()), 0o644); err != nil {
		t.Fatalf("imaptest: %v", err)
	}
}

// mailIDs returns the uid and gid that own the mail.
func (s *Server) mailIDs() (int, int) {
	if os.Geteuid() == 0 {
		return MailUID, MailGID
	}
	return os.Getuid(), os.Getgid()
}

func (s *Server) writeConfig() error {
	uid, gid := s.mailIDs()
	var services, chroot string
	if os.Geteuid() != 0 {
		// Rootless: every service runs as the current user, which Dovecot
		// wants by name, and none can chroot.
		chroot = "\n  chroot ="
		u, err := user.Current()
		if err != nil {
			return fmt.Errorf("current user: %w", err)
		}
		g, err := user.LookupGroupId(strconv.Itoa(gid))
		if err != nil {
			return fmt.Errorf("current group: %w", err)
		}
		services = fmt.Sprintf("default_internal_user = %s\ndefault_internal_group = %s\ndefault_login_user = %s\n",
			u.Username, g.Name, u.Username)
	}
	conf := fmt.Sprintf(`# Generated by switchboard/internal/imaptest for one test. Dovecot started
# with -c reads this file only, never /etc/dovecot.
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
%[5]s
protocols = imap
listen = 127.0.0.1

# Plaintext IMAP and plaintext LOGIN: acceptable on loopback only, with
# users that exist for one test.
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
# Answer wrong passwords without the 2s delay (Dovecot still batches failures
# every 0.5s), and never slow down repeated failures (anvil auth penalty).
auth_failure_delay = 0

first_valid_uid = %[3]d
last_valid_uid = %[3]d
first_valid_gid = %[4]d
last_valid_gid = %[4]d

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/users
}
userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/users
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
}

service imap-login {%[6]s
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]d
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {%[6]s
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`, s.Dir, s.Port, uid, gid, services, chroot)
	return os.WriteFile(s.ConfigPath(), []byte(conf), 0o644)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("imaptest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// tail returns a file's contents after offset.
func tail(path string, offset int64) string {
	b, _ := os.ReadFile(path)
	if offset > int64(len(b)) {
		return ""
	}
	return string(b[offset:])
}
