package qr

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// secret is the key that signs form tokens and derives tracking tokens.
// It is made once, kept in Redis ({qr}:secret, no TTL) so every replica
// shares it, and cached here.
type secret struct {
	rdb redis.UniversalClient
	key string

	mu  sync.Mutex
	val []byte
}

// get returns the secret, making it on first use.
func (s *secret) get(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.val != nil {
		return s.val, nil
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	if err := s.rdb.SetNX(ctx, s.key, hex.EncodeToString(raw[:]), 0).Err(); err != nil {
		return nil, fmt.Errorf("qr: secret: %w", err)
	}
	v, err := s.rdb.Get(ctx, s.key).Result()
	if err != nil {
		return nil, fmt.Errorf("qr: secret: %w", err)
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) < 16 {
		return nil, errors.New("qr: secret: the stored secret is malformed")
	}
	s.val = b
	return b, nil
}

// mac signs parts with the secret, 16 bytes in base64url.
func mac(key []byte, parts ...string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(strings.Join(parts, "|")))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// newNonce is 16 random bytes in base64url (22 characters).
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

var (
	nonceRe     = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
	formTokenRe = regexp.MustCompile(`^([0-9a-z]{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})$`)
	trackRe     = regexp.MustCompile(`^[A-Za-z0-9_-]{24}$`)
)

// formTokenTTL is how long a rendered form may be submitted.
const formTokenTTL = 24 * time.Hour

// formToken is the hidden token of one rendered form of code:
// "<issued, base 36>.<nonce>.<mac>". It binds the submission to the code
// (CSRF: a form made for another code, or no form at all, is refused) and
// its nonce, with what is sent, makes a double submit the same submission
// (submissionID).
func formToken(key []byte, code string, now time.Time) string {
	issued := strconv.FormatInt(now.Unix(), 36)
	nonce := newNonce()
	return issued + "." + nonce + "." + mac(key, "form", code, issued, nonce)
}

// checkFormToken returns the nonce of a valid, unexpired token for code.
func checkFormToken(key []byte, code, token string, now time.Time) (string, bool) {
	m := formTokenRe.FindStringSubmatch(token)
	if m == nil {
		return "", false
	}
	issued, err := strconv.ParseInt(m[1], 36, 64)
	if err != nil {
		return "", false
	}
	age := now.Sub(time.Unix(issued, 0))
	if age > formTokenTTL || age < -5*time.Minute {
		return "", false
	}
	if !hmac.Equal([]byte(mac(key, "form", code, m[1], m[2])), []byte(m[3])) {
		return "", false
	}
	return m[2], true
}

// trackToken is the tracking page's token of the submission with id sid
// (submissionID): derived, so a double submit finds the page the first
// one made, and unguessable (18 bytes of an HMAC, in base64url).
func trackToken(key []byte, sid string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("track|" + sid))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
}
