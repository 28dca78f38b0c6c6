package forge_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/forge"
	"github.com/quantumlayer/qlp/internal/forge/forgetest"
)

const token = "tok-forge-secret-1"

var capsuleFiles = map[string][]byte{
	"go.mod":            []byte("module shorty\n\ngo 1.22\n"),
	"shortener/link.go": []byte("package shortener\n\n// Link is a short link.\ntype Link struct{ URL string }\n"),
	"qlp-manifest.json": []byte(`{"name":"shorty"}`),
}

// fakeForge is either fake, seen the same way by the tests.
type fakeForge struct {
	name, apiURL string
	setToken     func(string)
	rateLimit    func(n int, reset time.Duration, retryAfter bool)
	setPerPage   func(int)
	hits         func(string) int
	// setRun sets a CI run of sha: conclusion "" running, "success",
	// "failure".
	setRun func(repo, sha, name, conclusion, log string)
	prs    func(repo string) int
	git    interface {
		Ref(repo, branch string) string
	}
	cloneBack func(t testing.TB, repo, branch string) map[string][]byte
}

func fakes(t *testing.T) []fakeForge {
	gh := forgetest.NewGitHub(t, token, "octo", "acme")
	gl := forgetest.NewGitLab(t, token, "tanuki", "acme/platform")
	return []fakeForge{
		{name: forge.GitHub, apiURL: gh.URL + "/", setToken: gh.SetToken, rateLimit: gh.RateLimit, setPerPage: func(n int) { gh.MaxPerPage = n }, hits: gh.Hits,
			setRun: func(repo, sha, name, c, log string) { gh.SetCheckRun(repo, sha, name, c, log) },
			prs:    func(repo string) int { return len(gh.PullRequests(repo)) }, git: gh.Git, cloneBack: func(t testing.TB, repo, branch string) map[string][]byte {
				return gh.Git.CloneBack(t, repo+".git", branch)
			}},
		{name: forge.GitLab, apiURL: gl.APIURL(), setToken: gl.SetToken, rateLimit: gl.RateLimit, setPerPage: func(n int) { gl.MaxPerPage = n }, hits: gl.Hits,
			setRun: func(repo, sha, name, c, log string) {
				status := map[string]string{"": "running", "success": "success", "failure": "failed"}[c]
				gl.SetJob(repo, sha, name, status, log, false)
			},
			prs: func(repo string) int { return len(gl.MergeRequests(repo)) }, git: gl.Git, cloneBack: func(t testing.TB, repo, branch string) map[string][]byte {
				return gl.Git.CloneBack(t, repo+".git", branch)
			}},
	}
}

func client(t *testing.T, f fakeForge, tok string, cfg forge.Config) forge.Forge {
	t.Helper()
	c, err := forge.New(f.name, f.apiURL, tok, cfg, nil)
	require.NoError(t, err)
	return c
}

func cfg() forge.Config {
	c := forge.Defaults()
	c.MaxRateLimitWait = 10 * time.Second
	c.LogTailBytes = 1024
	return c
}

