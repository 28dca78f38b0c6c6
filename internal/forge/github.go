package forge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v93/github"

	"github.com/quantumlayer/qlp/internal/delivery"
)

// gitHub is a Forge on GitHub or GitHub Enterprise.
type gitHub struct {
	c   *github.Client
	cfg Config
	// raw fetches job logs from where GitHub redirects (a storage URL
	// signed for the download: the token is not sent there).
	raw   *http.Client
	token string
}

func newGitHub(apiURL, token string, cfg Config, hc *http.Client) (*gitHub, error) {
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	rl := &rateLimited{forge: GitHub, base: base, maxWait: cfg.MaxRateLimitWait, now: time.Now}
	api := *hc
	api.Transport = rl
	upload := apiURL
	c, err := github.NewClient(github.WithHTTPClient(&api), github.WithAuthToken(token), github.WithURLs(&apiURL, &upload),
		// The rate limit is waited out by rateLimited, on every answer,
		// not guessed in advance from an earlier one.
		github.WithDisableRateLimitCheck(), github.WithUserAgent("qlp"))
	if err != nil {
		return nil, fieldError{"forge_url", err.Error()}
	}
	raw := *hc
	raw.Transport = &rateLimited{forge: GitHub, base: base, maxWait: cfg.MaxRateLimitWait, now: time.Now}
	return &gitHub{c: c, cfg: cfg, raw: &raw, token: token}, nil
}

func (g *gitHub) Name() string { return GitHub }

func (g *gitHub) PushAuth() delivery.Auth {
	return delivery.Auth{Token: g.token, Username: "x-access-token"}
}

func (g *gitHub) CheckToken(ctx context.Context) (TokenInfo, error) {
	u, resp, err := g.c.Users.Get(ctx, "")
	if err != nil {
		return TokenInfo{}, ghError("read the token's user", err)
	}
	info := TokenInfo{Username: u.GetLogin(), Name: u.GetName(), Email: u.GetEmail(), PublicRepos: u.GetPublicRepos(), PrivateRepos: int(u.GetTotalPrivateRepos())}
	if s := resp.Header.Get("X-OAuth-Scopes"); s != "" {
		for _, sc := range strings.Split(s, ",") {
			if sc = strings.TrimSpace(sc); sc != "" {
				info.Scopes = append(info.Scopes, sc)
			}
		}
	}
	return info, nil
}

func (g *gitHub) EnsureRepo(ctx context.Context, spec RepoSpec) (Repo, error) {
	owner, name, err := splitPath(spec.Path)
	if err != nil {
		return Repo{}, err
	}
	if strings.Contains(owner, "/") {
		return Repo{}, fieldError{"repo", fmt.Sprintf("%q is not owner/name: GitHub has no subgroups", spec.Path)}
	}
	r, _, err := g.c.Repositories.Get(ctx, owner, name)
	if err == nil {
		return ghRepo(r, false), nil
	}
	err = ghError("read repository "+spec.Path, err)
	if !errors.Is(err, ErrNotFound) || !spec.Create {
		return Repo{}, err
	}
	me, _, err := g.c.Users.Get(ctx, "")
	if err != nil {
		return Repo{}, ghError("read the token's user", err)
	}
	org := owner
	if strings.EqualFold(owner, me.GetLogin()) {
		// POST /user/repos: under the token's own account.
		org = ""
	}
	req := github.CreateRepositoryRequest{Name: name, Private: new(spec.Private), AutoInit: new(spec.Initialize)}
	if spec.Description != "" {
		req.Description = new(spec.Description)
	}
	r, _, err = g.c.Repositories.Create(ctx, org, req)
	if err != nil {
		return Repo{}, ghError("create repository "+spec.Path, err)
	}
	return ghRepo(r, true), nil
}

func ghRepo(r *github.Repository, created bool) Repo {
	branch := r.GetDefaultBranch()
	if branch == "" {
		branch = "main"
	}
	return Repo{Path: r.GetFullName(), Owner: r.GetOwner().GetLogin(), Name: r.GetName(), HTMLURL: r.GetHTMLURL(), CloneURL: r.GetCloneURL(),
		SSHURL: r.GetSSHURL(), DefaultBranch: branch, Private: r.GetPrivate(), Created: created}
}

func (g *gitHub) OpenPullRequest(ctx context.Context, spec PullRequestSpec) (delivery.PullRequest, error) {
	owner, name, err := splitPath(spec.Repo)
	if err != nil {
		return delivery.PullRequest{}, err
	}
	out := func(p *github.PullRequest) delivery.PullRequest {
		return delivery.PullRequest{Forge: GitHub, Repo: spec.Repo, Number: p.GetNumber(), URL: p.GetHTMLURL(), Branch: spec.Head, Base: spec.Base}
	}
	open, _, err := g.c.PullRequests.List(ctx, owner, name, &github.PullRequestListOptions{State: "open", Head: owner + ":" + spec.Head, Base: spec.Base})
	if err != nil {
		return delivery.PullRequest{}, ghError("list the pull requests of "+spec.Repo, err)
	}
	for _, p := range open {
		if p.GetHead().GetRef() == spec.Head {
			return out(p), nil
		}
	}
	p, _, err := g.c.PullRequests.Create(ctx, owner, name, github.CreatePullRequest{Title: new(spec.Title), Head: spec.Head, Base: spec.Base, Body: new(spec.Body)})
	if err != nil {
		return delivery.PullRequest{}, ghError("open a pull request from "+spec.Head+" into "+spec.Base+" of "+spec.Repo, err)
	}
	return out(p), nil
}

