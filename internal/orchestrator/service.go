// Package orchestrator is QLP's front door: it takes requests, starts
// QLPWorkflow on Temporal, reports status and progress, cancels, and serves
// capsules. [Service] is the logic, used in-process by `qlp generate`;
// [Service.Handler] serves it over HTTP on :8000 with the earlier QLP's
// contracts; [Client] speaks that HTTP API for the CLI.
package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/forge"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/policy"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/ratelimit"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/vocab"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// Config tunes the jobs the service starts.
type Config struct {
	// Workflow is copied into each job's workflow.Input. Its Review is the
	// server's review policy: a tenant's own policy (PUT
	// /api/v2/review-policy) overrides the fields it sets, and a job's
	// metadata overrides both (review_threshold, review_timeout,
	// review_on_timeout, review_aitl).
	Workflow workflow.Config
	// MaxBodyBytes limits HTTP request bodies.
	MaxBodyBytes int64
	// Limits bound each key's and tenant's requests and jobs.
	Limits Limits
	// PublicURL prefixes links in responses; empty leaves them relative.
	PublicURL string
	// Version is reported by /health.
	Version string
	// Forge configures GitHub and GitLab delivery and their webhooks.
	Forge forge.Config
	// LLM is the model configuration: the packs it offers tenants
	// (GET /api/v2/model-packs).
	LLM tiers.Config
}

// Deps are the service's collaborators.
type Deps struct {
	Store    Store
	Temporal client.Client
	Bus      *progress.Bus
	// Costs and Budgets answer /api/v2/costs* and /api/v2/budgets; nil
	// answers 501.
	Costs   CostService
	Budgets BudgetService
	// Blobs holds the capsule archives the workflow stores; nil builds
	// every archive on demand.
	Blobs blob.Store
	// Buckets keep the request rates of Config.Limits; nil keeps them in
	// this process (ratelimit.Redis shares them between replicas).
	Buckets ratelimit.Buckets
	// Audit records state-changing calls and answers /api/v2/audit; nil
	// keeps no audit log.
	Audit AuditLog
	// Policy checks requests against the content policy; nil checks
	// nothing (and POST /api/v2/hap/check answers 501). PolicyMetrics
	// counts what it finds.
	Policy        *policy.Checker
	PolicyMetrics *policy.Metrics
	// Sealer seals the credentials a delivery loop carries (the worker's
	// workflow.Activities.Sealer opens them); nil refuses delivery loops.
	Sealer *delivery.Sealer
	Logger *slog.Logger
	// CIWaker is told of the CI events forge webhooks bring (their
	// signature checked); nil answers the webhooks 503.
	CIWaker delivery.CIWaker
	// ForgeHTTP is the HTTP client forge calls go through; nil is a
	// default one.
	ForgeHTTP *http.Client
}

// Service is the orchestrator.
type Service struct {
	cfg     Config
	store   Store
	tc      client.Client
	bus     *progress.Bus
	costs   CostService
	budgets BudgetService
	blobs   blob.Store
	audit   AuditLog
	buckets ratelimit.Buckets
	policy  *policy.Checker
	// policyMetrics may be nil (counts nothing).
	policyMetrics *policy.Metrics
	sealer        *delivery.Sealer
	logger        *slog.Logger
	ciWaker       delivery.CIWaker
	forgeHTTP     *http.Client
	reads         readCaches
}

// New returns a service.
func New(cfg Config, d Deps) *Service {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if d.Buckets == nil {
		d.Buckets = ratelimit.NewMemory(nil)
	}
	s := &Service{cfg: cfg, store: d.Store, tc: d.Temporal, bus: d.Bus, costs: d.Costs, budgets: d.Budgets, blobs: d.Blobs,
		buckets: d.Buckets, audit: d.Audit, policy: d.Policy, policyMetrics: d.PolicyMetrics, sealer: d.Sealer, logger: d.Logger,
		ciWaker: d.CIWaker, forgeHTTP: d.ForgeHTTP, reads: newReadCaches()}
	if s.ciWaker == nil && s.tc != nil {
		// This service starts the delivery loops, so it wakes them.
		s.ciWaker = s
	}
	return s
}

