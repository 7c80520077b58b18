package router

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/connectors"
	"switchboard/session"
)

// windowedChannel is a WeChat-like connector whose account "oa1" carries
// replies only within 48 hours of the customer's last message; other
// accounts have no window.
type windowedChannel struct{ fakeChannel }

func (*windowedChannel) Channel() connectors.Channel { return connectors.WeChatOA }

func (*windowedChannel) ReplyWindow(account string) time.Duration {
	if account == "oa1" {
		return 48 * time.Hour
	}
	return 0
}

var _ connectors.Windowed = (*windowedChannel)(nil)

func wechatMsg(openid, account, ext, text string) *connectors.Message {
	return &connectors.Message{Channel: connectors.WeChatOA, Account: account, ExternalID: ext,
		From: connectors.Identity{Type: "openid", Value: openid}, Kind: connectors.KindText, Text: text}
}

// footprint is what a reply writes to a conversation and the outbox.
type footprint struct {
	transcript, outbox, delivery int64
	msgCount, lastMessageAt      string
}

func footprintOf(t *testing.T, r *Router, id string) footprint {
	t.Helper()
	ctx := context.Background()
	var f footprint
	var err error
	if f.transcript, err = r.rdb.XLen(ctx, r.k.convMessages(id)).Result(); err != nil {
		t.Fatal(err)
	}
	if f.outbox, err = r.rdb.XLen(ctx, r.k.outbox()).Result(); err != nil {
		t.Fatal(err)
	}
	if f.delivery, err = r.rdb.HLen(ctx, r.k.convDelivery(id)).Result(); err != nil {
		t.Fatal(err)
	}
	h, err := r.rdb.HMGet(ctx, r.k.conv(id), "msg_count", "last_message_at").Result()
	if err != nil {
		t.Fatal(err)
	}
	f.msgCount, f.lastMessageAt = asString(h[0]), asString(h[1])
	return f
}

