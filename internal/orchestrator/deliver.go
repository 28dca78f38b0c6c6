package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/forge"
	"github.com/quantumlayer/qlp/internal/httpx"
)

// DeliverRequest asks for a capsule version to be pushed to a git remote.
// The token is used for this push only: it is neither stored nor logged.
type DeliverRequest struct {
	RemoteURL string `json:"remote_url"`
	// Branch defaults to qlp/<capsule name>.
	Branch string `json:"branch,omitempty"`
	// Version defaults to the latest.
	Version int `json:"version,omitempty"`
	// Token authenticates over HTTPS; Username goes with it (default
	// x-access-token).
	Token    string `json:"token,omitempty"`
	Username string `json:"username,omitempty"`
	// SSHKey (PEM) authenticates ssh:// and user@host: remotes;
	// SSHKnownHost pins the server's host key (an authorized_keys line).
	SSHKey       string `json:"ssh_key,omitempty"`
	SSHKnownHost string `json:"ssh_known_host,omitempty"`
	// Message overrides the commit message made from the manifest.
	Message string `json:"message,omitempty"`

	// Forge ("github" or "gitlab") delivers to a forge instead of
	// RemoteURL: the repository Repo (owner/name; GitLab: the project's
	// full path) is found, or created when CreateRepo (Private), the
	// capsule pushed to Branch with Token, and a pull (merge) request
	// opened into the repository's default branch (or PullRequest.Base).
	Forge      string `json:"forge,omitempty"`
	Repo       string `json:"repo,omitempty"`
	CreateRepo bool   `json:"create_repo,omitempty"`
	Private    bool   `json:"private,omitempty"`
	// PullRequest sets the pull request's title, body and base.
	PullRequest *PullRequestOptions `json:"pull_request,omitempty"`
	// ForgeURL is the forge's API base URL (GitHub Enterprise,
	// self-managed GitLab): the configured one, or one the operator lists
	// in forge.allowed_urls.
	ForgeURL string `json:"forge_url,omitempty"`
	// WatchCI starts the delivery loop on the pull request: its CI is
	// watched and a failure repaired into a new version pushed to the
	// same branch (StartDeliveryLoop).
	WatchCI bool `json:"watch_ci,omitempty"`
}

// PullRequestOptions are a delivery's pull request; empty fields are made
// from the capsule's manifest.
type PullRequestOptions struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
	Base  string `json:"base,omitempty"`
}

// DeliverResponse says what was pushed.
type DeliverResponse struct {
	CapsuleID string `json:"capsule_id"`
	Version   int    `json:"version"`
	delivery.PushResult
	// Repository and PullRequest answer a delivery to a forge.
	Repository  *forge.Repo           `json:"repository,omitempty"`
	PullRequest *delivery.PullRequest `json:"pull_request,omitempty"`
	// DeliveryLoop is the loop watching the pull request's CI (watch_ci).
	DeliveryLoop *DeliveryLoop `json:"delivery_loop,omitempty"`
}

// Deliver pushes a capsule version of the tenant to a git remote.
func (s *Service) Deliver(ctx context.Context, tenantID, id string, req DeliverRequest) (DeliverResponse, error) {
	c, v, err := s.Capsule(ctx, tenantID, id, req.Version)
	if err != nil {
		return DeliverResponse{}, err
	}
	branch := req.Branch
	if branch == "" {
		branch = "qlp/" + branchSegment(c.Name, c.ID)
	}
	msg := req.Message
	if msg == "" {
		msg = fmt.Sprintf("%s: %s\n\nQLP capsule %s version %d (request %s).\n", c.Name, firstLine(c.Description), c.ID, v.Version, c.RequestID)
	}
	if req.Forge != "" {
		return s.deliverToForge(ctx, c, v, branch, msg, req)
	}
	if req.Repo != "" || req.CreateRepo || req.PullRequest != nil || req.ForgeURL != "" || req.WatchCI {
		return DeliverResponse{}, httpx.BadRequest("forge", "repo, create_repo, pull_request, forge_url and watch_ci go with forge (github or gitlab)")
	}
	res, err := delivery.Push(ctx, capsule.VersionFiles(v), delivery.PushOptions{Remote: req.RemoteURL, Branch: branch, Message: msg,
		AuthorName: "QLP", AuthorEmail: "qlp@localhost", When: v.CreatedAt,
		Auth: delivery.Auth{Token: req.Token, Username: req.Username, SSHKey: []byte(req.SSHKey), SSHKnownHost: req.SSHKnownHost}})
	if err := deliveryError(err); err != nil {
		return DeliverResponse{}, err
	}
	return DeliverResponse{CapsuleID: c.ID, Version: v.Version, PushResult: res}, nil
}