// Limits on request text.
const (
	MaxDescription  = 20_000
	MaxRequirements = 50_000
)

var (
	requestIDRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	idempotencyRe = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
)

// SubmitRequest is a request to build a capsule.
type SubmitRequest struct {
	RequestID      string
	UserID         string
	Description    string
	Requirements   string
	Language       string
	Framework      string
	TierOverride   string
	Mode           string
	Constraints    map[string]any
	Metadata       map[string]any
	IdempotencyKey string
	// Execution and Delivery are what POST /v2/execute's options resolved
	// to; they are kept in the job's metadata (workflow.ExecutionKey,
	// deliveryKey), where no client may write.
	Execution *workflow.ExecutionOptions
	Delivery  *Delivery
}

func (r *SubmitRequest) validate() error {
	r.Description = strings.TrimSpace(r.Description)
	switch {
	case r.Description == "":
		return httpx.BadRequest("description", "must not be empty: say what to build")
	case len(r.Description) > MaxDescription:
		return httpx.BadRequest("description", "is %d characters; the limit is %d", len(r.Description), MaxDescription)
	case len(r.Requirements) > MaxRequirements:
		return httpx.BadRequest("requirements", "is %d characters; the limit is %d", len(r.Requirements), MaxRequirements)
	case r.RequestID != "" && !requestIDRe.MatchString(r.RequestID):
		return httpx.BadRequest("id", "must be 1-64 characters of letters, digits, '.', '_' or '-'")
	case r.TierOverride != "" && !vocab.ValidTier(r.TierOverride):
		return httpx.BadRequest("tier_override", "%q is not one of %s", r.TierOverride, vocab.TierList())
	case r.IdempotencyKey != "" && !idempotencyRe.MatchString(r.IdempotencyKey):
		return httpx.BadRequest("Idempotency-Key", "must be 1-128 printable ASCII characters")
	}
	r.Language = strings.ToLower(strings.TrimSpace(r.Language))
	if r.Language == "auto" {
		r.Language = ""
	}
	if r.Language != "" {
		lang, ok := vocab.NormalizeLanguage(r.Language)
		if !ok {
			return httpx.BadRequest("constraints.language", "%q is not supported; use one of %s, or auto", r.Language, strings.Join(vocab.Languages(), ", "))
		}
		r.Language = lang
	}
	for k := range r.Metadata {
		if strings.HasPrefix(k, reservedPrefix) {
			return httpx.BadRequest("metadata."+k, "keys starting with %q are the server's", reservedPrefix)
		}
	}
	if v, ok := r.Metadata["budget_usd"]; ok {
		f, isNum := v.(float64)
		if !isNum || f <= 0 || f > 1e6 {
			return httpx.BadRequest("metadata.budget_usd", "must be a number of dollars above 0 (at most 1000000): the most this job's model calls may cost")
		}
		if _, err := pricing.ParseUSD(strconv.FormatFloat(f, 'f', -1, 64)); err != nil {
			return httpx.BadRequest("metadata.budget_usd", "%v", err)
		}
	}
	if v, ok := r.Metadata["allow_reuse"]; ok {
		if _, isBool := v.(bool); !isBool {
			return httpx.BadRequest("metadata.allow_reuse", "must be true or false")
		}
	}
	if len(r.Framework) > 100 {
		return httpx.BadRequest("constraints.framework", "is too long")
	}
	return nil
}

