package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/forge"
	"github.com/quantumlayer/qlp/internal/httpx"
)

// webhookRoutes are the forges' webhooks: no API key, their signature
// (a secret shared with the forge) is their authentication.
func (s *Service) webhookRoutes() []route {
	return []route{
		{"POST", "/api/v2/delivery/webhooks/github", s.handleGitHubWebhook, ""},
		{"POST", "/api/v2/delivery/webhooks/gitlab", s.handleGitLabWebhook, ""},
	}
}

// MountWebhooks registers the forges' webhooks on mux without the API-key
// authentication: each checks its forge's signature before reading
// anything, and refuses a bad or missing one with 401.
func (s *Service) MountWebhooks(mux *http.ServeMux) {
	for _, rt := range s.webhookRoutes() {
		// Not audited: the audit log is per tenant, and a webhook has
		// none; the access log has each call.
		mux.Handle(rt.method+" "+rt.pattern, httpx.Handle(s.logger, rt.fn))
	}
}

// WebhookAnswer is what a webhook is answered.
type WebhookAnswer struct {
	// Accepted: the event was handed to the delivery loop; false for an
	// event that says nothing about CI (ping, push…).
	Accepted bool              `json:"accepted"`
	Event    *delivery.CIEvent `json:"event,omitempty"`
	Message  string            `json:"message,omitempty"`
}

// readWebhook reads the body (bounded) after checking that the forge's
// webhooks are configured at all.
func (s *Service) readWebhook(w http.ResponseWriter, r *http.Request, secret, setting string) ([]byte, error) {
	if secret == "" {
		return nil, httpx.Unavailable(errors.New("not configured"), "this server takes no webhooks from this forge: set %s", setting)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return nil, httpx.BadRequest("body", "unreadable or larger than %d bytes", s.cfg.MaxBodyBytes)
	}
	return body, nil
}

func (s *Service) handleGitHubWebhook(w http.ResponseWriter, r *http.Request) error {
	cfg := s.forgeConfig()
	body, err := s.readWebhook(w, r, cfg.GitHubWebhookSecret, "forge.github_webhook_secret")
	if err != nil {
		return err
	}
	if !forge.VerifyGitHubSignature(cfg.GitHubWebhookSecret, body, r.Header.Get("X-Hub-Signature-256")) {
		return httpx.Unauthorized("X-Hub-Signature-256 is missing or is not the HMAC-SHA256 of the body with this server's webhook secret")
	}
	ev, ok, err := forge.ParseGitHubEvent(r.Header.Get("X-GitHub-Event"), body)
	return s.wake(w, r.Context(), ev, ok, err)
}

func (s *Service) handleGitLabWebhook(w http.ResponseWriter, r *http.Request) error {
	cfg := s.forgeConfig()
	body, err := s.readWebhook(w, r, cfg.GitLabWebhookToken, "forge.gitlab_webhook_token")
	if err != nil {
		return err
	}
	if !forge.VerifyGitLabToken(cfg.GitLabWebhookToken, r.Header.Get("X-Gitlab-Token")) {
		return httpx.Unauthorized("X-Gitlab-Token is missing or is not this server's webhook token")
	}
	ev, ok, err := forge.ParseGitLabEvent(r.Header.Get("X-Gitlab-Event"), body)
	return s.wake(w, r.Context(), ev, ok, err)
}

func (s *Service) wake(w http.ResponseWriter, ctx context.Context, ev delivery.CIEvent, ok bool, err error) error {
	if err != nil {
		return httpx.BadRequest("body", "%v", err)
	}
	if s.ciWaker == nil {
		return httpx.Unavailable(errors.New("no delivery loop"), "no delivery loop runs in this server to take CI events; poll-based delivery still works")
	}
	if !ok {
		httpx.WriteJSON(w, http.StatusAccepted, WebhookAnswer{Message: "not a CI event: ignored"})
		return nil
	}
	if err := s.ciWaker.WakeCI(ctx, ev); err != nil {
		return httpx.Unavailable(err, "the delivery loop did not take the event: %v", err)
	}
	httpx.WriteJSON(w, http.StatusAccepted, WebhookAnswer{Accepted: true, Event: &ev})
	return nil
}

// GitHubPushRequest is the earlier platform's POST /api/github/push.
type GitHubPushRequest struct {
	CapsuleID   string `json:"capsule_id"`
	GitHubToken string `json:"github_token"`
	RepoName    string `json:"repo_name,omitempty"`
	Private     bool   `json:"private"`
}

// GitHubPushResponse is its answer, in the earlier fields (commit_sha as
// its v2 had it).
type GitHubPushResponse struct {
	Success       bool   `json:"success"`
	RepositoryURL string `json:"repository_url"`
	CloneURL      string `json:"clone_url"`
	SSHURL        string `json:"ssh_url"`
	Owner         string `json:"owner"`
	RepoName      string `json:"repo_name"`
	FilesCreated  int    `json:"files_created"`
	CommitSHA     string `json:"commit_sha"`
	Message       string `json:"message"`
}