// deliveryError maps a push's or a forge's error to the API's.
func deliveryError(err error) error {
	var fe delivery.FieldError
	var ffe forge.FieldError
	var ae *forge.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ffe):
		return httpx.BadRequest(ffe.Field(), "%s", strings.TrimPrefix(err.Error(), ffe.Field()+": "))
	case errors.As(err, &fe):
		return httpx.BadRequest(fe.Field(), "%s", strings.TrimPrefix(err.Error(), fe.Field()+": "))
	case errors.Is(err, delivery.ErrAuth):
		return &httpx.Error{Status: http.StatusUnprocessableEntity, Code: "remote_auth", Field: "token", Message: err.Error()}
	case errors.Is(err, delivery.ErrRejected):
		return &httpx.Error{Status: http.StatusConflict, Code: "remote_rejected", Message: err.Error()}
	case errors.Is(err, forge.ErrNotFound):
		return &httpx.Error{Status: http.StatusUnprocessableEntity, Code: "forge_not_found", Field: "repo",
			Message: err.Error() + " (pass create_repo to create a missing repository)"}
	case errors.Is(err, forge.ErrRateLimited):
		return &httpx.Error{Status: http.StatusServiceUnavailable, Code: "forge_rate_limited", Message: err.Error()}
	case errors.As(err, &ae) && ae.Status == http.StatusForbidden:
		return &httpx.Error{Status: http.StatusUnprocessableEntity, Code: "forge_forbidden", Field: "token", Message: err.Error()}
	case errors.As(err, &ae):
		return &httpx.Error{Status: http.StatusBadGateway, Code: "forge_failed", Message: err.Error()}
	}
	return &httpx.Error{Status: http.StatusBadGateway, Code: "remote_failed", Message: err.Error()}
}

