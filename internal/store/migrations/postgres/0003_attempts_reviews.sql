-- Attempts and reviews (PostgreSQL). Every attempt of a task in the repair loop
-- (the role and prompt version that produced it, the model, tokens, cost,
-- the validation it got and the failures fed to the next attempt), and the
-- human reviews a job waits for.
CREATE TABLE task_attempts (
	job_id            TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
	task_id           TEXT NOT NULL,
	attempt           INTEGER NOT NULL,
	role              TEXT NOT NULL,
	prompt_version    TEXT NOT NULL DEFAULT '',
	tier              TEXT NOT NULL DEFAULT '',
	model             TEXT NOT NULL DEFAULT '',
	input_tokens      INTEGER NOT NULL DEFAULT 0,
	output_tokens     INTEGER NOT NULL DEFAULT 0,
	cost_pusd         BIGINT NOT NULL DEFAULT 0,
	status            TEXT NOT NULL,
	validation_status TEXT NOT NULL DEFAULT '',
	confidence        DOUBLE PRECISION,
	failures          TEXT NOT NULL DEFAULT '',
	fingerprint       TEXT NOT NULL DEFAULT '',
	comment           TEXT NOT NULL DEFAULT '',
	summary           TEXT NOT NULL DEFAULT '',
	files             TEXT NOT NULL DEFAULT '[]',
	created_at        TIMESTAMPTZ NOT NULL,
	updated_at        TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (job_id, task_id, attempt)
);

CREATE TABLE reviews (
	id             TEXT PRIMARY KEY,
	tenant_id      TEXT NOT NULL,
	job_id         TEXT NOT NULL,
	task_id        TEXT NOT NULL DEFAULT '',
	attempt        INTEGER NOT NULL DEFAULT 0,
	status         TEXT NOT NULL,
	confidence     DOUBLE PRECISION,
	reasons        TEXT NOT NULL DEFAULT '[]',
	summary        TEXT NOT NULL DEFAULT '',
	comment        TEXT NOT NULL DEFAULT '',
	decided_by     TEXT NOT NULL DEFAULT '',
	timeout_policy TEXT NOT NULL DEFAULT '',
	created_at     TIMESTAMPTZ NOT NULL,
	timeout_at     TIMESTAMPTZ,
	decided_at     TIMESTAMPTZ
);
CREATE INDEX reviews_tenant_status ON reviews(tenant_id, status, created_at);
CREATE INDEX reviews_job ON reviews(job_id);
