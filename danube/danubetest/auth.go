package danubetest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// Token validation follows the broker: HS256 only, exp required and checked
// with 60 s of leeway, iss not checked, and a validated authorization value
// cached for 30 s.
const (
	tokenLeeway   = 60 * time.Second
	tokenCacheTTL = 30 * time.Second
)

// authenticator checks the bearer token of every call when a JWT secret is
// set. Without one every call is allowed, as with auth mode none.
type authenticator struct {
	secret []byte
	clk    clock.Clock

	mu    sync.Mutex
	cache map[string]time.Time // authorization value → valid until
}

func newAuthenticator(secret []byte, clk clock.Clock) *authenticator {
	return &authenticator{secret: secret, clk: clk, cache: map[string]time.Time{}}
}

var (
	errCredentialsMissing = status.Error(codes.Unauthenticated, "authentication credentials are missing: send authorization: Bearer <token>")
	errInvalidToken       = status.Error(codes.Unauthenticated, "invalid token")
)

// check authenticates the call in ctx.
func (a *authenticator) check(ctx context.Context) error {
	if len(a.secret) == 0 {
		return nil
	}
	md, _ := grpcmd.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) == 0 {
		return errCredentialsMissing
	}
	header := values[0]

	now := a.clk.Now()
	a.mu.Lock()
	until, ok := a.cache[header]
	a.mu.Unlock()
	if ok && now.Before(until) {
		return nil
	}

	token, found := strings.CutPrefix(header, "Bearer ")
	if !found {
		token, found = strings.CutPrefix(header, "bearer ")
	}
	if !found {
		return errInvalidToken
	}
	if err := verifyHS256(token, a.secret, now); err != nil {
		return errInvalidToken
	}

	a.mu.Lock()
	for k, v := range a.cache {
		if !now.Before(v) {
			delete(a.cache, k)
		}
	}
	a.cache[header] = now.Add(tokenCacheTTL)
	a.mu.Unlock()
	return nil
}

// tokenClaims are the claims the broker requires in every token.
type tokenClaims struct {
	Iss           *string `json:"iss"`
	Exp           *uint64 `json:"exp"`
	Sub           *string `json:"sub"`
	PrincipalType *string `json:"principal_type"`
	PrincipalName *string `json:"principal_name"`
}

// verifyHS256 checks the signature of a compact JWT with secret, that all
// required claims are present with the right types, and that it has not
// expired at now.
func verifyHS256(token string, secret []byte, now time.Time) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("token must have three parts")
	}

	headerJSON, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return errors.New("token header is not base64url")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(headerJSON, &header); err != nil || header.Alg != "HS256" {
		return errors.New("token algorithm must be HS256")
	}

	signature, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return errors.New("token signature is not base64url")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(signature, mac.Sum(nil)) {
		return errors.New("token signature does not match")
	}

	claimsJSON, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return errors.New("token claims are not base64url")
	}
	var claims tokenClaims
	if err := json.Unmarshal(claimsJSON, &claims); err != nil {
		return errors.New("token claims are malformed")
	}
	if claims.Iss == nil || claims.Exp == nil || claims.Sub == nil || claims.PrincipalType == nil || claims.PrincipalName == nil {
		return errors.New("token lacks a required claim")
	}
	if int64(*claims.Exp) < now.Add(-tokenLeeway).Unix() {
		return errors.New("token expired")
	}
	return nil
}

// Token returns an HS256 token for subject signed with secret and expiring
// at exp, with the claims the broker requires (iss "danube-auth",
// principal_type "service_account"). Tests use it to call a broker started
// WithJWTSecret; with a fake clock, derive exp from the fake time.
func Token(secret []byte, subject string, exp time.Time) string {
	return signHS256(secret, map[string]any{
		"iss":            "danube-auth",
		"exp":            exp.Unix(),
		"sub":            subject,
		"principal_type": "service_account",
		"principal_name": subject,
	})
}

func signHS256(secret []byte, claims map[string]any) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body, _ := json.Marshal(claims)
	payload := base64.RawURLEncoding.EncodeToString(body)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(header + "." + payload))
	return header + "." + payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
