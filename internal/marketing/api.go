package marketing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/store"
)

// API serves /api/v2/marketing/*.
type API struct {
	Store    Store
	Temporal client.Client
	Cfg      Config
	Logger   *slog.Logger
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64
	Now          func() time.Time
}

// Route is one of the API's routes.
type Route struct {
	Method, Pattern, Scope string
	Handler                httpx.HandlerFunc
}

const prefix = "/api/v2/marketing"

var errNoEngine = httpx.Unavailable(nil, "this process has no workflow engine, so campaigns cannot start here")

// Routes are the API's routes with the scope each needs.
func (a *API) Routes() []Route {
	return []Route{
		{"POST", prefix + "/campaigns", auth.ScopeSubmit, a.create},
		{"GET", prefix + "/campaigns", auth.ScopeRead, a.list},
		{"GET", prefix + "/campaigns/{id}", auth.ScopeRead, a.get},
		{"GET", prefix + "/campaigns/{id}/export", auth.ScopeRead, a.export},
		{"POST", prefix + "/content/generate", auth.ScopeSubmit, a.generate},
		{"GET", prefix + "/workflows/{id}", auth.ScopeRead, a.workflowStatus},
		{"POST", prefix + "/campaigns/{id}/publisher/start", auth.ScopeSubmit, a.publishing(store.PublishingActive, "")},
		{"DELETE", prefix + "/campaigns/{id}/publisher/stop", auth.ScopeSubmit, a.publishing(store.PublishingOff, "")},
		{"POST", prefix + "/campaigns/{id}/publisher/pause", auth.ScopeSubmit, a.publishing(store.PublishingPaused, store.PublishingActive)},
		{"POST", prefix + "/campaigns/{id}/publisher/resume", auth.ScopeSubmit, a.publishing(store.PublishingActive, store.PublishingPaused)},
		{"POST", prefix + "/campaigns/{id}/analytics", auth.ScopeSubmit, a.ingest},
		{"GET", prefix + "/campaigns/{id}/analytics", auth.ScopeRead, a.analytics},
	}
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func tenantOf(r *http.Request) (string, error) {
	p, ok := auth.From(r.Context())
	if !ok || p.TenantID == "" {
		return "", httpx.Forbidden("this credential is not bound to a tenant; service callers must send " + auth.TenantHeader)
	}
	return p.TenantID, nil
}

func newCampaignID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "cmp_" + hex.EncodeToString(b), nil
}

// Created is the answer to a campaign or content request.
type Created struct {
	CampaignID string            `json:"campaign_id"`
	WorkflowID string            `json:"workflow_id"`
	Status     string            `json:"status"`
	Links      map[string]string `json:"links"`
}

func links(id, workflowID string) map[string]string {
	return map[string]string{"campaign": prefix + "/campaigns/" + id, "status": prefix + "/workflows/" + workflowID,
		"export": prefix + "/campaigns/" + id + "/export?format=markdown"}
}

// Create records a campaign for brief and starts its workflow.
func (a *API) Create(ctx context.Context, tenantID string, b Brief) (Created, error) {
	if err := b.Normalize(a.now()); err != nil {
		return Created{}, httpx.BadRequest("brief", "%s", strings.TrimPrefix(err.Error(), "marketing: "))
	}
	if b.CapsuleID != "" {
		if _, err := a.Store.GetCapsule(ctx, tenantID, b.CapsuleID); errors.Is(err, store.ErrNotFound) {
			return Created{}, httpx.NotFound("capsule " + b.CapsuleID)
		} else if err != nil {
			return Created{}, err
		}
	}
	id, err := newCampaignID()
	if err != nil {
		return Created{}, err
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return Created{}, err
	}
	c, _, err := a.Store.CreateCampaign(ctx, store.Campaign{ID: id, TenantID: tenantID, WorkflowID: WorkflowID(id), Brief: raw})
	if err != nil {
		return Created{}, err
	}
	if a.Temporal == nil {
		return Created{}, errNoEngine
	}
	if _, err := a.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: c.WorkflowID, TaskQueue: TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING},
		WorkflowName, Input{CampaignID: id, TenantID: tenantID, MaxParallel: a.Cfg.MaxParallel}); err != nil {
		c.Status, c.Error = store.CampaignFailed, "could not start the campaign's workflow: "+err.Error()
		_ = a.Store.UpdateCampaign(context.WithoutCancel(ctx), c)
		return Created{}, httpx.Unavailable(err, "Temporal did not start the campaign's workflow")
	}
	return Created{CampaignID: id, WorkflowID: c.WorkflowID, Status: c.Status, Links: links(id, c.WorkflowID)}, nil
}

