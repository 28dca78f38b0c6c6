package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// EnsureTenant implements Store: it creates the tenant when missing.
func (s *SQL) EnsureTenant(ctx context.Context, id, name string) (Tenant, error) {
	if id == "" {
		return Tenant{}, fmt.Errorf("store: ensure tenant: empty id")
	}
	if name == "" {
		name = id
	}
	if _, err := s.exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		id, name, s.t(s.now())); err != nil {
		return Tenant{}, fmt.Errorf("store: ensure tenant %s: %w", id, err)
	}
	return s.GetTenant(ctx, id)
}

// GetTenant implements Store.
func (s *SQL) GetTenant(ctx context.Context, id string) (Tenant, error) {
	var t Tenant
	var created dbTime
	err := s.queryRow(ctx, `SELECT id, name, created_at FROM tenants WHERE id = ?`, id).Scan(&t.ID, &t.Name, &created)
	if err != nil {
		return Tenant{}, fmt.Errorf("store: get tenant %s: %w", id, notFound(err))
	}
	t.CreatedAt = created.T
	return t, nil
}

// CreateAPIKey implements Store.
func (s *SQL) CreateAPIKey(ctx context.Context, k APIKey) error {
	scopes, err := json.Marshal(nonNil(k.Scopes))
	if err != nil {
		return err
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	_, err = s.exec(ctx, `INSERT INTO api_keys (id, tenant_id, name, prefix, digest, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.TenantID, k.Name, k.Prefix, k.Digest, string(scopes), s.t(k.CreatedAt), s.tp(k.ExpiresAt))
	if err != nil {
		if s.d.isUnique(err) {
			return fmt.Errorf("store: create api key: %w", ErrConflict)
		}
		return fmt.Errorf("store: create api key: %w", err)
	}
	return nil
}

const apiKeyCols = `id, tenant_id, name, prefix, digest, scopes, created_at, revoked_at, expires_at, last_used_at`

func scanAPIKey(sc interface{ Scan(...any) error }) (APIKey, error) {
	var k APIKey
	var scopes []byte
	var created, revoked, expires, used dbTime
	if err := sc.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.Digest, &scopes, &created, &revoked, &expires, &used); err != nil {
		return APIKey{}, err
	}
	if err := json.Unmarshal(scopes, &k.Scopes); err != nil {
		return APIKey{}, fmt.Errorf("store: api key %s scopes: %w", k.ID, err)
	}
	k.CreatedAt, k.RevokedAt, k.ExpiresAt, k.LastUsedAt = created.T, revoked.ptr(), expires.ptr(), used.ptr()
	return k, nil
}

// ExpireAPIKey implements Store.
func (s *SQL) ExpireAPIKey(ctx context.Context, tenantID, id string, at time.Time) error {
	res, err := s.exec(ctx, `UPDATE api_keys SET expires_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL`, s.t(at), id, tenantID)
	if err != nil {
		return fmt.Errorf("store: expire api key %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: expire api key %s: %w", id, ErrNotFound)
	}
	return nil
}

// TouchAPIKey implements Store.
func (s *SQL) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	if _, err := s.exec(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, s.t(at), id); err != nil {
		return fmt.Errorf("store: touch api key %s: %w", id, err)
	}
	return nil
}

// AppendAudit implements Store.
func (s *SQL) AppendAudit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if _, err := s.exec(ctx, `INSERT INTO audit_log (at, tenant_id, actor, action, target, status, outcome, request_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.t(e.At), e.TenantID, e.Actor, e.Action, e.Target, e.Status, e.Outcome, e.RequestID, e.Detail); err != nil {
		return fmt.Errorf("store: append to the audit log: %w", err)
	}
	return nil
}

// ListAudit implements Store.
func (s *SQL) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := `SELECT id, at, tenant_id, actor, action, target, status, outcome, request_id, detail FROM audit_log WHERE 1 = 1`
	var args []any
	if f.TenantID != "" {
		q += ` AND tenant_id = ?`
		args = append(args, f.TenantID)
	}
	if !f.Since.IsZero() {
		q += ` AND at >= ?`
		args = append(args, s.t(f.Since))
	}
	if !f.Until.IsZero() {
		q += ` AND at < ?`
		args = append(args, s.t(f.Until))
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 1000
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: read the audit log: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var at dbTime
		if err := rows.Scan(&e.ID, &at, &e.TenantID, &e.Actor, &e.Action, &e.Target, &e.Status, &e.Outcome, &e.RequestID, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: read the audit log: %w", err)
		}
		e.At = at.T
		out = append(out, e)
	}
	return out, rows.Err()
}

// APIKeyByDigest implements Store. Revoked keys are not returned.
func (s *SQL) APIKeyByDigest(ctx context.Context, digest string) (APIKey, error) {
	k, err := scanAPIKey(s.queryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE digest = ? AND revoked_at IS NULL`, digest))
	if err != nil {
		return APIKey{}, fmt.Errorf("store: api key by digest: %w", notFound(err))
	}
	return k, nil
}

// ListAPIKeys implements Store.
func (s *SQL) ListAPIKeys(ctx context.Context, tenantID string) ([]APIKey, error) {
	rows, err := s.query(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: list api keys: %w", err)
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list api keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey implements Store.
func (s *SQL) RevokeAPIKey(ctx context.Context, tenantID, id string) error {
	res, err := s.exec(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL`,
		s.t(s.now()), id, tenantID)
	if err != nil {
		return fmt.Errorf("store: revoke api key %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: revoke api key %s: %w", id, ErrNotFound)
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
