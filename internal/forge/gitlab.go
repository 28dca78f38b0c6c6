package forge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
	"golang.org/x/time/rate"

	"github.com/quantumlayer/qlp/internal/delivery"
)

// gitLab is a Forge on gitlab.com or a self-managed GitLab.
type gitLab struct {
	c     *gitlab.Client
	cfg   Config
	token string
}

func newGitLab(apiURL, token string, cfg Config, hc *http.Client) (*gitLab, error) {
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	api := *hc
	api.Transport = &rateLimited{forge: GitLab, base: base, maxWait: cfg.MaxRateLimitWait, now: time.Now}
	c, err := gitlab.NewClient(token, gitlab.WithBaseURL(apiURL), gitlab.WithHTTPClient(&api),
		// Rate limits are waited out by rateLimited, from the answers'
		// headers, like GitHub's: the client's own retries and limiter
		// are off so that one policy applies.
		gitlab.WithoutRetries(), gitlab.WithCustomLimiter(rate.NewLimiter(rate.Inf, 0)), gitlab.WithUserAgent("qlp"))
	if err != nil {
		return nil, fieldError{"forge_url", err.Error()}
	}
	return &gitLab{c: c, cfg: cfg, token: token}, nil
}

func (g *gitLab) Name() string { return GitLab }

// PushAuth: GitLab takes any username with a token as the password;
// "oauth2" is the one its documentation names.
func (g *gitLab) PushAuth() delivery.Auth { return delivery.Auth{Token: g.token, Username: "oauth2"} }

func (g *gitLab) CheckToken(ctx context.Context) (TokenInfo, error) {
	u, _, err := g.c.Users.CurrentUser(gitlab.WithContext(ctx))
	if err != nil {
		return TokenInfo{}, glError("read the token's user", err)
	}
	info := TokenInfo{Username: u.Username, Name: u.Name, Email: u.Email}
	if info.Email == "" {
		info.Email = u.PublicEmail
	}
	// A personal, project or group access token says its scopes; an
	// OAuth token does not (404), which is not an error.
	if t, _, err := g.c.PersonalAccessTokens.GetSinglePersonalAccessToken(gitlab.WithContext(ctx)); err == nil {
		info.Scopes = t.Scopes
	}
	return info, nil
}

func (g *gitLab) EnsureRepo(ctx context.Context, spec RepoSpec) (Repo, error) {
	ns, name, err := splitPath(spec.Path)
	if err != nil {
		return Repo{}, err
	}
	p, _, err := g.c.Projects.GetProject(spec.Path, nil, gitlab.WithContext(ctx))
	if err == nil {
		return glRepo(p, false), nil
	}
	err = glError("read project "+spec.Path, err)
	if !errors.Is(err, ErrNotFound) || !spec.Create {
		return Repo{}, err
	}
	opt := &gitlab.CreateProjectOptions{Name: gitlab.Ptr(name), Path: gitlab.Ptr(name), InitializeWithReadme: gitlab.Ptr(spec.Initialize),
		Visibility: gitlab.Ptr(gitlab.PublicVisibility)}
	if spec.Private {
		opt.Visibility = gitlab.Ptr(gitlab.PrivateVisibility)
	}
	if spec.Description != "" {
		opt.Description = gitlab.Ptr(spec.Description)
	}
	me, _, err := g.c.Users.CurrentUser(gitlab.WithContext(ctx))
	if err != nil {
		return Repo{}, glError("read the token's user", err)
	}
	if !strings.EqualFold(ns, me.Username) {
		// A group (or subgroup): the project goes in its namespace.
		n, _, err := g.c.Namespaces.GetNamespace(ns, gitlab.WithContext(ctx))
		if err != nil {
			return Repo{}, glError("read namespace "+ns, err)
		}
		opt.NamespaceID = gitlab.Ptr(n.ID)
	}
	p, _, err = g.c.Projects.CreateProject(opt, gitlab.WithContext(ctx))
	if err != nil {
		return Repo{}, glError("create project "+spec.Path, err)
	}
	return glRepo(p, true), nil
}

func glRepo(p *gitlab.Project, created bool) Repo {
	branch := p.DefaultBranch
	if branch == "" {
		branch = "main"
	}
	r := Repo{Path: p.PathWithNamespace, Name: p.Path, HTMLURL: p.WebURL, CloneURL: p.HTTPURLToRepo, SSHURL: p.SSHURLToRepo,
		DefaultBranch: branch, Private: p.Visibility == gitlab.PrivateVisibility, Created: created}
	if p.Namespace != nil {
		r.Owner = p.Namespace.FullPath
	}
	return r
}