// TestDeliverOpensAPullRequest: on each forge, a missing repository in an
// organization (group) is created private, the capsule is pushed to a
// branch started from the default branch, a pull request opened; the tree
// cloned back is the capsule's; delivering again finds the open pull
// request instead of failing.
func TestDeliverOpensAPullRequest(t *testing.T) {
	for _, f := range fakes(t) {
		t.Run(f.name, func(t *testing.T) {
			repo := "acme/shorty"
			if f.name == forge.GitLab {
				repo = "acme/platform/shorty"
			}
			c := client(t, f, token, cfg())
			info, err := c.CheckToken(t.Context())
			require.NoError(t, err)
			require.NotEmpty(t, info.Username)
			require.NotEmpty(t, info.Scopes)

			opts := forge.DeliverOptions{Repo: forge.RepoSpec{Path: repo, Create: true, Private: true}, Branch: "qlp/shorty", PullRequest: true,
				Title: "shorty: a URL shortener", Body: "QLP capsule cap-1", Message: "shorty v1"}
			d, err := forge.Deliver(t.Context(), c, capsuleFiles, opts)
			require.NoError(t, err)
			require.True(t, d.Repository.Created)
			require.True(t, d.Repository.Private)
			require.Equal(t, repo, d.Repository.Path)
			require.NotNil(t, d.PullRequest)
			require.Equal(t, 1, d.PullRequest.Number)
			require.Equal(t, "main", d.PullRequest.Base)
			require.Contains(t, d.PullRequest.URL, repo)
			require.Equal(t, capsuleFiles, f.cloneBack(t, repo, "qlp/shorty"))
			require.Equal(t, d.Push.Commit, f.git.Ref(repo+".git", "qlp/shorty"))
			require.Equal(t, 1, f.prs(repo))

			again, err := forge.Deliver(t.Context(), c, capsuleFiles, opts)
			require.NoError(t, err)
			require.False(t, again.Repository.Created)
			require.Equal(t, d.PullRequest.Number, again.PullRequest.Number, "the open pull request is found, not duplicated")
			require.Equal(t, 1, f.prs(repo))
		})
	}
}

// TestCIStatusFoldsEveryPage: runs spread over three pages are all read;
// the failing one's log tail comes back, bounded.
func TestCIStatusFoldsEveryPage(t *testing.T) {
	for _, f := range fakes(t) {
		t.Run(f.name, func(t *testing.T) {
			repo := "octo/app"
			if f.name == forge.GitLab {
				repo = "tanuki/app"
			}
			c := client(t, f, token, cfg())
			_, err := c.EnsureRepo(t.Context(), forge.RepoSpec{Path: repo, Create: true, Initialize: true})
			require.NoError(t, err)
			pr := delivery.PullRequest{Forge: f.name, Repo: repo, Branch: "qlp/app", Base: "main"}
			sha := "0123456789abcdef0123456789abcdef01234567"
			f.setPerPage(2)

			st, err := c.CIStatus(t.Context(), pr, sha)
			require.NoError(t, err)
			require.Equal(t, delivery.CIPending, st.State, "no run yet is pending")

			for i := range 4 {
				f.setRun(repo, sha, fmt.Sprintf("lint-%d", i), "success", "ok")
			}
			f.setRun(repo, sha, "test", "", "")
			st, err = c.CIStatus(t.Context(), pr, sha)
			require.NoError(t, err)
			require.Equal(t, delivery.CIPending, st.State, "the run on the third page is still running")

			long := strings.Repeat("compiling…\n", 500) + "--- FAIL: TestShorten (0.00s)\n    link_test.go:12: want abc, got abd\nFAIL\n"
			f.setRun(repo, sha, "test", "failure", long)
			st, err = c.CIStatus(t.Context(), pr, sha)
			require.NoError(t, err)
			require.Equal(t, delivery.CIFailure, st.State)
			require.Len(t, st.Failed, 1)
			require.Equal(t, "test", st.Failed[0].Name)
			require.Contains(t, st.Failed[0].Log, "want abc, got abd")
			require.LessOrEqual(t, len(st.Failed[0].Log), 1024+100, "the log is cut to its tail")
			require.Contains(t, st.Failed[0].Log, "log cut")

			f.setRun(repo, sha, "test", "success", "ok")
			st, err = c.CIStatus(t.Context(), pr, sha)
			require.NoError(t, err)
			require.Equal(t, delivery.CISuccess, st.State)
			require.Empty(t, st.Failed)
		})
	}
}

