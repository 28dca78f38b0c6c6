-- Review policies (PostgreSQL): a tenant's own human-review policy. A NULL
-- field means the server's setting (QLP_HITL_*); a job's metadata may still
-- override either.
CREATE TABLE review_policies (
	tenant_id       TEXT PRIMARY KEY REFERENCES tenants(id),
	threshold       DOUBLE PRECISION CHECK (threshold IS NULL OR (threshold >= 0 AND threshold <= 1)),
	timeout_seconds BIGINT CHECK (timeout_seconds IS NULL OR timeout_seconds > 0),
	on_timeout      TEXT CHECK (on_timeout IS NULL OR on_timeout IN ('approve', 'reject', 'wait')),
	aitl            BOOLEAN,
	updated_by      TEXT NOT NULL DEFAULT '',
	updated_at      TIMESTAMPTZ NOT NULL
);
