package wxfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// jsonContentType is what WeChat sends with its JSON answers.
const jsonContentType = "application/json; encoding=utf-8"

// Upload size limits of WeChat's temporary media.
var maxUploadSize = map[string]int{
	"image": 10 << 20,
	"voice": 2 << 20,
	"video": 10 << 20,
	"thumb": 64 << 10,
}

var uploadSizeErr = map[string]apiError{
	"image": {40009, "invalid image size"},
	"voice": {40010, "invalid voice size"},
	"video": {40011, "invalid video size"},
	"thumb": {40012, "invalid thumb size"},
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/cgi-bin/token", s.only(http.MethodGet, s.handleToken))
	mux.HandleFunc("/cgi-bin/stable_token", s.only(http.MethodPost, s.handleStableToken))
	mux.HandleFunc("/cgi-bin/message/custom/send", s.only(http.MethodPost, s.handleSend))
	mux.HandleFunc("/cgi-bin/media/upload", s.only(http.MethodPost, s.handleUpload))
	mux.HandleFunc("/cgi-bin/media/get", s.only(http.MethodGet, s.handleMediaGet))
	mux.HandleFunc("/cgi-bin/user/info", s.only(http.MethodGet, s.handleUserInfo))
	mux.HandleFunc("/cgi-bin/qrcode/create", s.only(http.MethodPost, s.handleQRCreate))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.wait(r) {
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// wait applies the configured delay; false means the request is to be
// dropped because its client went away or the server is closing.
func (s *Server) wait(r *http.Request) bool {
	s.mu.Lock()
	d := s.delay
	s.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.closing:
	}
	return false
}

// only answers WeChat's 43001/43002 to requests of the wrong method.
func (s *Server) only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == method {
			h(w, r)
			return
		}
		if method == http.MethodGet {
			writeErr(w, apiError{43001, "require GET method"})
		} else {
			writeErr(w, apiError{43002, "require POST method"})
		}
	}
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ans, e := s.token(q.Get("grant_type"), q.Get("appid"), q.Get("secret"), slotToken, true)
	if e != nil {
		writeErr(w, *e)
		return
	}
	writeJSON(w, ans)
}

func (s *Server) handleStableToken(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // client went away
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeErr(w, apiError{44002, "empty post data"})
		return
	}
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeErr(w, apiError{47001, "data format error"})
		return
	}
	ans, e := s.token(req.GrantType, req.AppID, req.Secret, slotStable, req.ForceRefresh)
	if e != nil {
		writeErr(w, *e)
		return
	}
	writeJSON(w, ans)
}

// token serves both token endpoints; renew false returns the slot's current
// token while it is usable.
func (s *Server) token(grantType, appID, secret string, slot int, renew bool) (tokenAnswer, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notify()
	if appID == "" {
		return tokenAnswer{}, &apiError{41002, "appid missing"}
	}
	a := s.apps[appID]
	if a == nil {
		return tokenAnswer{}, &apiError{40013, "invalid appid"}
	}
	a.fetches++
	switch {
	case secret == "":
		return tokenAnswer{}, &apiError{41004, "appsecret missing"}
	case secret != a.secret:
		return tokenAnswer{}, &apiError{40125, "invalid appsecret"}
	case grantType != "client_credential":
		return tokenAnswer{}, &apiError{40002, "invalid grant_type"}
	}
	if len(s.tokErrs) > 0 {
		e := s.tokErrs[0]
		s.tokErrs = s.tokErrs[1:]
		return tokenAnswer{}, &e
	}
	now := time.Now()
	id := a.current[slot]
	t := s.tokens[id]
	if renew || !t.usable(now) {
		id, t = s.issue(appID, a, slot, now)
	}
	return tokenAnswer{AccessToken: id, ExpiresIn: ceilSeconds(t.expiresAt.Sub(now))}, nil
}

func ceilSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

