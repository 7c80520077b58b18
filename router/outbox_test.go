package router

import (
	"context"
	"errors"
	"testing"

	"switchboard/connectors"
)

func TestOutboxIdempotencyAndRetries(t *testing.T) {
	x := withAssigned(t, agentsN(1, 5, "support"), "outbox-visitor-1")
	w, r, id, a := x.w, x.r, x.conv, x.agents[0]
	ctx := context.Background()

	// A double-clicked send: one message, one send.
	m1, err := r.Reply(ctx, a, id, ReplyInput{Text: "hello", IdempotencyKey: "click-1"})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := r.Reply(ctx, a, id, ReplyInput{Text: "hello", IdempotencyKey: "click-1"})
	if err != nil {
		t.Fatal(err)
	}
	if m1.ID != m2.ID {
		t.Fatalf("same key gave two messages: %s, %s", m1.ID, m2.ID)
	}
	eventually(t, "sent", func() bool { return delivery(t, r, id, m1.ID) == "sent" })

	// Temporary failures are retried until the channel takes it.
	w.ch.mu.Lock()
	w.ch.errs = []error{connectors.Temporary("busy", errors.New("try later")), connectors.Temporary("busy", errors.New("try later"))}
	w.ch.mu.Unlock()
	m3, err := r.Reply(ctx, a, id, ReplyInput{Text: "after retries"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "sent after two retries", func() bool { return delivery(t, r, id, m3.ID) == "sent" })

	// A permanent failure ends as failed, with the channel's code.
	w.ch.mu.Lock()
	w.ch.errs = []error{connectors.Permanent("45015", errors.New("reply window expired"))}
	w.ch.mu.Unlock()
	m4, err := r.Reply(ctx, a, id, ReplyInput{Text: "too late"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "failed", func() bool { return delivery(t, r, id, m4.ID) == "failed" })
	msgs, _ := r.Messages(ctx, id, "", "", 0)
	var d *Delivery
	for _, m := range msgs {
		if m.ID == m4.ID {
			d = m.Delivery
		}
	}
	if d == nil || d.Code != "45015" || d.Error == "" {
		t.Fatalf("failed delivery = %+v, want the channel's code and error", d)
	}

	counts := map[string]int{}
	for _, s := range w.ch.Sent() {
		counts[s.ID]++
	}
	if counts[m1.ID] != 1 || counts[m3.ID] != 1 || counts[m4.ID] != 0 {
		t.Fatalf("sends per message = %v", counts)
	}
	// Notes never leave.
	note, err := r.Reply(ctx, a, id, ReplyInput{Text: "internal only", Internal: true})
	if err != nil || note.Direction != Note || note.Delivery != nil {
		t.Fatalf("note = %+v, %v", note, err)
	}
}

func delivery(t *testing.T, r *Router, conv, msg string) string {
	msgs, err := r.Messages(context.Background(), conv, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.ID == msg && m.Delivery != nil {
			return m.Delivery.Status
		}
	}
	return ""
}
