package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

var _ Loop = (*SQL)(nil)

const attemptCols = `job_id, task_id, attempt, phase, role, prompt_version, tier, model, input_tokens, output_tokens, cost_pusd, status,
	validation_status, confidence, failures, fingerprint, comment, summary, files, deleted, created_at, updated_at`

// PutAttempt implements Loop.
func (s *SQL) PutAttempt(ctx context.Context, a Attempt) error {
	now := s.now()
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	files, err := json.Marshal(nonNil(a.Files))
	if err != nil {
		return err
	}
	deleted, err := json.Marshal(nonNil(a.Deleted))
	if err != nil {
		return err
	}
	var conf any
	if a.Confidence != nil {
		conf = *a.Confidence
	}
	if a.Phase == "" {
		a.Phase = PhaseTask
	}
	_, err = s.exec(ctx, `INSERT INTO task_attempts (`+attemptCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (job_id, task_id, attempt) DO UPDATE SET phase = excluded.phase, role = excluded.role, prompt_version = excluded.prompt_version,
		tier = excluded.tier, model = excluded.model, input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
		cost_pusd = excluded.cost_pusd, status = excluded.status, validation_status = excluded.validation_status,
		confidence = excluded.confidence, failures = excluded.failures, fingerprint = excluded.fingerprint, comment = excluded.comment,
		summary = excluded.summary, files = excluded.files, deleted = excluded.deleted, updated_at = excluded.updated_at`,
		a.JobID, a.TaskID, a.Attempt, a.Phase, a.Role, a.PromptVersion, a.Tier, a.Model, a.InputTokens, a.OutputTokens, a.CostPUSD, a.Status,
		a.ValidationStatus, conf, a.Failures, a.Fingerprint, a.Comment, a.Summary, string(files), string(deleted), s.t(a.CreatedAt), s.t(now))
	if err != nil {
		return fmt.Errorf("store: put attempt %s/%s#%d: %w", a.JobID, a.TaskID, a.Attempt, err)
	}
	return nil
}

func scanAttempt(sc interface{ Scan(...any) error }) (Attempt, error) {
	var a Attempt
	var conf sql.NullFloat64
	var files, deleted []byte
	var created, updated dbTime
	if err := sc.Scan(&a.JobID, &a.TaskID, &a.Attempt, &a.Phase, &a.Role, &a.PromptVersion, &a.Tier, &a.Model, &a.InputTokens, &a.OutputTokens,
		&a.CostPUSD, &a.Status, &a.ValidationStatus, &conf, &a.Failures, &a.Fingerprint, &a.Comment, &a.Summary, &files, &deleted, &created, &updated); err != nil {
		return Attempt{}, err
	}
	if conf.Valid {
		v := conf.Float64
		a.Confidence = &v
	}
	if err := json.Unmarshal(files, &a.Files); err != nil {
		return Attempt{}, fmt.Errorf("attempt files: %w", err)
	}
	if err := json.Unmarshal(deleted, &a.Deleted); err != nil {
		return Attempt{}, fmt.Errorf("attempt deleted files: %w", err)
	}
	if len(a.Deleted) == 0 {
		a.Deleted = nil
	}
	a.CreatedAt, a.UpdatedAt = created.T, updated.T
	return a, nil
}

// ListAttempts implements Loop.
func (s *SQL) ListAttempts(ctx context.Context, jobID, taskID string) ([]Attempt, error) {
	q := `SELECT ` + attemptCols + ` FROM task_attempts WHERE job_id = ?`
	args := []any{jobID}
	if taskID != "" {
		q += ` AND task_id = ?`
		args = append(args, taskID)
	}
	rows, err := s.query(ctx, q+` ORDER BY task_id, attempt`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list attempts of %s: %w", jobID, err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list attempts of %s: %w", jobID, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// GetAttempt implements Loop.
func (s *SQL) GetAttempt(ctx context.Context, jobID, taskID string, attempt int) (Attempt, error) {
	a, err := scanAttempt(s.queryRow(ctx, `SELECT `+attemptCols+` FROM task_attempts WHERE job_id = ? AND task_id = ? AND attempt = ?`,
		jobID, taskID, attempt))
	if err != nil {
		return Attempt{}, fmt.Errorf("store: attempt %s/%s#%d: %w", jobID, taskID, attempt, notFound(err))
	}
	return a, nil
}

const capsuleCheckCols = `job_id, round, status, summary, digest, findings, routes, report, created_at`

// PutCapsuleCheck implements Loop.
func (s *SQL) PutCapsuleCheck(ctx context.Context, c CapsuleCheck) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now()
	}
	findings, err := json.Marshal(nonNil(c.Findings))
	if err != nil {
		return err
	}
	routes, err := json.Marshal(nonNil(c.Routes))
	if err != nil {
		return err
	}
	report := string(c.Report)
	if report == "" {
		report = "{}"
	}
	_, err = s.exec(ctx, `INSERT INTO capsule_checks (`+capsuleCheckCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (job_id, round) DO UPDATE SET status = excluded.status, summary = excluded.summary, digest = excluded.digest,
		findings = excluded.findings, routes = excluded.routes, report = excluded.report`,
		c.JobID, c.Round, c.Status, c.Summary, c.Digest, string(findings), string(routes), report, s.t(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: put capsule check %s#%d: %w", c.JobID, c.Round, err)
	}
	return nil
}

func scanCapsuleCheck(sc interface{ Scan(...any) error }) (CapsuleCheck, error) {
	var c CapsuleCheck
	var findings, routes, report []byte
	var created dbTime
	if err := sc.Scan(&c.JobID, &c.Round, &c.Status, &c.Summary, &c.Digest, &findings, &routes, &report, &created); err != nil {
		return CapsuleCheck{}, err
	}
	if err := json.Unmarshal(findings, &c.Findings); err != nil {
		return CapsuleCheck{}, fmt.Errorf("capsule check findings: %w", err)
	}
	if err := json.Unmarshal(routes, &c.Routes); err != nil {
		return CapsuleCheck{}, fmt.Errorf("capsule check routes: %w", err)
	}
	c.Report = json.RawMessage(report)
	c.CreatedAt = created.T
	return c, nil
}

// GetCapsuleCheck implements Loop.
func (s *SQL) GetCapsuleCheck(ctx context.Context, jobID string, round int) (CapsuleCheck, error) {
	c, err := scanCapsuleCheck(s.queryRow(ctx, `SELECT `+capsuleCheckCols+` FROM capsule_checks WHERE job_id = ? AND round = ?`, jobID, round))
	if err != nil {
		return CapsuleCheck{}, fmt.Errorf("store: capsule check %s#%d: %w", jobID, round, notFound(err))
	}
	return c, nil
}

// LatestCapsuleCheck implements Loop.
func (s *SQL) LatestCapsuleCheck(ctx context.Context, jobID string) (CapsuleCheck, error) {
	c, err := scanCapsuleCheck(s.queryRow(ctx, `SELECT `+capsuleCheckCols+` FROM capsule_checks WHERE job_id = ? ORDER BY round DESC LIMIT 1`, jobID))
	if err != nil {
		return CapsuleCheck{}, fmt.Errorf("store: capsule check of %s: %w", jobID, notFound(err))
	}
	return c, nil
}

const reviewCols = `id, tenant_id, job_id, task_id, attempt, status, confidence, reasons, summary, comment, decided_by, timeout_policy,
	created_at, timeout_at, decided_at`

// CreateReview implements Loop.
func (s *SQL) CreateReview(ctx context.Context, r Review) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	if r.Status == "" {
		r.Status = ReviewPending
	}
	reasons, err := json.Marshal(nonNil(r.Reasons))
	if err != nil {
		return err
	}
	var conf any
	if r.Confidence != nil {
		conf = *r.Confidence
	}
	_, err = s.exec(ctx, `INSERT INTO reviews (`+reviewCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.TenantID, r.JobID, r.TaskID, r.Attempt, r.Status, conf, string(reasons), r.Summary, r.Comment, r.DecidedBy, r.TimeoutPolicy,
		s.t(r.CreatedAt), s.tp(r.TimeoutAt), s.tp(r.DecidedAt))
	if err != nil {
		if s.d.isUnique(err) {
			return fmt.Errorf("store: create review %s: %w", r.ID, ErrConflict)
		}
		return fmt.Errorf("store: create review %s: %w", r.ID, err)
	}
	return nil
}

func scanReview(sc interface{ Scan(...any) error }) (Review, error) {
	var r Review
	var conf sql.NullFloat64
	var reasons []byte
	var created, timeout, decided dbTime
	if err := sc.Scan(&r.ID, &r.TenantID, &r.JobID, &r.TaskID, &r.Attempt, &r.Status, &conf, &reasons, &r.Summary, &r.Comment,
		&r.DecidedBy, &r.TimeoutPolicy, &created, &timeout, &decided); err != nil {
		return Review{}, err
	}
	if conf.Valid {
		v := conf.Float64
		r.Confidence = &v
	}
	if err := json.Unmarshal(reasons, &r.Reasons); err != nil {
		return Review{}, fmt.Errorf("review reasons: %w", err)
	}
	r.CreatedAt, r.TimeoutAt, r.DecidedAt = created.T, timeout.ptr(), decided.ptr()
	return r, nil
}

// GetReview implements Loop.
func (s *SQL) GetReview(ctx context.Context, tenantID, id string) (Review, error) {
	q := `SELECT ` + reviewCols + ` FROM reviews WHERE id = ?`
	args := []any{id}
	if tenantID != "" {
		q += ` AND tenant_id = ?`
		args = append(args, tenantID)
	}
	r, err := scanReview(s.queryRow(ctx, q, args...))
	if err != nil {
		return Review{}, fmt.Errorf("store: review %s: %w", id, notFound(err))
	}
	return r, nil
}

// ListReviews implements Loop.
func (s *SQL) ListReviews(ctx context.Context, tenantID, status string) ([]Review, error) {
	q := `SELECT ` + reviewCols + ` FROM reviews WHERE tenant_id = ?`
	args := []any{tenantID}
	if status != "" {
		q += ` AND status = ?`
		args = append(args, status)
	}
	rows, err := s.query(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list reviews: %w", err)
	}
	defer rows.Close()
	var out []Review
	for rows.Next() {
		r, err := scanReview(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list reviews: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DecideReview implements Loop.
func (s *SQL) DecideReview(ctx context.Context, id, status, comment, decidedBy string, at time.Time) error {
	res, err := s.exec(ctx, `UPDATE reviews SET status = ?, comment = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = ?`,
		status, comment, decidedBy, s.t(at), id, ReviewPending)
	if err != nil {
		return fmt.Errorf("store: decide review %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.GetReview(ctx, "", id); err != nil {
			return err
		}
		return fmt.Errorf("store: review %s is no longer pending: %w", id, ErrConflict)
	}
	return nil
}
