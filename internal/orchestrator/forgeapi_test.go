package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/forge"
	"github.com/quantumlayer/qlp/internal/forge/forgetest"
	"github.com/quantumlayer/qlp/internal/httpx"
)

type recordingWaker struct {
	mu     sync.Mutex
	events []delivery.CIEvent
	err    error
}

func (w *recordingWaker) WakeCI(_ context.Context, ev delivery.CIEvent) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, ev)
	return w.err
}

func (w *recordingWaker) got() []delivery.CIEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]delivery.CIEvent(nil), w.events...)
}

// TestWebhooks: a webhook with a bad or missing signature is refused 401
// and reaches nothing; a good one is parsed and handed to the waker; no
// waker (or no secret) answers 503 saying why.
func TestWebhooks(t *testing.T) {
	const ghSecret, glToken = "gh-hook-secret", "gl-hook-token"
	cfg := Config{Forge: forge.Config{GitHubWebhookSecret: ghSecret, GitLabWebhookToken: glToken}}
	waker := &recordingWaker{}
	mux := http.NewServeMux()
	New(cfg, Deps{CIWaker: waker, Logger: slog.New(slog.DiscardHandler)}).MountWebhooks(mux)
	noWaker := http.NewServeMux()
	New(cfg, Deps{Logger: slog.New(slog.DiscardHandler)}).MountWebhooks(noWaker)
	noSecret := http.NewServeMux()
	New(Config{}, Deps{CIWaker: waker, Logger: slog.New(slog.DiscardHandler)}).MountWebhooks(noSecret)

	ghBody := []byte(`{"action":"completed","check_suite":{"head_sha":"abc123","status":"completed","conclusion":"failure"},"repository":{"full_name":"acme/shorty"}}`)
	glBody := []byte(`{"object_kind":"pipeline","object_attributes":{"sha":"def456","status":"success"},"project":{"path_with_namespace":"acme/platform/shorty"}}`)
	gh := func(sig, event string) map[string]string {
		h := map[string]string{"X-GitHub-Event": event}
		if sig != "" {
			h["X-Hub-Signature-256"] = sig
		}
		return h
	}
	tests := []struct {
		name    string
		mux     *http.ServeMux
		path    string
		body    []byte
		headers map[string]string
		status  int
		woken   *delivery.CIEvent
		message string
	}{
		{"github good", mux, "/api/v2/delivery/webhooks/github", ghBody, gh(forge.SignGitHub(ghSecret, ghBody), "check_suite"), 202,
			&delivery.CIEvent{Forge: "github", Repo: "acme/shorty", SHA: "abc123", State: delivery.CIFailure}, ""},
		{"github missing signature", mux, "/api/v2/delivery/webhooks/github", ghBody, gh("", "check_suite"), 401, nil, "X-Hub-Signature-256"},
		{"github wrong secret", mux, "/api/v2/delivery/webhooks/github", ghBody, gh(forge.SignGitHub("guess", ghBody), "check_suite"), 401, nil, "X-Hub-Signature-256"},
		{"github body changed after signing", mux, "/api/v2/delivery/webhooks/github", append(bytes.Clone(ghBody), ' '), gh(forge.SignGitHub(ghSecret, ghBody), "check_suite"), 401, nil, ""},
		{"github ping ignored", mux, "/api/v2/delivery/webhooks/github", []byte(`{"zen":"x"}`), gh(forge.SignGitHub(ghSecret, []byte(`{"zen":"x"}`)), "ping"), 202, nil, "ignored"},
		{"github no waker", noWaker, "/api/v2/delivery/webhooks/github", ghBody, gh(forge.SignGitHub(ghSecret, ghBody), "check_suite"), 503, nil, "no delivery loop"},
		{"github no secret", noSecret, "/api/v2/delivery/webhooks/github", ghBody, gh(forge.SignGitHub("", ghBody), "check_suite"), 503, nil, "forge.github_webhook_secret"},
		{"gitlab good", mux, "/api/v2/delivery/webhooks/gitlab", glBody, map[string]string{"X-Gitlab-Token": glToken, "X-Gitlab-Event": "Pipeline Hook"}, 202,
			&delivery.CIEvent{Forge: "gitlab", Repo: "acme/platform/shorty", SHA: "def456", State: delivery.CISuccess}, ""},
		{"gitlab wrong token", mux, "/api/v2/delivery/webhooks/gitlab", glBody, map[string]string{"X-Gitlab-Token": "nope", "X-Gitlab-Event": "Pipeline Hook"}, 401, nil, "X-Gitlab-Token"},
		{"gitlab missing token", mux, "/api/v2/delivery/webhooks/gitlab", glBody, map[string]string{"X-Gitlab-Event": "Pipeline Hook"}, 401, nil, "X-Gitlab-Token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(waker.got())
			req := httptest.NewRequest("POST", tt.path, bytes.NewReader(tt.body))
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			tt.mux.ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			require.Contains(t, rec.Body.String(), tt.message)
			got := waker.got()[before:]
			if tt.woken == nil {
				require.Empty(t, got, "nothing reaches the waker")
				return
			}
			require.Equal(t, []delivery.CIEvent{*tt.woken}, got)
		})
	}
}

