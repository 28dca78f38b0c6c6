package store

import (
	"context"
	"encoding/json"
	"fmt"
)

const deliveryRoundCols = `tenant_id, capsule_id, loop_id, round, version, forge, repo, pr_number, branch, sha, state, failing_runs, cost_pusd, error, created_at, updated_at`

// PutDeliveryRound implements Store.
func (s *SQL) PutDeliveryRound(ctx context.Context, r DeliveryRound) error {
	now := s.now()
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = now
	}
	runs, err := json.Marshal(nonNil(r.FailingRuns))
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `INSERT INTO delivery_rounds (`+deliveryRoundCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (loop_id, round) DO UPDATE SET version = excluded.version, sha = excluded.sha, state = excluded.state,
		failing_runs = excluded.failing_runs, cost_pusd = excluded.cost_pusd, error = excluded.error, updated_at = excluded.updated_at`,
		r.TenantID, r.CapsuleID, r.LoopID, r.Round, r.Version, r.Forge, r.Repo, r.PR, r.Branch, r.SHA, r.State, string(runs), r.CostPUSD, r.Error,
		s.t(r.CreatedAt), s.t(r.UpdatedAt))
	if err != nil {
		return fmt.Errorf("store: put delivery round %s#%d: %w", r.LoopID, r.Round, err)
	}
	return nil
}

// ListDeliveryRounds implements Store.
func (s *SQL) ListDeliveryRounds(ctx context.Context, tenantID, capsuleID string) ([]DeliveryRound, error) {
	q := `SELECT id, ` + deliveryRoundCols + ` FROM delivery_rounds WHERE capsule_id = ?`
	args := []any{capsuleID}
	if tenantID != "" {
		q += ` AND tenant_id = ?`
		args = append(args, tenantID)
	}
	return s.deliveryRounds(ctx, "of "+capsuleID, q+` ORDER BY id`, args...)
}

// PendingDeliveryRounds implements Store.
func (s *SQL) PendingDeliveryRounds(ctx context.Context, forge, repo, sha string) ([]DeliveryRound, error) {
	return s.deliveryRounds(ctx, "waiting on "+repo+"@"+sha, `SELECT id, `+deliveryRoundCols+` FROM delivery_rounds
		WHERE forge = ? AND repo = ? AND sha = ? AND state = 'pending' ORDER BY id`, forge, repo, sha)
}

func (s *SQL) deliveryRounds(ctx context.Context, what, q string, args ...any) ([]DeliveryRound, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: delivery rounds %s: %w", what, err)
	}
	defer rows.Close()
	var out []DeliveryRound
	for rows.Next() {
		var r DeliveryRound
		var runs []byte
		var created, updated dbTime
		if err := rows.Scan(&r.ID, &r.TenantID, &r.CapsuleID, &r.LoopID, &r.Round, &r.Version, &r.Forge, &r.Repo, &r.PR, &r.Branch, &r.SHA,
			&r.State, &runs, &r.CostPUSD, &r.Error, &created, &updated); err != nil {
			return nil, fmt.Errorf("store: delivery rounds %s: %w", what, err)
		}
		if err := json.Unmarshal(runs, &r.FailingRuns); err != nil {
			return nil, fmt.Errorf("store: delivery round %s#%d: failing runs: %w", r.LoopID, r.Round, err)
		}
		r.CreatedAt, r.UpdatedAt = created.T, updated.T
		out = append(out, r)
	}
	return out, rows.Err()
}
