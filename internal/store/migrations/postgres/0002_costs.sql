-- Costs (PostgreSQL): per-tenant budgets, budget alerts recorded once per
-- scope, period and threshold, and the indexes the ledger's rollups and the
-- credit pools' spend read through. Money is integer pico-USD (1e-12 USD).
CREATE INDEX llm_usage_created ON llm_usage(created_at);
CREATE INDEX llm_usage_provider_created ON llm_usage(provider, created_at);

-- A NULL limit means the configured default; -1 means no limit.
CREATE TABLE budgets (
	tenant_id    TEXT PRIMARY KEY REFERENCES tenants(id),
	request_pusd BIGINT CHECK (request_pusd IS NULL OR request_pusd >= -1),
	daily_pusd   BIGINT CHECK (daily_pusd IS NULL OR daily_pusd >= -1),
	monthly_pusd BIGINT CHECK (monthly_pusd IS NULL OR monthly_pusd >= -1),
	policy       TEXT NOT NULL DEFAULT '',
	updated_by   TEXT NOT NULL DEFAULT '',
	updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE budget_alerts (
	id         BIGSERIAL PRIMARY KEY,
	scope      TEXT NOT NULL,
	subject    TEXT NOT NULL,
	period     TEXT NOT NULL DEFAULT '',
	percent    INTEGER NOT NULL,
	tenant_id  TEXT NOT NULL DEFAULT '',
	job_id     TEXT NOT NULL DEFAULT '',
	spent_pusd BIGINT NOT NULL,
	limit_pusd BIGINT NOT NULL,
	message    TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX budget_alerts_once ON budget_alerts(scope, subject, period, percent);
CREATE INDEX budget_alerts_tenant ON budget_alerts(tenant_id, id);
