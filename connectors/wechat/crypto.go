package wechat

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"

	"github.com/silenceper/wechat/v2/util"
)

// errDecrypt hides why a ciphertext failed: the caller only learns that it
// did (the details go to a metric, never to the sender).
var errDecrypt = errors.New("wechat: message cannot be decrypted with the configured key for this AppID")

// signed reports whether sig is WeChat's signature of parts: SHA-1 over
// the parts sorted and joined, in lower-case hex. The comparison takes
// the same time whatever the mismatch.
func signed(sig string, parts ...string) bool {
	if sig == "" {
		return false
	}
	want := util.Signature(parts...)
	return subtle.ConstantTimeCompare([]byte(want), []byte(sig)) == 1
}

// decrypt opens a push's Encrypt field: AES-256-CBC with the app's key,
// PKCS#7 padding to 32 bytes, and the AppID at the end, which must be
// ours. The previous key is tried when the current one fails; the key that
// opened it is returned, to seal the reply with (WeChat holds only that
// one while a key change is under way).
func (a *App) decrypt(encrypted string) (plain []byte, key string, err error) {
	for _, k := range a.keys() {
		if _, plain, err := util.DecryptMsg(a.AppID, encrypted, k); err == nil {
			return plain, k, nil
		}
	}
	return nil, "", errDecrypt
}

// encryptedReply is the envelope of a passive reply in safe mode.
type encryptedReply struct {
	XMLName      xml.Name `xml:"xml"`
	Encrypt      cdata    `xml:"Encrypt"`
	MsgSignature cdata    `xml:"MsgSignature"`
	TimeStamp    int64    `xml:"TimeStamp"`
	Nonce        cdata    `xml:"Nonce"`
}

// cdata marshals as a CDATA section, as WeChat writes its XML.
type cdata string

// MarshalXML writes the value as <![CDATA[…]]>.
func (c cdata) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return e.EncodeElement(struct {
		S string `xml:",cdata"`
	}{string(c)}, start)
}

// seal encrypts a passive reply with key and signs it with the given
// timestamp and a fresh nonce.
func (a *App) seal(plain []byte, key string, ts int64) ([]byte, error) {
	random := make([]byte, 16)
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	if _, err := rand.Read(random); err != nil {
		return nil, fmt.Errorf("wechat: seal: %w", err)
	}
	for i, b := range random {
		random[i] = alphabet[int(b)%len(alphabet)]
	}
	enc, err := util.EncryptMsg(random, plain, a.AppID, key)
	if err != nil {
		return nil, fmt.Errorf("wechat: seal: %w", err)
	}
	var nb [4]byte
	_, _ = rand.Read(nb[:])
	nonce := strconv.FormatUint(uint64(nb[0])<<24|uint64(nb[1])<<16|uint64(nb[2])<<8|uint64(nb[3]), 10)
	stamp := strconv.FormatInt(ts, 10)
	out, err := xml.Marshal(encryptedReply{Encrypt: cdata(enc), TimeStamp: ts, Nonce: cdata(nonce),
		MsgSignature: cdata(util.Signature(a.Token, stamp, nonce, string(enc)))})
	if err != nil {
		return nil, fmt.Errorf("wechat: seal: %w", err)
	}
	return out, nil
}
