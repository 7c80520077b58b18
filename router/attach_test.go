package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"switchboard/connectors"
	"switchboard/internal/blob"
	"switchboard/session"
)

// attachingChannel is a WeChat-like connector whose account "oa1" carries
// images with replies; other accounts carry text only.
type attachingChannel struct{ fakeChannel }

func (*attachingChannel) Channel() connectors.Channel { return connectors.WeChatOA }

func (*attachingChannel) CanAttach(account string) bool { return account == "oa1" }

var _ connectors.Attacher = (*attachingChannel)(nil)

// mailChannel is an e-mail-like connector: its replies carry any file.
type mailChannel struct{ fakeChannel }

func (*mailChannel) Channel() connectors.Channel    { return connectors.Email }
func (*mailChannel) CanAttach(string) bool          { return true }
func (*mailChannel) CanAttachDocuments(string) bool { return true }

var _ connectors.DocumentAttacher = (*mailChannel)(nil)

func document(n int) connectors.Attachment {
	return connectors.Attachment{Name: fmt.Sprintf("报价单 %d.pdf", n), ContentType: "application/pdf", Size: int64(5000 + n), Ref: blob.NewID()}
}

func picture(n int) connectors.Attachment {
	return connectors.Attachment{Name: fmt.Sprintf("图 %d.png", n), ContentType: "image/png", Size: int64(1000 + n), Ref: blob.NewID()}
}

// sentOf returns what the channel was asked to send for message id, and
// how many times.
func sentOf(ch *fakeChannel, id string) (*connectors.Outbound, int) {
	var got *connectors.Outbound
	n := 0
	for _, s := range ch.Sent() {
		if s.ID == id {
			got = s
			n++
		}
	}
	return got, n
}

