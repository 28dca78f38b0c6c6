-- Delivery rounds (sqlite): each round of a capsule's delivery loop (push a
-- version to a pull request's branch, wait for its CI, repair from the
-- failing runs' logs): the version and commit pushed, the CI state, the
-- failing runs' names (a JSON array), what the repair that made the
-- version cost, and why a round stopped. Never a credential.
CREATE TABLE delivery_rounds (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant_id    TEXT NOT NULL,
	capsule_id   TEXT NOT NULL,
	loop_id      TEXT NOT NULL,
	round        INTEGER NOT NULL,
	version      INTEGER NOT NULL,
	forge        TEXT NOT NULL DEFAULT '',
	repo         TEXT NOT NULL DEFAULT '',
	pr_number    INTEGER NOT NULL DEFAULT 0,
	branch       TEXT NOT NULL DEFAULT '',
	sha          TEXT NOT NULL DEFAULT '',
	state        TEXT NOT NULL,
	failing_runs TEXT NOT NULL DEFAULT '[]',
	cost_pusd    INTEGER NOT NULL DEFAULT 0,
	error        TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL,
	updated_at   TEXT NOT NULL,
	UNIQUE (loop_id, round)
);
CREATE INDEX delivery_rounds_capsule ON delivery_rounds(tenant_id, capsule_id, id);