func TestReplyWindow(t *testing.T) {
	sup := session.Agent{ID: "sup", Email: "sup@example.com", Name: "Sup", Role: session.RoleSupervisor,
		Teams: []string{"support"}, Capacity: 5}
	w := newWorld(t, []session.Agent{sup}, nil, nil)
	r, _, _ := w.replica()
	r.reg.Add(&windowedChannel{})
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	set := func(d time.Duration) { clock.Store(t0.Add(d).UnixMilli()) }
	r.now = func() time.Time { return time.UnixMilli(clock.Load()) }
	ctx := context.Background()

	set(0)
	acc, err := r.Ingest(ctx, wechatMsg("o-window-1", "oa1", "in-1", "你好"))
	if err != nil {
		t.Fatal(err)
	}
	id := acc.ConversationID
	wantUntil := func(want time.Time) {
		t.Helper()
		c, err := r.Conversation(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.ReplyUntil == nil || !c.ReplyUntil.Equal(want) {
			t.Fatalf("reply_until = %v, want %v", c.ReplyUntil, want)
		}
		raw, _ := json.Marshal(c)
		if s := `"reply_until":"` + want.Format(time.RFC3339Nano) + `"`; !strings.Contains(string(raw), s) {
			t.Fatalf("conversation JSON %s lacks %s", raw, s)
		}
	}
	wantUntil(t0.Add(48 * time.Hour))
	page, err := r.Conversations(ctx, sup, Filter{})
	if err != nil || len(page.Items) != 1 || page.Items[0].ReplyUntil == nil ||
		!page.Items[0].ReplyUntil.Equal(t0.Add(48*time.Hour)) {
		t.Fatalf("list = %+v, %v; want the conversation with its reply_until", page.Items, err)
	}

	// Inside the window, up to its last millisecond: replies go out.
	set(47 * time.Hour)
	first, err := r.Reply(ctx, sup, id, ReplyInput{Text: "inside", IdempotencyKey: "k-inside"})
	if err != nil {
		t.Fatalf("reply inside the window: %v", err)
	}
	set(48 * time.Hour)
	if _, err := r.Reply(ctx, sup, id, ReplyInput{Text: "at the end"}); err != nil {
		t.Fatalf("reply at the window's end: %v", err)
	}

	// After it: refused with the reason, and nothing written.
	set(48*time.Hour + time.Millisecond)
	before := footprintOf(t, r, id)
	_, err = r.Reply(ctx, sup, id, ReplyInput{Text: "too late", IdempotencyKey: "k-late"})
	if !errors.Is(err, ErrWindowClosed) {
		t.Fatalf("reply after the window: %v, want ErrWindowClosed", err)
	}
	for _, s := range []string{"48h", "2026-03-03T08:00:00Z"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %s", err, s)
		}
	}
	if after := footprintOf(t, r, id); after != before {
		t.Fatalf("a refused reply wrote: before %+v, after %+v", before, after)
	}
	if n, _ := r.rdb.Exists(ctx, r.k.convIdem(id, "k-late")).Result(); n != 0 {
		t.Fatal("a refused reply kept its idempotency key")
	}

	// A repeat of a reply accepted in time answers with that reply.
	again, err := r.Reply(ctx, sup, id, ReplyInput{Text: "inside", IdempotencyKey: "k-inside"})
	if err != nil || again.ID != first.ID {
		t.Fatalf("repeated key after the window: %+v, %v; want message %s", again, err, first.ID)
	}

	// Internal notes are always allowed.
	note, err := r.Reply(ctx, sup, id, ReplyInput{Text: "customer went quiet", Internal: true})
	if err != nil || note.Direction != Note {
		t.Fatalf("note after the window: %+v, %v", note, err)
	}

	// A passive event (an unfollow, a menu link) does not reopen it.
	set(49 * time.Hour)
	ev := wechatMsg("o-window-1", "oa1", "ev-1", "取消关注")
	ev.Kind, ev.Passive = connectors.KindEvent, true
	if _, err := r.Ingest(ctx, ev); err != nil {
		t.Fatal(err)
	}
	wantUntil(t0.Add(48 * time.Hour))
	if _, err := r.Reply(ctx, sup, id, ReplyInput{Text: "after the event"}); !errors.Is(err, ErrWindowClosed) {
		t.Fatalf("reply after a passive event: %v, want ErrWindowClosed", err)
	}

	// A new customer message opens the window again, and says so to agents.
	set(50 * time.Hour)
	if _, err := r.Ingest(ctx, wechatMsg("o-window-1", "oa1", "in-2", "还在吗")); err != nil {
		t.Fatal(err)
	}
	wantUntil(t0.Add(98 * time.Hour))
	if _, err := r.Reply(ctx, sup, id, ReplyInput{Text: "back again"}); err != nil {
		t.Fatalf("reply after the customer wrote again: %v", err)
	}
	eventually(t, "message.new with reply_until on the inbox stream", func() bool {
		xs, _ := r.rdb.XRange(ctx, r.sk.InboxEvents(), "-", "+").Result()
		for _, x := range xs {
			var ev messageEvent
			if str(x.Values, "t") != session.EventMessageNew || json.Unmarshal([]byte(str(x.Values, "d")), &ev) != nil {
				continue
			}
			if ev.Message.Text == "还在吗" {
				want := t0.Add(98 * time.Hour)
				return ev.ReplyUntil != nil && ev.ReplyUntil.Equal(want) &&
					ev.Conversation != nil && ev.Conversation.ReplyUntil != nil && ev.Conversation.ReplyUntil.Equal(want)
			}
		}
		return false
	})

	// No window on another account of the channel, nor on web chat.
	for _, m := range []*connectors.Message{wechatMsg("o-window-2", "oa2", "x", "hi"), webchatMsg("window-visitor-1", "x", "hi")} {
		set(0)
		acc, err := r.Ingest(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		c, err := r.Conversation(ctx, acc.ConversationID)
		if err != nil {
			t.Fatal(err)
		}
		if raw, _ := json.Marshal(c); c.ReplyUntil != nil || strings.Contains(string(raw), "reply_until") {
			t.Fatalf("%s conversation has a reply window: %s", m.Channel, raw)
		}
		set(30 * 24 * time.Hour)
		if _, err := r.Reply(ctx, sup, acc.ConversationID, ReplyInput{Text: "a month later"}); err != nil {
			t.Fatalf("%s/%s reply without a window: %v", m.Channel, m.Account, err)
		}
	}
}

func TestWindowText(t *testing.T) {
	for d, want := range map[time.Duration]string{48 * time.Hour: "48h", 90 * time.Minute: "90m", 1500 * time.Millisecond: "1.5s"} {
		if got := windowText(d); got != want {
			t.Errorf("windowText(%v) = %q, want %q", d, got, want)
		}
	}
}
