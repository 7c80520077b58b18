package router

import (
	"fmt"
	"time"

	"switchboard/connectors"
)

// replyWindow is how long after the customer's last message account on ch
// accepts replies: the connector's connectors.Windowed answer, zero when
// it has none (no limit).
func (r *Router) replyWindow(ch connectors.Channel, account string) time.Duration {
	if r.reg == nil {
		return 0
	}
	c, ok := r.reg.Get(ch)
	if !ok {
		return 0
	}
	w, ok := c.(connectors.Windowed)
	if !ok {
		return 0
	}
	return max(w.ReplyWindow(account), 0)
}

// replyUntil is the end of the reply window that opened at lastIn, or nil
// when the channel has no window.
func (r *Router) replyUntil(ch connectors.Channel, account string, lastIn time.Time) *time.Time {
	w := r.replyWindow(ch, account)
	if w == 0 {
		return nil
	}
	until := lastIn.Add(w).UTC()
	return &until
}

// conversation builds a conversation from its hash, with the end of its
// reply window and whether replies may carry images. The window opens
// with the customer's last message (last_in_at), or the creation when
// that is missing, as in append_outbound.lua.
func (r *Router) conversation(h map[string]string) Conversation {
	c := conversationFrom(h)
	lastIn := msTime(h["last_in_at"])
	if lastIn.IsZero() {
		lastIn = msTime(h["created_at"])
	}
	if lastIn.IsZero() {
		lastIn = time.UnixMilli(0)
	}
	c.ReplyUntil = r.replyUntil(c.Channel, c.Account, lastIn)
	c.CanAttach = r.canAttach(c.Channel, c.Account)
	c.CanAttachFiles = c.CanAttach && r.canAttachDocuments(c.Channel, c.Account)
	return c
}

// windowClosed is the error of a reply refused because the window of
// conversation c, w long, ended at until.
func windowClosed(c Conversation, w time.Duration, until time.Time) error {
	return fmt.Errorf("%w: the %s channel accepts replies only within %s of the customer's last message; it closed at %s",
		ErrWindowClosed, c.Channel, windowText(w), until.UTC().Format(time.RFC3339))
}

// windowText writes a window length the short way: 48h, 90m, 1h30m0s.
func windowText(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