func (a *API) create(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	var b Brief
	if err := httpx.DecodeJSON(w, r, a.MaxBodyBytes, &b); err != nil {
		return err
	}
	out, err := a.Create(r.Context(), tid, b)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusAccepted, out)
	return nil
}

func (a *API) list(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	cs, err := a.Store.ListCampaigns(r.Context(), tid, 100)
	if err != nil {
		return err
	}
	type item struct {
		ID         string    `json:"campaign_id"`
		Name       string    `json:"name"`
		Status     string    `json:"status"`
		Publishing string    `json:"publishing"`
		CreatedAt  time.Time `json:"created_at"`
	}
	out := []item{}
	for _, c := range cs {
		out = append(out, item{c.ID, c.Name, c.Status, c.Publishing, c.CreatedAt})
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"campaigns": out})
	return nil
}

func (a *API) load(r *http.Request) (View, error) {
	tid, err := tenantOf(r)
	if err != nil {
		return View{}, err
	}
	v, err := Load(r.Context(), a.Store, tid, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return View{}, httpx.NotFound("campaign " + r.PathValue("id"))
	}
	return v, err
}

func (a *API) get(w http.ResponseWriter, r *http.Request) error {
	v, err := a.load(r)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) export(w http.ResponseWriter, r *http.Request) error {
	v, err := a.load(r)
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	body, ctype, err := Export(v, format)
	if err != nil {
		return httpx.BadRequest("format", "%s", err.Error())
	}
	ext := map[string]string{"application/json": "json", "text/csv; charset=utf-8": "csv"}[ctype]
	if ext == "" {
		ext = "md"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, v.ID, ext))
	_, err = w.Write(body)
	return err
}

// GenerateRequest asks for one piece (the earlier contract's fields).
type GenerateRequest struct {
	Channel            string   `json:"channel"`
	Topic              string   `json:"topic"`
	ProductName        string   `json:"product_name,omitempty"`
	ProductDescription string   `json:"product_description,omitempty"`
	CapsuleID          string   `json:"capsule_id,omitempty"`
	Features           []string `json:"features,omitempty"`
	TargetAudience     string   `json:"target_audience,omitempty"`
	Tone               string   `json:"tone,omitempty"`
}

// Generate records a one-piece campaign (no strategy call: the topic is
// its theme) and starts ContentGenerationWorkflow for the piece.
func (a *API) Generate(ctx context.Context, tenantID string, g GenerateRequest) (Created, error) {
	if a.Temporal == nil {
		return Created{}, errNoEngine
	}
	spec, err := LookupChannel(g.Channel)
	if err != nil {
		return Created{}, httpx.BadRequest("channel", "%s", err.Error())
	}
	if strings.TrimSpace(g.Topic) == "" {
		return Created{}, httpx.BadRequest("topic", "the topic is empty")
	}
	b := Brief{CapsuleID: g.CapsuleID, ProductName: g.ProductName, ProductDescription: g.ProductDescription, KeyFeatures: g.Features,
		TargetAudience: g.TargetAudience, DurationDays: 1, Channels: []string{spec.Name}}
	if g.Tone != "" {
		b.TonePreferences = []string{g.Tone}
	}
	if err := b.Normalize(a.now()); err != nil {
		return Created{}, httpx.BadRequest("brief", "%s", strings.TrimPrefix(err.Error(), "marketing: "))
	}
	id, err := newCampaignID()
	if err != nil {
		return Created{}, err
	}
	raw, _ := json.Marshal(b)
	st, _ := json.Marshal(Strategy{Name: g.Topic, Summary: "One piece on: " + g.Topic, Pillars: []string{g.Topic}, Themes: []string{g.Topic}})
	pieceID := "p001-" + spec.Name
	wid := PieceWorkflowID(id, pieceID)
	if _, _, err := a.Store.CreateCampaign(ctx, store.Campaign{ID: id, TenantID: tenantID, Name: g.Topic, Status: store.CampaignRunning,
		WorkflowID: wid, Brief: raw, Strategy: st, Optimisation: "a single piece: no optimisation pass"}); err != nil {
		return Created{}, err
	}
	at := b.Launch().Add(time.Duration(postingHour[spec.Name]) * time.Hour)
	if err := a.Store.AddPieces(ctx, []store.Piece{{CampaignID: id, ID: pieceID, Channel: spec.Name, ScheduledAt: at, Theme: g.Topic}}); err != nil {
		return Created{}, err
	}
	if _, err := a.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: TaskQueue},
		ContentWorkflowName, PieceInput{CampaignID: id, TenantID: tenantID, PieceID: pieceID}); err != nil {
		return Created{}, httpx.Unavailable(err, "Temporal did not start the piece's workflow")
	}
	return Created{CampaignID: id, WorkflowID: wid, Status: store.CampaignRunning, Links: links(id, wid)}, nil
}

