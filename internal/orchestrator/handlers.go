package orchestrator

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// route is one API endpoint and the scope a caller needs for it
// (openapi.json's x-qlp-scope says the same; "" needs only a credential).
type route struct {
	method, pattern string
	fn              httpx.HandlerFunc
	scope           string
}

// routes lists the API, in the order docs/api.md and openapi.json do.
func (s *Service) routes() []route {
	const (
		submit, read, review, admin = auth.ScopeSubmit, auth.ScopeRead, auth.ScopeReview, auth.ScopeAdmin
	)
	return []route{
		{"POST", "/execute", s.handleExecute, submit},
		{"POST", "/v2/execute", s.handleV2Execute, submit},
		{"GET", "/api/v2/jobs/{id}", s.handleStatus, read},
		{"GET", "/workflow/status/{id}", s.handleLegacyStatus, read},
		{"GET", "/v2/workflows/{id}", s.handleV2Status, read},
		{"GET", "/v2/workflows/{id}/result", s.handleV2Result, read},
		{"POST", "/v2/workflows/{id}/cancel", s.handleCancel, submit},
		{"GET", "/api/capsules", s.handleCapsuleList, read},
		{"GET", "/api/capsules/{id}", s.handleCapsule, read},
		{"GET", "/api/capsules/{id}/download", s.handleDownload, read},
		{"GET", "/api/capsules/{id}/files/{path...}", s.handleFile, read},
		{"GET", "/capsule/{id}", s.handleLegacyCapsule, read},
		{"GET", "/v2/capsules/{id}/download", s.handleDownload, read},
		{"POST", "/api/v2/capsules/{id}/deliver", s.handleDeliver, submit},
		{"GET", "/api/v2/capsules/{id}/diff", s.handleCapsuleDiff, read},
		{"GET", "/api/v2/capsules/{id}/deliveries", s.handleDeliveries, read},
		{"POST", "/api/github/push", s.handleGitHubPush, submit},
		{"GET", "/api/github/check-token", s.handleCheckToken, read},
		{"GET", "/progress/stream/{id}", s.handleProgress, read},
		{"GET", "/api/v2/costs", s.handleCosts, read},
		{"GET", "/api/v2/costs/estimate", s.handleCostEstimate, read},
		{"GET", "/api/v2/costs/runway", s.handleRunway, admin},
		{"GET", "/api/v2/budgets", s.handleBudgets, admin},
		{"PUT", "/api/v2/budgets", s.handleBudgetsPut, admin},
		{"GET", "/hitl/pending", s.handleHITLPending, read},
		{"GET", "/hitl/status/{id}", s.handleHITLStatus, read},
		{"POST", "/hitl/respond/{id}", s.handleHITLRespond, review},
		{"GET", "/api/v2/review-policy", s.handleReviewPolicy, read},
		{"PUT", "/api/v2/review-policy", s.handleReviewPolicyPut, admin},
		{"GET", "/api/v2/model-packs", s.handleModelPacks, read},
		{"PUT", "/api/v2/model-packs", s.handleModelPacksPut, admin},
		{"GET", "/api/v2/audit", s.handleAudit, admin},
		{"POST", "/api/v2/hap/check", s.handleHAPCheck, submit},
		{"GET", "/api/v2/content-policy", s.handleContentPolicy, read},
		{"PUT", "/api/v2/content-policy", s.handleContentPolicyPut, admin},
		{"GET", "/api/v2/content-policy/violations", s.handleViolations, admin},
		{"GET", "/openapi.json", s.handleOpenAPI, ""},
	}
}

// Mount registers the API routes on mux, each wrapped by wrap (the
// authentication every route here needs), then by the audit log
// (state-changing calls, refused ones too), the route's scope check and
// the request rate limits (Config.Limits), which need the authenticated
// caller. Routes go on the
// caller's mux itself so that request metrics see their patterns.
func (s *Service) Mount(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	for _, rt := range s.routes() {
		h := s.requireScope(rt.scope, s.limitRequests(httpx.Handle(s.logger, rt.fn)))
		if rt.method != http.MethodGet {
			h = s.audited(rt.method+" "+rt.pattern, h)
		}
		mux.Handle(rt.method+" "+rt.pattern, wrap(h))
	}
}

// Guard wraps a route mounted outside routes() (in internal/app, because
// its package uses this one's client) like Mount wraps the others: the
// audit log for a state-changing method, the scope check and the request
// rate limits.
func (s *Service) Guard(method, pattern, scope string, h http.Handler) http.Handler {
	h = s.requireScope(scope, s.limitRequests(h))
	if method != http.MethodGet {
		h = s.audited(method+" "+pattern, h)
	}
	return h
}

