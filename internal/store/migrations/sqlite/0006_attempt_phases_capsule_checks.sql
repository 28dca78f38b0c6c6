-- Attempt phases and capsule checks (SQLite). An attempt belongs to a
-- phase: the task's own loop ('task'), a repair of findings the capsule's
-- full validation routed to the task ('capsule'), or the job's planning
-- ('plan', task id '_plan'). capsule_checks keeps every full validation of
-- the assembled project: its findings, which task each was routed to, the
-- failures each task's fixer gets, and the report the capsule is built with.
ALTER TABLE task_attempts ADD COLUMN phase TEXT NOT NULL DEFAULT 'task';

CREATE TABLE capsule_checks (
	job_id     TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
	round      INTEGER NOT NULL,
	status     TEXT NOT NULL,
	summary    TEXT NOT NULL DEFAULT '',
	digest     TEXT NOT NULL DEFAULT '',
	findings   TEXT NOT NULL DEFAULT '[]',
	routes     TEXT NOT NULL DEFAULT '[]',
	report     TEXT NOT NULL DEFAULT '{}',
	created_at TEXT NOT NULL,
	PRIMARY KEY (job_id, round)
);
