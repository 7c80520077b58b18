package wechat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
)

// Job kinds.
const (
	jobMedia   = "media"
	jobProfile = "profile"
	jobSay     = "say"
	jobLink    = "link"
)

// profileEvery is how often a customer's WeChat profile is looked up.
const profileEvery = 24 * time.Hour

// queueAfterAck queues the slow work a push calls for: fetching its media
// (WeChat keeps it three days), the follower's profile, the link of a
// unionid the push names. It is one XADD before the acknowledgement, also
// for a retried push (its first delivery may have died before queueing;
// every job is idempotent), and a failure refuses the acknowledgement, so
// WeChat's retry queues it again.
func (c *Connector) queueAfterAck(ctx context.Context, a *App, n normalized, acc connectors.Accepted) error {
	var entries [][]any
	if n.media != "" {
		entries = append(entries, []any{"kind", jobMedia, "app", a.ID, "media", n.media, "blob", n.blobID, "type", n.mediaType})
	}
	if u := n.msg.Fields["unionid"]; u != "" && acc.CustomerID != "" {
		// The push itself names the person across apps.
		entries = append(entries, []any{"kind", jobLink, "app", a.ID, "unionid", u, "customer", acc.CustomerID})
	}
	if c.ch == connectors.WeChatOA && *a.FetchProfile && acc.CustomerID != "" {
		entries = append(entries, []any{"kind", jobProfile, "app", a.ID, "openid", n.msg.From.Value, "customer", acc.CustomerID})
	}
	if len(entries) == 0 || c.env.Redis == nil {
		return nil
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	p := c.env.Redis.Pipeline()
	for _, e := range entries {
		p.XAdd(qctx, &redis.XAddArgs{Stream: c.jobStream(), MaxLen: 100000, Approx: true, Values: e})
	}
	if _, err := p.Exec(qctx); err != nil {
		return &connectors.Error{Status: http.StatusServiceUnavailable, Msg: "not queued, retry", Err: err}
	}
	return nil
}

// queueSay queues an automatic message to a customer, sent through the
// customer-service API after the acknowledgement, once per message id.
func (c *Connector) queueSay(ctx context.Context, a *App, openid, id, text string) error {
	if c.env.Redis == nil {
		return nil
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err := c.env.Redis.XAdd(qctx, &redis.XAddArgs{Stream: c.jobStream(), MaxLen: 100000, Approx: true,
		Values: []any{"kind", jobSay, "app", a.ID, "openid", openid, "id", id, "text", text}}).Err()
	if err != nil {
		return &connectors.Error{Status: http.StatusServiceUnavailable, Msg: "not queued, retry", Err: err}
	}
	return nil
}

// handleJob does one queued piece of work. A failure worth retrying is
// returned (the job stays pending and is tried again); one that will not
// get better is logged and dropped.
func (c *Connector) handleJob(ctx context.Context, m redis.XMessage) error {
	get := func(k string) string { s, _ := m.Values[k].(string); return s }
	a := c.apps[get("app")]
	if a == nil {
		return nil // the app left the configuration
	}
	var err error
	switch get("kind") {
	case jobMedia:
		err = c.fetchMedia(ctx, a, get("media"), get("blob"))
	case jobProfile:
		err = c.fetchProfile(ctx, a, get("openid"), get("customer"))
	case jobLink:
		if pr, ok := c.env.In.(connectors.Profiler); ok && get("customer") != "" {
			err = pr.UpdateProfile(ctx, get("customer"), connectors.Profile{
				Also: []connectors.Identity{{Type: "unionid", Value: get("unionid")}}})
		}
	case jobSay:
		err = c.once(ctx, a, "say:"+get("id"), 1, func() error {
			return c.clients[a.ID].sendCustom(ctx, map[string]any{"touser": get("openid"), "msgtype": "text",
				"text": map[string]string{"content": get("text")}})
		})
	}
	var ce *connectors.Error
	if err != nil && errors.As(err, &ce) && !ce.Temporary {
		c.env.Log.Warn("wechat: giving up on after-ack work", "app", a.ID, "kind", get("kind"), "err", err)
		return nil
	}
	var ae *APIError
	if errors.As(err, &ae) && !tokenRejected(ae.Code) && ae.Code != -1 {
		c.env.Log.Warn("wechat: giving up on after-ack work", "app", a.ID, "kind", get("kind"), "err", err)
		return nil
	}
	return err
}

// fetchMedia copies a push's media into the blob store under the id its
// message already names.
func (c *Connector) fetchMedia(ctx context.Context, a *App, mediaID, blobID string) error {
	if c.env.Blobs == nil || c.env.Blobs.Exists(blobID) {
		return nil
	}
	got, err := c.clients[a.ID].getMedia(ctx, mediaID, c.env.Blobs.MaxBlob())
	if err != nil {
		return err
	}
	if _, err := c.env.Blobs.Put(ctx, blobID, bytes.NewReader(got.data), "", got.contentType); err != nil {
		return fmt.Errorf("wechat: store media: %w", err)
	}
	return nil
}

// fetchProfile looks a follower up (at most daily) and tells the router
// the name, avatar and unionid it learnt.
func (c *Connector) fetchProfile(ctx context.Context, a *App, openid, customer string) error {
	pr, ok := c.env.In.(connectors.Profiler)
	if !ok || openid == "" || customer == "" {
		return nil
	}
	mark := c.env.Prefix + "{wx:" + a.AppID + "}:profiled:" + openid
	if fresh, err := c.env.Redis.SetNX(ctx, mark, "1", profileEvery).Result(); err != nil || !fresh {
		return err
	}
	done := false
	defer func() {
		if !done { // let the retry look again
			c.env.Redis.Del(context.WithoutCancel(ctx), mark)
		}
	}()
	u, err := c.clients[a.ID].userInfo(ctx, openid)
	if err != nil {
		return err
	}
	p := connectors.Profile{Name: u.Nickname, Avatar: u.HeadImgURL}
	if u.UnionID != "" {
		p.Also = append(p.Also, connectors.Identity{Type: "unionid", Value: u.UnionID})
	}
	if p.Name != "" || p.Avatar != "" || len(p.Also) > 0 {
		if err := pr.UpdateProfile(ctx, customer, p); err != nil {
			return err
		}
	}
	done = true
	return nil
}
