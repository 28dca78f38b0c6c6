package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

const jobCols = `id, request_id, tenant_id, user_id, workflow_id, description, requirements, language, framework,
	tier_override, mode, constraints, metadata, project, idempotency_key, status, error, capsule_id,
	tasks_total, tasks_done, created_at, updated_at, started_at, completed_at`

func scanJob(sc interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var constraints, metadata, project []byte
	var idem sql.NullString
	var created, updated, started, completed dbTime
	err := sc.Scan(&j.ID, &j.RequestID, &j.TenantID, &j.UserID, &j.WorkflowID, &j.Description, &j.Requirements, &j.Language, &j.Framework,
		&j.TierOverride, &j.Mode, &constraints, &metadata, &project, &idem, &j.Status, &j.Error, &j.CapsuleID,
		&j.TasksTotal, &j.TasksDone, &created, &updated, &started, &completed)
	if err != nil {
		return Job{}, err
	}
	j.Constraints, j.Metadata, j.Project = json.RawMessage(constraints), json.RawMessage(metadata), json.RawMessage(project)
	j.IdempotencyKey = idem.String
	j.CreatedAt, j.UpdatedAt, j.StartedAt, j.CompletedAt = created.T, updated.T, started.ptr(), completed.ptr()
	return j, nil
}

func rawOr(b json.RawMessage, def string) string {
	if len(b) == 0 {
		return def
	}
	return string(b)
}

// prepareJob fills a new job's defaults.
func (s *SQL) prepareJob(j Job) Job {
	now := s.now()
	if j.CreatedAt.IsZero() {
		j.CreatedAt = now
	}
	j.UpdatedAt = j.CreatedAt
	if j.Status == "" {
		j.Status = JobQueued
	}
	if j.RequestID == "" {
		j.RequestID = j.ID
	}
	return j
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

func (s *SQL) insertJob(ctx context.Context, ex execer, j Job) error {
	var idem any
	if j.IdempotencyKey != "" {
		idem = j.IdempotencyKey
	}
	_, err := ex.ExecContext(ctx, s.d.rebind(`INSERT INTO jobs (`+jobCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		j.ID, j.RequestID, j.TenantID, j.UserID, j.WorkflowID, j.Description, j.Requirements, j.Language, j.Framework,
		j.TierOverride, j.Mode, rawOr(j.Constraints, "{}"), rawOr(j.Metadata, "{}"), rawOr(j.Project, "{}"), idem, string(j.Status), j.Error, j.CapsuleID,
		j.TasksTotal, j.TasksDone, s.t(j.CreatedAt), s.t(j.UpdatedAt), s.tp(j.StartedAt), s.tp(j.CompletedAt))
	return err
}

// idempotentJob returns the tenant's job with j's idempotency key.
func (s *SQL) idempotentJob(ctx context.Context, j Job) (Job, error) {
	return scanJob(s.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE tenant_id = ? AND idempotency_key = ?`, j.TenantID, j.IdempotencyKey))
}

// created answers CreateJob after the insert of j ended with err.
func (s *SQL) created(ctx context.Context, j Job, err error) (Job, bool, error) {
	if err != nil {
		if s.d.isUnique(err) && j.IdempotencyKey != "" {
			existing, gerr := s.idempotentJob(ctx, j)
			if gerr == nil {
				return existing, false, nil
			}
			if !errors.Is(gerr, sql.ErrNoRows) {
				return Job{}, false, fmt.Errorf("store: create job: read idempotent job: %w", gerr)
			}
		}
		if s.d.isUnique(err) {
			return Job{}, false, fmt.Errorf("store: create job %s (request %s): %w", j.ID, j.RequestID, ErrConflict)
		}
		return Job{}, false, fmt.Errorf("store: create job %s (request %s): %w", j.ID, j.RequestID, err)
	}
	created, err := s.GetJob(ctx, j.TenantID, j.ID)
	return created, true, err
}

// CreateJob implements Store.
func (s *SQL) CreateJob(ctx context.Context, j Job) (Job, bool, error) {
	j = s.prepareJob(j)
	return s.created(ctx, j, s.insertJob(ctx, s.w, j))
}

// CreateJobWithin implements Store. On PostgreSQL a transaction-scoped
// advisory lock on the tenant serialises the count and the insert between
// replicas; SQLite's transactions take the write lock at BEGIN.
func (s *SQL) CreateJobWithin(ctx context.Context, j Job, maxActive int) (Job, bool, error) {
	if maxActive <= 0 {
		return s.CreateJob(ctx, j)
	}
	j = s.prepareJob(j)
	if j.IdempotencyKey != "" {
		existing, err := s.idempotentJob(ctx, j)
		if err == nil {
			return existing, false, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return Job{}, false, fmt.Errorf("store: create job: read idempotent job: %w", err)
		}
	}
	var limit *ActiveJobsError
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.d.name() == "postgres" {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7370191, hashtext($1))`, j.TenantID); err != nil {
				return fmt.Errorf("lock the tenant's jobs: %w", err)
			}
		}
		var active int
		if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM jobs WHERE tenant_id = ? AND status IN (?, ?)`),
			j.TenantID, string(JobQueued), string(JobRunning)).Scan(&active); err != nil {
			return fmt.Errorf("count the tenant's jobs in progress: %w", err)
		}
		if active >= maxActive {
			limit = &ActiveJobsError{Active: active, Max: maxActive}
			return limit
		}
		return s.insertJob(ctx, tx, j)
	})
	if limit != nil {
		return Job{}, false, fmt.Errorf("store: create job %s: %w", j.ID, limit)
	}
	return s.created(ctx, j, err)
}

// GetJob implements Store.
func (s *SQL) GetJob(ctx context.Context, tenantID, id string) (Job, error) {
	q := `SELECT ` + jobCols + ` FROM jobs WHERE id = ?`
	args := []any{id}
	if tenantID != "" {
		q += ` AND tenant_id = ?`
		args = append(args, tenantID)
	}
	j, err := scanJob(s.queryRow(ctx, q, args...))
	if err != nil {
		return Job{}, fmt.Errorf("store: get job %s: %w", id, notFound(err))
	}
	return j, nil
}

// FindJob implements Store.
func (s *SQL) FindJob(ctx context.Context, tenantID, workflowID, requestID string) (Job, error) {
	if tenantID == "" {
		return Job{}, fmt.Errorf("store: find job %s: a tenant is required", requestID)
	}
	j, err := scanJob(s.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE tenant_id = ? AND (workflow_id = ? OR request_id = ?)
		ORDER BY CASE WHEN workflow_id = ? THEN 0 ELSE 1 END LIMIT 1`, tenantID, workflowID, requestID, workflowID))
	if err != nil {
		return Job{}, fmt.Errorf("store: find job %s: %w", requestID, notFound(err))
	}
	return j, nil
}