// sendBody is the part of a custom/send body the fake checks.
type sendBody struct {
	ToUser  string `json:"touser"`
	MsgType string `json:"msgtype"`
	Text    *struct {
		Content string `json:"content"`
	} `json:"text"`
	Image *mediaRef `json:"image"`
	Voice *mediaRef `json:"voice"`
	Video *mediaRef `json:"video"`
}

type mediaRef struct {
	MediaID string `json:"media_id"`
}

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return // client went away
	}
	now := time.Now()
	rec := Send{Token: r.URL.Query().Get("access_token"), Raw: raw, At: now}
	var body sendBody
	bodyErr := json.Unmarshal(raw, &body)
	if bodyErr == nil {
		rec.ToUser, rec.MsgType = body.ToUser, body.MsgType
		switch {
		case body.Text != nil && body.MsgType == "text":
			rec.Content = body.Text.Content
		case body.Image != nil && body.MsgType == "image":
			rec.MediaID = body.Image.MediaID
		case body.Voice != nil && body.MsgType == "voice":
			rec.MediaID = body.Voice.MediaID
		case body.Video != nil && body.MsgType == "video":
			rec.MediaID = body.Video.MediaID
		}
	}

	s.mu.Lock()
	e := s.checkSend(&rec, body, bodyErr, now)
	if e != nil {
		rec.ErrCode, rec.ErrMsg = e.code, e.msg
	} else {
		rec.ErrMsg = "ok"
	}
	s.sends = append(s.sends, rec)
	s.notify()
	s.mu.Unlock()

	writeErr(w, apiError{rec.ErrCode, rec.ErrMsg})
}

// checkSend decides the answer to a custom/send call; s.mu must be held.
func (s *Server) checkSend(rec *Send, body sendBody, bodyErr error, now time.Time) *apiError {
	appID, e := s.tokenState(rec.Token, now)
	rec.AppID = appID
	if e != nil {
		return e
	}
	if len(bytes.TrimSpace(rec.Raw)) == 0 {
		return &apiError{44002, "empty post data"}
	}
	if bodyErr != nil {
		return &apiError{47001, "data format error"}
	}
	if len(s.sendErrs) > 0 {
		e := s.sendErrs[0]
		s.sendErrs = s.sendErrs[1:]
		return &e
	}
	if body.ToUser == "" {
		return &apiError{40003, "invalid openid"}
	}
	switch body.MsgType {
	case "text":
		if rec.Content == "" {
			return &apiError{44004, "empty content"}
		}
	case "image", "voice", "video":
		m := s.lookupMedia(appID, rec.MediaID)
		if rec.MediaID == "" || m == nil || (m.kind != "" && m.kind != body.MsgType) {
			return &apiError{40007, "invalid media_id"}
		}
	case "music", "news", "mpnews", "mpnewsarticle", "msgmenu", "wxcard", "miniprogrampage":
		// Accepted without further checks.
	default:
		return &apiError{40008, "invalid message type"}
	}
	return nil
}

