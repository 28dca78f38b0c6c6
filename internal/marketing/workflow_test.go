package marketing_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	mkt "github.com/quantumlayer/qlp/internal/marketing"
	"github.com/quantumlayer/qlp/internal/store"
)

// TestCampaignForTheDemoCapsule: a 14-day campaign on every channel for
// the example's capsule completes; every piece is within its channel's
// limits; the calendar covers the duration; the cost report equals the
// ledger's rows.
func TestCampaignForTheDemoCapsule(t *testing.T) {
	h := newHarness(t, "", nil)
	capsule := h.demoCapsule(t)
	h.campaign(t, "cmp-demo", mkt.Brief{CapsuleID: capsule, DurationDays: 14, LaunchDate: "2026-03-02"})
	env := h.env()
	env.ExecuteWorkflow(mkt.WorkflowName, mkt.Input{CampaignID: "cmp-demo", TenantID: "acme"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var rep mkt.Report
	require.NoError(t, env.GetWorkflowResult(&rep))

	c, err := h.st.GetCampaign(t.Context(), "acme", "cmp-demo")
	require.NoError(t, err)
	require.Equal(t, store.CampaignCompleted, c.Status)
	require.Equal(t, "url-shortener launch", c.Name)
	require.Contains(t, c.Optimisation, "Tightened the first post")
	require.Contains(t, c.Optimisation, "p006-hackernews", "a revision over its channel's limits is rejected and named")

	// The strategist was given the capsule's product.
	strat := h.srv.CallsFor("strategist")
	require.Len(t, strat, 1)
	require.Contains(t, strat[0].Prompt(), "Product: url-shortener")
	require.Contains(t, strat[0].Prompt(), "POST /shorten")

	pieces, err := h.st.ListPieces(t.Context(), "cmp-demo")
	require.NoError(t, err)
	require.Len(t, pieces, 22)
	perChannel := map[string]int{}
	days := map[int]bool{}
	for _, p := range pieces {
		require.Equal(t, store.PieceGenerated, p.Status, p.ID)
		var ct mkt.Content
		require.NoError(t, json.Unmarshal(p.Content, &ct))
		spec, err := mkt.LookupChannel(p.Channel)
		require.NoError(t, err)
		require.Empty(t, spec.Check(ct), "piece %s within %s's limits", p.ID, p.Channel)
		perChannel[p.Channel]++
		days[p.Day] = true
		// Asserted per channel, with the channel's own numbers.
		switch p.Channel {
		case mkt.ChannelX:
			require.LessOrEqual(t, spec.Length(spec.Post(ct)), 280)
			require.Greater(t, len(spec.Post(ct)), 0)
		case mkt.ChannelLinkedIn:
			require.LessOrEqual(t, len([]rune(spec.Post(ct))), 3000)
		case mkt.ChannelHackerNews:
			require.LessOrEqual(t, len([]rune(ct.Title)), 80)
			require.NotContains(t, ct.Title+ct.Body, "#")
		case mkt.ChannelProductHunt:
			require.LessOrEqual(t, len([]rune(ct.Tagline)), 60)
			require.NotContains(t, ct.Tagline+ct.Body, "#golang")
			require.Contains(t, p.Notes, "shortened the tagline", "the repair is said, not silent")
			require.True(t, strings.HasSuffix(ct.Tagline, "…"))
		case mkt.ChannelEmail:
			require.NotEmpty(t, ct.Subject)
			require.NotEmpty(t, ct.Body)
		}
	}
	require.Equal(t, map[string]int{"x": 8, "linkedin": 4, "blog": 3, "email": 3, "devto": 2, "hackernews": 1, "producthunt": 1}, perChannel)
	// The calendar covers the duration: launch day, the last day, and no
	// two days in a row without a piece.
	require.True(t, days[0])
	require.True(t, days[13])
	for d := 0; d < 13; d++ {
		require.True(t, days[d] || days[d+1], "days %d and %d both empty", d, d+1)
	}

	// Each piece was generated once; LinkedIn's first (over the limit) was
	// asked again once, Product Hunt's twice then repaired.
	calls := h.callsPerTask()
	for _, p := range pieces {
		want := 1
		if p.Channel == mkt.ChannelLinkedIn && p.Day == 0 || p.Channel == mkt.ChannelProductHunt {
			want = 2
		}
		require.Equal(t, want, calls["copywriter/"+p.ID], p.ID)
	}
	x1, err := h.st.GetPiece(t.Context(), "cmp-demo", "p001-x")
	require.NoError(t, err)
	require.Contains(t, string(x1.Content), "tested and fast", "the optimisation pass's revision within limits is applied")

	// The cost report is the ledger.
	rows := ledger(t, h.st, "cmp-demo")
	var sum int64
	for _, r := range rows {
		require.Equal(t, "acme", r.TenantID)
		require.Equal(t, "gpt-4.1-mini", r.Model)
		sum += r.CostPUSD
	}
	require.Len(t, rows, len(h.srv.Calls()), "one ledger row per model call")
	require.Equal(t, sum, rep.CostPUSD)
	require.Equal(t, int64(len(rows))*callPUSD, rep.CostPUSD)
	require.Equal(t, len(rows), rep.Calls)
	require.Equal(t, 22, rep.Generated)
	again, err := mkt.CostReport(t.Context(), h.st, "cmp-demo")
	require.NoError(t, err)
	require.Equal(t, rep.CostPUSD, again.CostPUSD)

	// A second run of the ended campaign's workflow changes nothing.
	made := len(h.srv.Calls())
	env = h.env()
	env.ExecuteWorkflow(mkt.WorkflowName, mkt.Input{CampaignID: "cmp-demo", TenantID: "acme"})
	require.ErrorContains(t, env.GetWorkflowError(), "campaign cmp-demo is already completed")
	c, err = h.st.GetCampaign(t.Context(), "acme", "cmp-demo")
	require.NoError(t, err)
	require.Equal(t, store.CampaignCompleted, c.Status)
	require.Len(t, h.srv.Calls(), made)
}

// TestTooSmallBudgetStopsTheCampaign: with a request budget of $0.006 the
// strategy and the first pieces fit, and the campaign stops before the
// call that would exceed it; the error says what was spent, and the call
// was never made.
func TestTooSmallBudgetStopsTheCampaign(t *testing.T) {
	h := newHarness(t, "0.006", nil)
	h.campaign(t, "cmp-small", mkt.Brief{ProductName: "url-shortener", ProductDescription: "A URL shortener in Go.", DurationDays: 7,
		Channels: []string{"x"}, LaunchDate: "2026-03-02"})
	env := h.env()
	env.ExecuteWorkflow(mkt.WorkflowName, mkt.Input{CampaignID: "cmp-small", TenantID: "acme", MaxParallel: 1})
	require.True(t, env.IsWorkflowCompleted())
	require.Error(t, env.GetWorkflowError())

	c, err := h.st.GetCampaign(t.Context(), "acme", "cmp-small")
	require.NoError(t, err)
	require.Equal(t, store.CampaignFailed, c.Status)
	// Each call's worst case on T1 is its prompt plus 2048 output tokens at
	// $1.60 per million (over $0.0033): with $0.0036 spent (strategy and
	// two pieces at $0.0012), the fourth call does not fit in $0.006.
	require.Contains(t, c.Error, "budget exceeded: the request budget of job cmp-small is $0.006000 and $0.003600 is spent")
	require.Contains(t, c.Error, "campaign cmp-small spent $0.003600")
	require.Len(t, h.srv.Calls(), 3, "the exceeding call was never sent")
	rows := ledger(t, h.st, "cmp-small")
	require.Len(t, rows, 3)
}

// TestIdenticalCampaignIsServedFromTheCache: the provider layer's response
// cache serves a second campaign with the same brief: no model is called,
// and its ledger rows are marked cached at no cost.
func TestIdenticalCampaignIsServedFromTheCache(t *testing.T) {
	h := newHarness(t, "", nil)
	brief := mkt.Brief{ProductName: "url-shortener", ProductDescription: "A URL shortener in Go.", DurationDays: 3, Channels: []string{"x"}, LaunchDate: "2026-03-02"}
	for _, id := range []string{"cmp-first", "cmp-again"} {
		h.campaign(t, id, brief)
		env := h.env()
		env.ExecuteWorkflow(mkt.WorkflowName, mkt.Input{CampaignID: id, TenantID: "acme"})
		require.NoError(t, env.GetWorkflowError())
	}
	require.Len(t, h.srv.Calls(), 4, "strategy, two pieces, optimisation: once")
	first, again := ledger(t, h.st, "cmp-first"), ledger(t, h.st, "cmp-again")
	require.Len(t, again, len(first))
	for _, r := range again {
		require.True(t, r.Cached, r.TaskID)
		require.Zero(t, r.CostPUSD)
	}
	rep, err := mkt.CostReport(t.Context(), h.st, "cmp-again")
	require.NoError(t, err)
	require.Zero(t, rep.CostPUSD)
	require.Equal(t, 2, rep.Generated)
}