// TestCheckTokenNeverLogsTheToken: GET /api/github/check-token takes the
// token from the query (the earlier contract) or from Authorization:
// token; the answer has the earlier fields; no log line carries the token.
func TestCheckTokenNeverLogsTheToken(t *testing.T) {
	const tok = "ghp_checktoken_canary_42"
	gh := forgetest.NewGitHub(t, tok, "octo")
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(Config{Forge: forge.Config{GitHubURL: gh.URL + "/"}}, Deps{Logger: logger})
	mux := http.NewServeMux()
	s.Mount(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{TenantID: "acme", Scopes: []string{auth.ScopeRead}})))
		})
	})
	h := httpx.Logging(logger, nil)(mux)
	tests := []struct {
		name   string
		target string
		header string
		valid  bool
		status int
	}{
		{"query", "/api/github/check-token?token=" + tok, "", true, 200},
		{"authorization header", "/api/github/check-token", "token " + tok, true, 200},
		{"revoked in the query", "/api/github/check-token?token=" + tok + "x", "", false, 200},
		{"none", "/api/github/check-token", "", false, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.target, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			if tt.status != 200 {
				return
			}
			var out TokenCheck
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
			require.Equal(t, tt.valid, out.Valid, out.Message)
			if tt.valid {
				require.Equal(t, "octo", out.Username)
				require.Contains(t, out.Scopes, "repo")
			}
			require.NotContains(t, rec.Body.String(), tok)
		})
	}
	require.Contains(t, logs.String(), `"path":"/api/github/check-token"`, "the requests were logged")
	require.NotContains(t, logs.String(), tok, "no log line carries the token")
}

func TestDeliverRequestShapes(t *testing.T) {
	s := New(Config{}, Deps{Logger: slog.New(slog.DiscardHandler)})
	tests := []struct {
		name  string
		req   DeliverRequest
		field string
	}{
		{"forge without repo", DeliverRequest{Forge: "github", Token: "t"}, "repo"},
		{"forge with a remote", DeliverRequest{Forge: "github", Repo: "o/r", RemoteURL: "https://x/r.git", Token: "t"}, "remote_url"},
		{"unknown forge", DeliverRequest{Forge: "bitbucket", Repo: "o/r", Token: "t"}, "forge"},
		{"forge without token", DeliverRequest{Forge: "gitlab", Repo: "o/r"}, "token"},
		{"forge_url not allowed", DeliverRequest{Forge: "github", Repo: "o/r", Token: "t", ForgeURL: "http://169.254.169.254/"}, "forge_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.deliverToForge(t.Context(), domain.Capsule{Name: "x"}, domain.CapsuleVersion{Version: 1}, "qlp/x", "m", tt.req)
			he := httpx.AsError(err)
			require.NotNil(t, he, "%v", err)
			require.Equal(t, 400, he.Status)
			require.Equal(t, tt.field, he.Field, he.Message)
		})
	}
}
