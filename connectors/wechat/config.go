package wechat

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// DefaultAPIBase is where WeChat's server API lives.
const DefaultAPIBase = "https://api.weixin.qq.com"

// App is one official account (`channels.wechat_oa`) or mini-program
// (`channels.wechat_mp`) from the configuration.
type App struct {
	// ID names the account in paths and config: /channels/wechat/oa/{id}.
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// AppID and AppSecret are the developer credentials (开发者ID).
	AppID     string `yaml:"app_id"`
	AppSecret string `yaml:"app_secret"`
	// Token signs every push (服务器配置 → 令牌).
	Token string `yaml:"token"`
	// EncodingAESKey (43 characters) decrypts pushes in compatible and
	// safe mode. PreviousEncodingAESKey is tried when it fails, so a key
	// can be changed in the admin console without losing pushes signed
	// with the old one meanwhile.
	EncodingAESKey         string `yaml:"encoding_aes_key"`
	PreviousEncodingAESKey string `yaml:"previous_encoding_aes_key"`
	// AllowPlaintext accepts plaintext pushes (明文模式) from an app that
	// has an EncodingAESKey. Off by default: the plaintext signature does
	// not cover the body, so with a key configured only encrypted pushes,
	// whose signature does, are taken.
	AllowPlaintext bool `yaml:"allow_plaintext"`
	// APIBase replaces https://api.weixin.qq.com (a backup domain, a
	// proxy, a test fake).
	APIBase string `yaml:"api_base"`
	// StableToken fetches the access token from /cgi-bin/stable_token
	// instead of /cgi-bin/token, for apps whose token other systems fetch
	// too.
	StableToken bool `yaml:"stable_token"`
	// Greeting, when set, welcomes a new follower of an official account
	// (a passive reply to subscribe) or a customer who opens a
	// mini-program's customer service (sent through the API).
	Greeting string `yaml:"greeting"`
	// QueueMessage, when set, answers a customer's first message of a
	// conversation when no agent is free (a passive reply on an official
	// account, an API message on a mini-program).
	QueueMessage string `yaml:"queue_message"`
	// IgnoreEvents lists events acknowledged but not stored (by default
	// LOCATION reports and mass/template send reports).
	IgnoreEvents []string `yaml:"ignore_events"`
	// FetchProfile asks the user-info API for nickname, avatar and
	// unionid after a follower's first message (official accounts;
	// default true).
	FetchProfile *bool `yaml:"fetch_profile"`
}

var (
	idPattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	appIDPattern = regexp.MustCompile(`^wx[0-9A-Za-z]{6,32}$`)
	tokenPattern = regexp.MustCompile(`^[A-Za-z0-9]{3,32}$`)
)

// defaultIgnored are events that report rather than start a contact.
var defaultIgnored = []string{"LOCATION", "TEMPLATESENDJOBFINISH", "MASSSENDJOBFINISH", "subscribe_msg_popup_event",
	"subscribe_msg_change_event", "subscribe_msg_sent_event", "PUBLISHJOBFINISH"}

// check validates a and fills in defaults. Errors name the key.
func (a *App) check() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !idPattern.MatchString(a.ID) {
		bad("id", "%q is not a valid id (letters, digits, _ and -)", a.ID)
	}
	if !appIDPattern.MatchString(a.AppID) {
		bad("app_id", "%q does not look like a WeChat AppID (wx…)", a.AppID)
	}
	if a.AppSecret == "" {
		bad("app_secret", "is required (it is how replies are sent)")
	}
	if !tokenPattern.MatchString(a.Token) {
		bad("token", "must be 3–32 letters or digits, as in the WeChat admin console")
	}
	if a.EncodingAESKey != "" {
		if err := checkAESKey(a.EncodingAESKey); err != nil {
			bad("encoding_aes_key", "%v", err)
		}
	}
	if a.PreviousEncodingAESKey != "" {
		if err := checkAESKey(a.PreviousEncodingAESKey); err != nil {
			bad("previous_encoding_aes_key", "%v", err)
		}
	}
	if a.APIBase == "" {
		a.APIBase = DefaultAPIBase
	}
	a.APIBase = strings.TrimRight(a.APIBase, "/")
	if u, err := url.Parse(a.APIBase); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("api_base", "%q is not an http(s) URL", a.APIBase)
	}
	if a.Name == "" {
		a.Name = a.ID
	}
	for key, v := range map[string]string{"greeting": a.Greeting, "queue_message": a.QueueMessage} {
		if len([]rune(v)) > 600 {
			bad(key, "is longer than 600 characters (WeChat's limit is 2,048 bytes)")
		}
	}
	if a.IgnoreEvents == nil {
		a.IgnoreEvents = defaultIgnored
	}
	if a.FetchProfile == nil {
		yes := true
		a.FetchProfile = &yes
	}
	return errs
}

// checkAESKey accepts an EncodingAESKey: 43 characters of base64 that
// decode to a 32-byte AES key. (The last character carries bits a strict
// decoder rejects, so the key is decoded leniently, as WeChat does.)
func checkAESKey(k string) error {
	if len(k) != 43 {
		return fmt.Errorf("must be 43 characters, not %d", len(k))
	}
	key, err := base64.StdEncoding.DecodeString(k + "=")
	if err != nil || len(key) != 32 {
		return fmt.Errorf("is not a valid EncodingAESKey")
	}
	return nil
}

// keys lists the AES keys to try, current first.
func (a *App) keys() []string {
	var ks []string
	for _, k := range []string{a.EncodingAESKey, a.PreviousEncodingAESKey} {
		if k != "" {
			ks = append(ks, k)
		}
	}
	return ks
}
