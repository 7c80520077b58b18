// Package wxfake is a loopback fake of the WeChat server API
// (api.weixin.qq.com) for tests: access tokens, customer-service messages,
// temporary media and user info, answered the way WeChat answers them.
//
// Point the code under test at URL() instead of https://api.weixin.qq.com.
// The fake serves
//
//	GET  /cgi-bin/token?grant_type=client_credential&appid=&secret=
//	POST /cgi-bin/stable_token
//	POST /cgi-bin/message/custom/send?access_token=
//	POST /cgi-bin/media/upload?access_token=&type=
//	GET  /cgi-bin/media/get?access_token=&media_id=
//	GET  /cgi-bin/user/info?access_token=&openid=&lang=
//	POST /cgi-bin/qrcode/create?access_token=       (qrcode.go)
//
// and, like WeChat, answers every error with HTTP 200 and a JSON body
// {"errcode":N,"errmsg":"..."} (Content-Type "application/json;
// encoding=utf-8").
//
// # Tokens
//
// Every call of /cgi-bin/token issues a new token; the app's previous token
// from that endpoint stays valid for the grace period (SetGrace, default 0:
// invalid at once) and then answers 40001. /cgi-bin/stable_token returns the
// app's current stable token while it is valid and issues a new one when it
// is not or when force_refresh is true (the previous stable token then gets
// the same grace period). As on WeChat, the two endpoints keep separate
// tokens: refreshing one does not invalidate the other. Tokens live for the
// token TTL (SetTokenTTL, default 7200s) and then answer 42001; ExpireTokens
// and InvalidateTokens end them early.
//
// Checks of access_token on the other endpoints, in order: missing → 41001,
// characters outside [A-Za-z0-9_-] → 40014, unknown or invalidated →
// 40001, expired (ExpireTokens or TTL) → 42001, replaced past its grace
// period → 40001.
//
// # Recording and scripting
//
// Every custom/send call is recorded (Attempts, Sent, WaitSent), as are
// uploads (Uploads) and token requests (TokenFetches, TokensIssued). Tests
// inject failures with FailNextSend and FailNextToken, slow the server down
// with SetDelay, and register users and inbound media with AddUser and
// AddMedia. A Server is safe for concurrent use.
package wxfake

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// DefaultTokenTTL is the lifetime of issued access tokens unless SetTokenTTL
// changes it; it is WeChat's expires_in of 7200 seconds.
const DefaultTokenTTL = 7200 * time.Second

// App is a WeChat official account the fake knows: the appid and appsecret
// the token endpoints accept.
type App struct {
	AppID  string
	Secret string
}

// User is a follower of an app that /cgi-bin/user/info reports. Empty
// fields are omitted from the answer.
type User struct {
	OpenID     string
	Nickname   string
	HeadImgURL string
	UnionID    string
}

// Send is one recorded call of /cgi-bin/message/custom/send.
type Send struct {
	// AppID is the app the access token belongs to, "" when the token was
	// not recognised.
	AppID string
	// Token is the access_token query parameter as sent.
	Token string
	// ToUser and MsgType are the body's touser and msgtype.
	ToUser  string
	MsgType string
	// Content is text.content of a text message.
	Content string
	// MediaID is the media_id of an image, voice or video message.
	MediaID string
	// Body is the decoded JSON body, nil when the body was not a JSON
	// object. Each call of Attempts or Sent decodes a fresh copy.
	Body map[string]any
	// Raw is the request body as received.
	Raw []byte
	// ErrCode and ErrMsg are what the fake answered; ErrCode 0 means the
	// message was delivered.
	ErrCode int
	ErrMsg  string
	// At is when the fake received the call.
	At time.Time
}

// Upload is one successful call of /cgi-bin/media/upload.
type Upload struct {
	AppID string
	// Type is the type query parameter: image, voice, video or thumb.
	Type    string
	MediaID string
	// Filename and ContentType are those of the multipart part named
	// "media", as sent.
	Filename    string
	ContentType string
	Data        []byte
	CreatedAt   time.Time
}

// Server is the fake WeChat API, listening on 127.0.0.1. Create it with New
// and stop it with Close.
type Server struct {
	ts        *httptest.Server
	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every recorded event
	apps     map[string]*appState
	tokens   map[string]*token
	media    map[mediaKey]*media
	grace    time.Duration
	ttl      time.Duration
	delay    time.Duration
	sendErrs []apiError
	tokErrs  []apiError
	sends    []Send
	uploads  []Upload
	rid      uint32
}

type appState struct {
	secret  string
	current [2]string // current token per slot (slotToken, slotStable)
	fetches int
	issued  int
	users   map[string]User
}

