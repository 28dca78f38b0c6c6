package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/vocab"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// Where a field of the review policy in force comes from.
const (
	SourceDefault = "default" // the server's setting (QLP_HITL_*)
	SourceTenant  = "tenant"  // the tenant's own policy (PUT /api/v2/review-policy)
)

// ReviewPolicySources says where each field of a review policy comes from.
type ReviewPolicySources struct {
	Threshold string `json:"threshold"`
	Timeout   string `json:"timeout"`
	OnTimeout string `json:"on_timeout"`
	AITL      string `json:"aitl"`
}

// ReviewPolicyView is a tenant's review policy in force, as GET and PUT
// /api/v2/review-policy show it. A job's metadata may still override it.
type ReviewPolicyView struct {
	TenantID  string  `json:"tenant_id"`
	Threshold float64 `json:"threshold"`
	// Timeout is a duration such as "30m" or "24h"; "" is none.
	Timeout        string              `json:"timeout"`
	TimeoutSeconds int64               `json:"timeout_seconds"`
	OnTimeout      string              `json:"on_timeout"`
	AITL           bool                `json:"aitl"`
	Sources        ReviewPolicySources `json:"sources"`
	UpdatedBy      string              `json:"updated_by,omitempty"`
	UpdatedAt      *time.Time          `json:"updated_at,omitempty"`
}

// Policy returns the view as a workflow policy.
func (v ReviewPolicyView) Policy() workflow.ReviewPolicy {
	return workflow.ReviewPolicy{Threshold: v.Threshold, Timeout: time.Duration(v.TimeoutSeconds) * time.Second, OnTimeout: v.OnTimeout, AITL: v.AITL}
}

// layerTenant lays a tenant's own policy (the fields it set) over the
// server's.
func layerTenant(base workflow.ReviewPolicy, t store.ReviewPolicy) (workflow.ReviewPolicy, ReviewPolicySources) {
	p := base
	src := ReviewPolicySources{Threshold: SourceDefault, Timeout: SourceDefault, OnTimeout: SourceDefault, AITL: SourceDefault}
	if t.Threshold != nil {
		p.Threshold, src.Threshold = *t.Threshold, SourceTenant
	}
	if t.Timeout != nil {
		p.Timeout, src.Timeout = *t.Timeout, SourceTenant
	}
	if t.OnTimeout != nil {
		p.OnTimeout, src.OnTimeout = *t.OnTimeout, SourceTenant
	}
	if t.AITL != nil {
		p.AITL, src.AITL = *t.AITL, SourceTenant
	}
	if p.OnTimeout == "" {
		p.OnTimeout = vocab.OnTimeoutWait
	}
	return p, src
}

// tenantPolicy returns the review policy in force for a tenant's jobs
// before their metadata: the server's, with the tenant's own fields over it.
func (s *Service) tenantPolicy(ctx context.Context, tenantID string) (workflow.ReviewPolicy, error) {
	t, err := s.store.GetReviewPolicy(ctx, tenantID)
	if err != nil {
		return workflow.ReviewPolicy{}, err
	}
	p, _ := layerTenant(s.cfg.Workflow.Review, t)
	return p, nil
}

// jobPolicy is the review policy of a job: the server's ← the tenant's ←
// the job's metadata.
func (s *Service) jobPolicy(ctx context.Context, tenantID string, meta map[string]any) (workflow.ReviewPolicy, error) {
	base, err := s.tenantPolicy(ctx, tenantID)
	if err != nil {
		return workflow.ReviewPolicy{}, err
	}
	return layerMetadata(base, meta)
}

// layerMetadata is reviewPolicy, saying so when the tenant's policy (not
// the job's metadata) lacks a timeout: the tenant's approve or reject
// relied on a server timeout that has since been turned off.
func layerMetadata(base workflow.ReviewPolicy, meta map[string]any) (workflow.ReviewPolicy, error) {
	_, timeout := meta["review_timeout"]
	_, onTimeout := meta["review_on_timeout"]
	if base.OnTimeout != vocab.OnTimeoutWait && base.Timeout <= 0 && !timeout && !onTimeout {
		return base, httpx.BadRequest("review_policy.timeout", "the tenant's review policy says on_timeout %s, but neither it nor the server sets a timeout: "+
			"set one with PUT /api/v2/review-policy (or metadata.review_timeout)", base.OnTimeout)
	}
	return reviewPolicy(base, meta)
}

func reviewPolicyView(base workflow.ReviewPolicy, t store.ReviewPolicy) ReviewPolicyView {
	p, src := layerTenant(base, t)
	v := ReviewPolicyView{TenantID: t.TenantID, Threshold: p.Threshold, Timeout: FormatDuration(p.Timeout), TimeoutSeconds: int64(p.Timeout / time.Second),
		OnTimeout: p.OnTimeout, AITL: p.AITL, Sources: src, UpdatedBy: t.UpdatedBy}
	if !t.UpdatedAt.IsZero() {
		at := t.UpdatedAt
		v.UpdatedAt = &at
	}
	return v
}

// FormatDuration writes d without zero units: "2h", "1h30m", "45s"; ""
// for 0.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ReviewPolicy returns the review policy in force for a tenant's jobs.
func (s *Service) ReviewPolicy(ctx context.Context, tenantID string) (ReviewPolicyView, error) {
	t, err := s.store.GetReviewPolicy(ctx, tenantID)
	if err != nil {
		return ReviewPolicyView{}, err
	}
	return reviewPolicyView(s.cfg.Workflow.Review, t), nil
}

// Change is one field of an update: left out (Set false), returned to the
// server's setting (Set, Value nil), or given a value.
type Change[T any] struct {
	Set   bool
	Value *T
}