// ListJobs implements Store, newest first.
func (s *SQL) ListJobs(ctx context.Context, tenantID string, limit, offset int) ([]Job, error) {
	rows, err := s.query(ctx, `SELECT `+jobCols+` FROM jobs WHERE tenant_id = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
		tenantID, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("store: list jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// setter accumulates "col = ?" pairs for partial updates.
type setter struct {
	cols []string
	args []any
}

func (u *setter) add(col string, v any) {
	u.cols = append(u.cols, col+" = ?")
	u.args = append(u.args, v)
}

// UpdateJob implements Store.
func (s *SQL) UpdateJob(ctx context.Context, id string, u JobUpdate) error {
	var st setter
	if u.Status != nil {
		st.add("status", string(*u.Status))
	}
	if u.Error != nil {
		st.add("error", *u.Error)
	}
	if u.CapsuleID != nil {
		st.add("capsule_id", *u.CapsuleID)
	}
	if u.Project != nil {
		st.add("project", rawOr(*u.Project, "{}"))
	}
	if u.TasksTotal != nil {
		st.add("tasks_total", *u.TasksTotal)
	}
	if u.TasksDone != nil {
		st.add("tasks_done", *u.TasksDone)
	}
	if u.StartedAt != nil {
		st.add("started_at", s.t(*u.StartedAt))
	}
	if u.CompletedAt != nil {
		st.add("completed_at", s.t(*u.CompletedAt))
	}
	st.add("updated_at", s.t(s.now()))
	res, err := s.exec(ctx, `UPDATE jobs SET `+strings.Join(st.cols, ", ")+` WHERE id = ?`, append(st.args, id)...)
	if err != nil {
		return fmt.Errorf("store: update job %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: update job %s: %w", id, ErrNotFound)
	}
	return nil
}

const taskCols = `job_id, id, seq, type, description, complexity, dependencies, status, tier, tier_reason, model,
	attempts, error, summary, files, input_tokens, output_tokens, cost_pusd, started_at, completed_at`

func scanTask(sc interface{ Scan(...any) error }) (Task, error) {
	var t Task
	var deps, files []byte
	var started, completed dbTime
	err := sc.Scan(&t.JobID, &t.ID, &t.Seq, &t.Type, &t.Description, &t.Complexity, &deps, &t.Status, &t.Tier, &t.TierReason, &t.Model,
		&t.Attempts, &t.Error, &t.Summary, &files, &t.InputTokens, &t.OutputTokens, &t.CostPUSD, &started, &completed)
	if err != nil {
		return Task{}, err
	}
	if err := json.Unmarshal(deps, &t.Dependencies); err != nil {
		return Task{}, fmt.Errorf("task %s dependencies: %w", t.ID, err)
	}
	if err := json.Unmarshal(files, &t.Files); err != nil {
		return Task{}, fmt.Errorf("task %s files: %w", t.ID, err)
	}
	t.StartedAt, t.CompletedAt = started.ptr(), completed.ptr()
	return t, nil
}

// PutTasks implements Store.
func (s *SQL) PutTasks(ctx context.Context, jobID string, tasks []Task) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.d.rebind(`DELETE FROM tasks WHERE job_id = ?`), jobID); err != nil {
			return err
		}
		ins := s.d.rebind(`INSERT INTO tasks (` + taskCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		for i, t := range tasks {
			deps, _ := json.Marshal(nonNil(t.Dependencies))
			files, _ := json.Marshal(nonNil(t.Files))
			if t.Status == "" {
				t.Status = TaskPending
			}
			if t.Seq == 0 {
				t.Seq = i + 1
			}
			if _, err := tx.ExecContext(ctx, ins, jobID, t.ID, t.Seq, t.Type, t.Description, t.Complexity, string(deps), string(t.Status),
				t.Tier, t.TierReason, t.Model, t.Attempts, t.Error, t.Summary, string(files), t.InputTokens, t.OutputTokens, t.CostPUSD,
				s.tp(t.StartedAt), s.tp(t.CompletedAt)); err != nil {
				return fmt.Errorf("task %s: %w", t.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: put tasks of job %s: %w", jobID, err)
	}
	return nil
}

// GetTask implements Store.
func (s *SQL) GetTask(ctx context.Context, jobID, taskID string) (Task, error) {
	t, err := scanTask(s.queryRow(ctx, `SELECT `+taskCols+` FROM tasks WHERE job_id = ? AND id = ?`, jobID, taskID))
	if err != nil {
		return Task{}, fmt.Errorf("store: get task %s/%s: %w", jobID, taskID, notFound(err))
	}
	return t, nil
}

// ListTasks implements Store, in decomposition order.
func (s *SQL) ListTasks(ctx context.Context, jobID string) ([]Task, error) {
	rows, err := s.query(ctx, `SELECT `+taskCols+` FROM tasks WHERE job_id = ? ORDER BY seq, id`, jobID)
	if err != nil {
		return nil, fmt.Errorf("store: list tasks of %s: %w", jobID, err)
	}
	defer rows.Close()
	var out []Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list tasks of %s: %w", jobID, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// UpdateTask implements Store.
func (s *SQL) UpdateTask(ctx context.Context, jobID, taskID string, u TaskUpdate) error {
	var st setter
	if u.Status != nil {
		st.add("status", string(*u.Status))
	}
	if u.Tier != nil {
		st.add("tier", *u.Tier)
	}
	if u.TierReason != nil {
		st.add("tier_reason", *u.TierReason)
	}
	if u.Model != nil {
		st.add("model", *u.Model)
	}
	if u.Attempts != nil {
		st.add("attempts", *u.Attempts)
	}
	if u.Error != nil {
		st.add("error", *u.Error)
	}
	if u.Summary != nil {
		st.add("summary", *u.Summary)
	}
	if u.Files != nil {
		b, err := json.Marshal(nonNil(*u.Files))
		if err != nil {
			return err
		}
		st.add("files", string(b))
	}
	if u.InputTokens != nil {
		st.add("input_tokens", *u.InputTokens)
	}
	if u.OutputTokens != nil {
		st.add("output_tokens", *u.OutputTokens)
	}
	if u.CostPUSD != nil {
		st.add("cost_pusd", *u.CostPUSD)
	}
	if u.StartedAt != nil {
		st.add("started_at", s.t(*u.StartedAt))
	}
	if u.CompletedAt != nil {
		st.add("completed_at", s.t(*u.CompletedAt))
	}
	if len(st.cols) == 0 {
		return nil
	}
	res, err := s.exec(ctx, `UPDATE tasks SET `+strings.Join(st.cols, ", ")+` WHERE job_id = ? AND id = ?`, append(st.args, jobID, taskID)...)
	if err != nil {
		return fmt.Errorf("store: update task %s/%s: %w", jobID, taskID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: update task %s/%s: %w", jobID, taskID, ErrNotFound)
	}
	return nil
}