func (a *API) generate(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	var g GenerateRequest
	if err := httpx.DecodeJSON(w, r, a.MaxBodyBytes, &g); err != nil {
		return err
	}
	out, err := a.Generate(r.Context(), tid, g)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusAccepted, out)
	return nil
}

// campaignOfWorkflow is the campaign id in a marketing workflow id (the
// campaign's or one of its pieces').
func campaignOfWorkflow(wid string) (string, bool) {
	rest, ok := strings.CutPrefix(wid, "qlp-marketing-")
	if !ok || !strings.HasPrefix(rest, "cmp_") {
		return "", false
	}
	id, _, _ := strings.Cut(rest, "-")
	return id, true
}

// WorkflowStatus is the earlier contract's workflow status.
type WorkflowStatus struct {
	WorkflowID    string     `json:"workflow_id"`
	Status        string     `json:"status"`
	StartTime     time.Time  `json:"start_time"`
	CloseTime     *time.Time `json:"close_time,omitempty"`
	ExecutionTime float64    `json:"execution_time"`
	TaskQueue     string     `json:"task_queue"`
	WorkflowType  string     `json:"workflow_type"`
}

func (a *API) workflowStatus(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	wid := r.PathValue("id")
	cid, ok := campaignOfWorkflow(wid)
	if !ok {
		return httpx.NotFound("marketing workflow " + wid)
	}
	if _, err := a.Store.GetCampaign(r.Context(), tid, cid); errors.Is(err, store.ErrNotFound) {
		return httpx.NotFound("marketing workflow " + wid)
	} else if err != nil {
		return err
	}
	if a.Temporal == nil {
		return errNoEngine
	}
	d, err := a.Temporal.DescribeWorkflowExecution(r.Context(), wid, "")
	if err != nil {
		if isNotFound(err) {
			return httpx.NotFound("marketing workflow " + wid)
		}
		return httpx.Unavailable(err, "Temporal did not describe the workflow")
	}
	info := d.GetWorkflowExecutionInfo()
	st := WorkflowStatus{WorkflowID: wid, Status: strings.ToLower(strings.TrimPrefix(info.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_")),
		StartTime: info.GetStartTime().AsTime(), TaskQueue: info.GetTaskQueue(), WorkflowType: info.GetType().GetName()}
	end := a.now()
	if info.GetCloseTime() != nil && info.GetCloseTime().IsValid() && !info.GetCloseTime().AsTime().IsZero() {
		t := info.GetCloseTime().AsTime()
		st.CloseTime, end = &t, t
	}
	st.ExecutionTime = end.Sub(st.StartTime).Seconds()
	httpx.WriteJSON(w, http.StatusOK, st)
	return nil
}

// SetPublishing moves a campaign's publishing to state; from, when set, is
// the state it must be in (pause needs active, resume needs paused).
func (a *API) SetPublishing(ctx context.Context, tenantID, id, state, from string) (store.Campaign, error) {
	c, err := a.Store.GetCampaign(ctx, tenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Campaign{}, httpx.NotFound("campaign " + id)
	} else if err != nil {
		return store.Campaign{}, err
	}
	if from != "" && c.Publishing != from {
		return store.Campaign{}, httpx.Conflict("campaign %s's publishing is %s, not %s", id, c.Publishing, from)
	}
	if state == store.PublishingActive && c.Status != store.CampaignCompleted {
		return store.Campaign{}, httpx.Conflict("campaign %s is %s: only a completed campaign publishes", id, c.Status)
	}
	c.Publishing = state
	return c, a.Store.UpdateCampaign(ctx, c)
}

func (a *API) publishing(state, from string) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tid, err := tenantOf(r)
		if err != nil {
			return err
		}
		c, err := a.SetPublishing(r.Context(), tid, r.PathValue("id"), state, from)
		if err != nil {
			return err
		}
		out := map[string]any{"campaign_id": c.ID, "publishing": c.Publishing, "schedule_id": ScheduleID,
			"publish_interval": a.Cfg.PublishInterval.String()}
		if len(a.Cfg.Adapters(nil)) == 0 {
			out["warning"] = "no publishing adapter is configured: due pieces are not posted until one is (marketing.publish.*)"
		}
		httpx.WriteJSON(w, http.StatusOK, out)
		return nil
	}
}

