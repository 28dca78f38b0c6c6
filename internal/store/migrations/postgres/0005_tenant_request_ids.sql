-- Request ids are scoped per tenant (PostgreSQL). A job's key (jobs.id) stays
-- unique across tenants and is what tasks, events, usage rows, capsules and
-- reviews refer to; request_id is the tenant's own id for the job, unique
-- within the tenant only, so that one tenant's ids neither reveal nor block
-- another's. Jobs recorded before this migration keep their key as their
-- request id. Workflow ids ("qlp-execution-" + key) are unique, as in
-- Temporal.
ALTER TABLE jobs ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
UPDATE jobs SET request_id = id;
CREATE UNIQUE INDEX jobs_tenant_request ON jobs(tenant_id, request_id);
CREATE UNIQUE INDEX jobs_workflow ON jobs(workflow_id);
