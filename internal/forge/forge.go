// Package forge talks to the forges teams keep code on: GitHub (through
// google/go-github) and GitLab (through GitLab's maintained Go client), on
// their public hosts or self-managed ones. A Forge checks a token, creates
// the repository when it is missing, opens a pull (merge) request from a
// branch pushed with delivery.Push, and reads the CI of a commit
// (delivery.CI) with the tail of each failing job's log.
//
// Rate limits are waited out (until the forge's reset time or Retry-After,
// bounded by the context and Config.MaxRateLimitWait) and the request is
// sent again. Tokens are sent in headers only: they are never in a log
// line or an error.
package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/settings"
)

// Forge names.
const (
	GitHub = "github"
	GitLab = "gitlab"
)

// Default API URLs of the public forges.
const (
	DefaultGitHubURL = "https://api.github.com/"
	DefaultGitLabURL = "https://gitlab.com/api/v4/"
)

// Config is the forges' configuration.
type Config struct {
	// GitHubURL and GitLabURL are the API base URLs used when a request
	// names none (GitHub Enterprise: https://host/api/v3/; self-managed
	// GitLab: https://host/api/v4/).
	GitHubURL string
	GitLabURL string
	// AllowedURLs are the other API base URLs a request may name
	// (forge_url): the server sends the caller's token there, so only
	// URLs the operator lists are reached.
	AllowedURLs []string
	// MaxRateLimitWait caps how long one request waits for a rate limit
	// to reset before it fails.
	MaxRateLimitWait time.Duration
	// LogTailBytes bounds the log kept of each failing CI job (its end).
	LogTailBytes int
	// GitHubWebhookSecret checks X-Hub-Signature-256 of GitHub webhooks;
	// GitLabWebhookToken is compared with X-Gitlab-Token. Empty refuses
	// the forge's webhooks.
	GitHubWebhookSecret string
	GitLabWebhookToken  string
}

// Defaults are the public forges, a one-minute wait cap and 64 KiB of log.
func Defaults() Config {
	return Config{GitHubURL: DefaultGitHubURL, GitLabURL: DefaultGitLabURL, MaxRateLimitWait: time.Minute, LogTailBytes: 64 << 10}
}

// Settings binds the configuration to YAML keys under "forge." and to
// QLP_FORGE_* environment variables.
func (c *Config) Settings() []settings.Setting {
	s := func(key, env, help string, secret bool, v settings.Value) settings.Setting {
		return settings.Setting{Key: "forge." + key, Env: "QLP_FORGE_" + env, Help: help, Secret: secret, Value: v}
	}
	return []settings.Setting{
		s("github_url", "GITHUB_URL", "GitHub API base URL (GitHub Enterprise: https://host/api/v3/)", false, settings.String(&c.GitHubURL)),
		s("gitlab_url", "GITLAB_URL", "GitLab API base URL (self-managed: https://host/api/v4/)", false, settings.String(&c.GitLabURL)),
		s("allowed_urls", "ALLOWED_URLS", "other forge API base URLs a delivery request may name in forge_url, comma-separated (the caller's token is sent there)", false, settings.List(&c.AllowedURLs)),
		s("max_rate_limit_wait", "MAX_RATE_LIMIT_WAIT", "longest wait for a forge's rate limit to reset before the call fails (e.g. 1m)", false, settings.Duration(&c.MaxRateLimitWait)),
		s("log_tail_bytes", "LOG_TAIL_BYTES", "bytes kept from the end of each failing CI job's log", false, settings.Int(&c.LogTailBytes)),
		s("github_webhook_secret", "GITHUB_WEBHOOK_SECRET", "secret of GitHub webhooks (X-Hub-Signature-256); empty refuses them", true, settings.String(&c.GitHubWebhookSecret)),
		s("gitlab_webhook_token", "GITLAB_WEBHOOK_TOKEN", "secret token of GitLab webhooks (X-Gitlab-Token); empty refuses them", true, settings.String(&c.GitLabWebhookToken)),
	}
}

