-- The model pack a tenant is assigned (llm.tenant_packs offers them); a
-- tenant without a row uses the server's default pack.
CREATE TABLE tenant_model_packs (
	tenant_id  TEXT PRIMARY KEY REFERENCES tenants(id),
	pack       TEXT NOT NULL,
	updated_by TEXT NOT NULL DEFAULT '',
	updated_at TIMESTAMPTZ NOT NULL
);
