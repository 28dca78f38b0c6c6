package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ContentPolicy is a tenant's own content policy: the categories it allows
// (their findings never block) and denies (any finding blocks). Category
// names are checked by internal/policy, which owns them.
type ContentPolicy struct {
	TenantID  string
	Allow     []string
	Deny      []string
	UpdatedBy string // the key id that set it
	UpdatedAt time.Time
}

// PolicyViolation records one text the content policy blocked or flagged
// for review. The text itself is not kept, only its SHA-256.
type PolicyViolation struct {
	ID       int64
	TenantID string
	UserID   string
	JobID    string // empty for a refused request, which has no job
	TaskID   string
	// Kind is what was checked: user_request, agent_output, ….
	Kind string
	// Origin is where: "request" (a submitted job), "check" (POST
	// /api/v2/hap/check) or "output" (a generated file).
	Origin     string
	Severity   string
	Categories []string
	// Action is what the platform did: refused, failed, review.
	Action        string
	ContentSHA256 string
	Explanation   string
	CreatedAt     time.Time
}

// Policies is the part of the store the content policy uses.
type Policies interface {
	// GetContentPolicy returns a tenant's own content policy; a tenant that
	// never set one gets empty lists (not ErrNotFound).
	GetContentPolicy(ctx context.Context, tenantID string) (ContentPolicy, error)
	// PutContentPolicy creates or replaces a tenant's content policy.
	PutContentPolicy(ctx context.Context, p ContentPolicy) error
	// RecordPolicyViolation appends v and returns it with its id.
	RecordPolicyViolation(ctx context.Context, v PolicyViolation) (PolicyViolation, error)
	// ListPolicyViolations returns a tenant's violations, newest first.
	ListPolicyViolations(ctx context.Context, tenantID string, limit int) ([]PolicyViolation, error)
}

func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func joinList(xs []string) (string, error) {
	for _, x := range xs {
		if x == "" || strings.Contains(x, ",") {
			return "", fmt.Errorf("%q is not a category name", x)
		}
	}
	return strings.Join(xs, ","), nil
}

// GetContentPolicy implements Policies.
func (s *SQL) GetContentPolicy(ctx context.Context, tenantID string) (ContentPolicy, error) {
	p := ContentPolicy{TenantID: tenantID, Allow: []string{}, Deny: []string{}}
	var allow, deny string
	var updated dbTime
	err := s.queryRow(ctx, `SELECT allow, deny, updated_by, updated_at FROM content_policies WHERE tenant_id = ?`, tenantID).
		Scan(&allow, &deny, &p.UpdatedBy, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return ContentPolicy{}, fmt.Errorf("store: get content policy of %s: %w", tenantID, err)
	}
	p.Allow, p.Deny, p.UpdatedAt = splitList(allow), splitList(deny), updated.T
	return p, nil
}

// PutContentPolicy implements Policies.
func (s *SQL) PutContentPolicy(ctx context.Context, p ContentPolicy) error {
	allow, err := joinList(p.Allow)
	if err != nil {
		return fmt.Errorf("store: put content policy of %s: allow: %w", p.TenantID, err)
	}
	deny, err := joinList(p.Deny)
	if err != nil {
		return fmt.Errorf("store: put content policy of %s: deny: %w", p.TenantID, err)
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = s.now()
	}
	_, err = s.exec(ctx, `INSERT INTO content_policies (tenant_id, allow, deny, updated_by, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id) DO UPDATE SET allow = excluded.allow, deny = excluded.deny, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		p.TenantID, allow, deny, p.UpdatedBy, s.t(p.UpdatedAt))
	if err != nil {
		return fmt.Errorf("store: put content policy of %s: %w", p.TenantID, err)
	}
	return nil
}

// RecordPolicyViolation implements Policies.
func (s *SQL) RecordPolicyViolation(ctx context.Context, v PolicyViolation) (PolicyViolation, error) {
	if v.TenantID == "" || v.Kind == "" || v.Origin == "" || v.Severity == "" || v.Action == "" || v.ContentSHA256 == "" {
		return PolicyViolation{}, fmt.Errorf("store: record policy violation: tenant, kind, origin, severity, action and digest are required")
	}
	cats, err := joinList(v.Categories)
	if err != nil {
		return PolicyViolation{}, fmt.Errorf("store: record policy violation: %w", err)
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = s.now()
	}
	// The write connection: an insert must not go to a read replica.
	err = s.w.QueryRowContext(ctx, s.d.rebind(`INSERT INTO policy_violations (tenant_id, user_id, job_id, task_id, kind, origin, severity, categories, action, content_sha256, explanation, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		v.TenantID, v.UserID, v.JobID, v.TaskID, v.Kind, v.Origin, v.Severity, cats, v.Action, v.ContentSHA256, v.Explanation, s.t(v.CreatedAt)).Scan(&v.ID)
	if err != nil {
		return PolicyViolation{}, fmt.Errorf("store: record policy violation of %s: %w", v.TenantID, err)
	}
	return v, nil
}

// ListPolicyViolations implements Policies.
func (s *SQL) ListPolicyViolations(ctx context.Context, tenantID string, limit int) ([]PolicyViolation, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.query(ctx, `SELECT id, tenant_id, user_id, job_id, task_id, kind, origin, severity, categories, action, content_sha256, explanation, created_at
		FROM policy_violations WHERE tenant_id = ? ORDER BY id DESC LIMIT ?`, tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list policy violations of %s: %w", tenantID, err)
	}
	defer rows.Close()
	out := []PolicyViolation{}
	for rows.Next() {
		var v PolicyViolation
		var cats string
		var created dbTime
		if err := rows.Scan(&v.ID, &v.TenantID, &v.UserID, &v.JobID, &v.TaskID, &v.Kind, &v.Origin, &v.Severity, &cats, &v.Action, &v.ContentSHA256, &v.Explanation, &created); err != nil {
			return nil, fmt.Errorf("store: list policy violations of %s: %w", tenantID, err)
		}
		v.Categories, v.CreatedAt = splitList(cats), created.T
		out = append(out, v)
	}
	return out, rows.Err()
}
