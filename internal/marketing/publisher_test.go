package marketing_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	mkt "github.com/quantumlayer/qlp/internal/marketing"
	"github.com/quantumlayer/qlp/internal/store"
)

// receiver is an httptest webhook that answers 500 to its first `fail`
// requests, checks every signature, and counts what it accepted.
type receiver struct {
	mu       sync.Mutex
	fail     int
	requests int
	accepted []map[string]any
	keys     []string
	badSig   int
	srv      *httptest.Server
}

func newReceiver(t *testing.T, secret string, fail int) *receiver {
	r := &receiver{fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.requests++
		r.keys = append(r.keys, req.Header.Get(mkt.IdempotencyHeader))
		if secret != "" && req.Header.Get(mkt.SignatureHeader) != mkt.Sign(secret, body) {
			r.badSig++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if r.requests <= r.fail {
			http.Error(w, "upstream down", http.StatusInternalServerError)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		r.accepted = append(r.accepted, m)
		w.Write([]byte(`{"id":"post-1"}`))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// generatedPiece stores a publishing campaign with one generated X piece
// due at 09:00 on 2 March 2026.
func generatedPiece(t *testing.T, h *harness, publishing string) {
	t.Helper()
	h.campaign(t, "cmp-pub", mkt.Brief{ProductDescription: "A URL shortener.", DurationDays: 1, Channels: []string{"x"}, LaunchDate: "2026-03-02"})
	c, err := h.st.GetCampaign(t.Context(), "acme", "cmp-pub")
	require.NoError(t, err)
	c.Status, c.Publishing = store.CampaignCompleted, publishing
	require.NoError(t, h.st.UpdateCampaign(t.Context(), c))
	body, _ := json.Marshal(mkt.Content{Body: "Short links, tested. https://example.com", Hashtags: []string{"golang"}})
	require.NoError(t, h.st.AddPieces(t.Context(), []store.Piece{{CampaignID: "cmp-pub", ID: "p001-x", Channel: "x",
		ScheduledAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Status: store.PieceGenerated, Content: body}}))
}

// TestWebhookAnswering500TwiceIsRetriedAndPostsOnce: the publisher's
// webhook answers 500 twice; the activity is retried with backoff (the
// test environment skips the waits) and the piece is posted exactly once,
// with the same idempotency key and a valid signature on every attempt. A
// second run of the publisher posts nothing again.
func TestWebhookAnswering500TwiceIsRetriedAndPostsOnce(t *testing.T) {
	h := newHarness(t, "", nil)
	rcv := newReceiver(t, "s3cret", 2)
	h.acts.Publisher = &mkt.Publisher{Adapters: []mkt.Adapter{mkt.Webhook{URL: rcv.srv.URL, Secret: "s3cret"}}}
	h.acts.Now = func() time.Time { return time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC) }
	generatedPiece(t, h, store.PublishingActive)

	env := h.env()
	env.ExecuteWorkflow(mkt.PublisherWorkflowName)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var run mkt.PublisherRun
	require.NoError(t, env.GetWorkflowResult(&run))
	require.Equal(t, mkt.PublisherRun{Due: 1, Published: 1}, run)

	require.Equal(t, 3, rcv.requests, "two 500s, then the post")
	require.Len(t, rcv.accepted, 1, "posted exactly once")
	require.Zero(t, rcv.badSig)
	key := mkt.IdempotencyKey("cmp-pub", "p001-x", "webhook")
	require.Equal(t, []string{key, key, key}, rcv.keys)
	piece := rcv.accepted[0]["piece"].(map[string]any)
	require.Equal(t, "Short links, tested. https://example.com\n\n#golang", piece["text"])

	pubs, err := h.st.ListPublications(t.Context(), "cmp-pub")
	require.NoError(t, err)
	require.Len(t, pubs, 1)
	require.Equal(t, store.PublicationPosted, pubs[0].Status)
	require.Equal(t, 3, pubs[0].Attempts)
	require.Equal(t, "post-1", pubs[0].ExternalID)
	p, err := h.st.GetPiece(t.Context(), "cmp-pub", "p001-x")
	require.NoError(t, err)
	require.Equal(t, store.PiecePublished, p.Status)

	env = h.env()
	env.ExecuteWorkflow(mkt.PublisherWorkflowName)
	require.NoError(t, env.GetWorkflowError())
	require.NoError(t, env.GetWorkflowResult(&run))
	require.Equal(t, mkt.PublisherRun{}, run, "nothing is due any more")
	require.Equal(t, 3, rcv.requests)

	// Even asked directly, the activity does not post it again.
	res, err := h.acts.PublishPiece(t.Context(), mkt.PieceRef{CampaignID: "cmp-pub", PieceID: "p001-x"})
	require.NoError(t, err)
	require.Equal(t, []string{"all"}, res.Skipped)
	require.Equal(t, 3, rcv.requests)
}

// TestPausedCampaignAndNoAdapterPublishNothing: a paused campaign has
// nothing due; with no adapter configured the run says so instead of
// pretending to publish.
func TestPausedCampaignAndNoAdapterPublishNothing(t *testing.T) {
	h := newHarness(t, "", nil)
	rcv := newReceiver(t, "", 0)
	h.acts.Publisher = &mkt.Publisher{Adapters: []mkt.Adapter{mkt.Webhook{URL: rcv.srv.URL}}}
	h.acts.Now = func() time.Time { return time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC) }
	generatedPiece(t, h, store.PublishingPaused)
	env := h.env()
	env.ExecuteWorkflow(mkt.PublisherWorkflowName)
	var run mkt.PublisherRun
	require.NoError(t, env.GetWorkflowResult(&run))
	require.Equal(t, 0, run.Due)
	require.Zero(t, rcv.requests)

	h.acts.Publisher = &mkt.Publisher{}
	env = h.env()
	env.ExecuteWorkflow(mkt.PublisherWorkflowName)
	require.NoError(t, env.GetWorkflowResult(&run))
	require.Contains(t, run.NotConfigured, "no publishing adapter is configured")
	p, err := h.st.GetPiece(t.Context(), "cmp-pub", "p001-x")
	require.NoError(t, err)
	require.Equal(t, store.PieceGenerated, p.Status, "not marked published")
}

// TestSlackAndDiscordPayloads: the adapters send the receivers' real
// payload shapes; a Slack post that died mid-way is not sent again.
func TestSlackAndDiscordPayloads(t *testing.T) {
	var got []map[string]any
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		require.NoError(t, json.NewDecoder(r.Body).Decode(&m))
		got = append(got, m)
		paths = append(paths, r.URL.RequestURI())
		if r.URL.Query().Get("wait") == "true" {
			w.Write([]byte(`{"id":"1234"}`))
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	m := mkt.Message{CampaignID: "c1", PieceID: "p1", Channel: "x", Text: "hello", ScheduledAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	_, err := mkt.Slack{URL: srv.URL + "/services/T/B/X"}.Post(t.Context(), m, "k")
	require.NoError(t, err)
	id, err := mkt.Discord{URL: srv.URL + "/api/webhooks/1/tok"}.Post(t.Context(), m, "k")
	require.NoError(t, err)
	require.Equal(t, "1234", id)
	require.Contains(t, got[0]["text"], "hello")
	require.Len(t, got[0]["blocks"], 2)
	require.Contains(t, got[1]["content"], "hello")
	require.Equal(t, "/api/webhooks/1/tok?wait=true", paths[1])

	h := newHarness(t, "", nil)
	generatedPiece(t, h, store.PublishingActive)
	h.acts.Publisher = &mkt.Publisher{Adapters: []mkt.Adapter{mkt.Slack{URL: srv.URL}}}
	_, _, err = h.st.ClaimPublication(t.Context(), store.Publication{CampaignID: "cmp-pub", PieceID: "p001-x", Adapter: "slack",
		IdempotencyKey: mkt.IdempotencyKey("cmp-pub", "p001-x", "slack"), Status: mkt.PublicationPosting, Attempts: 1})
	require.NoError(t, err)
	res, err := h.acts.PublishPiece(t.Context(), mkt.PieceRef{CampaignID: "cmp-pub", PieceID: "p001-x"})
	require.NoError(t, err)
	require.Len(t, res.Failed, 1)
	require.Contains(t, res.Failed[0], "not posted again")
	require.Len(t, got, 2, "nothing more was sent to Slack")
}
