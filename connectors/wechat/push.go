package wechat

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"switchboard/connectors"
	"switchboard/internal/blob"
)

// push is one message or event as WeChat posts it, in XML (official
// accounts, mini-programs) or JSON (mini-programs). In compatible and safe
// mode only ToUserName and Encrypt are read from the outer envelope.
type push struct {
	ToUserName   string     `xml:"ToUserName" json:"ToUserName"`
	FromUserName string     `xml:"FromUserName" json:"FromUserName"`
	CreateTime   flexString `xml:"CreateTime" json:"CreateTime"`
	MsgType      string     `xml:"MsgType" json:"MsgType"`
	// MsgID is a 64-bit integer; kept as its decimal text (a float64 would
	// lose digits).
	MsgID        flexString `xml:"MsgId" json:"MsgId"`
	Content      string     `xml:"Content" json:"Content"`
	Recognition  string     `xml:"Recognition" json:"Recognition"`
	PicURL       string     `xml:"PicUrl" json:"PicUrl"`
	MediaID      string     `xml:"MediaId" json:"MediaId"`
	Format       string     `xml:"Format" json:"Format"`
	ThumbMediaID string     `xml:"ThumbMediaId" json:"ThumbMediaId"`
	LocationX    string     `xml:"Location_X" json:"Location_X"`
	LocationY    string     `xml:"Location_Y" json:"Location_Y"`
	Scale        string     `xml:"Scale" json:"Scale"`
	Label        string     `xml:"Label" json:"Label"`
	Title        string     `xml:"Title" json:"Title"`
	Description  string     `xml:"Description" json:"Description"`
	URL          string     `xml:"Url" json:"Url"`
	// Mini-program page cards.
	AppID    string `xml:"AppId" json:"AppId"`
	PagePath string `xml:"PagePath" json:"PagePath"`
	ThumbURL string `xml:"ThumbUrl" json:"ThumbUrl"`
	// Events.
	Event       string `xml:"Event" json:"Event"`
	EventKey    string `xml:"EventKey" json:"EventKey"`
	Ticket      string `xml:"Ticket" json:"Ticket"`
	Latitude    string `xml:"Latitude" json:"Latitude"`
	Longitude   string `xml:"Longitude" json:"Longitude"`
	SessionFrom string `xml:"SessionFrom" json:"SessionFrom"`
	UnionID     string `xml:"UnionId" json:"UnionId"`
	// Encrypt is the ciphertext in compatible and safe mode.
	Encrypt string `xml:"Encrypt" json:"Encrypt"`
}

// flexString takes a JSON number or string (and XML text) as its exact
// decimal text.
type flexString string

// UnmarshalJSON keeps a number's digits as they were sent.
func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n)
	return nil
}

// Limits on what a push may be.
const (
	maxPushBytes = 256 << 10
	maxText      = 8000 // runes; WeChat allows 2,048 bytes of text, this is generous
)

var (
	errDoctype = errors.New("a DOCTYPE is not allowed")
	openIDRe   = regexp.MustCompile(`^[A-Za-z0-9_-]{6,64}$`)
	digitsRe   = regexp.MustCompile(`^[0-9]{1,20}$`)
)

// isJSON tells a mini-program's JSON push from XML: by Content-Type, and
// by the first byte when the type says neither.
func isJSON(contentType string, body []byte) bool {
	ct := strings.ToLower(contentType)
	switch {
	case strings.Contains(ct, "json"):
		return true
	case strings.Contains(ct, "xml"):
		return false
	}
	t := bytes.TrimSpace(body)
	return len(t) > 0 && t[0] == '{'
}

// parsePush decodes a push body. XML with a DOCTYPE is refused outright.
func parsePush(body []byte, asJSON bool) (push, error) {
	var p push
	if asJSON {
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&p); err != nil {
			return push{}, fmt.Errorf("malformed JSON: %w", err)
		}
		return p, nil
	}
	if bytes.Contains(bytes.ToUpper(body), []byte("<!DOCTYPE")) {
		return push{}, errDoctype
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	var root struct {
		XMLName xml.Name
		push
	}
	if err := dec.Decode(&root); err != nil {
		return push{}, fmt.Errorf("malformed XML: %w", err)
	}
	if root.XMLName.Local != "xml" {
		return push{}, fmt.Errorf("malformed XML: the root element is <%s>, not <xml>", root.XMLName.Local)
	}
	return root.push, nil
}

// normalized is a push turned into the conversation model, with the work
// to do once it is stored.
type normalized struct {
	msg connectors.Message
	// ignore is set for events that are acknowledged but not stored.
	ignore bool
	// media is the WeChat media id to fetch into the blob store after the
	// acknowledgement, and the blob it goes to.
	media, blobID, mediaType string
}