const (
	slotToken  = 0 // issued by /cgi-bin/token
	slotStable = 1 // issued by /cgi-bin/stable_token
)

type token struct {
	app       string
	slot      int
	expiresAt time.Time
	graceEnd  time.Time // zero while the token is its slot's current one
	expired   bool      // ExpireTokens
	invalid   bool      // InvalidateTokens
}

type mediaKey struct{ app, id string }

type media struct {
	kind        string // image, voice, video, thumb; "" = any
	contentType string
	data        []byte
}

type apiError struct {
	code int
	msg  string
}

// New starts a fake serving the given apps on a loopback port.
func New(apps ...App) *Server {
	s := &Server{
		closing: make(chan struct{}),
		changed: make(chan struct{}),
		apps:    make(map[string]*appState),
		tokens:  make(map[string]*token),
		media:   make(map[mediaKey]*media),
		ttl:     DefaultTokenTTL,
	}
	for _, a := range apps {
		s.apps[a.AppID] = &appState{secret: a.Secret, users: make(map[string]User)}
	}
	s.ts = httptest.NewServer(s.handler())
	return s
}

// URL is the fake's base URL, http://127.0.0.1:PORT, to use as the API base
// in place of https://api.weixin.qq.com.
func (s *Server) URL() string { return s.ts.URL }

// Client returns an HTTP client configured for the fake.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close cuts pending delays short, closes client connections and stops
// the server. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

// SetGrace sets how long an app's previous token stays valid after the same
// endpoint issued a new one. The default, 0, invalidates it at once. It
// applies to tokens replaced after the call.
func (s *Server) SetGrace(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grace = max(d, 0)
}

// SetTokenTTL sets the lifetime of tokens issued after the call; d <= 0
// restores DefaultTokenTTL. expires_in reports it rounded up to a second.
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		d = DefaultTokenTTL
	}
	s.ttl = d
}

// SetDelay makes the fake wait d before handling each request; 0 turns
// the delay off. A request whose client gives up during the delay is
// dropped unhandled: no token is issued and nothing is recorded.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = max(d, 0)
}

// FailNextSend queues an error for custom/send. Queued errors are answered,
// in order, by the next custom/send calls that carry a valid access token
// and a JSON body, instead of delivering them; such calls are recorded with
// the injected errcode.
func (s *Server) FailNextSend(errcode int, errmsg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendErrs = append(s.sendErrs, apiError{errcode, errmsg})
}

// FailNextToken queues an error for the token endpoints. Queued errors are
// answered, in order, by the next calls of /cgi-bin/token or
// /cgi-bin/stable_token whose appid and secret are right, instead of a
// token; no token is issued by such calls.
func (s *Server) FailNextToken(errcode int, errmsg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokErrs = append(s.tokErrs, apiError{errcode, errmsg})
}

// ExpireTokens makes every token issued so far to the app answer 42001
// (access_token expired). The next stable_token call issues a new token.
func (s *Server) ExpireTokens(appID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.app == appID {
			t.expired = true
		}
	}
}

// InvalidateTokens makes every token issued so far to the app answer 40001
// (invalid credential), as after a secret reset or a refresh elsewhere.
// The next stable_token call issues a new token.
func (s *Server) InvalidateTokens(appID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.app == appID {
			t.invalid = true
		}
	}
}

// AddUser registers a follower that /cgi-bin/user/info reports to the app;
// appID "" registers it for every app. It replaces a user of the same
// OpenID.
func (s *Server) AddUser(appID string, u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, a := range s.apps {
		if appID == "" || id == appID {
			a.users[u.OpenID] = u
		}
	}
}

// AddMedia stores media, as if a customer had sent it, that
// /cgi-bin/media/get returns and custom/send accepts. appID "" makes it
// visible to every app. The media type (image, voice, video) follows from
// contentType; an unrecognised content type fits any message type.
func (s *Server) AddMedia(appID, mediaID, contentType string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.media[mediaKey{appID, mediaID}] = &media{
		kind:        kindOf(contentType),
		contentType: contentType,
		data:        clone(data),
	}
}

// TokenFetches reports how many requests to /cgi-bin/token and
// /cgi-bin/stable_token named the app, whatever their outcome.
func (s *Server) TokenFetches(appID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps[appID]; a != nil {
		return a.fetches
	}
	return 0
}

// TokensIssued reports how many new tokens the two token endpoints issued
// to the app (a stable_token call that returned the current token issues
// none).
func (s *Server) TokensIssued(appID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps[appID]; a != nil {
		return a.issued
	}
	return 0
}

