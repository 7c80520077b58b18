package wechat

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/silenceper/wechat/v2/util"
)

// a43 is the EncodingAESKey of several official samples.
const a43 = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

// Vectors from Tencent's samples and a real capture (see
// docs/wechat.md): each decrypts, its signatures hold, and the AppID
// inside is checked.
func TestPublishedVectorsDecrypt(t *testing.T) {
	cases := []struct {
		name                 string
		token, key, appID    string
		ts, nonce, sig, msig string
		encrypt              string
		want                 []string // fragments of the plaintext
	}{
		{
			name: "official account real capture (safe mode)", token: "weixin", key: a43, appID: "wxbad0b45542aa0b5e",
			ts: "1414243737", nonce: "1792106704", sig: "35703636de2f9df2a77a662b68e521ce17c34db4", msig: "6147984331daf7a1a9eed6e0ec3ba69055256154",
			encrypt: "MNn4+jJ/VsFh2gUyKAaOJArwEVYCvVmyN0iXzNarP3O6vXzK62ft1/KG2/XPZ4y5bPWU/jfIfQxODRQ7sLkUsrDRqsWimuhIT8Eq+w4E/28m+XDAQKEOjWTQIOp1p6kNsIV1DdC3B+AtcKcKSNAeJDr7x7GHLx5DZYK09qQsYDOjP6R5NqebFjKt/NpEl/GU3gWFwG8LCtRNuIYdK5axbFSfmXbh5CZ6Bk5wSwj5fu5aS90cMAgUhGsxrxZTY562QR6c+3ydXxb+GHI5w+qA+eqJjrQqR7u5hS+1x5sEsA7vS+bZ5LYAR3+PZ243avQkGllQ+rg7a6TeSGDxxhvLw+mxxinyk88BNHkJnyK//hM1k9PuvuLAASdaud4vzRQlAmnYOslZl8CN7gjCjV41skUTZv3wwGPxvEqtm/nf5fQ=",
			want:    []string{"<FromUserName><![CDATA[oIDrpjpQ8j8mBuQ8nM26HWzNEZgg]]></FromUserName>", "<MsgId>6074130599188426998</MsgId>"},
		},
		{
			name: "Tencent Python sample (compatible mode)", token: "spamtest", key: a43, appID: "wx2c2769f8efd9abc2",
			ts: "1409735669", nonce: "1320562132", sig: "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a", msig: "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
			encrypt: "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=",
			want:    []string{"<Content><![CDATA[abcdteT]]></Content>", "<MsgId>6054768590064713728</MsgId>"},
		},
		{
			name: "official safe-mode example, all-zero key", token: "AAAAA", key: strings.Repeat("A", 43), appID: "wx134c8103faa5a59e",
			ts: "1715943329", nonce: "1590219412", msig: "6c12a4205838198b8fa631b3220723bb07f1015c",
			encrypt: "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==",
			want:    []string{"<Event><![CDATA[debug_demo]]></Event>", "<debug_str><![CDATA[hello world]]></debug_str>"},
		},
		{
			name: "WeCom sample (receiveid checked like an AppID)", token: "QDG6eK", key: "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", appID: "wx5823bf96d3bd56c7",
			ts: "1409659813", nonce: "1372623149", msig: "477715d11cdb4164915debcba66cb864d751f3e6",
			encrypt: "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==",
			want:    []string{"<Content><![CDATA[hello]]></Content>", "<MsgId>4561255354251345929</MsgId>"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &App{ID: "x", AppID: tc.appID, AppSecret: "s", Token: tc.token, EncodingAESKey: tc.key}
			if errs := a.check(); len(errs) > 0 {
				t.Fatalf("config: %v", errs)
			}
			if tc.sig != "" && !signed(tc.sig, tc.token, tc.ts, tc.nonce) {
				t.Error("signature does not verify")
			}
			if !signed(tc.msig, tc.token, tc.ts, tc.nonce, tc.encrypt) {
				t.Error("msg_signature does not verify")
			}
			if signed(tc.msig, tc.token, tc.ts, tc.nonce+"1", tc.encrypt) {
				t.Error("msg_signature verifies with another nonce")
			}
			plain, key, err := a.decrypt(tc.encrypt)
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}
			if key != tc.key {
				t.Errorf("opened with %q, want the current key", key)
			}
			for _, w := range tc.want {
				if !bytes.Contains(plain, []byte(w)) {
					t.Errorf("plaintext lacks %s:\n%s", w, plain)
				}
			}
			other := *a
			other.AppID = "wx0000000000000000"
			if _, _, err := other.decrypt(tc.encrypt); err == nil {
				t.Error("decrypted with another AppID: the AppID inside is not checked")
			}
			wrongKey := *a
			wrongKey.EncodingAESKey = "bbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
			if _, _, err := wrongKey.decrypt(tc.encrypt); err == nil {
				t.Error("decrypted with another key")
			}
			rotated := wrongKey
			rotated.PreviousEncodingAESKey = tc.key
			if _, k, err := rotated.decrypt(tc.encrypt); err != nil || k != tc.key {
				t.Errorf("previous key not tried (or not reported): %q %v", k, err)
			}
		})
	}
}

