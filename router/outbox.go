package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/internal/rdb"
	"switchboard/session"
)

// Outbox tuning.
const (
	maxAttempts = 8
	sendLease   = 90 * time.Second
	sendTimeout = 45 * time.Second // the handler's budget is a minute
)

// outItem is one outbox entry: everything a connector needs to send.
type outItem struct {
	Conv       string                  `json:"conv"`
	Msg        string                  `json:"msg"`
	Channel    connectors.Channel      `json:"ch"`
	Account    string                  `json:"acct"`
	To         connectors.Identity     `json:"to"`
	Kind       connectors.Kind         `json:"kind"`
	Text       string                  `json:"text"`
	Author     string                  `json:"author,omitempty"`
	AuthorName string                  `json:"aname,omitempty"`
	Attempt    int                     `json:"attempt"`
	At         int64                   `json:"at"`
	Thread     connectors.Thread       `json:"thread,omitzero"`
	Attach     []connectors.Attachment `json:"att,omitempty"`
	// Auto marks an automatic message (connectors.Outbound.Automatic).
	Auto   bool               `json:"auto,omitempty"`
	Survey *connectors.Survey `json:"survey,omitempty"`
}

// outboxKey keeps one conversation's sends in order on one worker.
func outboxKey(m redis.XMessage) string {
	var it struct {
		Conv string `json:"conv"`
	}
	_ = json.Unmarshal([]byte(str(m.Values, "m")), &it)
	return it.Conv
}

func (r *Router) handleOutbox(ctx context.Context, m redis.XMessage) error {
	var it outItem
	if err := json.Unmarshal([]byte(str(m.Values, "m")), &it); err != nil || it.Conv == "" || it.Msg == "" {
		r.log.Error("router: unreadable outbox entry dropped", "id", m.ID)
		return nil
	}
	ok, err := claimSendLua.Run(ctx, r.rdb, []string{r.k.convDelivery(it.Conv)}, it.Msg, ms(r.now()), sendLease.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("router: claim send: %w", err)
	}
	if ok == 0 {
		return nil // sent already, or another replica is on it
	}
	conn, found := r.reg.Get(it.Channel)
	if !found {
		return r.finishSend(ctx, it, nil, connectors.Permanent("no_connector",
			fmt.Errorf("no connector for channel %s", it.Channel)))
	}
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	rcpt, err := conn.Send(sctx, &connectors.Outbound{
		ID: it.Msg, ConversationID: it.Conv, Channel: it.Channel, Account: it.Account, To: it.To,
		Kind: it.Kind, Text: it.Text, Attachments: it.Attach, Thread: it.Thread, Author: it.AuthorName,
		Time: time.UnixMilli(it.At).UTC(), Automatic: it.Auto, Survey: it.Survey,
	})
	// Record the outcome on a fresh context: a send that used its whole
	// budget must still be recorded, or it would be retried without count.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer fcancel()
	return r.finishSend(fctx, it, &rcpt, err)
}

// finishSend records the outcome of a send attempt: sent, retry later, or
// failed with the channel's error; and tells the author.
func (r *Router) finishSend(ctx context.Context, it outItem, rcpt *connectors.Receipt, sendErr error) error {
	now := r.now()
	d := Delivery{Status: "sent", Attempts: it.Attempt + 1, UpdatedAt: now.UTC()}
	retry := false
	if sendErr != nil {
		var ce *connectors.Error
		temporary := true // an error the channel did not classify may pass
		if errors.As(sendErr, &ce) {
			temporary, d.Code = ce.Temporary, ce.Code
		}
		if errors.Is(sendErr, connectors.ErrUnsupported) {
			temporary, d.Code = false, "unsupported"
		}
		d.Error = sendErr.Error()
		retry = temporary && it.Attempt+1 < maxAttempts
		kind := "permanent"
		if temporary {
			kind = "temporary"
		}
		r.metrics.failures.WithLabelValues(string(it.Channel), kind).Inc()
		d.Status = "failed"
		if retry {
			d.Status = "queued"
		}
	} else {
		r.metrics.sent.WithLabelValues(string(it.Channel)).Inc()
		if rcpt != nil {
			d.ExternalID = rcpt.ExternalID
		}
	}
	b := rdb.NewBatch(r.rdb)
	p := b.Pipe()
	p.HSet(ctx, r.k.convDelivery(it.Conv), it.Msg, d.Status, it.Msg+":at", ms(now), it.Msg+":err", d.Error,
		it.Msg+":code", d.Code, it.Msg+":attempts", d.Attempts, it.Msg+":ext", d.ExternalID)
	if retry {
		next := it
		next.Attempt++
		raw, _ := json.Marshal(next)
		p.ZAdd(ctx, r.k.retry(), redis.Z{Score: float64(ms(now.Add(backoff(it.Attempt)))), Member: string(raw)})
	}
	data, _ := json.Marshal(map[string]any{"conversation_id": it.Conv, "message_id": it.Msg, "delivery": d})
	if it.Author != "" {
		r.events.QueueToAgent(ctx, b, it.Author, session.EventMessageDelivery, data)
	}
	if err := r.commit.Exec(ctx, b); err != nil {
		return fmt.Errorf("router: record delivery: %w", err)
	}
	_ = r.events.Notify(ctx, r.k.convLive(it.Conv), session.EventMessageDelivery, data)
	return nil
}

// backoff is the wait before attempt n+1: 1 s, 2 s, 4 s …, doubling
// (at most 5 minutes), with jitter so retries from many sends spread
// out. With maxAttempts 8 the last wait is 32–64 s.
func backoff(n int) time.Duration {
	d := time.Second << min(n, 9)
	d = min(d, 5*time.Minute)
	return d/2 + rand.N(d/2+1)
}

// retryTick moves due retries back onto the outbox.
func (r *Router) retryTick(ctx context.Context) error {
	return retryDueLua.Run(ctx, r.rdb, []string{r.k.retry(), r.k.outbox()}, ms(r.now())).Err()
}