func sameAttachments(a, b []connectors.Attachment) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A reply with text and images is one message: in the transcript (an att
// field, like an inbound message's), in its JSON and events, and on the
// outbox, so the connector gets them; a repeated request answers with it.
func TestReplyWithAttachments(t *testing.T) {
	sup := session.Agent{ID: "sup", Email: "sup@example.com", Name: "Sup", Role: session.RoleSupervisor,
		Teams: []string{"support"}, Capacity: 5}
	w := newWorld(t, []session.Agent{sup}, nil, nil)
	r, _, ev := w.replica()
	ch := &attachingChannel{}
	r.reg.Add(ch)
	run(t, r, ev)
	ctx := context.Background()

	acc, err := r.Ingest(ctx, wechatMsg("o-att-1", "oa1", "in-1", "能发张图吗"))
	if err != nil {
		t.Fatal(err)
	}
	id := acc.ConversationID
	conv, err := r.Conversation(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := json.Marshal(conv); !conv.CanAttach || !strings.Contains(string(raw), `"can_attach":true`) {
		t.Fatalf("conversation on oa1 %s, want can_attach", raw)
	}

	sub := w.rdb.Subscribe(ctx, r.LiveChannel(id))
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}

	atts := []connectors.Attachment{picture(1), picture(2)}
	atts[0].ContentType = "Image/PNG"
	m, err := r.Reply(ctx, sup, id, ReplyInput{Text: "  看这两张 ", Attachments: atts, IdempotencyKey: "att-1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []connectors.Attachment{atts[0], atts[1]}
	want[0].ContentType = "image/png"
	if m.Kind != connectors.KindText || m.Text != "看这两张" || m.Direction != Out || !sameAttachments(m.Attachments, want) {
		t.Fatalf("reply = %+v, want text with %+v", m, want)
	}
	if raw, _ := json.Marshal(m); !strings.Contains(string(raw), `"attachments":[{"name":"图 1.png","content_type":"image/png","size":1001,"ref":"`+want[0].Ref+`"}`) {
		t.Errorf("message JSON %s lacks its attachments", raw)
	}

	// The transcript entry carries them in att, read back by Messages.
	xs, err := r.rdb.XRange(ctx, r.k.convMessages(id), m.Cursor, m.Cursor).Result()
	if err != nil || len(xs) != 1 || str(xs[0].Values, "att") == "" || str(xs[0].Values, "kind") != "text" {
		t.Fatalf("transcript entry %+v, %v; want kind text and att", xs, err)
	}
	msgs, err := r.Messages(ctx, id, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if last := msgs[len(msgs)-1]; last.ID != m.ID || !sameAttachments(last.Attachments, want) || last.Delivery == nil {
		t.Fatalf("read back %+v, want %s with %+v", last, m.ID, want)
	}

	// message.new on the live channel and the inbox stream carries them.
	select {
	case msg := <-sub.Channel():
		if !strings.Contains(msg.Payload, m.ID) || !strings.Contains(msg.Payload, `"ref":"`+want[1].Ref+`"`) {
			t.Errorf("live message.new %s lacks the images", msg.Payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message.new on the live channel")
	}
	eventually(t, "message.new with the images on the inbox stream", func() bool {
		xs, _ := r.rdb.XRange(ctx, r.sk.InboxEvents(), "-", "+").Result()
		for _, x := range xs {
			var e messageEvent
			if str(x.Values, "t") == session.EventMessageNew && json.Unmarshal([]byte(str(x.Values, "d")), &e) == nil && e.Message.ID == m.ID {
				return sameAttachments(e.Message.Attachments, want) && e.Conversation != nil && e.Conversation.Preview == "看这两张"
			}
		}
		return false
	})

	// The outbox hands them to the connector with the text.
	eventually(t, "the reply sent", func() bool { s, _ := sentOf(&ch.fakeChannel, m.ID); return s != nil })
	if s, _ := sentOf(&ch.fakeChannel, m.ID); s.Kind != connectors.KindText || s.Text != "看这两张" || !sameAttachments(s.Attachments, want) {
		t.Fatalf("the connector got %+v", s)
	}

	// The same key again: the same message, images and all, sent once.
	again, err := r.Reply(ctx, sup, id, ReplyInput{Text: "看这两张", Attachments: atts, IdempotencyKey: "att-1"})
	if err != nil || again.ID != m.ID || !sameAttachments(again.Attachments, want) {
		t.Fatalf("repeat = %+v, %v; want %s with its images", again, err, m.ID)
	}

	// Pictures alone: kind image, the list shows a placeholder.
	only, err := r.Reply(ctx, sup, id, ReplyInput{Attachments: []connectors.Attachment{picture(3)}})
	if err != nil {
		t.Fatal(err)
	}
	if only.Kind != connectors.KindImage || only.Text != "" || len(only.Attachments) != 1 {
		t.Fatalf("image-only reply = %+v", only)
	}
	if c, _ := r.Conversation(ctx, id); c.Preview != imagePreview {
		t.Errorf("preview after an image-only reply %q, want %q", c.Preview, imagePreview)
	}
	eventually(t, "the picture sent", func() bool { s, _ := sentOf(&ch.fakeChannel, only.ID); return s != nil })
	if s, _ := sentOf(&ch.fakeChannel, only.ID); s.Kind != connectors.KindImage || s.Text != "" || len(s.Attachments) != 1 {
		t.Fatalf("the connector got %+v", s)
	}

	// A first request that died before its outbox entry: the retry queues
	// the stored message, with its own text and images, not the retry's.
	first := []connectors.Attachment{picture(4)}
	raw, _ := json.Marshal(first)
	if err := appendOutboundLua.Run(ctx, r.rdb, []string{r.k.conv(id), r.k.convMessages(id), r.k.convDelivery(id),
		r.k.convIdem(id, "att-2"), r.k.convLive(id), r.k.convHistory(id)},
		"FIRSTATT", "out", "first words", sup.ID, sup.Name, ms(time.Now()), 3600, "first words", "{}", 0, "text", string(raw)).Err(); err != nil {
		t.Fatal(err)
	}
	retry, err := r.Reply(ctx, sup, id, ReplyInput{Text: "other words", Attachments: []connectors.Attachment{picture(5)}, IdempotencyKey: "att-2"})
	if err != nil || retry.ID != "FIRSTATT" || !sameAttachments(retry.Attachments, first) || retry.Text != "first words" {
		t.Fatalf("retry = %+v, %v; want FIRSTATT as stored", retry, err)
	}
	eventually(t, "the stored message sent", func() bool { s, _ := sentOf(&ch.fakeChannel, "FIRSTATT"); return s != nil })
	if s, _ := sentOf(&ch.fakeChannel, "FIRSTATT"); s.Text != "first words" || !sameAttachments(s.Attachments, first) || s.Author != sup.Name {
		t.Fatalf("the connector got %+v, want the stored text and image", s)
	}
	if _, n := sentOf(&ch.fakeChannel, m.ID); n != 1 {
		t.Errorf("the first reply was sent %d times, want once", n)
	}
}

// Images are checked before anything is written, and a reply carries them
// only where the channel can; a note may carry them anywhere.
func TestReplyAttachmentRefusals(t *testing.T) {
	sup := session.Agent{ID: "sup", Email: "sup@example.com", Name: "Sup", Role: session.RoleSupervisor,
		Teams: []string{"support"}, Capacity: 5}
	w := newWorld(t, []session.Agent{sup}, nil, nil)
	r, _, _ := w.replica()
	r.reg.Add(&attachingChannel{})
	ctx := context.Background()
	ingest := func(m *connectors.Message) string {
		t.Helper()
		acc, err := r.Ingest(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return acc.ConversationID
	}
	oa1 := ingest(wechatMsg("o-ref-1", "oa1", "in-1", "hi"))
	oa2 := ingest(wechatMsg("o-ref-2", "oa2", "in-2", "hi"))
	web := ingest(webchatMsg("att-visitor-1", "w-1", "hi"))

	with := func(mod func(a *connectors.Attachment)) []connectors.Attachment {
		a := picture(1)
		mod(&a)
		return []connectors.Attachment{a}
	}
	ten := make([]connectors.Attachment, MaxReplyAttachments+1)
	for i := range ten {
		ten[i] = picture(i)
	}
	twice := picture(1)
	for _, tc := range []struct {
		name string
		conv string
		in   ReplyInput
		want error
	}{
		{"neither text nor images", oa1, ReplyInput{Text: "  "}, ErrInvalid},
		{"ten images", oa1, ReplyInput{Text: "x", Attachments: ten}, ErrInvalid},
		{"a ref that is no blob id", oa1, ReplyInput{Text: "x", Attachments: with(func(a *connectors.Attachment) { a.Ref = "../x" })}, ErrInvalid},
		{"an upper-case ref", oa1, ReplyInput{Text: "x", Attachments: with(func(a *connectors.Attachment) { a.Ref = strings.ToUpper(a.Ref) })}, ErrInvalid},
		{"the same image twice", oa1, ReplyInput{Text: "x", Attachments: []connectors.Attachment{twice, twice}}, ErrInvalid},
		{"HTML", oa1, ReplyInput{Text: "x", Attachments: with(func(a *connectors.Attachment) { a.ContentType = "text/html" })}, ErrInvalid},
		{"SVG", oa1, ReplyInput{Text: "x", Attachments: with(func(a *connectors.Attachment) { a.ContentType = "image/svg+xml" })}, ErrInvalid},
		{"no type", oa1, ReplyInput{Text: "x", Attachments: with(func(a *connectors.Attachment) { a.ContentType = "" })}, ErrInvalid},
		{"a name with a control character", oa1, ReplyInput{Text: "x", Attachments: with(func(a *connectors.Attachment) { a.Name = "a\nb.png" })}, ErrInvalid},
		{"a negative size", oa1, ReplyInput{Text: "x", Attachments: with(func(a *connectors.Attachment) { a.Size = -1 })}, ErrInvalid},
		{"an account that carries text only", oa2, ReplyInput{Text: "x", Attachments: with(func(*connectors.Attachment) {})}, ErrAttachUnsupported},
		{"web chat", web, ReplyInput{Text: "x", Attachments: with(func(*connectors.Attachment) {})}, ErrAttachUnsupported},
		{"web chat, images alone", web, ReplyInput{Attachments: with(func(*connectors.Attachment) {})}, ErrAttachUnsupported},
		{"a PDF where only images go", oa1, ReplyInput{Text: "x", Attachments: []connectors.Attachment{picture(1), document(2)}}, ErrAttachUnsupported},
		{"a script", oa1, ReplyInput{Text: "x", Attachments: with(func(a *connectors.Attachment) { a.ContentType = "application/javascript" })}, ErrInvalid},
		{"an XML document", oa1, ReplyInput{Text: "x", Attachments: with(func(a *connectors.Attachment) { a.ContentType = "application/vnd.foo+xml" })}, ErrInvalid},
		{"a mail as a file", oa1, ReplyInput{Text: "x", Attachments: with(func(a *connectors.Attachment) { a.ContentType = "message/rfc822" })}, ErrInvalid},
	} {
		before := footprintOf(t, r, tc.conv)
		_, err := r.Reply(ctx, sup, tc.conv, tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if after := footprintOf(t, r, tc.conv); after != before {
			t.Errorf("%s wrote: before %+v, after %+v", tc.name, before, after)
		}
	}
	if c, _ := r.Conversation(ctx, web); c.CanAttach {
		t.Error("a web-chat conversation says it can carry images")
	}

	note, err := r.Reply(ctx, sup, web, ReplyInput{Attachments: []connectors.Attachment{picture(7)}, Internal: true})
	if err != nil || note.Direction != Note || note.Kind != connectors.KindImage || len(note.Attachments) != 1 || note.Delivery != nil {
		t.Fatalf("note with a picture on web chat = %+v, %v", note, err)
	}
	if n, _ := r.rdb.XLen(ctx, r.k.outbox()).Result(); n != 0 {
		t.Errorf("%d outbox entries, want none (notes are never sent)", n)
	}
}

// Documents go out only on a channel that carries them: a reply of files
// alone is of kind file with its own preview, the connector gets them,
// and the conversation tells the inbox it may attach them. A note may
// carry a document on any channel.
func TestReplyWithDocuments(t *testing.T) {
	sup := session.Agent{ID: "sup", Email: "sup@example.com", Name: "Sup", Role: session.RoleSupervisor,
		Teams: []string{"support"}, Capacity: 5}
	w := newWorld(t, []session.Agent{sup}, nil, nil)
	r, _, ev := w.replica()
	mail := &mailChannel{}
	r.reg.Add(mail)
	r.reg.Add(&attachingChannel{})
	run(t, r, ev)
	ctx := context.Background()
	acc, err := r.Ingest(ctx, &connectors.Message{Channel: connectors.Email, Account: "support", ExternalID: "<1@example.com>",
		From: connectors.Identity{Type: "email", Value: "wang@example.com"}, Kind: connectors.KindText, Text: "请发报价单"})
	if err != nil {
		t.Fatal(err)
	}
	id := acc.ConversationID
	if c, _ := r.Conversation(ctx, id); !c.CanAttach || !c.CanAttachFiles {
		t.Fatalf("mail conversation can_attach %v, can_attach_files %v; want both", c.CanAttach, c.CanAttachFiles)
	}
	m, err := r.Reply(ctx, sup, id, ReplyInput{Attachments: []connectors.Attachment{document(1), picture(2)}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != connectors.KindFile || len(m.Attachments) != 2 {
		t.Fatalf("files-only reply = %+v, want kind file with both files", m)
	}
	if c, _ := r.Conversation(ctx, id); c.Preview != filePreview {
		t.Errorf("preview %q, want %q", c.Preview, filePreview)
	}
	eventually(t, "the mail channel sends the files", func() bool {
		got, n := sentOf(&mail.fakeChannel, m.ID)
		return n == 1 && sameAttachments(got.Attachments, m.Attachments)
	})

	oa := ingestConv(t, r, wechatMsg("o-doc-1", "oa1", "in-doc-1", "hi"))
	if c, _ := r.Conversation(ctx, oa); !c.CanAttach || c.CanAttachFiles {
		t.Errorf("WeChat conversation can_attach %v, can_attach_files %v; want true, false", c.CanAttach, c.CanAttachFiles)
	}
	note, err := r.Reply(ctx, sup, oa, ReplyInput{Attachments: []connectors.Attachment{document(3)}, Internal: true})
	if err != nil || note.Kind != connectors.KindFile || note.Delivery != nil {
		t.Fatalf("note with a document = %+v, %v", note, err)
	}
}

func ingestConv(t *testing.T, r *Router, m *connectors.Message) string {
	t.Helper()
	acc, err := r.Ingest(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return acc.ConversationID
}
