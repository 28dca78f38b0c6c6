package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ModelPacks keeps the model pack each tenant is assigned. The model
// router asks it which pack answers a tenant's calls (tiers.PackResolver).
type ModelPacks interface {
	// TenantModelPack is the tenant's pack, "" when it has none (the
	// server's default pack answers).
	TenantModelPack(ctx context.Context, tenantID string) (string, error)
	// SetTenantModelPack assigns pack to the tenant, by whom; "" returns
	// it to the default pack.
	SetTenantModelPack(ctx context.Context, tenantID, pack, by string) error
}

// TenantModelPack implements ModelPacks.
func (s *SQL) TenantModelPack(ctx context.Context, tenantID string) (string, error) {
	var pack string
	err := s.queryRow(ctx, `SELECT pack FROM tenant_model_packs WHERE tenant_id = ?`, tenantID).Scan(&pack)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: model pack of tenant %s: %w", tenantID, err)
	}
	return pack, nil
}

// SetTenantModelPack implements ModelPacks.
func (s *SQL) SetTenantModelPack(ctx context.Context, tenantID, pack, by string) error {
	if pack == "" {
		if _, err := s.exec(ctx, `DELETE FROM tenant_model_packs WHERE tenant_id = ?`, tenantID); err != nil {
			return fmt.Errorf("store: reset model pack of tenant %s: %w", tenantID, err)
		}
		return nil
	}
	if _, err := s.exec(ctx, `INSERT INTO tenant_model_packs (tenant_id, pack, updated_by, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant_id) DO UPDATE SET pack = excluded.pack, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		tenantID, pack, by, s.t(s.now())); err != nil {
		return fmt.Errorf("store: set model pack of tenant %s: %w", tenantID, err)
	}
	return nil
}
