package marketing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
)

// Error types the workflow tells apart.
const (
	ErrTypeBudgetExceeded = "BudgetExceeded"
	ErrTypeModelRefused   = "ModelRefused"
	ErrTypeUnusable       = "UnusableAnswer"
	ErrTypeCampaign       = "CampaignState"
)

// Store is what the marketing worker needs of the store.
type Store interface {
	store.Marketing
	GetCapsuleVersion(ctx context.Context, tenantID, id string, version int) (store.CapsuleVersion, error)
	GetCapsule(ctx context.Context, tenantID, id string) (store.Capsule, error)
	SumUsage(ctx context.Context, f store.UsageFilter) (store.UsageTotals, error)
	ListUsage(ctx context.Context, f store.UsageFilter) ([]store.Usage, error)
}

var _ Store = store.Store(nil)

// Activities are the marketing workflows' side effects.
type Activities struct {
	Store  Store
	Models tiers.Models
	// Tier answers every marketing call (T1 by default).
	Tier        string
	MaxTokens   int
	Temperature float64
	// MaxPieces bounds a campaign's pieces.
	MaxPieces int
	Logger    *slog.Logger
	Publisher *Publisher
	Now       func() time.Time
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// CampaignInput names a campaign; HeartbeatTimeout is the model calls'
// heartbeat timeout (a worker that dies mid-call is noticed after it).
type CampaignInput struct {
	CampaignID       string
	TenantID         string
	HeartbeatTimeout time.Duration
}

// PieceInput names one piece of a campaign.
type PieceInput struct {
	CampaignID       string
	TenantID         string
	PieceID          string
	HeartbeatTimeout time.Duration
}

// PieceResult is what generating a piece did.
type PieceResult struct {
	PieceID string
	Channel string
	// Reused is set when the piece was already generated (a retry, or a
	// restarted campaign): no model was called.
	Reused   bool
	Calls    int
	CostPUSD int64
	Notes    string
}

func (a *Activities) campaign(ctx context.Context, id string) (store.Campaign, Brief, error) {
	c, err := a.Store.GetCampaign(ctx, "", id)
	if err != nil {
		return store.Campaign{}, Brief{}, err
	}
	var b Brief
	if err := json.Unmarshal(c.Brief, &b); err != nil {
		return store.Campaign{}, Brief{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("campaign %s: brief does not parse: %v", id, err), ErrTypeCampaign, nil)
	}
	return c, b, nil
}

// StartCampaign marks the campaign running and, for a capsule's campaign,
// fills the brief from the capsule's manifest and README.
func (a *Activities) StartCampaign(ctx context.Context, in CampaignInput) error {
	c, b, err := a.campaign(ctx, in.CampaignID)
	if err != nil {
		return err
	}
	if c.Status == store.CampaignCompleted || c.Status == store.CampaignFailed {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("campaign %s is already %s", c.ID, c.Status), ErrTypeCampaign, nil)
	}
	if b.CapsuleID != "" && b.ProductDescription == "" {
		// The capsule must be there; each activity reads it again, so that
		// the stored brief stays what was asked.
		if err := a.fillFromCapsule(ctx, c.TenantID, &b); err != nil {
			return err
		}
	}
	c.Status = store.CampaignRunning
	return a.Store.UpdateCampaign(ctx, c)
}

// capsuleManifest is the part of qlp-manifest.json a campaign reads.
type capsuleManifest struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Request     string   `json:"request"`
	Languages   []string `json:"languages"`
	Framework   string   `json:"framework"`
}

