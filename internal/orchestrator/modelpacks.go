package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// ModelPacks answers GET /api/v2/model-packs: the packs this server offers
// tenants (the default first), and which one answers this tenant's calls.
type ModelPacks struct {
	// Default is the server's default pack; TenantPack the tenant's own
	// assignment ("" for none); Active the one its calls use.
	Default    string      `json:"default"`
	TenantPack string      `json:"tenant_pack"`
	Active     string      `json:"active"`
	Packs      []ModelPack `json:"packs"`
}

// ModelPack is one offered pack: a model per tier.
type ModelPack struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Tiers       []ModelPackTier `json:"tiers"`
}

// ModelPackTier is the model of one tier of a pack.
type ModelPackTier struct {
	Tier     string `json:"tier"`
	Provider string `json:"provider"`
	Model    string `json:"model"`
}

// SetModelPackRequest assigns a pack to the tenant; "" returns it to the
// server's default.
type SetModelPackRequest struct {
	Pack string `json:"pack"`
}

// TenantModelPacks lists the offered packs and the tenant's.
func (s *Service) TenantModelPacks(ctx context.Context, tenantID string) (ModelPacks, error) {
	offered, err := s.cfg.LLM.Offered()
	if err != nil {
		return ModelPacks{}, fmt.Errorf("model packs: %w", err)
	}
	own, err := s.store.TenantModelPack(ctx, tenantID)
	if err != nil {
		return ModelPacks{}, err
	}
	out := ModelPacks{Default: offered[0].Name, TenantPack: own, Active: offered[0].Name}
	for _, p := range offered {
		mp := ModelPack{Name: p.Name, Description: p.Description}
		for i, slot := range p.Tiers {
			mp.Tiers = append(mp.Tiers, ModelPackTier{Tier: vocab.Tiers()[i], Provider: slot.Provider, Model: slot.Model})
		}
		out.Packs = append(out.Packs, mp)
		if p.Name == own {
			out.Active = own
		}
	}
	return out, nil
}

// SetTenantModelPack assigns one of the offered packs to the tenant.
func (s *Service) SetTenantModelPack(ctx context.Context, tenantID, pack, by string) (ModelPacks, error) {
	pack = strings.TrimSpace(pack)
	if pack != "" {
		offered, err := s.cfg.LLM.Offered()
		if err != nil {
			return ModelPacks{}, fmt.Errorf("model packs: %w", err)
		}
		var names []string
		found := false
		for _, p := range offered {
			names = append(names, p.Name)
			found = found || p.Name == pack
		}
		if !found {
			return ModelPacks{}, httpx.BadRequest("pack", "%q is not a pack this server offers (offered: %s; the operator adds packs with QLP_LLM_TENANT_PACKS)",
				pack, strings.Join(names, ", "))
		}
	}
	if _, err := s.store.GetTenant(ctx, tenantID); errors.Is(err, store.ErrNotFound) {
		return ModelPacks{}, httpx.NotFound("tenant " + tenantID)
	} else if err != nil {
		return ModelPacks{}, err
	}
	if err := s.store.SetTenantModelPack(ctx, tenantID, pack, by); err != nil {
		return ModelPacks{}, err
	}
	return s.TenantModelPacks(ctx, tenantID)
}

func (s *Service) handleModelPacks(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	v, err := s.TenantModelPacks(r.Context(), tid)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (s *Service) handleModelPacksPut(w http.ResponseWriter, r *http.Request) error {
	p, err := admin(r)
	if err != nil {
		return err
	}
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	var req SetModelPackRequest
	if err := httpx.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	v, err := s.SetTenantModelPack(r.Context(), tid, req.Pack, p.KeyID)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}

// ModelPacks reads the offered packs and the tenant's (GET
// /api/v2/model-packs).
func (c *Client) ModelPacks(ctx context.Context) (ModelPacks, error) {
	var out ModelPacks
	return out, c.hc.Do(ctx, http.MethodGet, "/api/v2/model-packs", nil, &out)
}

// SetModelPack assigns the tenant a pack (PUT /api/v2/model-packs; admin).
func (c *Client) SetModelPack(ctx context.Context, pack string) (ModelPacks, error) {
	var out ModelPacks
	return out, c.hc.Do(ctx, http.MethodPut, "/api/v2/model-packs", SetModelPackRequest{Pack: pack}, &out)
}
