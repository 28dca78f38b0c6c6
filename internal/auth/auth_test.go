package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/logx"
)

func TestAllows(t *testing.T) {
	tests := []struct {
		name   string
		scopes []string
		allow  []string
		deny   []string
	}{
		{"no scopes: a key made before scopes", nil, []string{"submit", "read", "review", ""}, []string{"admin", "service"}},
		{"read only", []string{"read"}, []string{"read", ""}, []string{"submit", "review", "admin"}},
		{"submit and read", []string{"submit", "read"}, []string{"submit", "read"}, []string{"review", "admin"}},
		{"admin implies the tenant scopes", []string{"admin"}, []string{"submit", "read", "review", "admin"}, []string{"service"}},
		{"service implies all", []string{"service"}, []string{"submit", "read", "review", "admin", "service"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := auth.Principal{TenantID: "a", Scopes: tt.scopes}
			for _, s := range tt.allow {
				require.True(t, p.Allows(s), "should allow %q", s)
			}
			for _, s := range tt.deny {
				require.False(t, p.Allows(s), "should deny %q", s)
			}
		})
	}
}

// issuer is an OpenID Connect provider: a discovery document and a JWKS
// over HTTP, and the key that signs its tokens.
type issuer struct {
	srv  *httptest.Server
	key  *rsa.PrivateKey
	kid  string
	hits int
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	is := &issuer{key: key, kid: "k1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		is.hits++
		json.NewEncoder(w).Encode(map[string]any{ //nolint:errcheck // test server
			"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/jwks", "authorization_endpoint": is.srv.URL + "/auth",
			"token_endpoint": is.srv.URL + "/token", "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &is.key.PublicKey, KeyID: is.kid, Algorithm: "RS256", Use: "sig"}}}) //nolint:errcheck // test server
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) token(t *testing.T, key *rsa.PrivateKey, edit func(c map[string]any)) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", is.kid))
	require.NoError(t, err)
	now := time.Now()
	c := map[string]any{"iss": is.srv.URL, "aud": "qlp-api", "sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"qlp_tenant": "acme", "scope": "openid read submit"}
	if edit != nil {
		edit(c)
	}
	tok, err := jwt.Signed(sig).Claims(c).Serialize()
	require.NoError(t, err)
	return tok
}

// TestOIDCTokens: a token of the configured issuer, for the configured
// audience, unexpired and signed by a key of the issuer's JWKS, maps to
// its tenant and scopes; every other token is refused with the reason.
func TestOIDCTokens(t *testing.T) {
	is := newIssuer(t)
	cfg := auth.OIDCDefaults()
	cfg.Issuer, cfg.Audience = is.srv.URL, "qlp-api"
	require.NoError(t, cfg.Validate())
	o := auth.NewOIDC(cfg, is.srv.Client())
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)

	p, err := o.Authenticate(t.Context(), is.token(t, is.key, nil))
	require.NoError(t, err)
	require.Equal(t, "acme", p.TenantID)
	require.Equal(t, "oidc:alice", p.KeyID)
	require.Equal(t, []string{"read", "submit"}, p.Scopes, "openid is not a QLP scope")

	unsigned := func() string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		b, _ := json.Marshal(map[string]any{"iss": is.srv.URL, "aud": "qlp-api", "sub": "x", "exp": time.Now().Add(time.Hour).Unix(), "qlp_tenant": "acme", "scope": "admin"})
		return h + "." + base64.RawURLEncoding.EncodeToString(b) + "."
	}
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"wrong audience", is.token(t, is.key, func(c map[string]any) { c["aud"] = "another-app" }), "audience"},
		{"expired", is.token(t, is.key, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), "expired"},
		{"another issuer", is.token(t, is.key, func(c map[string]any) { c["iss"] = "https://evil.example" }), "another issuer"},
		{"signed by another key", is.token(t, other, nil), "signature"},
		{"alg none", unsigned(), "signature"},
		{"no tenant", is.token(t, is.key, func(c map[string]any) { delete(c, "qlp_tenant") }), `"qlp_tenant"`},
		{"no QLP scope", is.token(t, is.key, func(c map[string]any) { c["scope"] = "openid profile service" }), "no QLP scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := o.Authenticate(t.Context(), tt.token)
			require.ErrorIs(t, err, auth.ErrInvalidKey)
			require.ErrorContains(t, err, tt.want)
		})
	}
	t.Run("an API key is left to the key store", func(t *testing.T) {
		_, err := o.Authenticate(t.Context(), "qlp_abc.def.ghi")
		require.True(t, errors.Is(err, auth.ErrInvalidKey) && err.Error() == auth.ErrInvalidKey.Error())
	})
	t.Run("roles as an array", func(t *testing.T) {
		c2 := cfg
		c2.ScopesClaim = "roles"
		p, err := auth.NewOIDC(c2, is.srv.Client()).Authenticate(t.Context(), is.token(t, is.key, func(c map[string]any) { c["roles"] = []string{"admin"} }))
		require.NoError(t, err)
		require.Equal(t, []string{"admin"}, p.Scopes)
	})

	// Through the middleware: 200 for the good token, 401 naming the
	// reason for a bad one.
	h := auth.Require(auth.Chain{o}, logx.Discard())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.From(r.Context())
		w.Write([]byte(p.TenantID)) //nolint:errcheck // test handler
	}))
	for _, c := range []struct {
		token string
		code  int
		body  string
	}{
		{is.token(t, is.key, nil), 200, "acme"},
		{is.token(t, is.key, func(c map[string]any) { c["aud"] = "x" }), 401, "audience"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		h.ServeHTTP(rec, req)
		require.Equal(t, c.code, rec.Code, rec.Body.String())
		require.Contains(t, rec.Body.String(), c.body)
		require.NotContains(t, rec.Body.String(), c.token, "the token is never echoed")
	}
}

func TestOIDCConfigValidation(t *testing.T) {
	c := auth.OIDCDefaults()
	require.NoError(t, c.Validate(), "off by default")
	c.Issuer = "https://login.example/tenant/v2.0"
	require.ErrorContains(t, c.Validate(), "auth.oidc.audience")
	c.Audience = "api://qlp"
	require.NoError(t, c.Validate())
	c.Issuer = "login.example"
	require.ErrorContains(t, c.Validate(), "auth.oidc.issuer")
}

// TestProviderDownIsUnavailable: while the provider cannot be reached a
// token is neither accepted nor called invalid: the caller gets 503.
func TestProviderDownIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	cfg := auth.OIDCDefaults()
	cfg.Issuer, cfg.Audience = url, "qlp-api"
	h := auth.Require(auth.Chain{auth.NewOIDC(cfg, nil)}, logx.Discard())(http.NotFoundHandler())
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer a.b.c")
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
}
