package qr

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"switchboard/connectors"
	"switchboard/internal/redistest"
)

func TestSend(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	c, err := New(connectors.Env{Redis: rdb, Prefix: prefix, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		func(any) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	q := c.(*Connector)
	ctx := context.Background()
	tok := "AAAAAAAAAAAAAAAAAAAAAAAA"
	if err := q.saveTrack(ctx, tok, tracked{Code: "0123456789ab", Conversation: "conv1",
		From: connectors.Identity{Type: "phone", Value: "+8613800138000"}, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	reply := &connectors.Outbound{ID: "out1", ConversationID: "conv1", Channel: connectors.QR, Account: "0123456789ab",
		Kind: connectors.KindText, Text: "马上到", Author: "李明"}
	for range 2 { // an outbox retry
		if _, err := q.Send(ctx, reply); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := q.hub.Read(ctx, q.topic(tok), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d events on the thread after a retried send, want 1", len(evs))
	}
	if it := q.shown("zh", evs[0]); it.Direction != "out" || it.Text != "马上到" || it.Who != "客服 · 李明" {
		t.Errorf("shown as %+v", it)
	}

	cases := []struct {
		name string
		m    connectors.Outbound
		code string
	}{
		{"no tracking page", connectors.Outbound{ID: "out2", ConversationID: "gone", Text: "x"}, "no_tracking_page"},
		{"attachments", connectors.Outbound{ID: "out3", ConversationID: "conv1", Text: "x",
			Attachments: []connectors.Attachment{{Ref: "0123456789abcdef0123456789abcdef"}}}, "attachments_unsupported"},
	}
	for _, tc := range cases {
		_, err := q.Send(ctx, &tc.m)
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Temporary || ce.Code != tc.code {
			t.Errorf("%s: %v, want a permanent %s", tc.name, err, tc.code)
		}
	}
	if _, err := q.Send(ctx, &connectors.Outbound{ID: "out4", ConversationID: "conv1", Kind: connectors.KindImage}); !errors.Is(err, connectors.ErrUnsupported) {
		t.Errorf("an image: %v, want ErrUnsupported", err)
	}
}