// TestCIStatusPagesOnGitHub: the check runs are read page by page along
// the Link header (3 pages of 2).
func TestCIStatusPagesOnGitHub(t *testing.T) {
	gh := forgetest.NewGitHub(t, token, "octo")
	gh.AddRepo(t, "octo/app", false, true)
	gh.MaxPerPage = 2
	sha := "89abcdef0123456789abcdef0123456789abcdef"
	for i := range 5 {
		gh.SetCheckRun("octo/app", sha, fmt.Sprintf("job-%d", i), "success", "")
	}
	gh.SetStatus("octo/app", sha, "ci/legacy", "success", "ok")
	c, err := forge.New(forge.GitHub, gh.URL, token, cfg(), nil)
	require.NoError(t, err)
	st, err := c.CIStatus(t.Context(), delivery.PullRequest{Repo: "octo/app"}, sha)
	require.NoError(t, err)
	require.Equal(t, delivery.CISuccess, st.State)
	require.Equal(t, 3, gh.Hits("GET /repos/octo/app/commits/"+sha+"/check-runs"), "three pages")

	gh.SetStatus("octo/app", sha, "ci/legacy", "error", "the legacy CI crashed")
	st, err = c.CIStatus(t.Context(), delivery.PullRequest{Repo: "octo/app"}, sha)
	require.NoError(t, err)
	require.Equal(t, delivery.CIFailure, st.State, "a failing commit status fails the commit")
	require.Equal(t, "the legacy CI crashed", st.Failed[0].Log)
}

// TestRateLimitIsWaitedOut: a rate-limited answer (remaining 0 + reset,
// or Retry-After) is followed, after the reset, by the same request
// succeeding; a reset beyond the cap fails clearly and at once.
func TestRateLimitIsWaitedOut(t *testing.T) {
	for _, f := range fakes(t) {
		for _, retryAfter := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/retry-after=%v", f.name, retryAfter), func(t *testing.T) {
				c := client(t, f, token, cfg())
				f.rateLimit(1, time.Second, retryAfter)
				start := time.Now()
				info, err := c.CheckToken(t.Context())
				require.NoError(t, err)
				require.NotEmpty(t, info.Username)
				require.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond, "the client waited for the reset")

				capped := cfg()
				capped.MaxRateLimitWait = time.Second
				c = client(t, f, token, capped)
				f.rateLimit(1, time.Hour, retryAfter)
				start = time.Now()
				_, err = c.CheckToken(t.Context())
				require.ErrorIs(t, err, forge.ErrRateLimited)
				require.Contains(t, err.Error(), "forge.max_rate_limit_wait")
				require.Less(t, time.Since(start), 30*time.Second, "no wait beyond the cap")
				require.NotContains(t, err.Error(), token)
			})
		}
	}
}

