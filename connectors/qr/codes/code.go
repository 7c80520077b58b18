// Package codes holds the QR self-service codes: what a code is bound to
// (an asset or a place, a team, extra form fields), how a code is checked,
// and how codes are kept in Redis. The QR connector, the agent API and the
// WeChat connector (which resolves parametric QR codes) share it.
package codes

import (
	"crypto/rand"
	"regexp"
	"time"
)

// Code is one QR code and what it stands for.
type Code struct {
	// Code is the random, unguessable id printed in the QR code's URL.
	Code  string `json:"code"`
	Asset Asset  `json:"asset"`
	// Team receives the code's tickets when no routing rule matches;
	// empty leaves them to the rules and the default team.
	Team string `json:"team,omitempty"`
	// Fields are extra questions the form asks, in order.
	Fields []Field `json:"fields"`
	// WeChatOA is the official account (channels.wechat_oa id) through
	// which the code is also offered as a WeChat parametric QR code.
	WeChatOA string `json:"wechat_oa,omitempty"`
	// WeChat is the WeChat QR code once it was created.
	WeChat *WeChatQR `json:"wechat,omitempty"`
	// Disabled codes show customers an out-of-service page and take no
	// reports; their image is gone.
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	// Rev counts the code's versions, from 1.
	Rev int64 `json:"rev"`
}

// Asset is the device or place a code is stuck on.
type Asset struct {
	// Name is what customers and agents see: "3号电梯", "3F restroom".
	Name string `json:"name"`
	// Serial is the device's serial or inventory number.
	Serial string `json:"serial,omitempty"`
	// Category is an identifier of the kind of asset (elevator,
	// printer/laser): the value routing rules match with `asset:`.
	Category string `json:"category,omitempty"`
	// Site and Address say where it is.
	Site    string `json:"site,omitempty"`
	Address string `json:"address,omitempty"`
}

// Field types.
const (
	TypeText   = "text"
	TypeSelect = "select"
)

// Field is one extra question of a code's form.
type Field struct {
	// Key names the answer in the message's fields (field.<key>).
	Key   string `json:"key"`
	Label Label  `json:"label"`
	// Type is TypeText or TypeSelect.
	Type string `json:"type"`
	// Options are the choices of a select, shown as written.
	Options  []string `json:"options,omitempty"`
	Required bool     `json:"required"`
}

// Label is a text in Chinese and English; either may be empty, and the
// other is shown in its place.
type Label struct {
	ZH string `json:"zh,omitempty"`
	EN string `json:"en,omitempty"`
}

// In returns the label in lang ("zh" or "en"), or the other language's
// when that one is empty.
func (l Label) In(lang string) string {
	if lang == "en" && l.EN != "" || l.ZH == "" {
		return l.EN
	}
	return l.ZH
}

// WeChatQR is a code offered as a WeChat permanent string-scene QR code.
type WeChatQR struct {
	// Account is the official account that made it.
	Account string `json:"account"`
	// Ticket shows the image at mp.weixin.qq.com/cgi-bin/showqrcode.
	Ticket string `json:"ticket"`
	// URL is what the WeChat QR code encodes.
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"created_at"`
}

// alphabet is Crockford's base32 in lower case: no i, l, o or u, so a
// code read aloud or typed from a label is not mistaken.
const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// Length is how many characters a code has: 60 random bits.
const Length = 12

var codeRe = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{12}$`)

// New returns a fresh random code. Codes are never sequential, so one
// code tells nothing about another.
func New() string {
	var b [Length]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail on Linux
	for i := range b {
		b[i] = alphabet[b[i]&31] // 256 is a multiple of 32: no bias
	}
	return string(b[:])
}

// Valid reports whether s has the form of a code.
func Valid(s string) bool { return codeRe.MatchString(s) }
