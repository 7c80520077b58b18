package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
)

// TokenTTL is how long a bearer token lives.
const TokenTTL = 12 * time.Hour

// Login limits: after maxFailures failed logins for one address within
// failureWindow, further attempts are refused until the window passes.
const (
	maxFailures   = 10
	failureWindow = 5 * time.Minute
)

// Errors returned by Auth.
var (
	ErrBadLogin     = errors.New("session: wrong e-mail or password")
	ErrUnauthorized = errors.New("session: missing, unknown or expired token")
	ErrRateLimited  = errors.New("session: too many failed logins; try again later")
)

// dummyHash keeps a failed lookup as slow as a failed password check, so
// timing does not tell which addresses exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("switchboard-dummy"), bcrypt.MinCost+4)

// Auth issues and checks bearer tokens.
type Auth struct {
	dir *Directory
	rdb redis.UniversalClient
	k   Keys
	now func() time.Time
}

// NewAuth returns an Auth over dir.
func NewAuth(dir *Directory) *Auth {
	return &Auth{dir: dir, rdb: dir.rdb, k: dir.k, now: time.Now}
}

// Login checks an address and password and issues a token.
func (a *Auth) Login(ctx context.Context, email, password string) (token string, expires time.Time, agent Agent, err error) {
	email = strings.ToLower(strings.TrimSpace(email))
	failKey := a.k.LoginFailures(email)
	// Count the attempt before checking it, atomically, so parallel
	// guesses cannot slip past the limit; a success clears the count.
	pipe := a.rdb.Pipeline()
	attempts := pipe.Incr(ctx, failKey)
	pipe.ExpireNX(ctx, failKey, failureWindow)
	if _, err := pipe.Exec(ctx); err != nil {
		return "", time.Time{}, Agent{}, fmt.Errorf("session: login: %w", err)
	}
	if attempts.Val() > maxFailures {
		return "", time.Time{}, Agent{}, ErrRateLimited
	}
	rec, err := a.dir.byEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return "", time.Time{}, Agent{}, ErrBadLogin
	}
	if err != nil {
		return "", time.Time{}, Agent{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(rec.Hash), []byte(password)) != nil {
		return "", time.Time{}, Agent{}, ErrBadLogin
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", time.Time{}, Agent{}, fmt.Errorf("session: token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(raw[:])
	if err := a.rdb.Set(ctx, a.k.Token(sum(token)), rec.ID, TokenTTL).Err(); err != nil {
		return "", time.Time{}, Agent{}, fmt.Errorf("session: store token: %w", err)
	}
	a.rdb.Del(ctx, failKey)
	return token, a.now().Add(TokenTTL), rec.Agent, nil
}

// Authenticate returns the agent a token belongs to.
func (a *Auth) Authenticate(ctx context.Context, token string) (Agent, error) {
	if token == "" || len(token) > 128 {
		return Agent{}, ErrUnauthorized
	}
	id, err := a.rdb.Get(ctx, a.k.Token(sum(token))).Result()
	if errors.Is(err, redis.Nil) {
		return Agent{}, ErrUnauthorized
	}
	if err != nil {
		return Agent{}, fmt.Errorf("session: check token: %w", err)
	}
	ag, err := a.dir.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Agent{}, ErrUnauthorized
	}
	return ag, err
}

// Logout revokes a token on every replica.
func (a *Auth) Logout(ctx context.Context, token string) error {
	if err := a.rdb.Del(ctx, a.k.Token(sum(token))).Err(); err != nil {
		return fmt.Errorf("session: revoke token: %w", err)
	}
	return nil
}

func sum(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}