// TestErrorBodiesAreReadable: the forge's error body becomes an error
// naming what failed and why; a revoked token is delivery.ErrAuth, and a
// push with it leaves the remote and the capsule unchanged.
func TestErrorBodiesAreReadable(t *testing.T) {
	for _, f := range fakes(t) {
		t.Run(f.name, func(t *testing.T) {
			repo := map[string]string{forge.GitHub: "octo/web", forge.GitLab: "tanuki/web"}[f.name]
			c := client(t, f, token, cfg())
			d, err := forge.Deliver(t.Context(), c, capsuleFiles, forge.DeliverOptions{Repo: forge.RepoSpec{Path: repo, Create: true}, Branch: "qlp/web",
				PullRequest: true, Title: "web"})
			require.NoError(t, err)

			tests := []struct {
				name    string
				call    func(forge.Forge) error
				is      error
				message string
			}{
				{"missing repository", func(c forge.Forge) error {
					_, err := c.EnsureRepo(t.Context(), forge.RepoSpec{Path: "nobody/nothing"})
					return err
				}, forge.ErrNotFound, "Not Found"},
				{"pull request from a missing branch", func(c forge.Forge) error {
					_, err := c.OpenPullRequest(t.Context(), forge.PullRequestSpec{Repo: repo, Head: "no-such-branch", Base: "main", Title: "x"})
					return err
				}, nil, map[string]string{forge.GitHub: "head is invalid", forge.GitLab: "Source branch does not exist"}[f.name]},
				{"pull request without a title", func(c forge.Forge) error {
					_, err := c.OpenPullRequest(t.Context(), forge.PullRequestSpec{Repo: repo, Head: "main", Base: "main"})
					return err
				}, nil, "title is missing"},
				{"not owner/name", func(c forge.Forge) error {
					_, err := c.EnsureRepo(t.Context(), forge.RepoSpec{Path: "justaname"})
					return err
				}, nil, "is not owner/name"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					err := tt.call(c)
					require.Error(t, err)
					if tt.is != nil {
						require.ErrorIs(t, err, tt.is)
					}
					require.Contains(t, err.Error(), tt.message)
					var ae *forge.APIError
					if errors.As(err, &ae) && f.name == forge.GitHub {
						require.Contains(t, err.Error(), "see https://docs.github.com/", "GitHub's documentation_url is passed on")
					}
				})
			}

			// Revoked: the API says 401 → ErrAuth; the push fails the same
			// way and moves nothing.
			f.setToken("tok-rotated")
			_, err = c.CheckToken(t.Context())
			require.ErrorIs(t, err, delivery.ErrAuth)
			require.Contains(t, err.Error(), "revoked")
			require.NotContains(t, err.Error(), token)
			before := f.git.Ref(repo+".git", "qlp/web")
			v2 := map[string][]byte{"README.md": []byte("v2")}
			snapshot := bytes.Clone(v2["README.md"])
			_, err = delivery.Push(t.Context(), v2, delivery.PushOptions{Remote: d.Repository.CloneURL, Branch: "qlp/web", Auth: c.PushAuth()})
			require.ErrorIs(t, err, delivery.ErrAuth)
			require.NotContains(t, err.Error(), token)
			require.Equal(t, before, f.git.Ref(repo+".git", "qlp/web"), "the remote is unchanged")
			require.Equal(t, snapshot, v2["README.md"])
			var ae *forge.APIError
			require.True(t, errors.As(func() error { _, err := c.CheckToken(t.Context()); return err }(), &ae))
			require.Equal(t, 401, ae.Status)
		})
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	tests := []struct{ name, forge, url, token, field string }{
		{"no token", forge.GitHub, "", "", "token"},
		{"unknown forge", "bitbucket", "", "t", "forge"},
		{"credentials in the URL", forge.GitLab, "https://u:p@gitlab.example/api/v4/", "t", "forge_url"},
		{"not http", forge.GitHub, "ftp://x/", "t", "forge_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := forge.New(tt.forge, tt.url, tt.token, forge.Defaults(), nil)
			var fe forge.FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tt.field, fe.Field())
		})
	}
	c := forge.Defaults()
	_, err := c.BaseURL(forge.GitHub, "http://169.254.169.254/")
	require.ErrorContains(t, err, "forge.allowed_urls")
	c.AllowedURLs = []string{"https://ghe.example/api/v3/"}
	u, err := c.BaseURL(forge.GitHub, "https://ghe.example/api/v3")
	require.NoError(t, err)
	require.Equal(t, "https://ghe.example/api/v3", u)
}

// TestCIStatusPagesOnGitLab: the pipeline's jobs are read page by page
// along X-Next-Page (3 pages of 2); a job allowed to fail does not fail
// the commit.
func TestCIStatusPagesOnGitLab(t *testing.T) {
	gl := forgetest.NewGitLab(t, token, "tanuki")
	c, err := forge.New(forge.GitLab, gl.APIURL(), token, cfg(), nil)
	require.NoError(t, err)
	_, err = c.EnsureRepo(t.Context(), forge.RepoSpec{Path: "tanuki/app", Create: true})
	require.NoError(t, err)
	gl.MaxPerPage = 2
	sha := "89abcdef0123456789abcdef0123456789abcdef"
	for i := range 4 {
		gl.SetJob("tanuki/app", sha, fmt.Sprintf("job-%d", i), "success", "", false)
	}
	gl.SetJob("tanuki/app", sha, "flaky", "failed", "flaky output", true)
	st, err := c.CIStatus(t.Context(), delivery.PullRequest{Repo: "tanuki/app"}, sha)
	require.NoError(t, err)
	require.Equal(t, delivery.CISuccess, st.State)
	require.Equal(t, 3, gl.Hits(fmt.Sprintf("GET /api/v4/projects/tanuki/app/pipelines/%d/jobs", gl.Pipeline("tanuki/app", sha))), "three pages")
}
