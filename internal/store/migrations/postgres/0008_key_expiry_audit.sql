-- API keys may expire (a rotated key stays valid until its overlap ends)
-- and record when they were last used.
ALTER TABLE api_keys ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE api_keys ADD COLUMN last_used_at TIMESTAMPTZ;

-- The audit log: one row per state-changing call, append-only.
CREATE TABLE audit_log (
	id         BIGSERIAL PRIMARY KEY,
	at         TIMESTAMPTZ NOT NULL,
	tenant_id  TEXT NOT NULL DEFAULT '',
	actor      TEXT NOT NULL DEFAULT '',
	action     TEXT NOT NULL,
	target     TEXT NOT NULL DEFAULT '',
	status     INTEGER NOT NULL DEFAULT 0,
	outcome    TEXT NOT NULL,
	request_id TEXT NOT NULL DEFAULT '',
	detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_tenant_at ON audit_log(tenant_id, at);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