// requireScope answers 403 to a caller whose credential lacks scope.
func (s *Service) requireScope(scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, _ := auth.From(r.Context()); !p.Allows(scope) {
			httpx.WriteError(w, r, s.logger, httpx.Forbidden(fmt.Sprintf("this key lacks the %q scope this needs (it has %s); create one with `qlp apikey create --scope %s`",
				scope, scopeList(p.Scopes), scope)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func scopeList(scopes []string) string {
	if len(scopes) == 0 {
		return strings.Join(auth.DefaultScopes(), ", ")
	}
	return strings.Join(scopes, ", ")
}

func tenant(r *http.Request) (string, error) {
	p, ok := auth.From(r.Context())
	if !ok || p.TenantID == "" {
		return "", httpx.Forbidden("this credential is not bound to a tenant; service callers must send " + auth.TenantHeader)
	}
	return p.TenantID, nil
}

func (s *Service) link(p string) string { return strings.TrimRight(s.cfg.PublicURL, "/") + p }

func (s *Service) links(job domain.Job) map[string]string {
	return map[string]string{
		"status":   s.link("/v2/workflows/" + job.WorkflowID),
		"result":   s.link("/v2/workflows/" + job.WorkflowID + "/result"),
		"cancel":   s.link("/v2/workflows/" + job.WorkflowID + "/cancel"),
		"progress": s.link("/progress/stream/" + job.WorkflowID),
	}
}

// constraint reads a string constraint, rejecting other types.
func constraint(c map[string]any, key string) (string, error) {
	v, ok := c[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", httpx.BadRequest("constraints."+key, "must be a string")
	}
	return s, nil
}

func (s *Service) submitFromBody(r *http.Request, req SubmitRequest, constraints map[string]any) (domain.Job, bool, error) {
	tid, err := tenant(r)
	if err != nil {
		return domain.Job{}, false, err
	}
	if req.Language, err = constraint(constraints, "language"); err != nil {
		return domain.Job{}, false, err
	}
	if req.Framework, err = constraint(constraints, "framework"); err != nil {
		return domain.Job{}, false, err
	}
	req.Constraints = constraints
	req.IdempotencyKey = strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	return s.Submit(r.Context(), tid, req)
}

func (s *Service) handleExecute(w http.ResponseWriter, r *http.Request) error {
	var body ExecuteRequest
	if err := httpx.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	if err := legacyExecute(&body); err != nil {
		return err
	}
	if v, ok := body.Metadata["push_to_github"].(bool); ok && v {
		return &httpx.Error{Status: http.StatusNotImplemented, Code: "not_implemented", Field: "metadata.push_to_github",
			Message: "not implemented: GitHub delivery is not available in this build; download the capsule instead"}
	}
	job, created, err := s.submitFromBody(r, SubmitRequest{RequestID: body.ID, UserID: body.UserID, Description: body.Description,
		Requirements: body.Requirements, TierOverride: body.TierOverride, Metadata: body.Metadata, Mode: "v1"}, body.Constraints)
	if err != nil {
		return err
	}
	status, code, msg := "submitted", http.StatusAccepted, "job submitted; follow it at /progress/stream/"+job.WorkflowID
	if !created {
		status, code, msg = string(job.Status), http.StatusOK, "an earlier job with this Idempotency-Key"
	}
	httpx.WriteJSON(w, code, ExecuteResponse{WorkflowID: job.WorkflowID, RequestID: job.RequestID, Status: status, Message: msg, Links: s.links(job)})
	return nil
}

func (s *Service) handleV2Execute(w http.ResponseWriter, r *http.Request) error {
	var body V2ExecuteRequest
	if err := httpx.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	plan, err := resolveV2(body.Options)
	if err != nil {
		return err
	}
	if body.Options.GitHub != nil && body.Options.GitHub.Enabled {
		return &httpx.Error{Status: http.StatusNotImplemented, Code: "not_implemented", Field: "options.github",
			Message: "not implemented: GitHub delivery is not available in this build; download the capsule instead"}
	}
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	// The review policy the job starts with (Submit checks it the same
	// way), for the features the answer lists.
	review, err := s.jobPolicy(r.Context(), tid, body.Options.Metadata)
	if err != nil {
		return err
	}
	job, created, err := s.submitFromBody(r, SubmitRequest{UserID: body.UserID, Description: body.Description, Requirements: body.Requirements,
		TierOverride: body.Options.TierOverride, Metadata: body.Options.Metadata, Mode: plan.Mode, Execution: &plan.Execution, Delivery: &plan.Delivery},
		body.Constraints)
	if err != nil {
		return err
	}
	status, code, msg := "submitted", http.StatusAccepted, "job submitted in "+plan.Mode+" mode"
	if !created {
		status, code, msg = string(job.Status), http.StatusOK, "an earlier job with this Idempotency-Key"
		// The earlier job runs as it was submitted.
		plan = V2Plan{Mode: job.Mode, Execution: workflow.ExecutionOf(job.Metadata), Delivery: deliveryOf(job)}
	}
	httpx.WriteJSON(w, code, V2ExecuteResponse{WorkflowID: job.WorkflowID, RequestID: job.RequestID, Status: status, Message: msg, Links: s.links(job),
		Metadata: V2ExecuteMetadata{Mode: plan.Mode, Features: s.features(plan, job.TierOverride, review, allowReuse(job.Metadata)), Options: plan}})
	return nil
}

// result builds the earlier WorkflowResult from the store.
func (s *Service) result(r *http.Request, job domain.Job) (JobResult, error) {
	tasks, err := s.store.ListTasks(r.Context(), job.ID)
	if err != nil {
		return JobResult{}, err
	}
	tot, err := s.store.SumUsage(r.Context(), store.UsageFilter{JobID: job.ID})
	if err != nil {
		return JobResult{}, err
	}
	res := JobResult{RequestID: job.RequestID, Status: string(job.Status), CapsuleID: job.CapsuleID, TasksTotal: len(tasks),
		Outputs: []TaskOutput{}, Errors: []JobError{},
		Cost: CostSummary{Calls: tot.Calls, TokensIn: tot.InputTokens, TokensOut: tot.OutputTokens, USD: pricing.USD(tot.CostPUSD)}}
	attempts, err := s.store.ListAttempts(r.Context(), job.ID, "")
	if err != nil {
		return JobResult{}, err
	}
	byTask := map[string][]AttemptOutput{}
	for _, a := range attempts {
		out := AttemptOutput{Attempt: a.Attempt, Phase: a.Phase, Role: a.Role, Tier: a.Tier, Model: a.Model, Status: a.Status,
			Validation: a.ValidationStatus, Deleted: a.Deleted, TokensOut: a.OutputTokens, CostUSD: pricing.USD(a.CostPUSD)}
		if a.Status == domain.AttemptFailed {
			out.Reason = attemptReason(a.Failures)
		}
		if a.TaskID == workflow.PlanTaskID {
			res.PlanAttempts = append(res.PlanAttempts, out)
			continue
		}
		byTask[a.TaskID] = append(byTask[a.TaskID], out)
	}
	for _, t := range tasks {
		files := make([]string, len(t.Files))
		for i, f := range t.Files {
			files[i] = f.Path
		}
		if t.Status == domain.TaskCompleted {
			res.TasksCompleted++
		}
		res.Outputs = append(res.Outputs, TaskOutput{TaskID: t.ID, Type: t.Type, Status: string(t.Status), Complexity: t.Complexity,
			Tier: t.Tier, TierReason: t.TierReason, Model: t.Model, Attempts: t.Attempts, Files: files, Summary: t.Summary, Error: t.Error,
			TokensIn: t.InputTokens, TokensOut: t.OutputTokens, CostUSD: pricing.USD(t.CostPUSD), AttemptLog: byTask[t.ID]})
	}
	if job.Error != "" {
		res.Errors = append(res.Errors, JobError{Type: "workflow_error", Message: job.Error})
	}
	if job.Status == domain.JobFailed {
		c, err := s.store.LatestCapsuleCheck(r.Context(), job.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return JobResult{}, err
		}
		if err == nil && c.Status == "failed" {
			for _, f := range c.Findings {
				res.Findings = append(res.Findings, Finding{TaskID: f.TaskID, Check: f.Check, File: f.File, Line: f.Line, Column: f.Column,
					Rule: f.RuleID, Severity: f.Severity, Message: f.Message})
			}
		}
	}
	res.ExecutionTime = executionTime(job)
	return res, nil
}

// attemptReason is the first line of an attempt's failures, bounded.
func attemptReason(failures string) string {
	s := strings.TrimSpace(failures)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > 300 {
		s = string(r[:299]) + "…"
	}
	return s
}

func executionTime(job domain.Job) float64 {
	if job.StartedAt == nil {
		return 0
	}
	end := time.Now()
	if job.CompletedAt != nil {
		end = *job.CompletedAt
	}
	return end.Sub(*job.StartedAt).Seconds()
}

func (s *Service) jobFor(r *http.Request) (domain.Job, error) {
	tid, err := tenant(r)
	if err != nil {
		return domain.Job{}, err
	}
	return s.Job(r.Context(), tid, r.PathValue("id"))
}

func (s *Service) handleStatus(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	key := tenantKey(tid, r.PathValue("id"))
	st, ok := s.reads.status.Get(key)
	if !ok {
		v, err, _ := s.reads.flight.Do("status\x00"+key, func() (any, error) {
			ctx, cancel := flightContext(r.Context())
			defer cancel()
			return s.lookupStatus(r.WithContext(ctx), tid, key)
		})
		if err != nil {
			return err
		}
		st = v.(jobStatus)
	}
	if st.body != nil {
		w.Header().Set("Content-Type", "application/json")
		_, err := w.Write(st.body)
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, statusResponse(st.job, st.result))
	return nil
}

// lookupStatus reads a job's status from the store. A job that has ended
// changes no more (but for costs a delivery adds later, readTTL stale at
// most): its answer is kept for the next polls.
func (s *Service) lookupStatus(r *http.Request, tid, key string) (jobStatus, error) {
	job, err := s.Job(r.Context(), tid, r.PathValue("id"))
	if err != nil {
		return jobStatus{}, err
	}
	job = s.liveCounts(r, job)
	if !job.Status.Terminal() {
		return jobStatus{job: job}, nil
	}
	res, err := s.result(r, job)
	if err != nil {
		return jobStatus{}, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // as httpx.WriteJSON
	if err := enc.Encode(statusResponse(job, &res)); err != nil {
		return jobStatus{}, err
	}
	st := jobStatus{job: job, result: &res, body: b.Bytes()}
	s.reads.status.Add(key, st)
	return st, nil
}

// statusResponse is a job's status, with its result once it has ended.
func statusResponse(job domain.Job, res *JobResult) StatusResponse {
	p := progressOf(job)
	resp := StatusResponse{WorkflowID: job.WorkflowID, RequestID: job.RequestID, Status: string(job.Status), CreatedAt: job.CreatedAt,
		StartedAt: job.StartedAt, Error: job.Error, Progress: &p, TraceID: traceIDOf(job)}
	if res != nil {
		resp.Result = res
		if job.Status == domain.JobCompleted {
			resp.CompletedAt = job.CompletedAt
		} else {
			resp.FailedAt = job.CompletedAt
		}
	}
	return resp
}

func progressOf(job domain.Job) Progress {
	p := Progress{TasksCompleted: job.TasksDone, TasksTotal: job.TasksTotal}
	switch {
	case job.Status == domain.JobCompleted:
		p.Percentage, p.CurrentStep, p.Message = 100, "completed", "capsule ready"
	case job.Status.Terminal():
		p.CurrentStep, p.Message = string(job.Status), job.Error
		if job.TasksTotal > 0 {
			p.Percentage = 10 + 80*job.TasksDone/job.TasksTotal
		}
	case job.Status == domain.JobQueued:
		p.CurrentStep, p.Message = "queued", "waiting for a worker"
	case job.TasksTotal == 0:
		p.Percentage, p.CurrentStep, p.Message = 5, "decomposing", "planning the tasks"
	case job.TasksDone < job.TasksTotal:
		p.Percentage, p.CurrentStep = 10+80*job.TasksDone/job.TasksTotal, "generating"
		p.Message = fmt.Sprintf("%d of %d tasks done", job.TasksDone, job.TasksTotal)
	default:
		p.Percentage, p.CurrentStep, p.Message = 95, "assembling", "assembling the capsule"
	}
	return p
}

func (s *Service) downloads(capsuleID string) map[string]string {
	base := s.link("/api/capsules/" + capsuleID + "/download?format=")
	return map[string]string{"zip": base + "zip", "tar": base + "tar", "targz": base + "tar.gz"}
}

func (s *Service) handleCancel(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	job, err := s.Cancel(r.Context(), tid, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusAccepted, CancelResponse{WorkflowID: job.WorkflowID, Status: "cancelling", Message: "cancellation requested"})
	return nil
}

func queryInt(r *http.Request, name string, def, min, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, httpx.BadRequest(name, "must be an integer between %d and %d", min, max)
	}
	return n, nil
}

func (s *Service) handleCapsuleList(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 20, 1, 200)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	caps, total, err := s.Capsules(r.Context(), tid, limit, offset)
	if err != nil {
		return err
	}
	out := CapsuleList{Capsules: []CapsuleSummary{}, Total: total, Limit: limit, Offset: offset}
	for _, c := range caps {
		sum := CapsuleSummary{ID: c.ID, RequestID: c.RequestID, Name: c.Name, Description: c.Description, Language: c.Language,
			Version: c.LatestVersion, CreatedAt: c.CreatedAt, FileCount: c.FileCount, TotalBytes: c.TotalBytes}
		if v, err := s.store.GetCapsuleVersion(r.Context(), tid, c.ID, 0); err == nil {
			var m capsule.Manifest
			if json.Unmarshal(v.Manifest, &m) == nil {
				sum.Framework, sum.ValidationStatus, sum.ConfidenceScore = m.Framework, m.Validation.Status, m.Validation.ConfidenceScore
				sum.ProductionReady = m.Validation.Status == "passed" && !m.Validation.RequiresHumanReview
			}
		}
		out.Capsules = append(out.Capsules, sum)
	}
	out.Count = len(out.Capsules)
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func versionParam(r *http.Request) (int, error) { return queryInt(r, "version", 0, 0, 1<<20) }

func (s *Service) handleCapsule(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	version, err := versionParam(r)
	if err != nil {
		return err
	}
	c, v, err := s.Capsule(r.Context(), tid, r.PathValue("id"), version)
	if err != nil {
		return err
	}
	d := CapsuleDetail{ID: c.ID, RequestID: c.RequestID, Name: c.Name, Description: c.Description, Version: v.Version, LatestVersion: c.LatestVersion,
		CreatedAt: v.CreatedAt, Manifest: v.Manifest, ValidationReport: v.Report, Files: []CapsuleFileInfo{}, Downloads: s.downloads(c.ID),
		Stats: CapsuleStats{ByRole: map[string]int{}, Languages: []string{}}}
	if c.Language != "" {
		d.Stats.Languages = []string{c.Language}
	}
	for _, f := range v.Files {
		d.Files = append(d.Files, CapsuleFileInfo{Path: f.Path, Role: f.Role, Size: f.Size, SHA256: f.SHA256})
		d.Stats.TotalFiles++
		d.Stats.TotalBytes += f.Size
		d.Stats.ByRole[f.Role]++
		d.Stats.TotalLines += strings.Count(string(f.Content), "\n")
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

func (s *Service) handleDownload(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	format := normalFormat(r.URL.Query().Get("format"))
	if format == "" {
		format = capsule.DefaultFormat
	}
	version, err := versionParam(r)
	if err != nil {
		return err
	}
	a, err := s.OpenArchive(r.Context(), tid, r.PathValue("id"), version, format)
	if err != nil {
		return err
	}
	defer a.Close()
	w.Header().Set("Content-Type", capsule.ContentType(a.Format))
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Capsule.Name + "_capsule." + capsule.Ext(a.Format)}))
	w.Header().Set("Content-Length", strconv.FormatInt(a.Size, 10))
	if a.SHA256 != "" {
		w.Header().Set("X-Content-SHA256", a.SHA256)
	}
	// Once the headers are out, a failed copy can only cut the response
	// short; Content-Length lets the client see that.
	if n, err := io.Copy(w, a); err != nil {
		s.logger.WarnContext(r.Context(), "capsule download cut short", "capsule", a.Capsule.ID, "format", a.Format, "stored", a.Stored, "sent", n, "size", a.Size, "err", err)
	}
	return nil
}

// virtualFiles keeps the earlier QLP's names for QLP's own files.
var virtualFiles = map[string]string{"manifest.json": capsule.ManifestFile, "validation_report.json": capsule.ReportFile}

func (s *Service) handleFile(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	version, err := versionParam(r)
	if err != nil {
		return err
	}
	p := r.PathValue("path")
	if alias, ok := virtualFiles[p]; ok {
		p = alias
	}
	var content []byte
	if p == capsule.ManifestFile {
		_, v, err := s.Capsule(r.Context(), tid, r.PathValue("id"), version)
		if err != nil {
			return err
		}
		content = v.Manifest
	} else {
		if _, err := s.store.GetCapsule(r.Context(), tid, r.PathValue("id")); err != nil {
			return httpx.NotFound("capsule " + r.PathValue("id"))
		}
		f, err := s.store.GetCapsuleFile(r.Context(), tid, r.PathValue("id"), version, p)
		if err != nil {
			return httpx.NotFound("file " + p)
		}
		content = f.Content
	}
	ct := mime.TypeByExtension(path.Ext(p))
	if ct == "" || strings.HasPrefix(ct, "text/html") || strings.Contains(ct, "javascript") {
		// Never let a browser render or run generated content.
		ct = "text/plain; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.Header().Set("X-Content-SHA256", capsule.Digest(content))
	_, err = w.Write(content)
	return err
}

//go:embed openapi.json
var openapiDoc []byte

func (s *Service) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openapiDoc)
	return err
}