// Validate checks the URLs and bounds.
func (c *Config) Validate() error {
	for key, u := range map[string]string{"forge.github_url": c.GitHubURL, "forge.gitlab_url": c.GitLabURL} {
		if _, err := baseURL(u); err != nil {
			return settings.Invalid(c.Settings(), key, "%v", err)
		}
	}
	for _, u := range c.AllowedURLs {
		if _, err := baseURL(u); err != nil {
			return settings.Invalid(c.Settings(), "forge.allowed_urls", "%v", err)
		}
	}
	if c.MaxRateLimitWait < 0 {
		return settings.Invalid(c.Settings(), "forge.max_rate_limit_wait", "must not be negative")
	}
	if c.LogTailBytes < 1024 || c.LogTailBytes > 16<<20 {
		return settings.Invalid(c.Settings(), "forge.log_tail_bytes", "%d is outside 1KiB..16MiB", c.LogTailBytes)
	}
	return nil
}

// BaseURL is the API URL to use for forge: requested (which must be the
// configured one or listed in AllowedURLs) or the configured one.
func (c *Config) BaseURL(forge, requested string) (string, error) {
	def := c.GitHubURL
	if forge == GitLab {
		def = c.GitLabURL
	}
	if requested == "" {
		return def, nil
	}
	want := normalize(requested)
	for _, ok := range append([]string{def}, c.AllowedURLs...) {
		if normalize(ok) == want {
			return requested, nil
		}
	}
	return "", fmt.Errorf("forge_url %s is not one this server may reach: the operator lists it in forge.allowed_urls", requested)
}

func normalize(u string) string { return strings.TrimRight(strings.ToLower(strings.TrimSpace(u)), "/") }

func baseURL(u string) (*url.URL, error) {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", u)
	}
	if p.User != nil {
		return nil, fmt.Errorf("the URL must not hold credentials")
	}
	if !strings.HasSuffix(p.Path, "/") {
		p.Path += "/"
	}
	return p, nil
}

// TokenInfo is what a forge says about a token.
type TokenInfo struct {
	Username string `json:"username"`
	Name     string `json:"name,omitempty"`
	Email    string `json:"email,omitempty"`
	// Scopes the token holds, when the forge says (GitHub classic tokens:
	// X-OAuth-Scopes; GitLab personal access tokens).
	Scopes       []string `json:"scopes,omitempty"`
	PublicRepos  int      `json:"public_repos"`
	PrivateRepos int      `json:"private_repos"`
}

// RepoSpec names a repository and what to do when it is missing.
type RepoSpec struct {
	// Path is owner/name on GitHub, the project's full path on GitLab
	// (group/subgroup/name).
	Path string
	// Create makes the repository when it does not exist, under the
	// token's user or the named organization (group).
	Create  bool
	Private bool
	// Description of a created repository.
	Description string
	// Initialize gives a created repository a first commit (a README) on
	// its default branch, so that a pull request has a base to merge
	// into.
	Initialize bool
}

// Repo is a repository on a forge.
type Repo struct {
	Path          string `json:"path"`
	Owner         string `json:"owner"`
	Name          string `json:"name"`
	HTMLURL       string `json:"html_url"`
	CloneURL      string `json:"clone_url"`
	SSHURL        string `json:"ssh_url,omitempty"`
	DefaultBranch string `json:"default_branch"`
	Private       bool   `json:"private"`
	// Created says the repository was made by this call.
	Created bool `json:"created"`
}

// PullRequestSpec asks for a pull (merge) request.
type PullRequestSpec struct {
	Repo  string
	Head  string
	Base  string
	Title string
	Body  string
}

// Forge is one forge reached with one token.
type Forge interface {
	delivery.CI
	// Name is GitHub or GitLab.
	Name() string
	// CheckToken says whose the token is and what it may do.
	CheckToken(ctx context.Context) (TokenInfo, error)
	// EnsureRepo finds the repository, or creates it when spec.Create.
	EnsureRepo(ctx context.Context, spec RepoSpec) (Repo, error)
	// OpenPullRequest opens a pull request from Head into Base, or
	// returns the open one that already does.
	OpenPullRequest(ctx context.Context, spec PullRequestSpec) (delivery.PullRequest, error)
	// PushAuth is how delivery.Push authenticates to the forge's git
	// server with the same token.
	PushAuth() delivery.Auth
}