// CIStatus folds the commit's statuses (the combined status, every page)
// and its check runs (every page) into one state, with the log tail of
// each failing run.
func (g *gitHub) CIStatus(ctx context.Context, pr delivery.PullRequest, sha string) (delivery.CIStatus, error) {
	owner, name, err := splitPath(pr.Repo)
	if err != nil {
		return delivery.CIStatus{}, err
	}
	var states []delivery.CIState
	var failed []delivery.CIRun
	opt := &github.ListOptions{PerPage: 100}
	for {
		cs, resp, err := g.c.Repositories.GetCombinedStatus(ctx, owner, name, sha, opt)
		if err != nil {
			return delivery.CIStatus{}, ghError("read the statuses of "+shortSHA(sha), err)
		}
		for _, s := range cs.Statuses {
			st := statusState(s.GetState())
			states = append(states, st)
			if st == delivery.CIFailure {
				failed = append(failed, delivery.CIRun{Name: s.GetContext(), URL: s.GetTargetURL(), Log: s.GetDescription()})
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	copt := &github.ListCheckRunsOptions{Filter: new("latest"), ListOptions: github.ListOptions{PerPage: 100}}
	for {
		res, resp, err := g.c.Checks.ListCheckRunsForRef(ctx, owner, name, sha, copt)
		if err != nil {
			return delivery.CIStatus{}, ghError("read the check runs of "+shortSHA(sha), err)
		}
		for _, cr := range res.CheckRuns {
			st := checkState(cr.GetStatus(), cr.GetConclusion())
			states = append(states, st)
			if st == delivery.CIFailure {
				failed = append(failed, delivery.CIRun{Name: cr.GetName(), URL: cr.GetHTMLURL(), Log: g.checkRunLog(ctx, owner, name, cr)})
			}
		}
		if resp.NextPage == 0 {
			break
		}
		copt.Page = resp.NextPage
	}
	out := delivery.CIStatus{State: fold(states)}
	if out.State == delivery.CIFailure {
		out.Failed = failed
	}
	return out, nil
}

// checkRunLog is the tail of a check run's log: the Actions job log (the
// check run of an Actions job has the job's id), else the run's output.
func (g *gitHub) checkRunLog(ctx context.Context, owner, name string, cr *github.CheckRun) string {
	u, _, err := g.c.Actions.GetWorkflowJobLogs(ctx, owner, name, cr.GetID(), 1)
	if err == nil {
		log, err := g.fetchTail(ctx, u.String())
		if err == nil {
			return log
		}
		return fmt.Sprintf("[the job's log could not be read: %v]\n%s", err, checkOutput(cr))
	}
	return checkOutput(cr)
}

func checkOutput(cr *github.CheckRun) string {
	o := cr.GetOutput()
	var parts []string
	for _, s := range []string{o.GetTitle(), o.GetSummary(), o.GetText()} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "\n")
}

// fetchTail reads the end of a log from the URL GitHub redirected to.
func (g *gitHub) fetchTail(ctx context.Context, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := g.raw.Do(req)
	if err != nil {
		// The URL is signed: its query is not repeated in the error.
		return "", fmt.Errorf("download the log from %s: %w", req.URL.Host, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("download the log from %s: %s", req.URL.Host, resp.Status)
	}
	t := &tail{n: g.cfg.LogTailBytes}
	if _, err := io.Copy(t, resp.Body); err != nil {
		return "", fmt.Errorf("download the log from %s: %w", req.URL.Host, err)
	}
	return t.String(), nil
}

func statusState(s string) delivery.CIState {
	switch s {
	case "success":
		return delivery.CISuccess
	case "failure", "error":
		return delivery.CIFailure
	}
	return delivery.CIPending
}

// checkState maps a check run (or suite, or workflow run) to a state:
// completed with success, neutral or skipped passes; any other conclusion
// fails.
func checkState(status, conclusion string) delivery.CIState {
	if status != "completed" {
		return delivery.CIPending
	}
	switch conclusion {
	case "success", "neutral", "skipped":
		return delivery.CISuccess
	case "":
		return delivery.CIPending
	}
	return delivery.CIFailure
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// ghError turns go-github's error into one a person can act on.
func ghError(op string, err error) error {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		e := &APIError{Forge: GitHub, Op: op, Status: er.Response.StatusCode, Message: er.Message, DocURL: er.DocumentationURL}
		for _, d := range er.Errors {
			switch {
			case d.Message != "":
				e.Details = append(e.Details, d.Message)
			case d.Field != "":
				e.Details = append(e.Details, fmt.Sprintf("%s %s %s", d.Resource, d.Field, d.Code))
			case d.Code != "":
				e.Details = append(e.Details, d.Code)
			}
		}
		return e
	}
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		return fmt.Errorf("github: %s: the rate limit resets at %s: %w", op, rl.Rate.Reset.UTC().Format(time.RFC3339), ErrRateLimited)
	}
	return fmt.Errorf("github: %s: %w", op, unwrapURL(err))
}