// fillFromCapsule takes the product from the tenant's capsule: its name,
// its description and request, and its README (bounded) as context.
func (a *Activities) fillFromCapsule(ctx context.Context, tenantID string, b *Brief) error {
	v, err := a.Store.GetCapsuleVersion(ctx, tenantID, b.CapsuleID, 0)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("capsule %s not found for tenant %s", b.CapsuleID, tenantID), ErrTypeCampaign, err)
		}
		return err
	}
	var m capsuleManifest
	if err := json.Unmarshal(v.Manifest, &m); err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("capsule %s: manifest does not parse: %v", b.CapsuleID, err), ErrTypeCampaign, nil)
	}
	if b.ProductName == "" {
		b.ProductName = m.Name
	}
	desc := strings.TrimSpace(m.Description)
	if m.Request != "" && !strings.Contains(desc, m.Request) {
		desc = strings.TrimSpace(desc + "\n" + m.Request)
	}
	if len(m.Languages) > 0 {
		desc += "\nBuilt with " + strings.Join(m.Languages, ", ")
		if m.Framework != "" {
			desc += " (" + m.Framework + ")"
		}
		desc += "."
	}
	b.ProductDescription = desc
	return nil
}

// capsuleReadme is the capsule's README, at most 6 KiB of it, as context
// for the strategist.
func (a *Activities) capsuleReadme(ctx context.Context, tenantID, capsuleID string) string {
	if capsuleID == "" {
		return ""
	}
	v, err := a.Store.GetCapsuleVersion(ctx, tenantID, capsuleID, 0)
	if err != nil {
		return ""
	}
	for _, f := range v.Files {
		if strings.EqualFold(f.Path, "README.md") {
			s := string(f.Content)
			if len(s) > 6<<10 {
				s = s[:6<<10] + "\n[… README cut at 6 KiB]"
			}
			return s
		}
	}
	return ""
}

// PlanResult lists the campaign's pieces.
type PlanResult struct {
	PieceIDs []string
	Strategy Strategy
}

// PlanCampaign asks the strategist for the strategy (once: a stored one
// is reused) and stores the calendar's pieces.
func (a *Activities) PlanCampaign(ctx context.Context, in CampaignInput) (PlanResult, error) {
	c, b, err := a.campaign(ctx, in.CampaignID)
	if err != nil {
		return PlanResult{}, err
	}
	if b.CapsuleID != "" && b.ProductDescription == "" {
		if err := a.fillFromCapsule(ctx, c.TenantID, &b); err != nil {
			return PlanResult{}, err
		}
	}
	var st Strategy
	if len(c.Strategy) > 0 {
		_ = json.Unmarshal(c.Strategy, &st)
	}
	if len(st.Pillars) == 0 {
		data := map[string]any{"Brief": b, "Context": a.capsuleReadme(ctx, c.TenantID, b.CapsuleID)}
		msgs, err := render("strategist", data)
		if err != nil {
			return PlanResult{}, err
		}
		var problems []string
		for attempt := 1; attempt <= 2; attempt++ {
			conv := msgs
			if len(problems) > 0 {
				conv = append(append([]llm.Message(nil), msgs...), llm.Message{Role: llm.RoleUser,
					Content: "Your previous answer was not usable: " + strings.Join(problems, "; ") + ". Answer again with the JSON object only."})
			}
			resp, err := a.call(ctx, c, "strategist", "strategy", attempt, conv, in.HeartbeatTimeout)
			if err != nil {
				return PlanResult{}, err
			}
			st = Strategy{}
			if err := decodeObject(resp.Content, &st); err != nil {
				problems = []string{err.Error()}
				continue
			}
			if problems = st.problems(b.Channels); len(problems) == 0 {
				break
			}
		}
		if len(problems) > 0 {
			return PlanResult{}, temporal.NewNonRetryableApplicationError("strategist: the strategy is unusable after a re-ask: "+strings.Join(problems, "; "), ErrTypeUnusable, nil)
		}
		st.PromptVersion = PromptVersions["strategist"]
		if c.Strategy, err = json.Marshal(st); err != nil {
			return PlanResult{}, err
		}
		if c.Name == "" {
			c.Name = st.Name
		}
		if err := a.Store.UpdateCampaign(ctx, c); err != nil {
			return PlanResult{}, err
		}
	}
	slots := Calendar(b, st.Themes, a.MaxPieces)
	pieces := make([]store.Piece, len(slots))
	ids := make([]string, len(slots))
	for i, s := range slots {
		pieces[i] = store.Piece{CampaignID: c.ID, ID: s.PieceID, Channel: s.Channel, Day: s.Day, ScheduledAt: s.ScheduledAt, Theme: s.Theme}
		ids[i] = s.PieceID
	}
	if err := a.Store.AddPieces(ctx, pieces); err != nil {
		return PlanResult{}, err
	}
	return PlanResult{PieceIDs: ids, Strategy: st}, nil
}

