package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/redis/go-redis/v9"
)

// emailConfig is the gateway's `channels.email` entry: one mailbox on an
// SMTP listener.
func emailConfig(addr string) string {
	return "  email: [{id: bench, address: support@bench.local, smtp_listen: \"" + addr + "\", per_sender_per_hour: 1000000}]\n"
}

// customerMail is one customer's mail: the first of a thread (no parent),
// or a reply to it.
func customerMail(v int, n int64, parent string) (msgID, raw string) {
	msgID = fmt.Sprintf("bench-%d-%d@customer%d.bench.local", v, n, v)
	var b strings.Builder
	fmt.Fprintf(&b, "From: =?UTF-8?B?546L6ZWV?= <c%d@customer.bench.local>\r\nTo: support@bench.local\r\n", v)
	fmt.Fprintf(&b, "Subject: =?UTF-8?B?6K6i5Y2V5pyq5Yiw?= %d\r\nMessage-ID: <%s>\r\nDate: %s\r\n", v, msgID, time.Now().Format(time.RFC1123Z))
	if parent != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", parent, parent)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	fmt.Fprintf(&b, "你好，我的订单还没有到，请帮我查一下 #%d\r\n\r\n> 上一封邮件\r\n", n)
	return msgID, b.String()
}

// smtpSender keeps one SMTP connection per sender goroutine.
type smtpSender struct {
	mu    sync.Mutex
	conns map[int]*smtp.Client
	addr  string
}

func (s *smtpSender) send(w int, from, raw string) error {
	s.mu.Lock()
	cl := s.conns[w]
	s.mu.Unlock()
	if cl == nil {
		var err error
		if cl, err = smtp.Dial(s.addr); err != nil {
			return err
		}
		if err := cl.Hello("bench.local"); err != nil {
			return err
		}
		s.mu.Lock()
		s.conns[w] = cl
		s.mu.Unlock()
	}
	if err := cl.SendMail(from, []string{"support@bench.local"}, strings.NewReader(raw)); err != nil {
		cl.Close()
		s.mu.Lock()
		delete(s.conns, w)
		s.mu.Unlock()
		return err
	}
	return nil
}

func (s *smtpSender) close() {
	for _, cl := range s.conns {
		cl.Quit()
	}
}

// openMail sends each customer's first mail, so the measured mails are
// replies threaded into an existing conversation.
func (g *gateway) openMail(ctx context.Context, c *redis.Client) error {
	s := &smtpSender{conns: map[int]*smtp.Client{}, addr: g.smtp}
	defer s.close()
	g.roots = make([]string, g.o.visitors)
	for v := 0; v < g.o.visitors; v++ {
		id, raw := customerMail(v, 0, "")
		if err := s.send(0, fmt.Sprintf("c%d@customer.bench.local", v), raw); err != nil {
			return fmt.Errorf("first mail: %w", err)
		}
		g.roots[v] = id
	}
	// As for the other channels, the measured mail goes to conversations
	// that have their agent.
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		n, err := c.HLen(ctx, "sbbench:{d}:owner").Result()
		if err == nil && int(n) >= 3*g.o.visitors {
			return nil
		}
	}
	return fmt.Errorf("not every e-mail conversation got an agent")
}

// measureEmail hands customers' replies to the SMTP listener, one
// connection per sender, and counts a mail when the listener answers 250
// (after Redis holds it, threaded into its conversation).
func (g *gateway) measureEmail(ctx context.Context, c *redis.Client) (result, error) {
	var seq atomic.Int64
	seq.Store(time.Now().UnixNano() / 1000)
	s := &smtpSender{conns: map[int]*smtp.Client{}, addr: g.smtp}
	defer s.close()
	send := func(ctx context.Context, w int) (time.Duration, error) {
		n := seq.Add(1)
		v := int(n % int64(g.o.visitors))
		_, raw := customerMail(v, n, g.roots[v])
		t := time.Now()
		err := s.send(w, fmt.Sprintf("c%d@customer.bench.local", v), raw)
		return time.Since(t), err
	}
	r, err := drive(ctx, "email", c, g.o, send, hooks{})
	r.kind = "email"
	return r, err
}
