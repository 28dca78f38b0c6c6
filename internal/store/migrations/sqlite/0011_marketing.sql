-- Marketing (sqlite): launch campaigns, their pieces of content, each piece's
-- publications (one row per adapter, written before the post and updated
-- after, so that a piece is never posted twice) and the metrics reported
-- for published pieces.
CREATE TABLE campaigns (
	id          TEXT PRIMARY KEY,
	tenant_id   TEXT NOT NULL REFERENCES tenants(id),
	name        TEXT NOT NULL DEFAULT '',
	status      TEXT NOT NULL,
	workflow_id TEXT NOT NULL DEFAULT '',
	brief       TEXT NOT NULL,
	strategy    TEXT NOT NULL DEFAULT '{}',
	optimisation TEXT NOT NULL DEFAULT '',
	publishing  TEXT NOT NULL DEFAULT 'off',
	error       TEXT NOT NULL DEFAULT '',
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL
);
CREATE INDEX campaigns_tenant ON campaigns(tenant_id, created_at);
CREATE TABLE campaign_pieces (
	campaign_id  TEXT NOT NULL REFERENCES campaigns(id),
	id           TEXT NOT NULL,
	channel      TEXT NOT NULL,
	day          INTEGER NOT NULL,
	scheduled_at TEXT NOT NULL,
	theme        TEXT NOT NULL DEFAULT '',
	status       TEXT NOT NULL,
	content      TEXT NOT NULL DEFAULT '{}',
	notes        TEXT NOT NULL DEFAULT '',
	prompt_version TEXT NOT NULL DEFAULT '',
	model_calls  INTEGER NOT NULL DEFAULT 0,
	cost_pusd    BIGINT NOT NULL DEFAULT 0,
	updated_at   TEXT NOT NULL,
	PRIMARY KEY (campaign_id, id)
);
CREATE INDEX campaign_pieces_due ON campaign_pieces(status, scheduled_at);
CREATE TABLE campaign_publications (
	campaign_id     TEXT NOT NULL,
	piece_id        TEXT NOT NULL,
	adapter         TEXT NOT NULL,
	idempotency_key TEXT NOT NULL UNIQUE,
	status          TEXT NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	external_id     TEXT NOT NULL DEFAULT '',
	error           TEXT NOT NULL DEFAULT '',
	created_at      TEXT NOT NULL,
	updated_at      TEXT NOT NULL,
	PRIMARY KEY (campaign_id, piece_id, adapter)
);
CREATE TABLE campaign_analytics (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	campaign_id TEXT NOT NULL,
	piece_id    TEXT NOT NULL,
	tenant_id   TEXT NOT NULL,
	metrics     TEXT NOT NULL,
	observed_at TEXT NOT NULL,
	created_at  TEXT NOT NULL
);
CREATE INDEX campaign_analytics_campaign ON campaign_analytics(campaign_id, piece_id, id);
