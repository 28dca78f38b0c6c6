-- Review policies (SQLite): a tenant's own human-review policy. A NULL
-- field means the server's setting (QLP_HITL_*); a job's metadata may still
-- override either.
CREATE TABLE review_policies (
	tenant_id       TEXT PRIMARY KEY REFERENCES tenants(id),
	threshold       REAL CHECK (threshold IS NULL OR (threshold >= 0 AND threshold <= 1)),
	timeout_seconds INTEGER CHECK (timeout_seconds IS NULL OR timeout_seconds > 0),
	on_timeout      TEXT CHECK (on_timeout IS NULL OR on_timeout IN ('approve', 'reject', 'wait')),
	aitl            INTEGER CHECK (aitl IS NULL OR aitl IN (0, 1)),
	updated_by      TEXT NOT NULL DEFAULT '',
	updated_at      TEXT NOT NULL
);