// Submit records a job and starts its workflow. With an idempotency key
// that the tenant used before, it returns the earlier job (created=false)
// and starts nothing.
func (s *Service) Submit(ctx context.Context, tenantID string, r SubmitRequest) (_ domain.Job, _ bool, err error) {
	// The job's trace: this span (a child of the request's, or of the
	// caller's traceparent) is the parent of the workflow's, which the
	// Temporal interceptor carries to the worker.
	ctx, span := otel.Tracer(tracerName).Start(ctx, "job.submit", trace.WithAttributes(attribute.String("qlp.tenant_id", tenantID)))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	if err := r.validate(); err != nil {
		return domain.Job{}, false, err
	}
	if _, err := s.jobPolicy(ctx, tenantID, r.Metadata); err != nil {
		return domain.Job{}, false, err
	}
	if err := s.checkRequest(ctx, tenantID, r); err != nil {
		return domain.Job{}, false, err
	}
	// The job key is unique across tenants; the request id only within
	// the tenant. A request id QLP chooses is a fresh UUID and serves as
	// the key; one the tenant chose gets a UUID key of its own, so that
	// it can neither collide with nor reveal another tenant's.
	key := uuid.NewString()
	if r.RequestID == "" {
		r.RequestID = key
	}
	if r.Mode == "" {
		r.Mode = "v1"
	}
	constraints, err := encodeObject(r.Constraints)
	if err != nil {
		return domain.Job{}, false, httpx.BadRequest("constraints", "%v", err)
	}
	span.SetAttributes(attribute.String("qlp.job_id", key), attribute.String("qlp.request_id", r.RequestID))
	meta := r.Metadata
	traceID := span.SpanContext().TraceID()
	if r.Execution != nil || r.Delivery != nil || traceID.IsValid() {
		meta = make(map[string]any, len(r.Metadata)+3)
		for k, v := range r.Metadata {
			meta[k] = v
		}
		if traceID.IsValid() {
			// The status shows it, so that a user goes from a job to
			// its trace (a metadata key: no column, no migration).
			meta[traceKey] = traceID.String()
		}
		if r.Execution != nil {
			meta[workflow.ExecutionKey] = r.Execution
		}
		if r.Delivery != nil {
			meta[deliveryKey] = r.Delivery
		}
	}
	metadata, err := encodeObject(meta)
	if err != nil {
		return domain.Job{}, false, httpx.BadRequest("metadata", "%v", err)
	}
	if _, err := s.store.EnsureTenant(ctx, tenantID, ""); err != nil {
		return domain.Job{}, false, err
	}
	job, created, err := s.store.CreateJobWithin(ctx, domain.Job{
		ID: key, RequestID: r.RequestID, TenantID: tenantID, UserID: r.UserID, WorkflowID: workflow.WorkflowID(key),
		Description: r.Description, Requirements: r.Requirements, Language: r.Language, Framework: r.Framework,
		TierOverride: r.TierOverride, Mode: r.Mode, Constraints: constraints, Metadata: metadata, IdempotencyKey: r.IdempotencyKey,
	}, s.cfg.Limits.TenantJobs)
	var limit *store.ActiveJobsError
	if errors.As(err, &limit) {
		return domain.Job{}, false, jobsLimitError(tenantID, limit.Active, limit.Max)
	}
	if errors.Is(err, store.ErrConflict) {
		return domain.Job{}, false, httpx.Conflict("a job with id %q already exists", r.RequestID)
	}
	if err != nil {
		return domain.Job{}, false, err
	}
	if !created && job.Status != domain.JobQueued {
		return job, false, nil
	}
	// Start (or, for a job whose start was interrupted, start again: an
	// already-started workflow is fine).
	if err := s.start(ctx, job); err != nil {
		msg := "could not start the workflow: " + err.Error()
		failed, now := domain.JobFailed, time.Now()
		_ = s.store.UpdateJob(context.WithoutCancel(ctx), job.ID, store.JobUpdate{Status: &failed, Error: &msg, CompletedAt: &now})
		return domain.Job{}, false, httpx.Unavailable(err, "the workflow engine did not accept the job; try again")
	}
	return job, created, nil
}