func (g *gitLab) OpenPullRequest(ctx context.Context, spec PullRequestSpec) (delivery.PullRequest, error) {
	if _, _, err := splitPath(spec.Repo); err != nil {
		return delivery.PullRequest{}, err
	}
	out := func(iid int64, url string) delivery.PullRequest {
		return delivery.PullRequest{Forge: GitLab, Repo: spec.Repo, Number: int(iid), URL: url, Branch: spec.Head, Base: spec.Base}
	}
	open, _, err := g.c.MergeRequests.ListProjectMergeRequests(spec.Repo, &gitlab.ListProjectMergeRequestsOptions{
		State: gitlab.Ptr("opened"), SourceBranch: gitlab.Ptr(spec.Head), TargetBranch: gitlab.Ptr(spec.Base)}, gitlab.WithContext(ctx))
	if err != nil {
		return delivery.PullRequest{}, glError("list the merge requests of "+spec.Repo, err)
	}
	for _, m := range open {
		if m.SourceBranch == spec.Head {
			return out(m.IID, m.WebURL), nil
		}
	}
	m, _, err := g.c.MergeRequests.CreateMergeRequest(spec.Repo, &gitlab.CreateMergeRequestOptions{Title: gitlab.Ptr(spec.Title),
		Description: gitlab.Ptr(spec.Body), SourceBranch: gitlab.Ptr(spec.Head), TargetBranch: gitlab.Ptr(spec.Base)}, gitlab.WithContext(ctx))
	if err != nil {
		return delivery.PullRequest{}, glError("open a merge request from "+spec.Head+" into "+spec.Base+" of "+spec.Repo, err)
	}
	return out(m.IID, m.WebURL), nil
}

// CIStatus folds the jobs of the commit's latest pipeline (every page)
// into one state, with the trace tail of each failing job. A job allowed
// to fail does not fail the commit.
func (g *gitLab) CIStatus(ctx context.Context, pr delivery.PullRequest, sha string) (delivery.CIStatus, error) {
	var latest *gitlab.PipelineInfo
	opt := &gitlab.ListProjectPipelinesOptions{SHA: gitlab.Ptr(sha), ListOptions: gitlab.ListOptions{PerPage: 100}}
	for {
		ps, resp, err := g.c.Pipelines.ListProjectPipelines(pr.Repo, opt, gitlab.WithContext(ctx))
		if err != nil {
			return delivery.CIStatus{}, glError("list the pipelines of "+shortSHA(sha), err)
		}
		for _, p := range ps {
			if p.SHA == sha && (latest == nil || p.ID > latest.ID) {
				latest = p
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	if latest == nil {
		return delivery.CIStatus{State: delivery.CIPending}, nil
	}
	var states []delivery.CIState
	var failed []delivery.CIRun
	jopt := &gitlab.ListJobsOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}
	for {
		jobs, resp, err := g.c.Jobs.ListPipelineJobs(pr.Repo, latest.ID, jopt, gitlab.WithContext(ctx))
		if err != nil {
			return delivery.CIStatus{}, glError(fmt.Sprintf("list the jobs of pipeline %d", latest.ID), err)
		}
		for _, j := range jobs {
			st := jobState(j.Status, j.AllowFailure)
			states = append(states, st)
			if st == delivery.CIFailure {
				failed = append(failed, delivery.CIRun{Name: j.Name, URL: j.WebURL, Log: g.trace(ctx, pr.Repo, j.ID)})
			}
		}
		if resp.NextPage == 0 {
			break
		}
		jopt.Page = resp.NextPage
	}
	if len(states) == 0 {
		// A pipeline without jobs (yet): its own status says.
		states = append(states, pipelineState(latest.Status))
	}
	out := delivery.CIStatus{State: fold(states)}
	if out.State == delivery.CIFailure {
		out.Failed = failed
	}
	return out, nil
}

func (g *gitLab) trace(ctx context.Context, repo string, jobID int64) string {
	r, _, err := g.c.Jobs.GetTraceFile(repo, jobID, gitlab.WithContext(ctx))
	if err != nil {
		return fmt.Sprintf("[the job's trace could not be read: %v]", glError("read the trace", err))
	}
	t := &tail{n: g.cfg.LogTailBytes}
	_, _ = io.Copy(t, r)
	return t.String()
}

// jobState maps a GitLab job status.
func jobState(status string, allowFailure bool) delivery.CIState {
	switch status {
	case "success", "skipped", "manual":
		return delivery.CISuccess
	case "failed", "canceled", "canceling":
		if allowFailure {
			return delivery.CISuccess
		}
		return delivery.CIFailure
	}
	return delivery.CIPending
}

// pipelineState maps a GitLab pipeline status (webhooks carry it).
func pipelineState(status string) delivery.CIState {
	switch status {
	case "success", "skipped", "manual":
		return delivery.CISuccess
	case "failed", "canceled", "canceling":
		return delivery.CIFailure
	}
	return delivery.CIPending
}

// glError turns client-go's error into one a person can act on.
func glError(op string, err error) error {
	var er *gitlab.ErrorResponse
	if errors.As(err, &er) {
		status := er.StatusCode
		if status == 0 && er.Response != nil {
			status = er.Response.StatusCode
		}
		if errors.Is(err, gitlab.ErrNotFound) || status == 0 {
			status = http.StatusNotFound
		}
		return &APIError{Forge: GitLab, Op: op, Status: status, Message: strings.TrimPrefix(er.Message, "failed to parse unknown error format: ")}
	}
	return fmt.Errorf("gitlab: %s: %w", op, unwrapURL(err))
}
