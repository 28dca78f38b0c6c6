-- Initial schema (PostgreSQL). Money is integer pico-USD (1e-12 USD).
CREATE TABLE tenants (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
	id         TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL REFERENCES tenants(id),
	name       TEXT NOT NULL DEFAULT '',
	prefix     TEXT NOT NULL,
	digest     TEXT NOT NULL UNIQUE,
	scopes     JSONB NOT NULL DEFAULT '[]',
	created_at TIMESTAMPTZ NOT NULL,
	revoked_at TIMESTAMPTZ
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE jobs (
	id              TEXT PRIMARY KEY,
	tenant_id       TEXT NOT NULL REFERENCES tenants(id),
	user_id         TEXT NOT NULL DEFAULT '',
	workflow_id     TEXT NOT NULL,
	description     TEXT NOT NULL,
	requirements    TEXT NOT NULL DEFAULT '',
	language        TEXT NOT NULL DEFAULT '',
	framework       TEXT NOT NULL DEFAULT '',
	tier_override   TEXT NOT NULL DEFAULT '',
	mode            TEXT NOT NULL DEFAULT '',
	constraints     JSONB NOT NULL DEFAULT '{}',
	metadata        JSONB NOT NULL DEFAULT '{}',
	project         JSONB NOT NULL DEFAULT '{}',
	idempotency_key TEXT,
	status          TEXT NOT NULL,
	error           TEXT NOT NULL DEFAULT '',
	capsule_id      TEXT NOT NULL DEFAULT '',
	tasks_total     INTEGER NOT NULL DEFAULT 0,
	tasks_done      INTEGER NOT NULL DEFAULT 0,
	created_at      TIMESTAMPTZ NOT NULL,
	updated_at      TIMESTAMPTZ NOT NULL,
	started_at      TIMESTAMPTZ,
	completed_at    TIMESTAMPTZ
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs(tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_tenant_created ON jobs(tenant_id, created_at);

CREATE TABLE tasks (
	job_id        TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
	id            TEXT NOT NULL,
	seq           INTEGER NOT NULL,
	type          TEXT NOT NULL,
	description   TEXT NOT NULL,
	complexity    TEXT NOT NULL,
	dependencies  JSONB NOT NULL DEFAULT '[]',
	status        TEXT NOT NULL,
	tier          TEXT NOT NULL DEFAULT '',
	tier_reason   TEXT NOT NULL DEFAULT '',
	model         TEXT NOT NULL DEFAULT '',
	attempts      INTEGER NOT NULL DEFAULT 0,
	error         TEXT NOT NULL DEFAULT '',
	summary       TEXT NOT NULL DEFAULT '',
	files         TEXT NOT NULL DEFAULT '[]',
	input_tokens  INTEGER NOT NULL DEFAULT 0,
	output_tokens INTEGER NOT NULL DEFAULT 0,
	cost_pusd     BIGINT NOT NULL DEFAULT 0,
	started_at    TIMESTAMPTZ,
	completed_at  TIMESTAMPTZ,
	PRIMARY KEY (job_id, id)
);

CREATE TABLE capsules (
	id             TEXT PRIMARY KEY,
	tenant_id      TEXT NOT NULL REFERENCES tenants(id),
	job_id         TEXT NOT NULL DEFAULT '',
	name           TEXT NOT NULL,
	description    TEXT NOT NULL DEFAULT '',
	language       TEXT NOT NULL DEFAULT '',
	latest_version INTEGER NOT NULL,
	file_count     INTEGER NOT NULL DEFAULT 0,
	total_bytes    BIGINT NOT NULL DEFAULT 0,
	created_at     TIMESTAMPTZ NOT NULL,
	updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX capsules_tenant_created ON capsules(tenant_id, created_at);

CREATE TABLE capsule_versions (
	capsule_id     TEXT NOT NULL REFERENCES capsules(id) ON DELETE CASCADE,
	version        INTEGER NOT NULL,
	parent_version INTEGER NOT NULL DEFAULT 0,
	message        TEXT NOT NULL DEFAULT '',
	manifest       BYTEA NOT NULL,
	report         BYTEA NOT NULL,
	created_at     TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (capsule_id, version)
);

CREATE TABLE capsule_files (
	capsule_id TEXT NOT NULL,
	version    INTEGER NOT NULL,
	path       TEXT NOT NULL,
	role       TEXT NOT NULL,
	size       BIGINT NOT NULL,
	sha256     TEXT NOT NULL,
	content    BYTEA NOT NULL,
	PRIMARY KEY (capsule_id, version, path),
	FOREIGN KEY (capsule_id, version) REFERENCES capsule_versions(capsule_id, version) ON DELETE CASCADE
);

CREATE TABLE llm_usage (
	id                  BIGSERIAL PRIMARY KEY,
	tenant_id           TEXT NOT NULL,
	job_id              TEXT NOT NULL DEFAULT '',
	task_id             TEXT NOT NULL DEFAULT '',
	attempt             INTEGER NOT NULL DEFAULT 0,
	tier                TEXT NOT NULL DEFAULT '',
	role                TEXT NOT NULL DEFAULT '',
	provider            TEXT NOT NULL,
	model               TEXT NOT NULL,
	input_tokens        INTEGER NOT NULL,
	cached_input_tokens INTEGER NOT NULL DEFAULT 0,
	output_tokens       INTEGER NOT NULL,
	cost_pusd           BIGINT NOT NULL,
	cached              BOOLEAN NOT NULL DEFAULT FALSE,
	latency_ms          INTEGER NOT NULL DEFAULT 0,
	created_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX llm_usage_tenant_created ON llm_usage(tenant_id, created_at);
CREATE INDEX llm_usage_job ON llm_usage(job_id);

CREATE TABLE progress_events (
	id         BIGSERIAL PRIMARY KEY,
	job_id     TEXT NOT NULL,
	tenant_id  TEXT NOT NULL,
	type       TEXT NOT NULL,
	task_id    TEXT NOT NULL DEFAULT '',
	message    TEXT NOT NULL DEFAULT '',
	data       JSONB NOT NULL DEFAULT '{}',
	created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX progress_events_job ON progress_events(job_id, id);
