package wechat

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"switchboard/connectors"
)

// APIError is an answer from WeChat's API with a non-zero errcode.
type APIError struct {
	Code int
	// Msg is WeChat's errmsg without its request-id suffix.
	Msg string
}

func (e *APIError) Error() string { return fmt.Sprintf("WeChat errcode %d: %s", e.Code, e.Msg) }

// tokenRejected reports the errcodes that mean "this access token is no
// good": refresh it once and try again.
func tokenRejected(code int) bool { return code == 40001 || code == 40014 || code == 42001 }

// cleanErrMsg drops the " rid: …" and " hint: […]" WeChat appends.
func cleanErrMsg(s string) string {
	for _, sep := range []string{" rid:", " hint:", ", rid:"} {
		if i := strings.Index(s, sep); i >= 0 {
			s = s[:i]
		}
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.TrimSpace(s)
}

// client calls WeChat's server API for one app. The access token is kept in
// Redis for every replica; one replica at a time refreshes it.
type client struct {
	app    *App
	http   *http.Client
	rdb    redis.UniversalClient
	prefix string
	m      *metrics
	flight singleflight.Group
}

func newClient(a *App, env connectors.Env, m *metrics) *client {
	return &client{app: a, http: env.HTTP, rdb: env.Redis, prefix: env.Prefix, m: m}
}

func (c *client) tokenKey() string { return c.prefix + "{wx:" + c.app.AppID + "}:token" }
func (c *client) lockKey() string  { return c.prefix + "{wx:" + c.app.AppID + "}:token:lock" }

// Token lifetimes.
const (
	tokenEarly   = 5 * time.Minute  // refresh this long before WeChat's expiry
	lockTTL      = 20 * time.Second // a refresher that dies frees the lock after this
	tokenWaitMax = 15 * time.Second // how long to wait for another replica's refresh
)

// releaseLua deletes the lock only if it is still ours.
var releaseLua = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// token returns a valid access token. stale, when set, is a token WeChat
// just rejected: a different one is returned, refreshed from WeChat if no
// other replica has done so already. Callers in this process share one
// lookup.
func (c *client) token(ctx context.Context, stale string) (string, error) {
	v, err, _ := c.flight.Do("t:"+stale, func() (any, error) {
		// Shared by every caller waiting on it: not bound to the first
		// caller's deadline.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tokenWaitMax+5*time.Second)
		defer cancel()
		return c.sharedToken(sctx, stale)
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (c *client) sharedToken(ctx context.Context, stale string) (string, error) {
	deadline := time.Now().Add(tokenWaitMax)
	for {
		tok, err := c.rdb.Get(ctx, c.tokenKey()).Result()
		switch {
		case err == nil && tok != "" && tok != stale:
			return tok, nil
		case err != nil && !errors.Is(err, redis.Nil):
			return "", connectors.Temporary("", fmt.Errorf("wechat: read access token: %w", err))
		}
		var raw [12]byte
		_, _ = rand.Read(raw[:])
		mine := hex.EncodeToString(raw[:])
		ok, err := c.rdb.SetNX(ctx, c.lockKey(), mine, lockTTL).Result()
		if err != nil {
			return "", connectors.Temporary("", fmt.Errorf("wechat: token lock: %w", err))
		}
		if ok {
			return c.refresh(ctx, stale, mine)
		}
		if time.Now().After(deadline) {
			return "", connectors.Temporary("", errors.New("wechat: another replica is refreshing the access token and has not finished"))
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// refresh fetches a token from WeChat while holding the lock.
func (c *client) refresh(ctx context.Context, stale, lock string) (string, error) {
	defer releaseLua.Run(context.WithoutCancel(ctx), c.rdb, []string{c.lockKey()}, lock)
	// Another replica may have stored a fresh token between our read and
	// our lock.
	if tok, err := c.rdb.Get(ctx, c.tokenKey()).Result(); err == nil && tok != "" && tok != stale {
		return tok, nil
	}
	tok, life, err := c.fetchToken(ctx, stale != "")
	if err != nil {
		return "", err
	}
	ttl := life - tokenEarly
	if ttl < 30*time.Second {
		ttl = life / 2
	}
	if err := c.rdb.Set(ctx, c.tokenKey(), tok, ttl).Err(); err != nil {
		return "", connectors.Temporary("", fmt.Errorf("wechat: store access token: %w", err))
	}
	return tok, nil
}

// fetchToken asks WeChat for a token: /cgi-bin/token, or the stable-token
// API (forced when the current token was rejected).
func (c *client) fetchToken(ctx context.Context, force bool) (string, time.Duration, error) {
	var req *http.Request
	var err error
	if c.app.StableToken {
		body, _ := json.Marshal(map[string]any{"grant_type": "client_credential", "appid": c.app.AppID,
			"secret": c.app.AppSecret, "force_refresh": force})
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.app.APIBase+"/cgi-bin/stable_token", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	} else {
		q := url.Values{"grant_type": {"client_credential"}, "appid": {c.app.AppID}, "secret": {c.app.AppSecret}}
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, c.app.APIBase+"/cgi-bin/token?"+q.Encode(), nil)
	}
	if err != nil {
		return "", 0, fmt.Errorf("wechat: token request: %w", err)
	}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := c.roundTrip(req, "token", &out); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Code != -1 {
			// A wrong AppSecret, AppID or IP allow-list: retrying does not help,
			// and it must not read as a rejected token to the caller.
			return "", 0, connectors.Permanent(strconv.Itoa(ae.Code), fmt.Errorf(
				"wechat: token: AppID, AppSecret or the IP allow-list is wrong (%d %s)", ae.Code, ae.Msg))
		}
		return "", 0, err
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return "", 0, connectors.Temporary("", errors.New("wechat: token answer without a token"))
	}
	c.m.tokens.WithLabelValues(c.app.ID).Inc()
	return out.AccessToken, time.Duration(out.ExpiresIn) * time.Second, nil
}

// do sends req. A transport error never carries the URL (it holds the
// token or the secret).
func (c *client) do(req *http.Request, endpoint string) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		c.m.api.WithLabelValues(endpoint, "http").Inc()
		return nil, connectors.Temporary("", fmt.Errorf("wechat: %s: %w", endpoint, err))
	}
	return resp, nil
}

// roundTrip sends req and decodes a JSON answer into out, turning a
// non-zero errcode into *APIError.
func (c *client) roundTrip(req *http.Request, endpoint string, out any) error {
	resp, err := c.do(req, endpoint)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return c.jsonAnswer(endpoint, out)(resp)
}

func (c *client) decode(endpoint string, status int, body []byte, out any) error {
	var e struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		c.m.api.WithLabelValues(endpoint, "http").Inc()
		return connectors.Temporary("", fmt.Errorf("wechat: %s: HTTP %d, not JSON", endpoint, status))
	}
	if e.ErrCode != 0 {
		c.m.api.WithLabelValues(endpoint, strconv.Itoa(e.ErrCode)).Inc()
		return &APIError{Code: e.ErrCode, Msg: cleanErrMsg(e.ErrMsg)}
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("wechat: %s: %w", endpoint, err)
		}
	}
	return nil
}

// call runs an API request built for a token; a rejected token is refreshed
// once and the request sent again.
func (c *client) call(ctx context.Context, endpoint string, build func(token string) (*http.Request, error), handle func(*http.Response) error) error {
	tok, err := c.token(ctx, "")
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		req, err := build(tok)
		if err != nil {
			return fmt.Errorf("wechat: %s: %w", endpoint, err)
		}
		resp, err := c.do(req, endpoint)
		if err != nil {
			return err
		}
		err = handle(resp)
		resp.Body.Close()
		var ae *APIError
		if attempt == 0 && errors.As(err, &ae) && tokenRejected(ae.Code) {
			if tok, err = c.token(ctx, tok); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

// postJSON calls a JSON API with the token in the query.
func (c *client) postJSON(ctx context.Context, endpoint, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("wechat: %s: %w", endpoint, err)
	}
	return c.call(ctx, endpoint, func(tok string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.app.APIBase+path+"?access_token="+url.QueryEscape(tok), bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
		}
		return req, err
	}, c.jsonAnswer(endpoint, out))
}

func (c *client) jsonAnswer(endpoint string, out any) func(*http.Response) error {
	return func(resp *http.Response) error {
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return connectors.Temporary("", fmt.Errorf("wechat: %s: read answer: %w", endpoint, err))
		}
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			c.m.api.WithLabelValues(endpoint, "http").Inc()
			return connectors.Temporary("", fmt.Errorf("wechat: %s: HTTP %d", endpoint, resp.StatusCode))
		}
		return c.decode(endpoint, resp.StatusCode, body, out)
	}
}