// GeneratePiece writes one piece, once: a piece already generated is
// returned as stored without a model call, so a retried activity or a
// restarted campaign never generates it twice. An answer over the
// channel's limits is asked again with the exact problems; one still
// over is repaired (hashtags removed, fields shortened at a word
// boundary) and the piece's notes say what was changed.
func (a *Activities) GeneratePiece(ctx context.Context, in PieceInput) (PieceResult, error) {
	c, b, err := a.campaign(ctx, in.CampaignID)
	if err != nil {
		return PieceResult{}, err
	}
	p, err := a.Store.GetPiece(ctx, in.CampaignID, in.PieceID)
	if err != nil {
		return PieceResult{}, err
	}
	res := PieceResult{PieceID: p.ID, Channel: p.Channel}
	if p.Status != store.PiecePlanned {
		res.Reused, res.Notes = true, p.Notes
		return res, nil
	}
	spec, err := LookupChannel(p.Channel)
	if err != nil {
		return PieceResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeCampaign, nil)
	}
	if b.CapsuleID != "" && b.ProductDescription == "" {
		if err := a.fillFromCapsule(ctx, c.TenantID, &b); err != nil {
			return PieceResult{}, err
		}
	}
	var st Strategy
	_ = json.Unmarshal(c.Strategy, &st)
	var content Content
	var problems, notes []string
	for attempt := 1; attempt <= 2; attempt++ {
		msgs, err := render("copywriter", map[string]any{"Piece": p, "Brief": b, "Strategy": st, "Rules": spec.rules(),
			"When": p.ScheduledAt.UTC().Format("2006-01-02 15:04 UTC"), "Problems": problems})
		if err != nil {
			return PieceResult{}, err
		}
		resp, err := a.call(ctx, c, "copywriter", p.ID, attempt, msgs, in.HeartbeatTimeout)
		if err != nil {
			return PieceResult{}, err
		}
		res.Calls++
		res.CostPUSD += resp.CostPUSD
		content = Content{}
		if err := decodeObject(resp.Content, &content); err != nil {
			problems = []string{err.Error()}
			continue
		}
		if problems = spec.Check(content); len(problems) == 0 {
			break
		}
	}
	if len(problems) > 0 {
		var left []string
		content, notes, left = spec.Repair(content)
		if len(left) > 0 {
			return PieceResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("copywriter: piece %s (%s) is unusable after a re-ask and repair: %s",
				p.ID, p.Channel, strings.Join(left, "; ")), ErrTypeUnusable, nil)
		}
		notes = append([]string{"the model's answer broke the channel's limits twice (" + strings.Join(problems, "; ") + "); QLP repaired it"}, notes...)
	}
	body, err := json.Marshal(content)
	if err != nil {
		return PieceResult{}, err
	}
	p.Content, p.Status, p.Notes = body, store.PieceGenerated, strings.Join(notes, "; ")
	p.PromptVersion, p.ModelCalls, p.CostPUSD = PromptVersions["copywriter"], p.ModelCalls+res.Calls, p.CostPUSD+res.CostPUSD
	if err := a.Store.UpdatePiece(ctx, p); err != nil {
		return PieceResult{}, err
	}
	res.Notes = p.Notes
	return res, nil
}

// OptimiseResult is what the optimisation pass did.
type OptimiseResult struct {
	Notes    string
	Revised  []string
	Rejected []string
}

type revision struct {
	PieceID string `json:"piece_id"`
	Content
}

