package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/store"
)

// testMarketing: campaigns per tenant, pieces kept across a replan, due
// pieces of publishing campaigns only, one publication per piece and
// adapter, analytics.
func testMarketing(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	mustTenant(t, s, "other")
	c, created, err := s.CreateCampaign(ctx(t), store.Campaign{ID: "cmp-1", TenantID: "acme", Name: "launch", Brief: json.RawMessage(`{"objective":"x"}`)})
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, store.CampaignQueued, c.Status)
	require.Equal(t, store.PublishingOff, c.Publishing)
	_, created, err = s.CreateCampaign(ctx(t), store.Campaign{ID: "cmp-1", TenantID: "acme"})
	require.NoError(t, err)
	require.False(t, created, "a retried create finds the campaign")
	_, _, err = s.CreateCampaign(ctx(t), store.Campaign{ID: "cmp-1", TenantID: "other"})
	require.ErrorIs(t, err, store.ErrConflict)
	_, err = s.GetCampaign(ctx(t), "other", "cmp-1")
	require.ErrorIs(t, err, store.ErrNotFound, "another tenant's campaign is not found")

	c.Status, c.Strategy, c.Publishing = store.CampaignCompleted, json.RawMessage(`{"pillars":["a"]}`), store.PublishingActive
	require.NoError(t, s.UpdateCampaign(ctx(t), c))
	got, err := s.GetCampaign(ctx(t), "acme", "cmp-1")
	require.NoError(t, err)
	require.Equal(t, store.CampaignCompleted, got.Status)
	require.JSONEq(t, `{"pillars":["a"]}`, string(got.Strategy))
	list, err := s.ListCampaigns(ctx(t), "acme", 10)
	require.NoError(t, err)
	require.Len(t, list, 1)

	day0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	pieces := []store.Piece{
		{CampaignID: "cmp-1", ID: "p01", Channel: "x", Day: 0, ScheduledAt: day0},
		{CampaignID: "cmp-1", ID: "p02", Channel: "linkedin", Day: 3, ScheduledAt: day0.AddDate(0, 0, 3)},
	}
	require.NoError(t, s.AddPieces(ctx(t), pieces))
	p, err := s.GetPiece(ctx(t), "cmp-1", "p01")
	require.NoError(t, err)
	p.Status, p.Content, p.ModelCalls = store.PieceGenerated, json.RawMessage(`{"body":"hi"}`), 1
	require.NoError(t, s.UpdatePiece(ctx(t), p))
	require.NoError(t, s.AddPieces(ctx(t), pieces), "adding again keeps what was generated")
	p, err = s.GetPiece(ctx(t), "cmp-1", "p01")
	require.NoError(t, err)
	require.Equal(t, store.PieceGenerated, p.Status)
	require.Equal(t, 1, p.ModelCalls)
	all, err := s.ListPieces(ctx(t), "cmp-1")
	require.NoError(t, err)
	require.Len(t, all, 2)

	due, err := s.DuePieces(ctx(t), day0.Add(time.Hour), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.Equal(t, "p01", due[0].ID)
	c.Publishing = store.PublishingPaused
	require.NoError(t, s.UpdateCampaign(ctx(t), c))
	due, err = s.DuePieces(ctx(t), day0.Add(time.Hour), 10)
	require.NoError(t, err)
	require.Empty(t, due, "a paused campaign has nothing due")

	pub, created, err := s.ClaimPublication(ctx(t), store.Publication{CampaignID: "cmp-1", PieceID: "p01", Adapter: "webhook", IdempotencyKey: "k1"})
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, store.PublicationPending, pub.Status)
	pub.Status, pub.Attempts = store.PublicationPosted, 3
	require.NoError(t, s.UpdatePublication(ctx(t), pub))
	pub, created, err = s.ClaimPublication(ctx(t), store.Publication{CampaignID: "cmp-1", PieceID: "p01", Adapter: "webhook", IdempotencyKey: "k1"})
	require.NoError(t, err)
	require.False(t, created, "a piece is claimed once per adapter")
	require.Equal(t, store.PublicationPosted, pub.Status)
	pubs, err := s.ListPublications(ctx(t), "cmp-1")
	require.NoError(t, err)
	require.Len(t, pubs, 1)

	a, err := s.RecordAnalytics(ctx(t), store.Analytics{CampaignID: "cmp-1", PieceID: "p01", TenantID: "acme", Metrics: json.RawMessage(`{"clicks":4}`)})
	require.NoError(t, err)
	require.NotZero(t, a.ID)
	as, err := s.ListAnalytics(ctx(t), "cmp-1")
	require.NoError(t, err)
	require.Len(t, as, 1)
	require.JSONEq(t, `{"clicks":4}`, string(as[0].Metrics))
}
