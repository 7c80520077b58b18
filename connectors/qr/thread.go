package qr

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
)

// Keys of a tracking page, all under the hash tag {qrt:TOKEN}, and the
// conversation's pointer back to it.
func (c *Connector) trackKey(tok string) string { return c.env.Prefix + "{qrt:" + tok + "}:track" }
func (c *Connector) topic(tok string) string    { return c.env.Prefix + "{qrt:" + tok + "}:events" }
func (c *Connector) marker(tok, msg string) string {
	return c.env.Prefix + "{qrt:" + tok + "}:m:" + msg
}
func (c *Connector) convKey(conv string) string { return c.env.Prefix + "qr:conv:" + conv }

// tracked is a tracking page's record: whose submission it is and where
// their messages go.
type tracked struct {
	Code         string
	Conversation string
	From         connectors.Identity
	Thread       string // the conversation's thread key
	Email        string // the e-mail address the customer left, if any
	Lang         string
	AssetName    string
	AssetSite    string
	AssetSerial  string
	Created      time.Time
}

func (t tracked) fields() map[string]any {
	return map[string]any{"code": t.Code, "conv": t.Conversation, "from_type": t.From.Type, "from": t.From.Value,
		"name": t.From.Name, "thread": t.Thread, "email": t.Email, "lang": t.Lang, "asset": t.AssetName,
		"site": t.AssetSite, "serial": t.AssetSerial, "created": t.Created.UnixMilli()}
}

func trackedFrom(h map[string]string) tracked {
	ms, _ := strconv.ParseInt(h["created"], 10, 64)
	return tracked{Code: h["code"], Conversation: h["conv"], Thread: h["thread"], Email: h["email"], Lang: h["lang"],
		From:      connectors.Identity{Type: h["from_type"], Value: h["from"], Name: h["name"]},
		AssetName: h["asset"], AssetSite: h["site"], AssetSerial: h["serial"], Created: time.UnixMilli(ms)}
}

// saveTrack writes a tracking page's record and the conversation's
// pointer to it, each living track_days after this write.
func (c *Connector) saveTrack(ctx context.Context, tok string, t tracked) error {
	ttl := c.cfg.trackTTL()
	p := c.env.Redis.Pipeline()
	p.HSet(ctx, c.trackKey(tok), t.fields())
	p.Expire(ctx, c.trackKey(tok), ttl)
	p.Set(ctx, c.convKey(t.Conversation), tok, ttl)
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("qr: save tracking page: %w", err)
	}
	return nil
}

// loadTrack reads a tracking page's record; ok is false when there is
// none.
func (c *Connector) loadTrack(ctx context.Context, tok string) (tracked, bool, error) {
	h, err := c.env.Redis.HGetAll(ctx, c.trackKey(tok)).Result()
	if err != nil {
		return tracked{}, false, fmt.Errorf("qr: load tracking page: %w", err)
	}
	if h["conv"] == "" {
		return tracked{}, false, nil
	}
	return trackedFrom(h), true, nil
}

// touch keeps a tracking page and its pointer alive for track_days more.
func (c *Connector) touch(ctx context.Context, tok, conv string) {
	ttl := c.cfg.trackTTL()
	p := c.env.Redis.Pipeline()
	p.Expire(ctx, c.trackKey(tok), ttl)
	p.Expire(ctx, c.convKey(conv), ttl)
	if _, err := p.Exec(ctx); err != nil && err != redis.Nil {
		c.env.Log.Warn("qr: keep tracking page", "err", err)
	}
}

// threadEvent is one entry of a tracking page's thread.
type threadEvent struct {
	MessageID string `json:"message_id"`
	// Direction is in (the customer's) or out (an agent's reply).
	Direction string    `json:"direction"`
	Text      string    `json:"text"`
	Author    string    `json:"author,omitempty"`
	Answers   []answer  `json:"answers,omitempty"`
	Photos    int       `json:"photos,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Survey is set on a satisfaction survey (survey.go).
	Survey *threadSurvey `json:"survey,omitempty"`
}

// publish puts an event on a tracking page's thread once: a retry with
// the same message id finds it there.
func (c *Connector) publish(ctx context.Context, tok string, ev threadEvent) (string, error) {
	data, _ := json.Marshal(ev)
	return c.hub.PublishOnce(ctx, c.topic(tok), c.marker(tok, ev.MessageID), "message", data)
}