// OptimiseCampaign reviews the whole campaign once (a stored pass is not
// repeated) and applies the revisions that stay within their channel's
// limits; a revision over them is rejected and named in the notes.
func (a *Activities) OptimiseCampaign(ctx context.Context, in CampaignInput) (OptimiseResult, error) {
	c, b, err := a.campaign(ctx, in.CampaignID)
	if err != nil {
		return OptimiseResult{}, err
	}
	if c.Optimisation != "" {
		return OptimiseResult{Notes: c.Optimisation}, nil
	}
	pieces, err := a.Store.ListPieces(ctx, c.ID)
	if err != nil {
		return OptimiseResult{}, err
	}
	var st Strategy
	_ = json.Unmarshal(c.Strategy, &st)
	type view struct {
		ID, Channel, Rules, Text string
		Day                      int
	}
	var views []view
	byID := map[string]store.Piece{}
	for _, p := range pieces {
		spec, err := LookupChannel(p.Channel)
		if err != nil {
			continue
		}
		var ct Content
		_ = json.Unmarshal(p.Content, &ct)
		text := spec.Post(ct)
		for _, f := range []struct{ k, v string }{{"Tagline", ct.Tagline}, {"Subject", ct.Subject}, {"Title", ct.Title}} {
			if f.v != "" {
				text = f.k + ": " + f.v + "\n" + text
			}
		}
		if len(text) > 1500 {
			text = text[:1500] + " [… cut for the review]"
		}
		views = append(views, view{ID: p.ID, Channel: p.Channel, Rules: spec.rules(), Text: text, Day: p.Day})
		byID[p.ID] = p
	}
	msgs, err := render("optimiser", map[string]any{"Brief": b, "Strategy": st, "Pieces": views})
	if err != nil {
		return OptimiseResult{}, err
	}
	resp, err := a.call(ctx, c, "optimiser", "optimise", 1, msgs, in.HeartbeatTimeout)
	if err != nil {
		return OptimiseResult{}, err
	}
	var ans struct {
		Notes     string     `json:"notes"`
		Revisions []revision `json:"revisions"`
	}
	var out OptimiseResult
	if err := decodeObject(resp.Content, &ans); err != nil {
		// An unusable review changes nothing; the campaign stands as
		// written, and says so.
		out.Notes = "the optimisation pass's answer was not usable (" + err.Error() + "); no piece was revised"
	} else {
		out.Notes = strings.TrimSpace(ans.Notes)
		for _, r := range ans.Revisions {
			p, ok := byID[r.PieceID]
			if !ok {
				out.Rejected = append(out.Rejected, r.PieceID+" (no such piece)")
				continue
			}
			spec, _ := LookupChannel(p.Channel)
			if probs := spec.Check(r.Content); len(probs) > 0 {
				out.Rejected = append(out.Rejected, r.PieceID+" ("+strings.Join(probs, "; ")+")")
				continue
			}
			body, err := json.Marshal(r.Content)
			if err != nil {
				return OptimiseResult{}, err
			}
			p.Content = body
			if p.Notes != "" {
				p.Notes += "; "
			}
			p.Notes += "revised by the optimisation pass"
			if err := a.Store.UpdatePiece(ctx, p); err != nil {
				return OptimiseResult{}, err
			}
			out.Revised = append(out.Revised, r.PieceID)
		}
		if out.Notes == "" {
			out.Notes = "the optimisation pass gave no notes"
		}
		if len(out.Rejected) > 0 {
			out.Notes += "\nRevisions rejected for breaking their channel's limits: " + strings.Join(out.Rejected, ", ")
		}
	}
	c.Optimisation = out.Notes
	if err := a.Store.UpdateCampaign(ctx, c); err != nil {
		return OptimiseResult{}, err
	}
	return out, nil
}

// FinishInput ends a campaign: Error empty for success.
type FinishInput struct {
	CampaignID string
	Error      string
}