func encodeObject(m map[string]any) (json.RawMessage, error) {
	if m == nil {
		return json.RawMessage("{}"), nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// errNoEngine is returned by operations that need Temporal in a process
// started without it.
var errNoEngine = errors.New("this process runs without the workflow engine")

func (s *Service) start(ctx context.Context, job domain.Job) error {
	if s.tc == nil {
		return errNoEngine
	}
	var meta map[string]any
	_ = json.Unmarshal(job.Metadata, &meta)
	review, err := s.jobPolicy(ctx, job.TenantID, meta)
	if err != nil {
		return err
	}
	opts := client.StartWorkflowOptions{ID: job.WorkflowID, TaskQueue: workflow.TaskQueue, WorkflowExecutionTimeout: 24 * time.Hour}
	if review.Enabled() {
		// A job waiting for a person is bounded by its review timeout
		// policy, not by a fixed deadline that would kill it mid-review.
		opts.WorkflowExecutionTimeout = 0
	}
	_, err = s.tc.ExecuteWorkflow(ctx, opts, workflow.WorkflowName, workflow.Input{
		RequestID: job.ID, TenantID: job.TenantID, MaxParallel: s.cfg.Workflow.MaxParallel,
		HeartbeatTimeout: s.cfg.Workflow.HeartbeatTimeout, TaskTimeout: s.cfg.Workflow.TaskTimeout, AllowReuse: allowReuse(job.Metadata),
		MaxAttempts: s.cfg.Workflow.MaxAttempts, EscalateAfter: s.cfg.Workflow.EscalateAfter, TaskValidation: s.cfg.Workflow.TaskValidation, Review: review,
	})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	return err
}

// reviewPolicy lays a job's metadata overrides (review_threshold 0..1,
// review_timeout as a duration such as "2h", review_on_timeout
// approve|reject|wait, review_aitl true|false) over base, the tenant's
// policy in force (see Service.jobPolicy).
func reviewPolicy(base workflow.ReviewPolicy, meta map[string]any) (workflow.ReviewPolicy, error) {
	p := base
	if v, ok := meta["review_threshold"]; ok {
		f, isNum := v.(float64)
		if !isNum || f < 0 || f > 1 {
			return p, httpx.BadRequest("metadata.review_threshold", "must be a number from 0 (no reviews) to 1")
		}
		p.Threshold = f
	}
	if v, ok := meta["review_timeout"]; ok {
		str, _ := v.(string)
		d, err := time.ParseDuration(str)
		if err != nil || d <= 0 {
			return p, httpx.BadRequest("metadata.review_timeout", "must be a positive duration such as \"30m\" or \"24h\"")
		}
		p.Timeout = d
	}
	if v, ok := meta["review_on_timeout"]; ok {
		str, _ := v.(string)
		if !vocab.ValidOnTimeout(str) {
			return p, httpx.BadRequest("metadata.review_on_timeout", "must be approve, reject or wait")
		}
		p.OnTimeout = str
	}
	if v, ok := meta["review_aitl"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return p, httpx.BadRequest("metadata.review_aitl", "must be true or false")
		}
		p.AITL = b
	}
	if p.OnTimeout == "" {
		p.OnTimeout = vocab.OnTimeoutWait
	}
	if p.OnTimeout != vocab.OnTimeoutWait && p.Timeout <= 0 {
		return p, httpx.BadRequest("metadata.review_timeout", "is needed with review_on_timeout %s", p.OnTimeout)
	}
	return p, nil
}

// allowReuse reads metadata.allow_reuse: the user's consent to receive an
// earlier validated capsule for a near-identical request.
func allowReuse(metadata json.RawMessage) bool {
	var m map[string]any
	if json.Unmarshal(metadata, &m) != nil {
		return false
	}
	b, _ := m["allow_reuse"].(bool)
	return b
}

// JobID turns a workflow id or a request id into the request id, as the
// earlier clients build workflow ids ("qlp-execution-" + request id).
func JobID(id string) string { return strings.TrimPrefix(id, "qlp-execution-") }

// Job returns a tenant's job by its workflow id, its request id, or
// "qlp-execution-" + its request id. Another tenant's job is a 404 exactly
// like a missing one.
func (s *Service) Job(ctx context.Context, tenantID, id string) (domain.Job, error) {
	if tenantID == "" {
		return domain.Job{}, httpx.NotFound("job " + id)
	}
	job, err := s.store.FindJob(ctx, tenantID, id, JobID(id))
	if errors.Is(err, store.ErrNotFound) {
		return domain.Job{}, httpx.NotFound("job " + id)
	}
	return job, err
}

// Tasks returns a job's tasks.
func (s *Service) Tasks(ctx context.Context, jobID string) ([]domain.Task, error) {
	return s.store.ListTasks(ctx, jobID)
}

// Cancel asks the job's workflow to stop.
func (s *Service) Cancel(ctx context.Context, tenantID, id string) (domain.Job, error) {
	job, err := s.Job(ctx, tenantID, id)
	if err != nil {
		return domain.Job{}, err
	}
	if job.Status.Terminal() {
		return job, httpx.Conflict("job %s is already %s", job.RequestID, job.Status)
	}
	if s.tc == nil {
		return domain.Job{}, httpx.Unavailable(errNoEngine, "cannot cancel from here: %v", errNoEngine)
	}
	if err := s.tc.CancelWorkflow(ctx, job.WorkflowID, ""); err != nil {
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) {
			return domain.Job{}, httpx.Unavailable(err, "could not reach the workflow engine to cancel")
		}
		// The workflow never started: mark the job cancelled directly.
		cancelled, msg, now := domain.JobCancelled, "cancelled by request", time.Now()
		if err := s.store.UpdateJob(ctx, job.ID, store.JobUpdate{Status: &cancelled, Error: &msg, CompletedAt: &now}); err != nil {
			return domain.Job{}, err
		}
	}
	return job, nil
}

