-- Content policy (sqlite): a tenant's own allow and deny lists of categories
-- (comma-separated, empty for none), and every violation the policy
-- found. A violation keeps the SHA-256 of the text, never the text: a
-- refused request is stored nowhere else.
CREATE TABLE content_policies (
	tenant_id  TEXT PRIMARY KEY REFERENCES tenants(id),
	allow      TEXT NOT NULL DEFAULT '',
	deny       TEXT NOT NULL DEFAULT '',
	updated_by TEXT NOT NULL DEFAULT '',
	updated_at TEXT NOT NULL
);
CREATE TABLE policy_violations (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant_id      TEXT NOT NULL,
	user_id        TEXT NOT NULL DEFAULT '',
	job_id         TEXT NOT NULL DEFAULT '',
	task_id        TEXT NOT NULL DEFAULT '',
	kind           TEXT NOT NULL,
	origin         TEXT NOT NULL,
	severity       TEXT NOT NULL,
	categories     TEXT NOT NULL,
	action         TEXT NOT NULL,
	content_sha256 TEXT NOT NULL,
	explanation    TEXT NOT NULL DEFAULT '',
	created_at     TEXT NOT NULL
);
CREATE INDEX policy_violations_tenant ON policy_violations(tenant_id, id);
