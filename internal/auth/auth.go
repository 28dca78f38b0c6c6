// Package auth authenticates callers of every QLP service.
//
// Two kinds of credential exist:
//   - tenant API keys ("qlp_" + 43 base64url characters), created with
//     `qlp apikey create`, stored only as their SHA-256 digest;
//   - the service token, a shared secret that QLP services use to call each
//     other in split mode; such a caller names the tenant it acts for in the
//     X-QLP-Tenant header.
//
// Keys travel as "Authorization: Bearer <key>" or "X-API-Key: <key>".
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/quantumlayer/qlp/internal/httpx"
)

// KeyPrefix starts every QLP API key, so that secret scanners can find them.
const KeyPrefix = "qlp_"

// Scopes a principal may hold. Each API route needs one (see
// orchestrator's routes and openapi.json's x-qlp-scope).
const (
	ScopeSubmit  = "submit"  // submit and cancel jobs
	ScopeRead    = "read"    // read jobs, capsules, progress, costs, reviews
	ScopeReview  = "review"  // answer reviews
	ScopeAdmin   = "admin"   // budgets, review policy, audit log; implies every tenant scope
	ScopeService = "service" // inter-service calls; implies every scope
)

// TenantScopes are the scopes a key can be given, in the order they are
// shown.
func TenantScopes() []string { return []string{ScopeSubmit, ScopeRead, ScopeReview, ScopeAdmin} }

// DefaultScopes are a key's when it is created without any (and those of
// keys made before scopes existed): everything but administration.
func DefaultScopes() []string { return []string{ScopeSubmit, ScopeRead, ScopeReview} }

// KnownScope reports whether s is a scope a key can hold.
func KnownScope(s string) bool {
	for _, t := range TenantScopes() {
		if s == t {
			return true
		}
	}
	return false
}

// ErrInvalidKey is returned for a key that is unknown, revoked or malformed.
var ErrInvalidKey = errors.New("invalid API key")

// ErrExpiredKey is returned for a key past its expiry (it wraps
// ErrInvalidKey, so callers that only check that still refuse it).
var ErrExpiredKey = fmt.Errorf("%w: the key has expired; ask an administrator for a new one (`qlp apikey create` or `qlp apikey rotate`)", ErrInvalidKey)

// Principal is the authenticated caller.
type Principal struct {
	TenantID string
	KeyID    string
	Scopes   []string
}

// Has reports whether p holds scope itself.
func (p Principal) Has(scope string) bool {
	for _, s := range p.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Allows reports whether p may do what needs scope: it holds it, or admin
// (for the tenant scopes) or service (for all). A principal without any
// scope (keys made before scopes existed) holds DefaultScopes. "" needs
// only authentication.
func (p Principal) Allows(scope string) bool {
	if scope == "" || p.Has(ScopeService) || p.Has(scope) {
		return true
	}
	if scope != ScopeService && p.Has(ScopeAdmin) {
		return true
	}
	if len(p.Scopes) == 0 {
		for _, d := range DefaultScopes() {
			if d == scope {
				return true
			}
		}
	}
	return false
}

// Authenticator resolves a presented key to a principal.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (Principal, error)
}

// Secret is a credential that never prints itself: not in logs, not in %v.
type Secret string

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Reveal returns the secret's value for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

// NewKey makes a fresh random API key and its digest for storage.
func NewKey() (key Secret, digest string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("auth: read random: %w", err)
	}
	k := KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return Secret(k), Digest(k), nil
}

// Digest is the stored form of a key. Keys carry 256 bits of entropy, so a
// plain SHA-256 is not guessable and lets the store look keys up by index.
func Digest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// DisplayPrefix is the part of a key that may be shown to identify it.
func DisplayPrefix(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}

// ServiceToken authenticates inter-service calls with a shared secret.
type ServiceToken struct {
	Token Secret
}

// Authenticate accepts exactly the configured token.
func (s ServiceToken) Authenticate(_ context.Context, key string) (Principal, error) {
	if s.Token == "" || subtle.ConstantTimeCompare([]byte(key), []byte(s.Token)) != 1 {
		return Principal{}, ErrInvalidKey
	}
	return Principal{KeyID: "service", Scopes: []string{ScopeService}}, nil
}

// Chain tries each authenticator in order and returns the first success.
type Chain []Authenticator

// Authenticate implements Authenticator. When every authenticator refuses,
// the first error that says more than ErrInvalidKey (an expired key, a
// store that cannot be reached) is returned.
func (c Chain) Authenticate(ctx context.Context, key string) (Principal, error) {
	var best error = ErrInvalidKey
	for _, a := range c {
		if a == nil {
			continue
		}
		p, err := a.Authenticate(ctx, key)
		if err == nil {
			return p, nil
		}
		if best == ErrInvalidKey && err != ErrInvalidKey { //nolint:errorlint // the sentinel itself says nothing more
			best = err
		}
	}
	return Principal{}, best
}

type ctxKey struct{}

// WithPrincipal stores p in ctx.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the principal stored by [Require].
func From(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// TenantHeader names the tenant a service-token caller acts for.
const TenantHeader = "X-QLP-Tenant"

// ForwardTenant sets TenantHeader to the tenant of the principal in ctx, if
// any, so that a service called with the service token acts for the same
// tenant as its caller. It fits httpx.Client's Header.
func ForwardTenant(ctx context.Context, h http.Header) {
	if p, ok := From(ctx); ok && p.TenantID != "" {
		h.Set(TenantHeader, p.TenantID)
	}
}

// Require rejects requests without a valid credential with 401 and stores the
// principal in the request context for the handlers.
func Require(a Authenticator, logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := PresentedKey(r)
			if key == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="qlp"`)
				httpx.WriteError(w, r, logger, httpx.Unauthorized("missing API key: send Authorization: Bearer <key> or X-API-Key"))
				return
			}
			p, err := a.Authenticate(r.Context(), key)
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="qlp", error="invalid_token"`)
				he := httpx.Unauthorized("invalid API key")
				var reason interface{ Reason() string }
				switch {
				case errors.Is(err, ErrExpiredKey):
					he = httpx.Unauthorized(ErrExpiredKey.Error())
				case errors.As(err, &reason):
					he = httpx.Unauthorized("invalid token: " + reason.Reason())
				}
				if !errors.Is(err, ErrInvalidKey) {
					he = httpx.Unavailable(err, "cannot check the API key right now")
				}
				httpx.WriteError(w, r, logger, he)
				return
			}
			if p.Has(ScopeService) {
				p.TenantID = strings.TrimSpace(r.Header.Get(TenantHeader))
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}

// PresentedKey extracts the key from Authorization: Bearer or X-API-Key.
func PresentedKey(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if k, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(k)
		}
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}