// Tencent's Java sample encrypts with a fixed random; the same input must
// give the same ciphertext (W3a/W3b in docs/wechat.md).
func TestPublishedVectorsEncrypt(t *testing.T) {
	cases := []struct{ msg, want string }{
		{"我是中文abcd123", "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="},
	}
	for _, tc := range cases {
		got, err := util.EncryptMsg([]byte("aaaabbbbccccdddd"), []byte(tc.msg), "wxb11529c136998cb6", a43)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("EncryptMsg(%q) = %s, want %s", tc.msg, got, tc.want)
		}
	}
}

// A sealed passive reply opens with the app's key, its signature holds
// over its own timestamp and nonce, and the AppID inside is ours.
func TestSealRoundTrip(t *testing.T) {
	a := &App{ID: "x", AppID: "wx2c2769f8efd9abc2", AppSecret: "s", Token: "spamtest", EncodingAESKey: a43}
	a.check()
	for _, body := range []string{"", "<xml><Content><![CDATA[你好 ]]> & <b>]]></Content></xml>", strings.Repeat("长", 5000)} {
		out, err := a.seal([]byte(body), a.EncodingAESKey, 1700000000)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Encrypt, MsgSignature, Nonce string
			TimeStamp                    int64
		}
		if err := xml.Unmarshal(out, &env); err != nil {
			t.Fatalf("envelope: %v\n%s", err, out)
		}
		if env.TimeStamp != 1700000000 || env.Nonce == "" {
			t.Errorf("envelope %+v", env)
		}
		if !signed(env.MsgSignature, a.Token, "1700000000", env.Nonce, env.Encrypt) {
			t.Error("reply signature does not verify")
		}
		plain, _, err := a.decrypt(env.Encrypt)
		if err != nil || string(plain) != body {
			t.Errorf("round trip: %q, %v", plain, err)
		}
	}
}

// Malformed ciphertexts fail cleanly, never panic.
func TestDecryptRejectsGarbage(t *testing.T) {
	a := &App{ID: "x", AppID: "wx2c2769f8efd9abc2", AppSecret: "s", Token: "spamtest", EncodingAESKey: a43}
	a.check()
	good, _ := util.EncryptMsg([]byte("0123456789abcdef"), []byte("<xml/>"), a.AppID, a43)
	for name, enc := range map[string]string{
		"empty":       "",
		"not base64":  "!!!",
		"short":       "AAAA",
		"not a block": string(good[:len(good)-8]),
		"truncated":   string(good[:44]),
		"one bit off": strings.Replace(string(good), string(good[10]), string(good[10]^1), 1),
	} {
		if _, _, err := a.decrypt(enc); err == nil {
			t.Errorf("%s: decrypted", name)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	ok := func() App {
		return App{ID: "main", AppID: "wx2c2769f8efd9abc2", AppSecret: "secret", Token: "spamtest", EncodingAESKey: a43}
	}
	cases := []struct {
		name string
		edit func(*App)
		want string // error fragment; "" = valid
	}{
		{"valid", func(*App) {}, ""},
		{"plaintext mode needs no key", func(a *App) { a.EncodingAESKey = "" }, ""},
		{"bad id", func(a *App) { a.ID = "a b" }, "id:"},
		{"bad app id", func(a *App) { a.AppID = "12345" }, "app_id:"},
		{"no secret", func(a *App) { a.AppSecret = "" }, "app_secret:"},
		{"short token", func(a *App) { a.Token = "ab" }, "token:"},
		{"token with symbols", func(a *App) { a.Token = "ab$cd" }, "token:"},
		{"key of 42", func(a *App) { a.EncodingAESKey = a43[:42] }, "encoding_aes_key:"},
		{"key not base64", func(a *App) { a.EncodingAESKey = strings.Repeat("!", 43) }, "encoding_aes_key:"},
		{"bad previous key", func(a *App) { a.PreviousEncodingAESKey = "x" }, "previous_encoding_aes_key:"},
		{"api_base not a URL", func(a *App) { a.APIBase = "api.weixin.qq.com" }, "api_base:"},
		{"api_base of another scheme", func(a *App) { a.APIBase = "ftp://x" }, "api_base:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := ok()
			tc.edit(&a)
			errs := a.check()
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors %v", errs)
				}
				if a.APIBase != DefaultAPIBase || a.Name != "main" || a.FetchProfile == nil || !*a.FetchProfile {
					t.Errorf("defaults not filled: %+v", a)
				}
				return
			}
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.want) {
				t.Fatalf("errors %v, want one starting %q", errs, tc.want)
			}
		})
	}
}
