package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// rollupColumns maps a grouping to its column.
var rollupColumns = map[string]string{
	GroupTenant:   "tenant_id",
	GroupJob:      "job_id",
	GroupTask:     "task_id",
	GroupAttempt:  "attempt",
	GroupTier:     "tier",
	GroupRole:     "role",
	GroupProvider: "provider",
	GroupModel:    "model",
}

// RollupUsage implements Store. The sums are computed by the database over
// the indexed time range; only the groups travel back.
func (s *SQL) RollupUsage(ctx context.Context, q RollupQuery) ([]UsageGroup, error) {
	var keys []string
	switch q.Period {
	case "":
	case PeriodDay:
		keys = append(keys, s.d.day("created_at"))
	case PeriodMonth:
		keys = append(keys, s.d.month("created_at"))
	default:
		return nil, fmt.Errorf("store: rollup usage: unknown period %q (want %s or %s)", q.Period, PeriodDay, PeriodMonth)
	}
	seen := map[string]bool{}
	for _, g := range q.By {
		col, ok := rollupColumns[g]
		if !ok {
			return nil, fmt.Errorf("store: rollup usage: unknown grouping %q", g)
		}
		if seen[g] {
			return nil, fmt.Errorf("store: rollup usage: grouping %q given twice", g)
		}
		seen[g] = true
		keys = append(keys, col)
	}
	where, args := s.usageWhere(q.Filter)
	sel := strings.Join(append(append([]string(nil), keys...), `COUNT(*)`,
		`COALESCE(SUM(CASE WHEN cached THEN 1 ELSE 0 END), 0)`,
		`COUNT(DISTINCT NULLIF(job_id, ''))`,
		`COUNT(DISTINCT CASE WHEN task_id <> '' THEN job_id || '/' || task_id END)`,
		`COALESCE(SUM(input_tokens), 0)`, `COALESCE(SUM(cached_input_tokens), 0)`,
		`COALESCE(SUM(output_tokens), 0)`, `COALESCE(SUM(cost_pusd), 0)`), ", ")
	query := "SELECT " + sel + " FROM llm_usage" + where
	if len(keys) > 0 {
		pos := make([]string, len(keys))
		for i := range keys {
			pos[i] = fmt.Sprint(i + 1)
		}
		query += " GROUP BY " + strings.Join(keys, ", ") + " ORDER BY " + strings.Join(pos, ", ")
	}
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: rollup usage: %w", err)
	}
	defer rows.Close()
	var out []UsageGroup
	for rows.Next() {
		var g UsageGroup
		dest := make([]any, 0, len(keys)+8)
		if q.Period != "" {
			dest = append(dest, &g.Period)
		}
		for _, by := range q.By {
			dest = append(dest, groupField(&g, by))
		}
		dest = append(dest, &g.Calls, &g.CachedCalls, &g.Jobs, &g.Tasks, &g.InputTokens, &g.CachedInputTokens, &g.OutputTokens, &g.CostPUSD)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("store: rollup usage: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: rollup usage: %w", err)
	}
	// A query without grouping always answers one row; with no usage, none.
	if len(keys) == 0 && len(out) == 1 && out[0].Calls == 0 {
		return nil, nil
	}
	return out, nil
}

func groupField(g *UsageGroup, by string) any {
	switch by {
	case GroupTenant:
		return &g.TenantID
	case GroupJob:
		return &g.JobID
	case GroupTask:
		return &g.TaskID
	case GroupAttempt:
		return &g.Attempt
	case GroupTier:
		return &g.Tier
	case GroupRole:
		return &g.Role
	case GroupProvider:
		return &g.Provider
	default:
		return &g.Model
	}
}

// GetBudget implements Store.
func (s *SQL) GetBudget(ctx context.Context, tenantID string) (Budget, error) {
	var b Budget
	var req, day, month sql.NullInt64
	var updated dbTime
	err := s.queryRow(ctx, `SELECT tenant_id, request_pusd, daily_pusd, monthly_pusd, policy, updated_by, updated_at
		FROM budgets WHERE tenant_id = ?`, tenantID).Scan(&b.TenantID, &req, &day, &month, &b.Policy, &b.UpdatedBy, &updated)
	if err != nil {
		return Budget{}, fmt.Errorf("store: get budget of %s: %w", tenantID, notFound(err))
	}
	b.RequestPUSD, b.DailyPUSD, b.MonthlyPUSD, b.UpdatedAt = nullInt(req), nullInt(day), nullInt(month), updated.T
	return b, nil
}

func nullInt(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	v := n.Int64
	return &v
}

func intArg(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// PutBudget implements Store.
func (s *SQL) PutBudget(ctx context.Context, b Budget) error {
	for name, v := range map[string]*int64{"request": b.RequestPUSD, "daily": b.DailyPUSD, "monthly": b.MonthlyPUSD} {
		if v != nil && *v < NoLimit {
			return fmt.Errorf("store: put budget of %s: %s limit %d is negative", b.TenantID, name, *v)
		}
	}
	if b.UpdatedAt.IsZero() {
		b.UpdatedAt = s.now()
	}
	_, err := s.exec(ctx, `INSERT INTO budgets (tenant_id, request_pusd, daily_pusd, monthly_pusd, policy, updated_by, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id) DO UPDATE SET request_pusd = excluded.request_pusd, daily_pusd = excluded.daily_pusd,
			monthly_pusd = excluded.monthly_pusd, policy = excluded.policy, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		b.TenantID, intArg(b.RequestPUSD), intArg(b.DailyPUSD), intArg(b.MonthlyPUSD), b.Policy, b.UpdatedBy, s.t(b.UpdatedAt))
	if err != nil {
		return fmt.Errorf("store: put budget of %s: %w", b.TenantID, err)
	}
	return nil
}

// RecordBudgetAlert implements Store.
func (s *SQL) RecordBudgetAlert(ctx context.Context, a BudgetAlert) (bool, error) {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.now()
	}
	res, err := s.exec(ctx, `INSERT INTO budget_alerts (scope, subject, period, percent, tenant_id, job_id, spent_pusd, limit_pusd, message, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scope, subject, period, percent) DO NOTHING`,
		a.Scope, a.Subject, a.Period, a.Percent, a.TenantID, a.JobID, a.SpentPUSD, a.LimitPUSD, a.Message, s.t(a.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("store: record budget alert %s/%s at %d%%: %w", a.Scope, a.Subject, a.Percent, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: record budget alert: %w", err)
	}
	return n == 1, nil
}

// ListBudgetAlerts implements Store.
func (s *SQL) ListBudgetAlerts(ctx context.Context, tenantID string, limit int) ([]BudgetAlert, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.query(ctx, `SELECT id, scope, subject, period, percent, tenant_id, job_id, spent_pusd, limit_pusd, message, created_at
		FROM budget_alerts WHERE tenant_id = ? ORDER BY id DESC LIMIT ?`, tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list budget alerts: %w", err)
	}
	defer rows.Close()
	var out []BudgetAlert
	for rows.Next() {
		var a BudgetAlert
		var created dbTime
		if err := rows.Scan(&a.ID, &a.Scope, &a.Subject, &a.Period, &a.Percent, &a.TenantID, &a.JobID, &a.SpentPUSD, &a.LimitPUSD, &a.Message, &created); err != nil {
			return nil, fmt.Errorf("store: list budget alerts: %w", err)
		}
		a.CreatedAt = created.T
		out = append(out, a)
	}
	return out, rows.Err()
}
