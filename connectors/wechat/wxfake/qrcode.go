package wxfake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Parametric QR codes (生成带参数的二维码):
//
//	POST /cgi-bin/qrcode/create?access_token=
//
// with {"action_name", "expire_seconds", "action_info":{"scene":{"scene_id"
// or "scene_str"}}}. Like WeChat, the fake answers a permanent code
// (QR_LIMIT_SCENE, QR_LIMIT_STR_SCENE) with the same ticket and URL for the
// same app and scene, and a temporary one (QR_SCENE, QR_STR_SCENE) with
// expire_seconds (default 30, at most 2,592,000). A scene_str must have
// 1–64 bytes, a permanent scene_id be 1–100000; anything else is 40097
// (invalid args). SceneTicket and SceneURL say what it answers.

// qrRequest is the body of qrcode/create.
type qrRequest struct {
	ActionName    string `json:"action_name"`
	ExpireSeconds int64  `json:"expire_seconds"`
	ActionInfo    struct {
		Scene struct {
			SceneID  int64  `json:"scene_id"`
			SceneStr string `json:"scene_str"`
		} `json:"scene"`
	} `json:"action_info"`
}

// SceneTicket is the ticket the fake gives app appID's QR code of scene
// (a scene_str, or a scene_id in decimal).
func SceneTicket(appID, scene string) string { return "gQ" + sceneHash("ticket", appID, scene) }

// SceneURL is what the fake's QR code of scene for appID encodes.
func SceneURL(appID, scene string) string {
	return "http://weixin.qq.com/q/" + sceneHash("url", appID, scene)[:22]
}

func sceneHash(kind, appID, scene string) string {
	sum := sha256.Sum256([]byte(kind + "|" + appID + "|" + scene))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (s *Server) handleQRCreate(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return // client went away
	}
	s.mu.Lock()
	appID, e := s.tokenState(r.URL.Query().Get("access_token"), time.Now())
	s.mu.Unlock()
	if e != nil {
		writeErr(w, *e)
		return
	}
	var q qrRequest
	if err := json.Unmarshal(raw, &q); err != nil {
		writeErr(w, apiError{47001, "data format error"})
		return
	}
	invalid := apiError{40097, "invalid args"}
	scene := q.ActionInfo.Scene.SceneStr
	switch q.ActionName {
	case "QR_STR_SCENE", "QR_LIMIT_STR_SCENE":
		if scene == "" || len(scene) > 64 {
			writeErr(w, invalid)
			return
		}
	case "QR_SCENE", "QR_LIMIT_SCENE":
		id := q.ActionInfo.Scene.SceneID
		if id <= 0 || (q.ActionName == "QR_LIMIT_SCENE" && id > 100000) {
			writeErr(w, invalid)
			return
		}
		scene = strconv.FormatInt(id, 10)
	default:
		writeErr(w, invalid)
		return
	}
	ans := map[string]any{"ticket": SceneTicket(appID, scene), "url": SceneURL(appID, scene)}
	if q.ActionName == "QR_SCENE" || q.ActionName == "QR_STR_SCENE" {
		exp := q.ExpireSeconds
		if exp <= 0 {
			exp = 30
		}
		ans["expire_seconds"] = min(exp, 2592000)
	}
	writeJSON(w, ans)
}