// handleGitHubPush pushes a capsule's latest version to the default branch
// of a repository of the token's user, created when missing.
func (s *Service) handleGitHubPush(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	var req GitHubPushRequest
	if err := httpx.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.CapsuleID == "" {
		return httpx.BadRequest("capsule_id", "required")
	}
	if req.GitHubToken == "" {
		return httpx.BadRequest("github_token", "required: a GitHub token that may create and write repositories (used for this call only, never stored)")
	}
	c, v, err := s.Capsule(r.Context(), tid, req.CapsuleID, 0)
	if err != nil {
		return err
	}
	f, err := s.forgeClient(forge.GitHub, "", req.GitHubToken)
	if err != nil {
		return relabel(err, "token", "github_token")
	}
	me, err := f.CheckToken(r.Context())
	if err != nil {
		return relabel(deliveryError(err), "token", "github_token")
	}
	name := req.RepoName
	if name == "" {
		name = branchSegment(c.Name, c.ID)
	}
	if strings.Contains(name, "/") {
		return httpx.BadRequest("repo_name", "a name without an owner: the repository goes under the token's user")
	}
	msg := fmt.Sprintf("%s: %s\n\nQLP capsule %s version %d (request %s).\n", c.Name, firstLine(c.Description), c.ID, v.Version, c.RequestID)
	d, err := forge.Deliver(r.Context(), f, capsule.VersionFiles(v), forge.DeliverOptions{
		Repo:    forge.RepoSpec{Path: me.Username + "/" + name, Create: true, Private: req.Private, Description: firstLine(c.Description)},
		Branch:  "main",
		Message: msg, AuthorName: "QLP", AuthorEmail: "qlp@localhost", When: v.CreatedAt})
	if err := deliveryError(err); err != nil {
		return relabel(err, "token", "github_token")
	}
	if d.Repository.DefaultBranch != "main" {
		// The repository existed with another default branch: the capsule
		// is on main beside it, which the answer says.
		msg = "pushed to branch main (the repository's default branch is " + d.Repository.DefaultBranch + ")"
	} else {
		msg = fmt.Sprintf("pushed %d files to %s", d.Push.Files, d.Repository.HTMLURL)
	}
	httpx.WriteJSON(w, http.StatusOK, GitHubPushResponse{Success: true, RepositoryURL: d.Repository.HTMLURL, CloneURL: d.Repository.CloneURL,
		SSHURL: d.Repository.SSHURL, Owner: d.Repository.Owner, RepoName: d.Repository.Name, FilesCreated: d.Push.Files, CommitSHA: d.Push.Commit, Message: msg})
	return nil
}

// relabel renames the field an error names (the earlier endpoint calls
// the token github_token).
func relabel(err error, from, to string) error {
	if he := httpx.AsError(err); he != nil && he.Field == from {
		he.Field = to
		return he
	}
	return err
}

// TokenCheck is the earlier GET /api/github/check-token's answer.
type TokenCheck struct {
	Valid        bool     `json:"valid"`
	Username     string   `json:"username,omitempty"`
	Name         string   `json:"name,omitempty"`
	Email        string   `json:"email,omitempty"`
	PublicRepos  int      `json:"public_repos"`
	PrivateRepos int      `json:"private_repos"`
	Scopes       []string `json:"scopes,omitempty"`
	Message      string   `json:"message"`
}

// handleCheckToken checks a GitHub token given as ?token= (the earlier
// contract) or as "Authorization: token <t>" (the QLP key then goes in
// X-API-Key). The access log and error logs carry the path only, never
// the query.
func (s *Service) handleCheckToken(w http.ResponseWriter, r *http.Request) error {
	tok := r.URL.Query().Get("token")
	if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "token "); ok && tok == "" {
		tok = strings.TrimSpace(h)
	}
	if tok == "" {
		return httpx.BadRequest("token", "required: ?token=<GitHub token>, or Authorization: token <GitHub token> with the QLP key in X-API-Key")
	}
	f, err := s.forgeClient(forge.GitHub, "", tok)
	if err != nil {
		return err
	}
	info, err := f.CheckToken(r.Context())
	switch {
	case errors.Is(err, delivery.ErrAuth):
		httpx.WriteJSON(w, http.StatusOK, TokenCheck{Message: "GitHub refused the token: it is wrong, expired or revoked"})
		return nil
	case err != nil:
		return deliveryError(err)
	}
	httpx.WriteJSON(w, http.StatusOK, TokenCheck{Valid: true, Username: info.Username, Name: info.Name, Email: info.Email,
		PublicRepos: info.PublicRepos, PrivateRepos: info.PrivateRepos, Scopes: info.Scopes, Message: "the token is valid for " + info.Username})
	return nil
}

// GitHubPush pushes a capsule to GitHub the earlier way (POST
// /api/github/push).
func (c *Client) GitHubPush(ctx context.Context, req GitHubPushRequest) (GitHubPushResponse, error) {
	var out GitHubPushResponse
	return out, c.hc.Do(ctx, http.MethodPost, "/api/github/push", req, &out)
}
