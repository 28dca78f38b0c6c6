package store

import (
	"context"
	"encoding/json"
	"fmt"
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
	_, err = s.exec(ctx, `INSERT INTO api_keys (id, tenant_id, name, prefix, digest, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.TenantID, k.Name, k.Prefix, k.Digest, string(scopes), s.t(k.CreatedAt))
	if err != nil {
		if s.d.isUnique(err) {
			return fmt.Errorf("store: create api key: %w", ErrConflict)
		}
		return fmt.Errorf("store: create api key: %w", err)
	}
	return nil
}

const apiKeyCols = `id, tenant_id, name, prefix, digest, scopes, created_at, revoked_at`

func scanAPIKey(sc interface{ Scan(...any) error }) (APIKey, error) {
	var k APIKey
	var scopes []byte
	var created, revoked dbTime
	if err := sc.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.Digest, &scopes, &created, &revoked); err != nil {
		return APIKey{}, err
	}
	if err := json.Unmarshal(scopes, &k.Scopes); err != nil {
		return APIKey{}, fmt.Errorf("store: api key %s scopes: %w", k.ID, err)
	}
	k.CreatedAt, k.RevokedAt = created.T, revoked.ptr()
	return k, nil
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