func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	appID, e := s.tokenState(q.Get("access_token"), time.Now())
	s.mu.Unlock()
	if e != nil {
		writeErr(w, *e)
		return
	}
	kind := q.Get("type")
	limit, ok := maxUploadSize[kind]
	if !ok {
		writeErr(w, apiError{40004, "invalid media type"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<20)
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeErr(w, uploadSizeErr[kind])
			return
		}
		writeErr(w, apiError{41005, "media data missing"})
		return
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	f, fh, err := r.FormFile("media")
	if err != nil {
		writeErr(w, apiError{41005, "media data missing"})
		return
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(f)
	if err != nil {
		writeErr(w, apiError{41005, "media data missing"})
		return
	}
	if len(data) == 0 {
		writeErr(w, apiError{41005, "media data missing"})
		return
	}
	if len(data) > limit {
		writeErr(w, uploadSizeErr[kind])
		return
	}

	ct := fh.Header.Get("Content-Type")
	served := ct
	if served == "" || served == "application/octet-stream" {
		served = http.DetectContentType(data)
	}
	now := time.Now()
	id := randomID()
	s.mu.Lock()
	s.media[mediaKey{appID, id}] = &media{kind: kind, contentType: served, data: data}
	s.uploads = append(s.uploads, Upload{
		AppID: appID, Type: kind, MediaID: id,
		Filename: fh.Filename, ContentType: ct, Data: clone(data), CreatedAt: now,
	})
	s.notify()
	s.mu.Unlock()

	ans := map[string]any{"type": kind, "created_at": now.Unix()}
	if kind == "thumb" {
		ans["thumb_media_id"] = id
	} else {
		ans["media_id"] = id
	}
	writeJSON(w, ans)
}

func (s *Server) handleMediaGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("media_id")
	s.mu.Lock()
	appID, e := s.tokenState(q.Get("access_token"), time.Now())
	var m *media
	if e == nil {
		m = s.lookupMedia(appID, id)
	}
	s.mu.Unlock()
	if e != nil {
		writeErr(w, *e)
		return
	}
	if id == "" || m == nil {
		writeErr(w, apiError{40007, "invalid media_id"})
		return
	}
	ct := m.contentType
	if ct == "" {
		ct = http.DetectContentType(m.data)
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", `attachment; filename="`+id+extension(ct)+`"`)
	h.Set("Content-Length", strconv.Itoa(len(m.data)))
	_, _ = w.Write(m.data)
}

// extension picks the file name extension WeChat would give media of the
// content type.
func extension(ct string) string {
	ct, _, _ = strings.Cut(ct, ";")
	switch strings.TrimSpace(strings.ToLower(ct)) {
	case "image/png":
		return ".png"
	case "image/gif":
		return ".gif"
	case "audio/amr":
		return ".amr"
	case "audio/mpeg", "audio/mp3":
		return ".mp3"
	case "audio/speex":
		return ".speex"
	case "video/mp4":
		return ".mp4"
	}
	switch {
	case strings.HasPrefix(ct, "image/"):
		return ".jpg"
	case strings.HasPrefix(ct, "audio/"):
		return ".amr"
	case strings.HasPrefix(ct, "video/"):
		return ".mp4"
	}
	return ".bin"
}

type userAnswer struct {
	Subscribe  int    `json:"subscribe"`
	OpenID     string `json:"openid"`
	Nickname   string `json:"nickname,omitempty"`
	HeadImgURL string `json:"headimgurl,omitempty"`
	UnionID    string `json:"unionid,omitempty"`
}

func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	openID := q.Get("openid")
	s.mu.Lock()
	appID, e := s.tokenState(q.Get("access_token"), time.Now())
	var u User
	found := false
	if e == nil {
		u, found = s.apps[appID].users[openID]
	}
	s.mu.Unlock()
	if e != nil {
		writeErr(w, *e)
		return
	}
	if openID == "" || !found {
		writeErr(w, apiError{40003, "invalid openid"})
		return
	}
	writeJSON(w, userAnswer{
		Subscribe: 1, OpenID: u.OpenID, Nickname: u.Nickname,
		HeadImgURL: u.HeadImgURL, UnionID: u.UnionID,
	})
}

func writeErr(w http.ResponseWriter, e apiError) {
	writeJSON(w, struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}{e.code, e.msg})
}

// writeJSON answers HTTP 200 with v, without escaping HTML characters, as
// WeChat does.
func writeJSON(w http.ResponseWriter, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, "wxfake: encoding answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}

// copySend returns x with its own copy of Raw and a freshly decoded Body.
func copySend(x Send) Send {
	x.Raw = clone(x.Raw)
	x.Body = nil
	var body map[string]any
	if json.Unmarshal(x.Raw, &body) == nil {
		x.Body = body
	}
	return x
}