// normalize turns p into a connectors.Message for app. The error is a
// reason safe to give the sender.
func normalize(ch connectors.Channel, app *App, p push, raw []byte, now time.Time, withBlobs bool) (normalized, error) {
	if !openIDRe.MatchString(p.FromUserName) {
		return normalized{}, errors.New("FromUserName is not an openid")
	}
	if p.MsgType == "" {
		return normalized{}, errors.New("MsgType is missing")
	}
	ts := now
	if s := string(p.CreateTime); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil || sec < 0 {
			return normalized{}, errors.New("CreateTime is not a Unix time")
		}
		if sec > 0 {
			ts = time.Unix(sec, 0)
		}
	}
	m := connectors.Message{Channel: ch, Account: app.ID, Time: ts, Raw: raw,
		From:   connectors.Identity{Type: "openid", Value: p.FromUserName},
		Fields: map[string]string{"msg_type": p.MsgType}}
	if p.UnionID != "" && openIDRe.MatchString(p.UnionID) {
		m.Fields["unionid"] = p.UnionID
	}
	if id := string(p.MsgID); id != "" && id != "0" {
		if !digitsRe.MatchString(id) {
			return normalized{}, errors.New("MsgId is not a number")
		}
		m.ExternalID = id
	}
	n := normalized{}
	media := func(kind connectors.Kind, name, ctype string) {
		m.Kind = kind
		if p.MediaID == "" {
			return
		}
		m.Fields["media_id"] = p.MediaID
		if withBlobs {
			n.media, n.mediaType = p.MediaID, string(kind)
			n.blobID = blob.IDFor(string(ch), app.AppID, p.MediaID)
			m.Attachments = []connectors.Attachment{{Name: name, ContentType: ctype, Ref: n.blobID}}
		}
	}
	switch p.MsgType {
	case "text":
		m.Kind, m.Text = connectors.KindText, p.Content
	case "image":
		media(connectors.KindImage, "image.jpg", "image/jpeg")
		if p.PicURL != "" {
			m.Fields["pic_url"] = p.PicURL
		}
		m.Text = "[图片 image]"
	case "voice":
		format := strings.ToLower(p.Format)
		if format == "" {
			format = "amr"
		}
		media(connectors.KindVoice, "voice."+format, "audio/"+format)
		m.Fields["format"] = format
		m.Text = "[语音 voice]"
		if p.Recognition != "" {
			m.Text = p.Recognition
			m.Fields["recognition"] = p.Recognition
		}
	case "video", "shortvideo":
		media(connectors.KindVideo, "video.mp4", "video/mp4")
		if p.ThumbMediaID != "" {
			m.Fields["thumb_media_id"] = p.ThumbMediaID
		}
		m.Text = "[视频 video]"
	case "location":
		m.Kind = connectors.KindLocation
		m.Fields["latitude"], m.Fields["longitude"], m.Fields["scale"] = p.LocationX, p.LocationY, p.Scale
		m.Text = strings.TrimSpace(p.Label + " (" + p.LocationX + ", " + p.LocationY + ")")
	case "link":
		m.Kind = connectors.KindLink
		m.Fields["title"], m.Fields["description"], m.Fields["url"] = p.Title, p.Description, p.URL
		m.Text = strings.TrimSpace(p.Title + "\n" + p.URL)
	case "miniprogrampage":
		m.Kind = connectors.KindLink
		m.Fields["title"], m.Fields["appid"], m.Fields["pagepath"] = p.Title, p.AppID, p.PagePath
		if p.ThumbURL != "" {
			m.Fields["thumb_url"] = p.ThumbURL
		}
		m.Text = strings.TrimSpace("[小程序 mini-program] " + p.Title + " " + p.PagePath)
	case "event":
		if err := event(app, p, &m, &n); err != nil {
			return normalized{}, err
		}
	default:
		// A type WeChat added after this was written: keep it, as text.
		m.Kind = connectors.KindText
		m.Text = "[" + p.MsgType + "]"
	}
	if m.Text == "" && m.Kind == connectors.KindText {
		m.Text = " "
	}
	if !utf8.ValidString(m.Text) {
		return normalized{}, errors.New("text is not UTF-8")
	}
	if r := []rune(m.Text); len(r) > maxText {
		m.Text = string(r[:maxText])
	}
	n.msg = m
	return n, nil
}

// eventText describes events to agents in both languages.
var eventText = map[string]string{
	"subscribe":              "关注了公众号 · followed the account",
	"unsubscribe":            "取消关注 · unfollowed the account",
	"SCAN":                   "扫描了二维码 · scanned a QR code",
	"CLICK":                  "点击了菜单 · clicked a menu",
	"VIEW":                   "打开了菜单链接 · opened a menu link",
	"LOCATION":               "上报了位置 · reported a location",
	"user_enter_tempsession": "进入了客服会话 · opened customer service",
}

// event fills m for an event push. Events have no MsgId; WeChat's advice
// is to deduplicate them by sender and CreateTime, to which the event and
// its key are added so two different clicks in one second stay two.
func event(app *App, p push, m *connectors.Message, n *normalized) error {
	if p.Event == "" {
		return errors.New("the Event element is missing")
	}
	m.Kind = connectors.KindEvent
	// Events open at most a minute-long window on WeChat's side (follow,
	// scan, menu click) or none: only messages open the 48 hours.
	m.Passive = true
	m.Fields["event"] = p.Event
	for _, ig := range app.IgnoreEvents {
		if ig == p.Event {
			n.ignore = true
		}
	}
	if m.ExternalID == "" {
		m.ExternalID = "ev:" + string(p.CreateTime) + ":" + p.Event + ":" + p.EventKey
	}
	key := p.EventKey
	switch p.Event {
	case "subscribe":
		// A follow through a parametric QR code carries qrscene_<scene>.
		if scene, ok := strings.CutPrefix(key, "qrscene_"); ok {
			m.Fields["scene"], m.Fields["source"] = scene, "qr"
		}
	case "SCAN":
		m.Fields["scene"], m.Fields["source"] = key, "qr"
	case "VIEW":
		m.Fields["url"] = key
	case "user_enter_tempsession":
		m.Fields["session_from"] = p.SessionFrom
	case "LOCATION":
		m.Fields["latitude"], m.Fields["longitude"] = p.Latitude, p.Longitude
	}
	if key != "" {
		m.Fields["event_key"] = key
	}
	if p.Ticket != "" {
		m.Fields["ticket"] = p.Ticket
	}
	m.Text = eventText[p.Event]
	if m.Text == "" {
		m.Text = "[" + p.Event + "]"
	}
	if s := m.Fields["scene"]; s != "" {
		m.Text += " (" + s + ")"
	}
	return nil
}