// New returns the forge client for name ("github" or "gitlab") at the API
// base URL apiURL ("" for the configured one) with token.
func New(name, apiURL, token string, cfg Config, hc *http.Client) (Forge, error) {
	if token == "" {
		return nil, fieldError{"token", "a token is required"}
	}
	if apiURL == "" {
		apiURL = cfg.GitHubURL
		if name == GitLab {
			apiURL = cfg.GitLabURL
		}
	}
	if _, err := baseURL(apiURL); err != nil {
		return nil, fieldError{"forge_url", err.Error()}
	}
	if cfg.LogTailBytes <= 0 {
		cfg.LogTailBytes = Defaults().LogTailBytes
	}
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	switch name {
	case GitHub:
		return newGitHub(apiURL, token, cfg, hc)
	case GitLab:
		return newGitLab(apiURL, token, cfg, hc)
	}
	return nil, fieldError{"forge", fmt.Sprintf("%q is not a forge QLP knows: github or gitlab", name)}
}

// Errors callers may test with errors.Is (an authentication failure is
// delivery.ErrAuth).
var (
	// ErrNotFound: the repository (or what was asked for) does not exist,
	// or the token cannot see it.
	ErrNotFound = errors.New("not found, or the token cannot see it")
	// ErrRateLimited: the forge's rate limit did not reset within the
	// wait the configuration and the request allow.
	ErrRateLimited = errors.New("rate limited by the forge")
)

// APIError is a forge's error answer made readable: the status, the
// forge's message and details, and where its documentation explains it.
type APIError struct {
	Forge   string
	Op      string
	Status  int
	Message string
	Details []string
	DocURL  string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: %d %s", e.Forge, e.Op, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if len(e.Details) > 0 {
		b.WriteString(" (" + strings.Join(e.Details, "; ") + ")")
	}
	switch e.Status {
	case http.StatusUnauthorized:
		b.WriteString(": the token is wrong, expired or revoked")
	case http.StatusForbidden:
		b.WriteString(": the token lacks a permission (scope) this needs")
	}
	if e.DocURL != "" {
		b.WriteString("; see " + e.DocURL)
	}
	return b.String()
}

// Unwrap maps the status to the errors callers test.
func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusUnauthorized:
		return delivery.ErrAuth
	case http.StatusNotFound:
		return ErrNotFound
	}
	return nil
}

// FieldError names the request field that is wrong.
type FieldError interface {
	error
	Field() string
}

type fieldError struct{ field, msg string }

func (e fieldError) Error() string { return e.field + ": " + e.msg }
func (e fieldError) Field() string { return e.field }

// splitPath splits owner/name (GitLab: group/sub/name) into the
// namespace and the name.
func splitPath(p string) (owner, name string, err error) {
	p = strings.Trim(p, "/")
	i := strings.LastIndexByte(p, '/')
	if i <= 0 || i == len(p)-1 || strings.Contains(p, "..") || strings.ContainsAny(p, " \t\n?#%") {
		return "", "", fieldError{"repo", fmt.Sprintf("%q is not owner/name", p)}
	}
	return p[:i], p[i+1:], nil
}

// tail keeps the last n bytes written to it.
type tail struct {
	n   int
	buf []byte
	cut bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.n {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.n:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tail) String() string {
	b := t.buf
	if len(b) > t.n {
		b, t.cut = b[len(b)-t.n:], true
	}
	if t.cut {
		// Start at a line so the first line is whole.
		if i := strings.IndexByte(string(b), '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
		return "[… log cut: its last " + fmt.Sprint(len(b)) + " bytes follow]\n" + string(b)
	}
	return string(b)
}

// fold combines run states into one: any failure fails, else any pending
// is pending, else success (no run at all is pending: CI has not started).
func fold(states []delivery.CIState) delivery.CIState {
	if len(states) == 0 {
		return delivery.CIPending
	}
	out := delivery.CISuccess
	for _, s := range states {
		switch s {
		case delivery.CIFailure:
			return delivery.CIFailure
		case delivery.CIPending:
			out = delivery.CIPending
		}
	}
	return out
}

// unwrapURL drops the URL net/http puts in its errors (a signed download
// URL carries credentials in its query).
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, hostOf(ue.URL), ue.Err)
	}
	return err
}

func hostOf(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Scheme + "://" + p.Host + p.Path
	}
	return "the forge"
}
