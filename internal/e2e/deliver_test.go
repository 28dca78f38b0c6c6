package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/delivery/gittest"
	"github.com/quantumlayer/qlp/internal/forge"
	"github.com/quantumlayer/qlp/internal/forge/forgetest"
	"github.com/quantumlayer/qlp/internal/logx/logtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// TestDeliverACapsuleToGit: a job's capsule is pushed through
// POST /api/v2/capsules/{id}/deliver to a real git server; the branch
// cloned back holds exactly the capsule's files (compared with its
// archive, file by file) in one commit whose message comes from the
// manifest. A revoked token answers 422 naming the token and leaves the
// remote as it was; the audit log has both calls, without the token.
// Then the same capsule goes to the fake forges (deliverToForges).
func TestDeliverACapsuleToGit(t *testing.T) {
	const tok = "ghp_forge_e2e_token"
	gh := forgetest.NewGitHub(t, tok, "octo", "acme")
	gl := forgetest.NewGitLab(t, tok, "tanuki", "acme/platform")
	pl := startPlatformWith(t, "", pythonModel(t), func(c *config.Config, _ *app.Options) {
		c.Forge.GitHubURL = gh.URL + "/"
		c.Forge.AllowedURLs = []string{gl.APIURL()}
	})
	ctx := t.Context()
	c := pl.client("acme")
	sub, err := c.Execute(ctx, orchestrator.ExecuteRequest{ID: "deliver-1", Description: pyRequest}, "")
	require.NoError(t, err)
	require.Equal(t, "workflow_completed", lastEvent(pl.waitTerminal("acme", sub.WorkflowID)))
	st, err := c.Status(ctx, "deliver-1")
	require.NoError(t, err)
	capID := st.Result.CapsuleID

	g := gittest.Start(t, "ghp_validtoken", "tenancy-py.git")
	res, err := c.Deliver(ctx, capID, orchestrator.DeliverRequest{RemoteURL: g.URL + "/tenancy-py.git", Token: "ghp_validtoken"})
	require.NoError(t, err)
	require.Equal(t, capID, res.CapsuleID)
	require.Equal(t, "qlp/tenancy-py", res.Branch)
	require.Equal(t, res.Commit, g.Head(t, "tenancy-py.git", "qlp/tenancy-py"))

	zip, err := c.Download(ctx, capID, 0, "zip")
	require.NoError(t, err)
	files, err := capsule.ReadArchive(zip)
	require.NoError(t, err)
	require.Equal(t, files, g.CloneBack(t, "tenancy-py.git", "qlp/tenancy-py"), "the pushed tree is the capsule")
	msg := gittest.Git(t, g.Root+"/tenancy-py.git", "log", "-1", "--format=%B", "qlp/tenancy-py")
	require.Contains(t, msg, "QLP capsule "+capID+" version 1")

	// Over SSH: the key in the request, the server's host key pinned.
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	sshPub, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	sshd := g.StartSSH(t, sshPub)
	viaSSH, err := c.Deliver(ctx, capID, orchestrator.DeliverRequest{RemoteURL: sshd.URL("tenancy-py.git"), Branch: "qlp/over-ssh",
		SSHKey: string(pem.EncodeToMemory(block)), SSHKnownHost: sshd.HostKey})
	require.NoError(t, err)
	require.Equal(t, viaSSH.Commit, g.Head(t, "tenancy-py.git", "qlp/over-ssh"))
	require.Equal(t, files, g.CloneBack(t, "tenancy-py.git", "qlp/over-ssh"), "the tree pushed over SSH is the capsule")

	g.SetToken("ghp_rotated")
	_, err = c.Deliver(ctx, capID, orchestrator.DeliverRequest{RemoteURL: g.URL + "/tenancy-py.git", Branch: "qlp/again", Token: "ghp_validtoken"})
	ae := requireAPIError(t, err, http.StatusUnprocessableEntity)
	require.Equal(t, "token", ae.Field)
	require.NotContains(t, ae.Error(), "ghp_validtoken")
	require.Empty(t, g.Head(t, "tenancy-py.git", "qlp/again"), "nothing was pushed")

	code, body, _ := pl.call("GET", "/api/v2/audit", pl.adminKey("acme"), nil, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"action":"POST /api/v2/capsules/{id}/deliver"`)
	require.Contains(t, string(body), `"status":422`)
	require.NotContains(t, string(body), "ghp_")

	deliverToForges(t, pl, capID, files, gh, gl, tok)
}

// deliverToForges: through POST /api/v2/capsules/{id}/deliver
// with forge github, then gitlab (fake forges over a real git server, at
// a forge_url the operator allowed), the missing repository is created,
// the capsule pushed to a branch started from the default branch and a
// pull (merge) request opened; the tree cloned back is the capsule's,
// file by file. The earlier POST /api/github/push and GET
// /api/github/check-token answer in their earlier shapes.
func deliverToForges(t *testing.T, pl *platform, capID string, files map[string][]byte, gh *forgetest.GitHub, gl *forgetest.GitLab, tok string) {
	ctx := t.Context()
	c := pl.client("acme")
	for _, tc := range []struct {
		forge, repo, forgeURL string
		cloneBack             func() map[string][]byte
		prs                   func() int
	}{
		{"github", "acme/tenancy", "", func() map[string][]byte { return gh.Git.CloneBack(t, "acme/tenancy.git", "qlp/tenancy-py") },
			func() int { return len(gh.PullRequests("acme/tenancy")) }},
		{"gitlab", "acme/platform/tenancy", gl.APIURL(), func() map[string][]byte { return gl.Git.CloneBack(t, "acme/platform/tenancy.git", "qlp/tenancy-py") },
			func() int { return len(gl.MergeRequests("acme/platform/tenancy")) }},
	} {
		t.Run(tc.forge, func(t *testing.T) {
			res, err := c.Deliver(ctx, capID, orchestrator.DeliverRequest{Forge: tc.forge, Repo: tc.repo, CreateRepo: true, Private: true, Token: tok,
				ForgeURL: tc.forgeURL, PullRequest: &orchestrator.PullRequestOptions{Title: "tenancy: first version"}})
			require.NoError(t, err)
			require.NotNil(t, res.PullRequest)
			require.Equal(t, tc.forge, res.PullRequest.Forge)
			require.Equal(t, 1, res.PullRequest.Number)
			require.Equal(t, "qlp/tenancy-py", res.PullRequest.Branch)
			require.Equal(t, "main", res.PullRequest.Base)
			require.True(t, res.Repository.Created)
			require.Equal(t, 1, tc.prs(), "the pull request exists on the forge")
			require.Equal(t, files, tc.cloneBack(), "the pushed tree is the capsule")
		})
	}

	// A revoked token: 422 naming the token, the branch and the pull
	// requests as they were.
	gl.SetToken("glpat-rotated")
	before := gl.Git.Ref("acme/platform/tenancy.git", "qlp/tenancy-py")
	_, err := c.Deliver(ctx, capID, orchestrator.DeliverRequest{Forge: "gitlab", Repo: "acme/platform/tenancy", Token: tok, ForgeURL: gl.APIURL()})
	ae := requireAPIError(t, err, http.StatusUnprocessableEntity)
	require.Equal(t, "token", ae.Field)
	require.NotContains(t, ae.Error(), tok)
	require.Equal(t, before, gl.Git.Ref("acme/platform/tenancy.git", "qlp/tenancy-py"), "the remote is unchanged")
	require.Len(t, gl.MergeRequests("acme/platform/tenancy"), 1)

	// A forge_url the operator did not allow is refused before any call.
	_, err = c.Deliver(ctx, capID, orchestrator.DeliverRequest{Forge: "gitlab", Repo: "a/b", Token: tok, ForgeURL: "http://169.254.169.254/api/v4/"})
	ae = requireAPIError(t, err, http.StatusBadRequest)
	require.Equal(t, "forge_url", ae.Field)

	// The webhooks are reached without an API key; their signature is
	// checked; a signed event reaches the delivery loops (none waits on
	// this commit, so it wakes nothing).
	body := []byte(`{"action":"completed","check_suite":{"head_sha":"abc","status":"completed","conclusion":"success"},"repository":{"full_name":"acme/tenancy"}}`)
	code, answer, _ := pl.call("POST", "/api/v2/delivery/webhooks/github", "", body, map[string]string{"X-GitHub-Event": "check_suite"})
	require.Equal(t, http.StatusUnauthorized, code, string(answer))
	require.Contains(t, string(answer), "X-Hub-Signature-256")
	code, answer, _ = pl.call("POST", "/api/v2/delivery/webhooks/github", "", body, map[string]string{"X-GitHub-Event": "check_suite",
		"X-Hub-Signature-256": forge.SignGitHub(logtest.CanaryWebhookSecret, body)})
	require.Equal(t, http.StatusAccepted, code, string(answer))
	require.Contains(t, string(answer), `"sha":"abc"`)

	// The earlier endpoints.
	push, err := c.GitHubPush(ctx, orchestrator.GitHubPushRequest{CapsuleID: capID, GitHubToken: tok, RepoName: "tenancy-legacy"})
	require.NoError(t, err)
	require.True(t, push.Success)
	require.Equal(t, "octo", push.Owner)
	require.Equal(t, "tenancy-legacy", push.RepoName)
	require.Equal(t, len(files), push.FilesCreated)
	require.Equal(t, files, gh.Git.CloneBack(t, "octo/tenancy-legacy.git", "main"))
	code, body, _ = pl.call("GET", "/api/github/check-token?token="+tok, pl.keys["acme"], nil, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"valid":true`)
	require.Contains(t, string(body), `"username":"octo"`)
}