func (c Change[T]) apply(dst **T) {
	if c.Set {
		*dst = c.Value
	}
}

// ReviewPolicyUpdate changes a tenant's review policy: PUT
// /api/v2/review-policy.
type ReviewPolicyUpdate struct {
	Threshold Change[float64]
	Timeout   Change[time.Duration]
	OnTimeout Change[string]
	AITL      Change[bool]
}

// ParseReviewPolicyUpdate reads a JSON update {threshold, timeout,
// on_timeout, aitl}: a field left out is unchanged, null returns it to the
// server's setting. Errors are 400s naming the field.
func ParseReviewPolicyUpdate(body []byte) (ReviewPolicyUpdate, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		msg := "must be a JSON object"
		if err != nil {
			msg += ": " + err.Error()
		}
		return ReviewPolicyUpdate{}, httpx.BadRequest("body", "%s", msg)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var u ReviewPolicyUpdate
	for _, k := range keys {
		v := bytes.TrimSpace(raw[k])
		null := string(v) == "null"
		switch k {
		case "threshold":
			u.Threshold.Set = true
			if null {
				continue
			}
			var f float64
			if err := json.Unmarshal(v, &f); err != nil || f < 0 || f > 1 {
				return ReviewPolicyUpdate{}, httpx.BadRequest(k, "must be a number from 0 (no reviews) to 1, or null for the server's setting")
			}
			u.Threshold.Value = &f
		case "timeout":
			u.Timeout.Set = true
			if null {
				continue
			}
			var str string
			if err := json.Unmarshal(v, &str); err != nil {
				return ReviewPolicyUpdate{}, httpx.BadRequest(k, "must be a duration such as \"30m\" or \"24h\", or null for the server's setting")
			}
			d, err := time.ParseDuration(strings.TrimSpace(str))
			if err != nil || d < time.Second || d%time.Second != 0 {
				return ReviewPolicyUpdate{}, httpx.BadRequest(k, "%q is not a positive duration of whole seconds such as \"30m\" or \"24h\"", str)
			}
			u.Timeout.Value = &d
		case "on_timeout":
			u.OnTimeout.Set = true
			if null {
				continue
			}
			var str string
			_ = json.Unmarshal(v, &str)
			if str = strings.ToLower(strings.TrimSpace(str)); !vocab.ValidOnTimeout(str) {
				return ReviewPolicyUpdate{}, httpx.BadRequest(k, "must be approve, reject or wait, or null for the server's setting")
			}
			u.OnTimeout.Value = &str
		case "aitl":
			u.AITL.Set = true
			if null {
				continue
			}
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				return ReviewPolicyUpdate{}, httpx.BadRequest(k, "must be true or false, or null for the server's setting")
			}
			u.AITL.Value = &b
		default:
			return ReviewPolicyUpdate{}, httpx.BadRequest(k, "unknown field (want threshold, timeout, on_timeout, aitl)")
		}
	}
	return u, nil
}

// SetReviewPolicy applies u to a tenant's own review policy and returns the
// policy in force. A policy whose timeout approves or rejects needs a
// timeout, the tenant's or the server's.
func (s *Service) SetReviewPolicy(ctx context.Context, tenantID string, u ReviewPolicyUpdate, by string) (ReviewPolicyView, error) {
	t, err := s.store.GetReviewPolicy(ctx, tenantID)
	if err != nil {
		return ReviewPolicyView{}, err
	}
	u.Threshold.apply(&t.Threshold)
	u.Timeout.apply(&t.Timeout)
	u.OnTimeout.apply(&t.OnTimeout)
	u.AITL.apply(&t.AITL)
	if p, _ := layerTenant(s.cfg.Workflow.Review, t); p.OnTimeout != vocab.OnTimeoutWait && p.Timeout <= 0 {
		field := "on_timeout"
		if u.Timeout.Set {
			field = "timeout" // reset by this update
		}
		return ReviewPolicyView{}, httpx.BadRequest(field, "on_timeout %s needs a timeout, and neither this policy nor the server sets one", p.OnTimeout)
	}
	t.TenantID, t.UpdatedBy, t.UpdatedAt = tenantID, by, time.Now().UTC()
	if err := s.store.PutReviewPolicy(ctx, t); err != nil {
		return ReviewPolicyView{}, err
	}
	s.logger.Info("review policy changed", "tenant", tenantID, "by", by)
	return reviewPolicyView(s.cfg.Workflow.Review, t), nil
}

// handleReviewPolicy is GET /api/v2/review-policy: the tenant's review
// policy in force, for any of its keys.
func (s *Service) handleReviewPolicy(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	v, err := s.ReviewPolicy(r.Context(), tid)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}

// handleReviewPolicyPut is PUT /api/v2/review-policy (administrators):
// change the tenant's review policy; fields left out are unchanged, null
// returns a field to the server's setting.
func (s *Service) handleReviewPolicyPut(w http.ResponseWriter, r *http.Request) error {
	p, err := admin(r)
	if err != nil {
		return err
	}
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := httpx.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &raw); err != nil {
		return err
	}
	u, err := ParseReviewPolicyUpdate(raw)
	if err != nil {
		return err
	}
	// A service-token caller may name any tenant: it must exist.
	if _, err := s.store.GetTenant(r.Context(), tid); errors.Is(err, store.ErrNotFound) {
		return httpx.NotFound("tenant " + tid)
	} else if err != nil {
		return fmt.Errorf("review policy of %s: %w", tid, err)
	}
	v, err := s.SetReviewPolicy(r.Context(), tid, u, p.KeyID)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}
