package router

import (
	"context"
	"errors"
	"testing"

	"switchboard/connectors"
	"switchboard/session"
)

func mail(from, ext, key, join, text string) *connectors.Message {
	return &connectors.Message{Channel: connectors.Email, Account: "support", ExternalID: ext,
		From: connectors.Identity{Type: "email", Value: from}, Kind: connectors.KindText, Text: text,
		Thread: connectors.Thread{Key: key, Conversation: join}}
}

// Threads keep one customer's e-mail conversations apart; a reply the
// channel matched joins its thread's conversation whoever of its
// participants wrote it; a reply to a closed thread opens the thread's
// next conversation.
func TestThreads(t *testing.T) {
	sup := session.Agent{ID: "sup", Email: "sup@example.com", Name: "Sup", Role: session.RoleSupervisor,
		Teams: []string{"support"}, Capacity: 5}
	w := newWorld(t, []session.Agent{sup}, nil, nil)
	r, _, _ := w.replica()
	ctx := context.Background()

	a1 := ingestT(t, r, mail("wang@example.cn", "<m1@x>", "threadA", "", "订单没到"))
	b1 := ingestT(t, r, mail("wang@example.cn", "<m2@x>", "threadB", "", "发票问题"))
	if a1.ConversationID == b1.ConversationID {
		t.Fatal("two threads of one customer share a conversation")
	}
	if a1.CustomerID != b1.CustomerID {
		t.Error("one sender became two customers")
	}
	a2 := ingestT(t, r, mail("wang@example.cn", "<m3@x>", "threadA", "", "还没到"))
	if a2.ConversationID != a1.ConversationID || a2.NewConversation {
		t.Errorf("same thread key: conversation %s (new %v), want %s", a2.ConversationID, a2.NewConversation, a1.ConversationID)
	}

	// A colleague on Cc answers in thread A: the message joins it, the
	// colleague is a customer of their own, the conversation keeps its.
	c1 := ingestT(t, r, mail("li@example.cn", "<m4@x>", "threadA", a1.ConversationID, "我是同事，补充一下"))
	if c1.ConversationID != a1.ConversationID || c1.CustomerID == a1.CustomerID {
		t.Errorf("colleague's reply: %+v", c1)
	}
	conv, err := r.Conversation(ctx, a1.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	if conv.CustomerID != a1.CustomerID {
		t.Errorf("the conversation's customer became %s", conv.CustomerID)
	}
	// A channel's retry of the joined message is one message.
	again := ingestT(t, r, mail("li@example.cn", "<m4@x>", "threadA", a1.ConversationID, "我是同事，补充一下"))
	if !again.Duplicate || again.MessageID != c1.MessageID {
		t.Errorf("retried join: %+v", again)
	}

	// Thread A closes; a reply to it opens its next conversation, and the
	// thread's later mail follows that one.
	if _, err := r.Update(ctx, sup, a1.ConversationID, Patch{Status: ptr("closed")}); err != nil {
		t.Fatal(err)
	}
	a3 := ingestT(t, r, mail("wang@example.cn", "<m5@x>", "threadA", a1.ConversationID, "又有问题了"))
	if a3.ConversationID == a1.ConversationID || !a3.NewConversation {
		t.Fatalf("reply to a closed thread: %+v", a3)
	}
	a4 := ingestT(t, r, mail("wang@example.cn", "<m6@x>", "threadA", "", "补充"))
	if a4.ConversationID != a3.ConversationID {
		t.Errorf("the thread's next mail went to %s, want %s", a4.ConversationID, a3.ConversationID)
	}
	// Thread B was not touched by any of it.
	b2 := ingestT(t, r, mail("wang@example.cn", "<m7@x>", "threadB", "", "发票"))
	if b2.ConversationID != b1.ConversationID {
		t.Errorf("thread B moved to %s", b2.ConversationID)
	}
	n, err := r.rdb.XLen(ctx, r.k.convMessages(a1.ConversationID)).Result()
	if err != nil || n != 3 {
		t.Errorf("thread A's first conversation has %d messages, want 3", n)
	}
}

func TestThreadValidation(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	r, _, _ := w.replica()
	for _, m := range []*connectors.Message{
		mail("a@example.com", "1", "bad key with spaces", "", "x"),
		mail("a@example.com", "2", "k", "{c:evil}", "x"),
		mail("a@example.com", "3", "k", "a:b", "x"),
	} {
		if _, err := r.Ingest(context.Background(), m); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", m.Thread, err)
		}
	}
}