// deliverToForge pushes the capsule version to a forge's repository and
// opens the pull request.
func (s *Service) deliverToForge(ctx context.Context, c domain.Capsule, v domain.CapsuleVersion, branch, msg string, req DeliverRequest) (DeliverResponse, error) {
	if req.RemoteURL != "" {
		return DeliverResponse{}, httpx.BadRequest("remote_url", "a delivery to a forge takes repo, not remote_url: the forge gives the clone URL")
	}
	if req.Repo == "" {
		return DeliverResponse{}, httpx.BadRequest("repo", "required with forge: owner/name (GitLab: the project's full path)")
	}
	if len(req.SSHKey) > 0 {
		return DeliverResponse{}, httpx.BadRequest("ssh_key", "a delivery to a forge authenticates with its token (the API needs it too)")
	}
	f, err := s.forgeClient(req.Forge, req.ForgeURL, req.Token)
	if err != nil {
		return DeliverResponse{}, err
	}
	pr := PullRequestOptions{}
	if req.PullRequest != nil {
		pr = *req.PullRequest
	}
	if pr.Title == "" {
		pr.Title = strings.TrimSpace(c.Name + ": " + firstLine(c.Description))
	}
	if pr.Body == "" {
		pr.Body = fmt.Sprintf("%s\n\nQLP capsule `%s` version %d (request `%s`): the whole tree of the capsule as one commit.\n", firstLine(c.Description), c.ID, v.Version, c.RequestID)
	}
	d, err := forge.Deliver(ctx, f, capsule.VersionFiles(v), forge.DeliverOptions{
		Repo:   forge.RepoSpec{Path: req.Repo, Create: req.CreateRepo, Private: req.Private, Description: firstLine(c.Description)},
		Branch: branch, Base: pr.Base, PullRequest: true, Title: pr.Title, Body: pr.Body,
		Message: msg, AuthorName: "QLP", AuthorEmail: "qlp@localhost", When: v.CreatedAt})
	if err := deliveryError(err); err != nil {
		return DeliverResponse{}, err
	}
	res := DeliverResponse{CapsuleID: c.ID, Version: v.Version, PushResult: d.Push, Repository: &d.Repository, PullRequest: d.PullRequest}
	if d.PullRequest != nil {
		// The loop reads the CI where the pull request was opened.
		cfg := s.forgeConfig()
		if u, err := cfg.BaseURL(req.Forge, req.ForgeURL); err == nil {
			d.PullRequest.APIURL = u
		}
	}
	if req.WatchCI && d.PullRequest != nil {
		loop, err := s.StartDeliveryLoop(ctx, c.TenantID, c.ID, v.Version, d.Repository.CloneURL, *d.PullRequest, f.PushAuth())
		if err != nil {
			why := fmt.Sprintf("the pull request %s is open, but its CI is not watched", d.PullRequest.URL)
			var he *httpx.Error
			if errors.As(err, &he) {
				e := *he
				e.Message = why + ": " + he.Message
				return DeliverResponse{}, &e
			}
			return DeliverResponse{}, fmt.Errorf("%s: %w", why, err)
		}
		res.DeliveryLoop = &loop
	}
	return res, nil
}

// forgeClient is a client of the named forge at the configured API URL
// (or an allowed forge_url) with the caller's token.
func (s *Service) forgeClient(name, forgeURL, token string) (forge.Forge, error) {
	if name != forge.GitHub && name != forge.GitLab {
		return nil, httpx.BadRequest("forge", "%q is not a forge QLP delivers to: github or gitlab", name)
	}
	if token == "" {
		return nil, httpx.BadRequest("token", "a token of the forge is required (it is used for this call only, never stored)")
	}
	cfg := s.forgeConfig()
	u, err := cfg.BaseURL(name, forgeURL)
	if err != nil {
		return nil, httpx.BadRequest("forge_url", "%v", err)
	}
	f, err := forge.New(name, u, token, cfg, s.forgeHTTP)
	if err != nil {
		return nil, deliveryError(err)
	}
	return f, nil
}

// forgeConfig is the configured forge settings, with defaults for a
// service built without them (tests, embedders).
func (s *Service) forgeConfig() forge.Config {
	cfg := s.cfg.Forge
	d := forge.Defaults()
	if cfg.GitHubURL == "" {
		cfg.GitHubURL = d.GitHubURL
	}
	if cfg.GitLabURL == "" {
		cfg.GitLabURL = d.GitLabURL
	}
	if cfg.MaxRateLimitWait == 0 {
		cfg.MaxRateLimitWait = d.MaxRateLimitWait
	}
	if cfg.LogTailBytes == 0 {
		cfg.LogTailBytes = d.LogTailBytes
	}
	return cfg
}

func (s *Service) handleDeliver(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	var req DeliverRequest
	if err := httpx.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	res, err := s.Deliver(r.Context(), tid, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

// Deliver pushes a capsule version to a git remote
// (POST /api/v2/capsules/{id}/deliver).
func (c *Client) Deliver(ctx context.Context, id string, req DeliverRequest) (DeliverResponse, error) {
	var out DeliverResponse
	return out, c.hc.Do(ctx, http.MethodPost, "/api/v2/capsules/"+url.PathEscape(id)+"/deliver", req, &out)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// branchSegment makes a branch name part of a capsule's name.
func branchSegment(name, fallback string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-.")
	if out == "" || len(out) > 60 {
		return fallback
	}
	return out
}
