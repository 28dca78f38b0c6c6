package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/policy"
	"github.com/quantumlayer/qlp/internal/store"
)

// tenantContentPolicy loads a tenant's own allow and deny lists.
func (s *Service) tenantContentPolicy(ctx context.Context, tenantID string) (policy.Tenant, store.ContentPolicy, error) {
	p, err := s.store.GetContentPolicy(ctx, tenantID)
	if err != nil {
		return policy.Tenant{}, store.ContentPolicy{}, fmt.Errorf("content policy of %s: %w", tenantID, err)
	}
	return policy.Tenant{Allow: categories(p.Allow), Deny: categories(p.Deny)}, p, nil
}

func categories(names []string) []policy.Category {
	out := make([]policy.Category, 0, len(names))
	for _, n := range names {
		out = append(out, policy.Category(n))
	}
	return out
}

// checkRequest applies the content policy to a request's text before
// anything of it is stored. A refused request leaves only its violation
// record (the text's digest, never the text) and a 422 naming the
// category.
func (s *Service) checkRequest(ctx context.Context, tenantID string, r SubmitRequest) error {
	if s.policy == nil || !s.policy.Config().Enabled {
		return nil
	}
	text := r.Description
	if r.Requirements != "" {
		text += "\n" + r.Requirements
	}
	tp, _, err := s.tenantContentPolicy(ctx, tenantID)
	if err != nil {
		return err
	}
	res, err := s.policy.Check(ctx, text, policy.UserRequest, tp)
	if err != nil {
		return httpx.Unavailable(err, "the content policy's moderation provider did not answer; try again")
	}
	if !res.Blocked() {
		s.policyMetrics.Observe("request", "flagged", res)
		return nil
	}
	s.policyMetrics.Observe("request", "refused", res)
	if _, err := s.store.RecordPolicyViolation(ctx, violation(tenantID, r.UserID, "request", "refused", policy.UserRequest, text, res)); err != nil {
		return err
	}
	s.logger.Info("request refused by the content policy", "tenant", tenantID, "category", res.Primary(), "severity", res.Severity)
	return httpx.ContentPolicy(string(res.Primary()), res.Severity.String(), "content policy violation: %s", res.Explanation)
}

func violation(tenantID, userID, origin, action string, kind policy.Kind, text string, res policy.Result) store.PolicyViolation {
	cats := make([]string, 0, len(res.Categories))
	for _, c := range res.Categories {
		cats = append(cats, string(c))
	}
	return store.PolicyViolation{TenantID: tenantID, UserID: userID, Kind: string(kind), Origin: origin, Severity: res.Severity.String(),
		Categories: cats, Action: action, ContentSHA256: policy.Digest(text), Explanation: res.Explanation}
}

// HAPCheckRequest is the body of POST /api/v2/hap/check, the earlier QLP's
// shape.
type HAPCheckRequest struct {
	Content  string         `json:"content"`
	Context  string         `json:"context"`
	UserID   string         `json:"user_id"`
	TenantID string         `json:"tenant_id"`
	Metadata map[string]any `json:"metadata"`
}

// handleHAPCheck is POST /api/v2/hap/check: the verdict the policy would
// give a text, under the caller's tenant's policy. It is a preview:
// nothing is stored and nothing is refused.
func (s *Service) handleHAPCheck(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	if s.policy == nil {
		return &httpx.Error{Status: http.StatusNotImplemented, Code: "not_implemented", Message: "not implemented: this server runs without a content policy"}
	}
	var body HAPCheckRequest
	if err := httpx.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(body.Content) == "":
		return httpx.BadRequest("content", "must not be empty")
	case len(body.Content) > MaxDescription+MaxRequirements:
		return httpx.BadRequest("content", "is %d characters; the limit is %d", len(body.Content), MaxDescription+MaxRequirements)
	case body.TenantID != "" && body.TenantID != tid:
		// The earlier contract let the body name a tenant; here the key
		// decides, and another tenant's name looks like a missing one.
		return httpx.NotFound("tenant " + body.TenantID)
	}
	if body.Context == "" {
		body.Context = string(policy.UserRequest)
	}
	if !policy.ValidKind(body.Context) {
		return httpx.BadRequest("context", "%q is not one of user_request, agent_output, capsule_content, validation_input", body.Context)
	}
	tp, _, err := s.tenantContentPolicy(r.Context(), tid)
	if err != nil {
		return err
	}
	res, err := s.policy.Check(r.Context(), body.Content, policy.Kind(body.Context), tp)
	if err != nil {
		return httpx.Unavailable(err, "the content policy's moderation provider did not answer; try again")
	}
	s.policyMetrics.Observe("check", res.Result, res)
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

