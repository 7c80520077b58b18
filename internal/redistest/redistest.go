package redistest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/peer"
)

// EnvURL names the environment variable with a shared test server's URL.
const EnvURL = "SWITCHBOARD_TEST_REDIS_URL"

// Require skips (or under CI, fails) t when a peer is missing.
func Require(t testing.TB, ok bool, what string) {
	t.Helper()
	peer.Require(t, ok, what)
}

// Prefix returns a key prefix unique to this test, ending in ':'.
func Prefix(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "sbt" + hex.EncodeToString(b[:]) + ":"
}

// Client returns a client to a real Redis and a unique key prefix. The
// client closes when the test ends.
func Client(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		url = Start(t).URL()
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("redistest: %s: %v", EnvURL, err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		Require(t, false, "a reachable Redis at "+EnvURL+" ("+err.Error()+")")
	}
	return c, Prefix(t)
}

// Own returns a client to a redis-server of the test's own, for tests
// that do what must not reach other tests sharing the run's Redis
// (SCRIPT FLUSH, CONFIG SET, FLUSHALL). The server stops and the client
// closes when the test ends.
func Own(t testing.TB, args ...string) redis.UniversalClient {
	t.Helper()
	srv := Start(t, args...)
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", srv.Port)})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Server is a redis-server process owned by one test.
type Server struct {
	t    testing.TB
	Dir  string
	Port int
	args []string
	cmd  *exec.Cmd
}

// URL returns the server's redis:// URL.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.Port) }

// Start runs a redis-server of the test's own, with extra config args such
// as "--appendonly", "yes". It stops when the test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	Require(t, err == nil, "redis-server")
	s := &Server{t: t, Dir: t.TempDir(), Port: freePort(t), args: args}
	s.start(bin)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(bin string) {
	s.t.Helper()
	args := append([]string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", s.Dir, "--daemonize", "no", "--logfile", filepath.Join(s.Dir, "redis.log")}, s.args...)
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), 100*time.Millisecond); err == nil {
			// A loading AOF answers LOADING; wait for PONG.
			_, _ = c.Write([]byte("PING\r\n"))
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	s.t.Fatalf("redistest: redis-server did not come up on port %d:\n%s", s.Port, log)
}

// Stop ends the server (SIGKILL: like a crash, nothing is flushed beyond
// what the AOF policy already wrote).
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_, _ = s.cmd.Process.Wait()
	s.cmd = nil
}

// Restart kills the server and starts it again on the same port and
// directory, so it reloads its AOF.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	bin, _ := exec.LookPath("redis-server")
	s.start(bin)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