// Report is a campaign's outcome and cost, from the ledger.
type Report struct {
	CampaignID string `json:"campaign_id"`
	Status     string `json:"status"`
	Error      string `json:"error,omitempty"`
	Pieces     int    `json:"pieces"`
	Generated  int    `json:"generated"`
	Calls      int    `json:"model_calls"`
	CostPUSD   int64  `json:"cost_pusd"`
	CostUSD    string `json:"cost_usd"`
}

// FinishCampaign records the outcome and reports the cost from the
// ledger's rows of the campaign.
func (a *Activities) FinishCampaign(ctx context.Context, in FinishInput) (Report, error) {
	c, _, err := a.campaign(ctx, in.CampaignID)
	if err != nil {
		return Report{}, err
	}
	rep, err := CostReport(ctx, a.Store, c.ID)
	if err != nil {
		return Report{}, err
	}
	c.Status, c.Error = store.CampaignCompleted, ""
	if in.Error != "" {
		c.Status = store.CampaignFailed
		c.Error = in.Error + fmt.Sprintf(" (campaign %s spent $%s)", c.ID, rep.CostUSD)
	}
	if err := a.Store.UpdateCampaign(ctx, c); err != nil {
		return Report{}, err
	}
	rep.Status, rep.Error = c.Status, c.Error
	return rep, nil
}

// CostReport counts a campaign's pieces and sums its ledger rows.
func CostReport(ctx context.Context, st Store, campaignID string) (Report, error) {
	pieces, err := st.ListPieces(ctx, campaignID)
	if err != nil {
		return Report{}, err
	}
	tot, err := st.SumUsage(ctx, store.UsageFilter{JobID: campaignID})
	if err != nil {
		return Report{}, err
	}
	rep := Report{CampaignID: campaignID, Pieces: len(pieces), CostPUSD: tot.CostPUSD, CostUSD: pricing.USD(tot.CostPUSD), Calls: int(tot.Calls)}
	for _, p := range pieces {
		if p.Status != store.PiecePlanned {
			rep.Generated++
		}
	}
	return rep, nil
}

// call makes one model call for the campaign through the provider layer:
// the tier's provider is the platform's (metered into the ledger under the
// campaign's id, budget-checked before the call, cached). It heartbeats
// while the call runs, so that a worker that dies mid-call is noticed.
func (a *Activities) call(ctx context.Context, c store.Campaign, role, taskID string, attempt int, msgs []llm.Message, hb time.Duration) (*llm.Response, error) {
	tier := a.Tier
	if tier == "" {
		tier = "T1"
	}
	tg, err := a.Models.TargetFor(ctx, c.TenantID, tier)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeModelRefused, err)
	}
	stop := heartbeat(ctx, hb)
	defer stop()
	resp, err := tg.Provider.Chat(ctx, llm.Request{Model: tg.Model, Messages: msgs, Temperature: a.Temperature, MaxTokens: a.MaxTokens, JSON: true,
		Meta: llm.Meta{TenantID: c.TenantID, JobID: c.ID, TaskID: taskID, Attempt: attempt, Tier: tier, Role: role}})
	if err != nil {
		what := fmt.Sprintf("%s call for %s to %s", role, taskID, tg.Model)
		if errors.Is(err, budget.ErrExceeded) {
			return nil, temporal.NewNonRetryableApplicationError(what+": "+err.Error(), ErrTypeBudgetExceeded, nil)
		}
		if llm.Retryable(err) {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return nil, temporal.NewNonRetryableApplicationError(what+": "+err.Error(), ErrTypeModelRefused, nil)
	}
	if resp.Truncated() {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s for %s: the answer was cut off at %d tokens", role, taskID, a.MaxTokens), ErrTypeUnusable, nil)
	}
	return resp, nil
}

// heartbeat records a heartbeat every hb/3 while a call runs (only inside
// an activity with a heartbeat timeout).
func heartbeat(ctx context.Context, hb time.Duration) func() {
	if hb <= 0 || !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(max(hb/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}
