package ami

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// guard bounds every wait in these tests; it only fails a stuck test.
const guard = 15 * time.Second

// fakeAMI is a loopback Asterisk manager that speaks the real framing:
// the banner, Login (Success, or Error and a close for a wrong secret),
// Ping, then what the test gives it to send.
type fakeAMI struct {
	t      *testing.T
	l      net.Listener
	user   string
	secret string
	// lf sends bare LF line endings instead of CRLF.
	lf atomic.Bool
	// silent leaves pings unanswered.
	silent atomic.Bool
	// logins gets "ok" or "refused" for each login, and the Events asked.
	logins chan login
	// scripts are sent, one per take, to the connection logged in.
	scripts chan script
	pings   atomic.Int64
}

type login struct {
	result, events string
}

// script is what a connection sends after the login; drop closes the
// connection after it.
type script struct {
	packets []string
	drop    bool
}

// sentinel is an inbound call sent after a fixture: once its newCall
// arrives, every event of the fixture has.
const sentinel = "Event: Newchannel\r\nChannel: PJSIP/carrier-ffffffff\r\nCallerIDNum: 0\r\nExten: 0\r\n" +
	"Uniqueid: sentinel\r\nLinkedid: sentinel\r\n\r\n"

func newFakeAMI(t *testing.T, l net.Listener) *fakeAMI {
	t.Helper()
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	f := &fakeAMI{t: t, l: l, user: "switchboard", secret: "s3cret", logins: make(chan login, 100), scripts: make(chan script, 100)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { f.serve(c, done) })
		}
	})
	return f
}

func (f *fakeAMI) addr() string { return f.l.Addr().String() }

// serve is one manager session.
func (f *fakeAMI) serve(c net.Conn, done <-chan struct{}) {
	defer c.Close()
	var wmu sync.Mutex
	write := func(s string) error {
		if f.lf.Load() {
			s = strings.ReplaceAll(s, "\r\n", "\n")
		}
		wmu.Lock()
		defer wmu.Unlock()
		_, err := c.Write([]byte(s))
		return err
	}
	if write("Asterisk Call Manager/5.0.3\r\n") != nil {
		return
	}
	br := bufio.NewReader(c)
	act, err := readAction(br)
	if err != nil {
		return
	}
	if act["action"] != "Login" {
		f.t.Errorf("fake AMI: first action %q, want Login", act["action"])
		return
	}
	if act["username"] != f.user || act["secret"] != f.secret {
		_ = write("Response: Error\r\nActionID: " + act["actionid"] + "\r\nMessage: Authentication failed\r\n\r\n")
		f.logins <- login{"refused", act["events"]}
		return
	}
	_ = write("Response: Success\r\nActionID: " + act["actionid"] + "\r\nMessage: Authentication accepted\r\n\r\n" +
		"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 1200\r\nLastReload: 1200\r\nStatus: Fully Booted\r\n\r\n")
	f.logins <- login{"ok", act["events"]}

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for {
			act, err := readAction(br)
			if err != nil {
				return
			}
			switch act["action"] {
			case "Ping":
				f.pings.Add(1)
				if !f.silent.Load() {
					_ = write(fmt.Sprintf("Response: Success\r\nActionID: %s\r\nPing: Pong\r\nTimestamp: %d.000000\r\n\r\n",
						act["actionid"], time.Now().Unix()))
				}
			default:
				_ = write("Response: Error\r\nActionID: " + act["actionid"] + "\r\nMessage: Invalid/unknown command\r\n\r\n")
			}
		}
	}()
	for {
		select {
		case s := <-f.scripts:
			for _, p := range s.packets {
				if write(p) != nil {
					return
				}
			}
			if s.drop {
				return
			}
		case <-closed:
			return
		case <-done:
			return
		}
	}
}

// readAction reads one action, keys lowercased; it is the test's own
// reading, independent of the package's reader.
func readAction(br *bufio.Reader) (map[string]string, error) {
	act := map[string]string{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(act) > 0 {
				return act, nil
			}
			continue
		}
		k, v, _ := strings.Cut(line, ": ")
		act[strings.ToLower(k)] = v
	}
}

// waitLogin returns the next login attempt.
func (f *fakeAMI) waitLogin(t *testing.T) login {
	t.Helper()
	select {
	case l := <-f.logins:
		return l
	case <-time.After(guard):
		t.Fatal("fake AMI: no login")
	}
	return login{}
}