// Attempts returns every custom/send call so far, failed or not, in the
// order received.
func (s *Server) Attempts() []Send {
	return s.sendsWhere(func(Send) bool { return true })
}

// Sent returns the delivered messages (custom/send calls answered with
// errcode 0), in the order received.
func (s *Server) Sent() []Send {
	return s.sendsWhere(func(x Send) bool { return x.ErrCode == 0 })
}

func (s *Server) sendsWhere(keep func(Send) bool) []Send {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Send
	for _, x := range s.sends {
		if keep(x) {
			out = append(out, copySend(x))
		}
	}
	return out
}

// Uploads returns the successful media uploads so far, in order.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Upload, len(s.uploads))
	for i, u := range s.uploads {
		u.Data = clone(u.Data)
		out[i] = u
	}
	return out
}

// WaitSent waits until at least n messages were delivered and returns them
// all (as Sent does), or returns the error of ctx with those delivered so
// far.
func (s *Server) WaitSent(ctx context.Context, n int) ([]Send, error) {
	err := s.Wait(ctx, func() bool { return s.countSent() >= n })
	if err != nil {
		return s.Sent(), fmt.Errorf("wxfake: waiting for %d sent messages, have %d: %w", n, s.countSent(), err)
	}
	return s.Sent(), nil
}

func (s *Server) countSent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, x := range s.sends {
		if x.ErrCode == 0 {
			n++
		}
	}
	return n
}

// Wait waits until cond returns true, or returns the error of ctx. cond is
// evaluated now and after each request the fake recorded (send, upload,
// token request); it may call the Server's methods.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wxfake: wait: %w", ctx.Err())
		}
	}
}

// notify wakes waiters; s.mu must be held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// issue makes a new token for the app's slot; the slot's previous token
// keeps working for the grace period. s.mu must be held.
func (s *Server) issue(appID string, a *appState, slot int, now time.Time) (string, *token) {
	if old := s.tokens[a.current[slot]]; old != nil {
		end := now.Add(s.grace)
		if old.graceEnd.IsZero() || end.Before(old.graceEnd) {
			old.graceEnd = end
		}
	}
	id := randomID()
	t := &token{app: appID, slot: slot, expiresAt: now.Add(s.ttl)}
	s.tokens[id] = t
	a.current[slot] = id
	a.issued++
	return id, t
}

// tokenState classifies a token at now; s.mu must be held.
func (s *Server) tokenState(tok string, now time.Time) (appID string, e *apiError) {
	switch {
	case tok == "":
		return "", &apiError{41001, "access_token missing " + s.ridLocked(now)}
	case !wellFormed(tok):
		return "", &apiError{40014, "invalid access_token"}
	}
	t := s.tokens[tok]
	switch {
	case t == nil:
		return "", &apiError{40001, "invalid credential, access_token is invalid or not latest " + s.ridLocked(now)}
	case t.invalid:
		return t.app, &apiError{40001, "invalid credential, access_token is invalid or not latest " + s.ridLocked(now)}
	case t.expired || !now.Before(t.expiresAt):
		return t.app, &apiError{42001, "access_token expired " + s.ridLocked(now)}
	case !t.graceEnd.IsZero() && !now.Before(t.graceEnd):
		return t.app, &apiError{40001, "invalid credential, access_token is invalid or not latest " + s.ridLocked(now)}
	}
	return t.app, nil
}

// usable reports whether t may still be handed out by stable_token.
func (t *token) usable(now time.Time) bool {
	return t != nil && !t.invalid && !t.expired && t.graceEnd.IsZero() && now.Before(t.expiresAt)
}

// ridLocked makes a WeChat-like request id suffix; s.mu must be held.
func (s *Server) ridLocked(now time.Time) string {
	s.rid++
	return fmt.Sprintf("rid: %08x-%08x", uint32(now.Unix()), s.rid)
}

// lookupMedia finds media visible to the app; s.mu must be held.
func (s *Server) lookupMedia(appID, id string) *media {
	if m := s.media[mediaKey{appID, id}]; m != nil {
		return m
	}
	return s.media[mediaKey{"", id}]
}

func wellFormed(tok string) bool {
	for _, c := range tok {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// randomID returns 64 characters of [A-Za-z0-9_-], the shape of WeChat's
// tokens and media ids.
func randomID() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func kindOf(contentType string) string {
	switch {
	case strings.HasPrefix(contentType, "image/"):
		return "image"
	case strings.HasPrefix(contentType, "audio/"):
		return "voice"
	case strings.HasPrefix(contentType, "video/"):
		return "video"
	}
	return ""
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