// sendCustom sends one customer-service message (客服消息).
func (c *client) sendCustom(ctx context.Context, msg map[string]any) error {
	return c.postJSON(ctx, "custom_send", "/cgi-bin/message/custom/send", msg, nil)
}

// uploadImage uploads temporary media and returns its media id.
func (c *client) uploadImage(ctx context.Context, name, ctype string, data []byte) (string, error) {
	var out struct {
		MediaID string `json:"media_id"`
	}
	err := c.call(ctx, "media_upload", func(tok string) (*http.Request, error) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		h := make(map[string][]string)
		// WeChat's parser takes no RFC 2231 names (a Chinese file name would
		// come out as filename*= and be refused as "media data missing"),
		// and it ignores the name anyway: send a plain one.
		h["Content-Disposition"] = []string{mime.FormatMediaType("form-data", map[string]string{"name": "media", "filename": asciiName(name, ctype)})}
		h["Content-Type"] = []string{ctype}
		part, err := w.CreatePart(h)
		if err != nil {
			return nil, err
		}
		if _, err := part.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			c.app.APIBase+"/cgi-bin/media/upload?type=image&access_token="+url.QueryEscape(tok), &buf)
		if err == nil {
			req.Header.Set("Content-Type", w.FormDataContentType())
		}
		return req, err
	}, c.jsonAnswer("media_upload", &out))
	if err == nil && out.MediaID == "" {
		err = connectors.Temporary("", errors.New("wechat: media upload answer without a media_id"))
	}
	return out.MediaID, err
}