// Follow streams a job's progress events after afterID until its terminal
// event.
func (s *Service) Follow(ctx context.Context, tenantID, id string, afterID int64, fn func(domain.Event) error) error {
	job, err := s.Job(ctx, tenantID, id)
	if err != nil {
		return err
	}
	return s.bus.Follow(ctx, job.ID, afterID, fn)
}

// Capsules lists a tenant's capsules, newest first.
func (s *Service) Capsules(ctx context.Context, tenantID string, limit, offset int) ([]domain.Capsule, int, error) {
	return s.store.ListCapsules(ctx, tenantID, limit, offset)
}

// Capsule returns a capsule and one of its versions (0 = latest).
func (s *Service) Capsule(ctx context.Context, tenantID, id string, version int) (domain.Capsule, domain.CapsuleVersion, error) {
	c, err := s.store.GetCapsule(ctx, tenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return domain.Capsule{}, domain.CapsuleVersion{}, httpx.NotFound("capsule " + id)
	}
	if err != nil {
		return domain.Capsule{}, domain.CapsuleVersion{}, err
	}
	v, err := s.store.GetCapsuleVersion(ctx, tenantID, id, version)
	if errors.Is(err, store.ErrNotFound) {
		return domain.Capsule{}, domain.CapsuleVersion{}, httpx.NotFound(fmt.Sprintf("capsule %s version %d", id, version))
	}
	return c, v, err
}

// Archive is a capsule version's archive, ready to be sent: the blob
// store's object, streamed, or one built on demand.
type Archive struct {
	io.ReadCloser
	Format string
	Size   int64
	// SHA256 is the archive's digest in hex; "" when the stored object
	// does not carry it.
	SHA256  string
	Capsule domain.Capsule
	// Stored is true when the bytes come from the blob store.
	Stored bool
}

// errTooLargeToKeep is fetchArchive's answer for an archive larger than
// archiveCacheMaxItem: each download streams it from the blob store.
var errTooLargeToKeep = errors.New("archive too large to keep in memory")

// fetchArchive reads the archive stored under key and keeps it.
func (s *Service) fetchArchive(ctx context.Context, key string) (cachedArchive, error) {
	r, info, err := s.blobs.Get(ctx, key)
	if err != nil {
		return cachedArchive{}, err
	}
	if info.Size > archiveCacheMaxItem {
		r.Close()
		s.reads.large.Store(key, struct{}{})
		return cachedArchive{}, errTooLargeToKeep
	}
	a, err := s.readArchive(r, info)
	if err != nil {
		return cachedArchive{}, err
	}
	s.reads.archives.add(key, a)
	return a, nil
}

// readArchive reads a stored archive whole and checks it against the size
// and digest it was stored with, so that what is kept in memory and served
// again is exactly what was built.
func (s *Service) readArchive(r io.ReadCloser, info blob.Info) (cachedArchive, error) {
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, info.Size+1))
	if err != nil {
		return cachedArchive{}, err
	}
	if int64(len(b)) != info.Size {
		return cachedArchive{}, &damagedArchive{fmt.Sprintf("%d bytes read, %d stored", len(b), info.Size)}
	}
	want := capsule.StoredDigest(info.ContentType)
	if want != "" && capsule.Digest(b) != want {
		return cachedArchive{}, &damagedArchive{fmt.Sprintf("its sha256 is %s, not the %s it was stored with", capsule.Digest(b), want)}
	}
	return cachedArchive{data: b, sha256: want}, nil
}