// ContentPolicyView is a tenant's content policy as the API shows it: its
// own lists and the server's settings around them.
type ContentPolicyView struct {
	Allow            []string        `json:"allow"`
	Deny             []string        `json:"deny"`
	Categories       []string        `json:"categories"`
	Enabled          bool            `json:"enabled"`
	RequestThreshold policy.Severity `json:"request_threshold"`
	OutputThreshold  policy.Severity `json:"output_threshold"`
	OutputAction     string          `json:"output_action"`
	Moderation       string          `json:"moderation"`
	UpdatedBy        string          `json:"updated_by,omitempty"`
	UpdatedAt        *time.Time      `json:"updated_at,omitempty"`
}

func (s *Service) contentPolicyView(p store.ContentPolicy) ContentPolicyView {
	v := ContentPolicyView{Allow: p.Allow, Deny: p.Deny, UpdatedBy: p.UpdatedBy}
	for _, c := range policy.Categories() {
		v.Categories = append(v.Categories, string(c))
	}
	if !p.UpdatedAt.IsZero() {
		t := p.UpdatedAt
		v.UpdatedAt = &t
	}
	if s.policy != nil {
		c := s.policy.Config()
		v.Enabled, v.RequestThreshold, v.OutputThreshold, v.OutputAction, v.Moderation = c.Enabled, c.RequestThreshold, c.OutputThreshold, c.OutputAction, c.Moderation
	}
	return v
}

// handleContentPolicy is GET /api/v2/content-policy.
func (s *Service) handleContentPolicy(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	_, p, err := s.tenantContentPolicy(r.Context(), tid)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, s.contentPolicyView(p))
	return nil
}

// ContentPolicyUpdate is the body of PUT /api/v2/content-policy: the
// tenant's whole allow and deny lists.
type ContentPolicyUpdate struct {
	Allow []string `json:"allow"`
	Deny  []string `json:"deny"`
}

// handleContentPolicyPut is PUT /api/v2/content-policy (administrators).
func (s *Service) handleContentPolicyPut(w http.ResponseWriter, r *http.Request) error {
	p, err := admin(r)
	if err != nil {
		return err
	}
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	var body ContentPolicyUpdate
	if err := httpx.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	for field, list := range map[string][]string{"allow": body.Allow, "deny": body.Deny} {
		for _, c := range list {
			if !policy.ValidCategory(c) {
				return httpx.BadRequest(field, "%q is not one of %s", c, policy.CategoryList())
			}
		}
	}
	for _, c := range body.Allow {
		if slices.Contains(body.Deny, c) {
			return httpx.BadRequest("deny", "%q is also in allow", c)
		}
	}
	if _, err := s.store.GetTenant(r.Context(), tid); errors.Is(err, store.ErrNotFound) {
		return httpx.NotFound("tenant " + tid)
	} else if err != nil {
		return fmt.Errorf("content policy of %s: %w", tid, err)
	}
	cp := store.ContentPolicy{TenantID: tid, Allow: dedupe(body.Allow), Deny: dedupe(body.Deny), UpdatedBy: p.KeyID, UpdatedAt: time.Now().UTC()}
	if err := s.store.PutContentPolicy(r.Context(), cp); err != nil {
		return err
	}
	s.logger.Info("content policy changed", "tenant", tid, "by", p.KeyID, "allow", cp.Allow, "deny", cp.Deny)
	httpx.WriteJSON(w, http.StatusOK, s.contentPolicyView(cp))
	return nil
}

func dedupe(xs []string) []string {
	out := []string{}
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// PolicyViolationView is one violation as GET
// /api/v2/content-policy/violations lists it.
type PolicyViolationView struct {
	ID            int64     `json:"id"`
	UserID        string    `json:"user_id,omitempty"`
	JobID         string    `json:"job_id,omitempty"`
	TaskID        string    `json:"task_id,omitempty"`
	Kind          string    `json:"kind"`
	Origin        string    `json:"origin"`
	Severity      string    `json:"severity"`
	Categories    []string  `json:"categories"`
	Action        string    `json:"action"`
	ContentSHA256 string    `json:"content_sha256"`
	Explanation   string    `json:"explanation"`
	CreatedAt     time.Time `json:"created_at"`
}

// handleViolations is GET /api/v2/content-policy/violations
// (administrators): the tenant's violations, newest first.
func (s *Service) handleViolations(w http.ResponseWriter, r *http.Request) error {
	if _, err := admin(r); err != nil {
		return err
	}
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	vs, err := s.store.ListPolicyViolations(r.Context(), tid, limit)
	if err != nil {
		return err
	}
	out := make([]PolicyViolationView, 0, len(vs))
	for _, v := range vs {
		out = append(out, PolicyViolationView{ID: v.ID, UserID: v.UserID, JobID: v.JobID, TaskID: v.TaskID, Kind: v.Kind, Origin: v.Origin,
			Severity: v.Severity, Categories: v.Categories, Action: v.Action, ContentSHA256: v.ContentSHA256, Explanation: v.Explanation, CreatedAt: v.CreatedAt})
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"violations": out})
	return nil
}
