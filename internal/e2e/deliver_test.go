package e2e

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/delivery/gittest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// TestDeliverACapsuleToGit: a job's capsule is pushed through
// POST /api/v2/capsules/{id}/deliver to a real git server; the branch
// cloned back holds exactly the capsule's files (compared with its
// archive, file by file) in one commit whose message comes from the
// manifest. A revoked token answers 422 naming the token and leaves the
// remote as it was; the audit log has both calls, without the token.
func TestDeliverACapsuleToGit(t *testing.T) {
	pl := startPlatform(t, "", pythonModel(t))
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
}