// asciiName is name when it is plain ASCII without quotes, else "image"
// with the extension of ctype.
func asciiName(name, ctype string) string {
	ok := name != ""
	for _, r := range name {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			ok = false
		}
	}
	if ok {
		return name
	}
	switch ctype {
	case "image/png":
		return "image.png"
	case "image/gif":
		return "image.gif"
	}
	return "image.jpg"
}

// media is a downloaded media file.
type media struct {
	data        []byte
	contentType string
}

// getMedia downloads temporary media (valid three days after the push).
func (c *client) getMedia(ctx context.Context, id string, limit int64) (media, error) {
	var got media
	err := c.call(ctx, "media_get", func(tok string) (*http.Request, error) {
		q := url.Values{"access_token": {tok}, "media_id": {id}}
		return http.NewRequestWithContext(ctx, http.MethodGet, c.app.APIBase+"/cgi-bin/media/get?"+q.Encode(), nil)
	}, func(resp *http.Response) error {
		ct := resp.Header.Get("Content-Type")
		mt, _, _ := mime.ParseMediaType(ct)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			c.m.api.WithLabelValues("media_get", "http").Inc()
			return connectors.Temporary("", fmt.Errorf("wechat: media_get: HTTP %d", resp.StatusCode))
		}
		if resp.StatusCode != http.StatusOK {
			// A proxy's error page is not the media.
			c.m.api.WithLabelValues("media_get", "http").Inc()
			return connectors.Permanent("", fmt.Errorf("wechat: media_get: HTTP %d", resp.StatusCode))
		}
		if mt == "application/json" || mt == "text/plain" {
			body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if err != nil {
				return connectors.Temporary("", fmt.Errorf("wechat: media_get: %w", err))
			}
			// Videos come back as JSON with a download URL; everything else
			// that is JSON is an error.
			var v struct {
				VideoURL string `json:"video_url"`
			}
			if err := c.decode("media_get", resp.StatusCode, body, &v); err != nil {
				return err
			}
			if v.VideoURL == "" {
				return connectors.Permanent("", errors.New("wechat: media_get: JSON answer without media"))
			}
			return errVideoURL{v.VideoURL}
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return connectors.Temporary("", fmt.Errorf("wechat: media_get: %w", err))
		}
		if int64(len(data)) > limit {
			return connectors.Permanent("", fmt.Errorf("wechat: media_get: larger than %d bytes", limit))
		}
		got = media{data: data, contentType: mt}
		return nil
	})
	var vu errVideoURL
	if errors.As(err, &vu) {
		return c.download(ctx, vu.url, limit)
	}
	return got, err
}

// errVideoURL carries a video's download URL out of getMedia's handler.
type errVideoURL struct{ url string }

func (e errVideoURL) Error() string { return "video at a URL" }

// download fetches a media URL WeChat handed out.
func (c *client) download(ctx context.Context, u string, limit int64) (media, error) {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") {
		return media{}, fmt.Errorf("wechat: media URL is not http(s)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return media{}, fmt.Errorf("wechat: media download: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return media{}, connectors.Temporary("", fmt.Errorf("wechat: media download failed"))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return media{}, connectors.Temporary("", fmt.Errorf("wechat: media download: HTTP %d", resp.StatusCode))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return media{}, connectors.Temporary("", fmt.Errorf("wechat: media download: cut short"))
	}
	if int64(len(data)) > limit {
		return media{}, connectors.Permanent("", fmt.Errorf("wechat: media download: larger than %d bytes", limit))
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return media{data: data, contentType: mt}, nil
}

// userInfo is what /cgi-bin/user/info tells about a follower.
type userInfo struct {
	Subscribe  int    `json:"subscribe"`
	OpenID     string `json:"openid"`
	Nickname   string `json:"nickname"`
	HeadImgURL string `json:"headimgurl"`
	UnionID    string `json:"unionid"`
}

// userInfo asks about a follower of an official account.
func (c *client) userInfo(ctx context.Context, openid string) (userInfo, error) {
	var out userInfo
	err := c.call(ctx, "user_info", func(tok string) (*http.Request, error) {
		q := url.Values{"access_token": {tok}, "openid": {openid}, "lang": {"zh_CN"}}
		return http.NewRequestWithContext(ctx, http.MethodGet, c.app.APIBase+"/cgi-bin/user/info?"+q.Encode(), nil)
	}, c.jsonAnswer("user_info", &out))
	return out, err
}
