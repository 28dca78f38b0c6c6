package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/quantumlayer/qlp/internal/settings"
)

// OIDCConfig lets bearer tokens of an OpenID Connect provider (Entra ID,
// Okta, Keycloak, Dex…) stand in for API keys.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; empty turns OIDC off. Its
	// discovery document names the JWKS the signatures are checked with.
	Issuer string
	// Audience is the aud claim a token must carry (required with Issuer).
	Audience string
	// TenantClaim names the claim holding the QLP tenant.
	TenantClaim string
	// ScopesClaim names the claim holding the QLP scopes: a space-separated
	// string (OAuth's "scope") or an array ("roles").
	ScopesClaim string
}

// OIDCDefaults are the claim names used when none are configured.
func OIDCDefaults() OIDCConfig { return OIDCConfig{TenantClaim: "qlp_tenant", ScopesClaim: "scope"} }

// Settings binds the configuration to "auth.oidc.*" and QLP_OIDC_*.
func (c *OIDCConfig) Settings() []settings.Setting {
	return []settings.Setting{
		{Key: "auth.oidc.issuer", Env: "QLP_OIDC_ISSUER", Value: settings.String(&c.Issuer),
			Help: "OpenID Connect issuer URL whose signed bearer tokens are accepted beside API keys (JWKS from its discovery document); empty: API keys only"},
		{Key: "auth.oidc.audience", Env: "QLP_OIDC_AUDIENCE", Value: settings.String(&c.Audience),
			Help: "audience (aud) a token must carry; required with auth.oidc.issuer"},
		{Key: "auth.oidc.tenant_claim", Env: "QLP_OIDC_TENANT_CLAIM", Value: settings.String(&c.TenantClaim),
			Help: "claim naming the caller's QLP tenant; a token without it is refused"},
		{Key: "auth.oidc.scopes_claim", Env: "QLP_OIDC_SCOPES_CLAIM", Value: settings.String(&c.ScopesClaim),
			Help: "claim with the caller's QLP scopes (submit, read, review, admin): a space-separated string or an array; others are ignored"},
	}
}

// Validate checks the configuration.
func (c *OIDCConfig) Validate() error {
	if c.Issuer == "" {
		return nil
	}
	if !strings.HasPrefix(c.Issuer, "https://") && !strings.HasPrefix(c.Issuer, "http://") {
		return settings.Invalid(c.Settings(), "auth.oidc.issuer", "must be an http(s) URL")
	}
	if c.Audience == "" {
		return settings.Invalid(c.Settings(), "auth.oidc.audience", "required when auth.oidc.issuer is set: without it any token of the issuer, meant for any application, would be accepted")
	}
	if c.TenantClaim == "" || c.ScopesClaim == "" {
		return settings.Invalid(c.Settings(), "auth.oidc.tenant_claim", "the tenant and scopes claims must be named")
	}
	return nil
}

// OIDC authenticates JWT bearer tokens of the configured issuer: the
// signature against the issuer's JWKS (fetched through go-oidc, cached and
// refreshed when a token names an unknown key), the issuer, the audience
// and the expiry. It implements Authenticator.
type OIDC struct {
	cfg    OIDCConfig
	client *http.Client

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	failedAt time.Time
}

// NewOIDC returns the authenticator; the provider is contacted on the
// first token, so a provider that is down does not stop QLP from starting.
func NewOIDC(cfg OIDCConfig, client *http.Client) *OIDC {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &OIDC{cfg: cfg, client: client}
}

// tokenError is a refused token, with the reason the caller is told.
type tokenError struct{ reason string }

func (e *tokenError) Error() string  { return "invalid token: " + e.reason }
func (e *tokenError) Unwrap() error  { return ErrInvalidKey }
func (e *tokenError) Reason() string { return e.reason }

// discoveryRetry is how long a failed discovery is remembered.
const discoveryRetry = 10 * time.Second

func (o *OIDC) verifierFor(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verifier != nil {
		return o.verifier, nil
	}
	if time.Since(o.failedAt) < discoveryRetry {
		return nil, fmt.Errorf("auth: the OIDC provider %s could not be reached a moment ago", o.cfg.Issuer)
	}
	// The key set outlives this request: its fetches use their own context.
	pctx := oidc.ClientContext(context.WithoutCancel(ctx), o.client)
	dctx, cancel := context.WithTimeout(pctx, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, o.cfg.Issuer)
	if err != nil {
		o.failedAt = time.Now()
		return nil, fmt.Errorf("auth: discover the OIDC provider %s: %w", o.cfg.Issuer, err)
	}
	o.verifier = p.VerifierContext(pctx, &oidc.Config{ClientID: o.cfg.Audience,
		SupportedSigningAlgs: []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.EdDSA}})
	return o.verifier, nil
}

// Authenticate implements Authenticator. Anything that is not a JWT is
// left to the other authenticators (ErrInvalidKey).
func (o *OIDC) Authenticate(ctx context.Context, token string) (Principal, error) {
	if strings.HasPrefix(token, KeyPrefix) || strings.Count(token, ".") != 2 {
		return Principal{}, ErrInvalidKey
	}
	v, err := o.verifierFor(ctx)
	if err != nil {
		return Principal{}, err
	}
	idt, err := v.Verify(ctx, token)
	if err != nil {
		var exp *oidc.TokenExpiredError
		switch {
		case errors.As(err, &exp):
			return Principal{}, &tokenError{reason: "the token has expired"}
		case strings.Contains(err.Error(), "audience"):
			return Principal{}, &tokenError{reason: "the token is not meant for this service (audience)"}
		case strings.Contains(err.Error(), "different provider"), strings.Contains(err.Error(), "issuer"):
			return Principal{}, &tokenError{reason: "the token was issued by another issuer"}
		}
		return Principal{}, &tokenError{reason: "the token's signature or format does not check out"}
	}
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return Principal{}, &tokenError{reason: "unreadable claims"}
	}
	var tenant string
	if raw, ok := claims[o.cfg.TenantClaim]; !ok || json.Unmarshal(raw, &tenant) != nil || strings.TrimSpace(tenant) == "" {
		return Principal{}, &tokenError{reason: fmt.Sprintf("the token has no %q claim naming a tenant", o.cfg.TenantClaim)}
	}
	p := Principal{TenantID: strings.TrimSpace(tenant), KeyID: "oidc:" + idt.Subject, Scopes: []string{}}
	var scopes []string
	if raw, ok := claims[o.cfg.ScopesClaim]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			scopes = strings.Fields(s)
		} else {
			_ = json.Unmarshal(raw, &scopes)
		}
	}
	for _, s := range scopes {
		// Only the tenant scopes: a token can never carry "service".
		if KnownScope(s) {
			p.Scopes = append(p.Scopes, s)
		}
	}
	if len(p.Scopes) == 0 {
		return Principal{}, &tokenError{reason: fmt.Sprintf("the token's %q claim grants no QLP scope (submit, read, review, admin)", o.cfg.ScopesClaim)}
	}
	return p, nil
}
