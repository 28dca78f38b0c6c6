package store

import (
	"context"
	"fmt"
	"strings"
)

// RecordUsage implements Store.
func (s *SQL) RecordUsage(ctx context.Context, u Usage) error {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.now()
	}
	_, err := s.exec(ctx, `INSERT INTO llm_usage (tenant_id, job_id, task_id, attempt, tier, role, provider, model,
		input_tokens, cached_input_tokens, output_tokens, cost_pusd, cached, latency_ms, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.TenantID, u.JobID, u.TaskID, u.Attempt, u.Tier, u.Role, u.Provider, u.Model,
		u.InputTokens, u.CachedInputTokens, u.OutputTokens, u.CostPUSD, u.Cached, u.LatencyMS, s.t(u.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: record usage: %w", err)
	}
	return nil
}

func (s *SQL) usageWhere(f UsageFilter) (string, []any) {
	var conds []string
	var args []any
	if f.TenantID != "" {
		conds = append(conds, "tenant_id = ?")
		args = append(args, f.TenantID)
	}
	if f.JobID != "" {
		conds = append(conds, "job_id = ?")
		args = append(args, f.JobID)
	}
	if len(f.Providers) > 0 {
		conds = append(conds, "provider IN (?"+strings.Repeat(", ?", len(f.Providers)-1)+")")
		for _, p := range f.Providers {
			args = append(args, p)
		}
	}
	if !f.Since.IsZero() {
		conds = append(conds, "created_at >= ?")
		args = append(args, s.t(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "created_at < ?")
		args = append(args, s.t(f.Until))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListUsage implements Store, oldest first.
func (s *SQL) ListUsage(ctx context.Context, f UsageFilter) ([]Usage, error) {
	where, args := s.usageWhere(f)
	rows, err := s.query(ctx, `SELECT id, tenant_id, job_id, task_id, attempt, tier, role, provider, model,
		input_tokens, cached_input_tokens, output_tokens, cost_pusd, cached, latency_ms, created_at
		FROM llm_usage`+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list usage: %w", err)
	}
	defer rows.Close()
	var out []Usage
	for rows.Next() {
		var u Usage
		var created dbTime
		if err := rows.Scan(&u.ID, &u.TenantID, &u.JobID, &u.TaskID, &u.Attempt, &u.Tier, &u.Role, &u.Provider, &u.Model,
			&u.InputTokens, &u.CachedInputTokens, &u.OutputTokens, &u.CostPUSD, &u.Cached, &u.LatencyMS, &created); err != nil {
			return nil, fmt.Errorf("store: list usage: %w", err)
		}
		u.CreatedAt = created.T
		out = append(out, u)
	}
	return out, rows.Err()
}

// SumUsage implements Store.
func (s *SQL) SumUsage(ctx context.Context, f UsageFilter) (UsageTotals, error) {
	where, args := s.usageWhere(f)
	var t UsageTotals
	err := s.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(cached_input_tokens), 0),
		COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cost_pusd), 0) FROM llm_usage`+where, args...).
		Scan(&t.Calls, &t.InputTokens, &t.CachedInputTokens, &t.OutputTokens, &t.CostPUSD)
	if err != nil {
		return UsageTotals{}, fmt.Errorf("store: sum usage: %w", err)
	}
	return t, nil
}

// AppendEvent implements Store.
func (s *SQL) AppendEvent(ctx context.Context, e Event) (Event, error) {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	data := rawOr(e.Data, "{}")
	err := s.w.QueryRowContext(ctx, s.d.rebind(`INSERT INTO progress_events (job_id, tenant_id, type, task_id, message, data, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`), e.JobID, e.TenantID, e.Type, e.TaskID, e.Message, data, s.t(e.CreatedAt)).Scan(&e.ID)
	if err != nil {
		return Event{}, fmt.Errorf("store: append event to job %s: %w", e.JobID, err)
	}
	return e, nil
}

// ListEvents implements Store.
func (s *SQL) ListEvents(ctx context.Context, jobID string, afterID int64, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.query(ctx, `SELECT id, job_id, tenant_id, type, task_id, message, data, created_at FROM progress_events
		WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?`, jobID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list events of %s: %w", jobID, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var data []byte
		var created dbTime
		if err := rows.Scan(&e.ID, &e.JobID, &e.TenantID, &e.Type, &e.TaskID, &e.Message, &data, &created); err != nil {
			return nil, fmt.Errorf("store: list events of %s: %w", jobID, err)
		}
		e.Data, e.CreatedAt = data, created.T
		out = append(out, e)
	}
	return out, rows.Err()
}
