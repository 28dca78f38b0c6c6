package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/vocab"
)

// GetReviewPolicy implements Store.
func (s *SQL) GetReviewPolicy(ctx context.Context, tenantID string) (ReviewPolicy, error) {
	p := ReviewPolicy{TenantID: tenantID}
	var threshold sql.NullFloat64
	var timeout sql.NullInt64
	var onTimeout sql.NullString
	var aitl sql.NullBool
	var updated dbTime
	err := s.queryRow(ctx, `SELECT threshold, timeout_seconds, on_timeout, aitl, updated_by, updated_at
		FROM review_policies WHERE tenant_id = ?`, tenantID).Scan(&threshold, &timeout, &onTimeout, &aitl, &p.UpdatedBy, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return ReviewPolicy{}, fmt.Errorf("store: get review policy of %s: %w", tenantID, err)
	}
	if threshold.Valid {
		v := threshold.Float64
		p.Threshold = &v
	}
	if timeout.Valid {
		v := time.Duration(timeout.Int64) * time.Second
		p.Timeout = &v
	}
	if onTimeout.Valid {
		v := onTimeout.String
		p.OnTimeout = &v
	}
	if aitl.Valid {
		v := aitl.Bool
		p.AITL = &v
	}
	p.UpdatedAt = updated.T
	return p, nil
}

// PutReviewPolicy implements Store.
func (s *SQL) PutReviewPolicy(ctx context.Context, p ReviewPolicy) error {
	var threshold, timeout, onTimeout, aitl any
	if p.Threshold != nil {
		if v := *p.Threshold; !(v >= 0 && v <= 1) {
			return fmt.Errorf("store: put review policy of %s: threshold %v is outside 0..1", p.TenantID, v)
		}
		threshold = *p.Threshold
	}
	if p.Timeout != nil {
		if d := *p.Timeout; d < time.Second || d%time.Second != 0 {
			return fmt.Errorf("store: put review policy of %s: timeout %v is not a positive number of whole seconds", p.TenantID, d)
		}
		timeout = int64(*p.Timeout / time.Second)
	}
	if p.OnTimeout != nil {
		if !vocab.ValidOnTimeout(*p.OnTimeout) {
			return fmt.Errorf("store: put review policy of %s: on_timeout %q is not one of %s", p.TenantID, *p.OnTimeout, strings.Join(vocab.OnTimeoutPolicies(), ", "))
		}
		onTimeout = *p.OnTimeout
	}
	if p.AITL != nil {
		aitl = *p.AITL
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = s.now()
	}
	_, err := s.exec(ctx, `INSERT INTO review_policies (tenant_id, threshold, timeout_seconds, on_timeout, aitl, updated_by, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id) DO UPDATE SET threshold = excluded.threshold, timeout_seconds = excluded.timeout_seconds,
			on_timeout = excluded.on_timeout, aitl = excluded.aitl, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		p.TenantID, threshold, timeout, onTimeout, aitl, p.UpdatedBy, s.t(p.UpdatedAt))
	if err != nil {
		return fmt.Errorf("store: put review policy of %s: %w", p.TenantID, err)
	}
	return nil
}