// damagedArchive is a stored archive whose bytes are not those it was
// stored with.
type damagedArchive struct{ why string }

func (d *damagedArchive) Error() string { return "damaged archive: " + d.why }

// OpenArchive opens a capsule version's archive in format (zip, tar or
// tar.gz). The archive the workflow kept in the blob store when it
// created the version (capsule.DefaultFormat) is served from there (read
// whole, checked against its stored digest and kept in memory, or streamed
// when larger than archiveCacheMaxItem), so every replica sharing the
// store serves the bytes that were built; other
// formats, and versions with no stored archive, are built on demand. A
// blob store that fails (other than with a missing object) is a 503 naming
// it, never a silently rebuilt archive. The caller closes the archive.
func (s *Service) OpenArchive(ctx context.Context, tenantID, id string, version int, format string) (*Archive, error) {
	format = normalFormat(format)
	if !capsule.ValidFormat(format) {
		return nil, httpx.BadRequest("format", "%q is not zip, tar or tar.gz (or targz)", format)
	}
	// The capsule's record is kept for readTTL: a download of "the latest
	// version" may see a version made in the last second late.
	c, ok := s.reads.capsules.Get(tenantKey(tenantID, id))
	if !ok {
		found, err, _ := s.reads.flight.Do("capsule\x00"+tenantKey(tenantID, id), func() (any, error) {
			fctx, cancel := flightContext(ctx)
			defer cancel()
			c, err := s.store.GetCapsule(fctx, tenantID, id)
			if err == nil {
				s.reads.capsules.Add(tenantKey(tenantID, id), c)
			}
			return c, err
		})
		if errors.Is(err, store.ErrNotFound) {
			return nil, httpx.NotFound("capsule " + id)
		}
		if err != nil {
			return nil, err
		}
		c = found.(domain.Capsule)
	}
	if version == 0 {
		version = c.LatestVersion
	}
	if s.blobs != nil && format == capsule.DefaultFormat && version > 0 {
		key := capsule.ArchiveKey(c.TenantID, c.ID, version, format)
		a, ok := s.reads.archives.get(key)
		_, stream := s.reads.large.Load(key)
		if !ok && !stream {
			v, err, _ := s.reads.flight.Do("archive\x00"+key, func() (any, error) {
				fctx, cancel := flightContext(ctx)
				defer cancel()
				return s.fetchArchive(fctx, key)
			})
			var damaged *damagedArchive
			switch {
			case err == nil:
				a, ok = v.(cachedArchive), true
			case errors.As(err, &damaged):
				return nil, httpx.Unavailable(err, "the archive of capsule %s version %d in the blob store (%s) is damaged: %s", id, version, s.blobs, damaged.why)
			case errors.Is(err, errTooLargeToKeep):
				stream = true
			case errors.Is(err, blob.ErrNotFound):
				// Built below.
			default:
				return nil, httpx.Unavailable(err, "the blob store (%s) could not serve the archive of capsule %s version %d; try again", s.blobs, id, version)
			}
		}
		if ok {
			return &Archive{ReadCloser: io.NopCloser(bytes.NewReader(a.data)), Format: format, Size: int64(len(a.data)), SHA256: a.sha256, Capsule: c, Stored: true}, nil
		}
		if stream {
			r, info, err := s.blobs.Get(ctx, key)
			switch {
			case err == nil:
				return &Archive{ReadCloser: r, Format: format, Size: info.Size, SHA256: capsule.StoredDigest(info.ContentType), Capsule: c, Stored: true}, nil
			case !errors.Is(err, blob.ErrNotFound):
				return nil, httpx.Unavailable(err, "the blob store (%s) could not serve the archive of capsule %s version %d; try again", s.blobs, id, version)
			}
		}
	}
	_, v, err := s.Capsule(ctx, tenantID, id, version)
	if err != nil {
		return nil, err
	}
	b, err := capsule.VersionArchive(format, v)
	if err != nil {
		return nil, err
	}
	return &Archive{ReadCloser: io.NopCloser(bytes.NewReader(b)), Format: format, Size: int64(len(b)), SHA256: capsule.Digest(b), Capsule: c}, nil
}