// Metrics are a published piece's reported numbers.
type Metrics struct {
	Impressions int64 `json:"impressions,omitempty"`
	Clicks      int64 `json:"clicks,omitempty"`
	Likes       int64 `json:"likes,omitempty"`
	Shares      int64 `json:"shares,omitempty"`
	Comments    int64 `json:"comments,omitempty"`
	Conversions int64 `json:"conversions,omitempty"`
}

// AnalyticsRequest reports metrics of a published piece.
type AnalyticsRequest struct {
	PieceID    string    `json:"piece_id"`
	Metrics    Metrics   `json:"metrics"`
	ObservedAt time.Time `json:"observed_at"`
}

func (a *API) ingest(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := a.Store.GetCampaign(r.Context(), tid, id); errors.Is(err, store.ErrNotFound) {
		return httpx.NotFound("campaign " + id)
	} else if err != nil {
		return err
	}
	var in AnalyticsRequest
	if err := httpx.DecodeJSON(w, r, a.MaxBodyBytes, &in); err != nil {
		return err
	}
	p, err := a.Store.GetPiece(r.Context(), id, in.PieceID)
	if errors.Is(err, store.ErrNotFound) {
		return httpx.NotFound("piece " + in.PieceID + " of campaign " + id)
	} else if err != nil {
		return err
	}
	if p.Status != store.PiecePublished {
		return httpx.Conflict("piece %s is %s: metrics are taken for published pieces only", p.ID, p.Status)
	}
	m := in.Metrics
	for _, v := range []int64{m.Impressions, m.Clicks, m.Likes, m.Shares, m.Comments, m.Conversions} {
		if v < 0 {
			return httpx.BadRequest("metrics", "metrics cannot be negative")
		}
	}
	raw, _ := json.Marshal(m)
	rec, err := a.Store.RecordAnalytics(r.Context(), store.Analytics{CampaignID: id, PieceID: p.ID, TenantID: tid, Metrics: raw, ObservedAt: in.ObservedAt})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, map[string]any{"id": rec.ID, "campaign_id": id, "piece_id": p.ID, "observed_at": rec.ObservedAt})
	return nil
}

func (a *API) analytics(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenantOf(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := a.Store.GetCampaign(r.Context(), tid, id); errors.Is(err, store.ErrNotFound) {
		return httpx.NotFound("campaign " + id)
	} else if err != nil {
		return err
	}
	rows, err := a.Store.ListAnalytics(r.Context(), id)
	if err != nil {
		return err
	}
	// The latest report of each piece counts toward the totals: metrics
	// are cumulative counters as the networks report them.
	latest := map[string]Metrics{}
	type rep struct {
		PieceID    string    `json:"piece_id"`
		Metrics    Metrics   `json:"metrics"`
		ObservedAt time.Time `json:"observed_at"`
	}
	reports := []rep{}
	for _, row := range rows {
		var m Metrics
		_ = json.Unmarshal(row.Metrics, &m)
		latest[row.PieceID] = m
		reports = append(reports, rep{row.PieceID, m, row.ObservedAt})
	}
	var tot Metrics
	for _, m := range latest {
		tot.Impressions += m.Impressions
		tot.Clicks += m.Clicks
		tot.Likes += m.Likes
		tot.Shares += m.Shares
		tot.Comments += m.Comments
		tot.Conversions += m.Conversions
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"campaign_id": id, "totals": tot, "reports": reports})
	return nil
}
