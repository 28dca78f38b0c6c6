package memory

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/memory/vector"
)

// Handler serves the memory API. The host wraps it with auth.Require,
// request ids, logging and metrics, and mounts the probes.
//
// Routes (v1, one per Memory method):
//
//	POST /v1/memory/requests/similar   SimilarRequests
//	POST /v1/memory/code/examples      CodeExamples
//	GET  /v1/memory/tiers              TierStats (?task_type=&complexity=&min_samples=&min_success_rate=)
//	POST /v1/memory/repairs/hints      RepairHints
//	POST /v1/memory/reuse              FindReusable (404 no_match when none)
//	POST /v1/memory/requests           RecordRequest
//	POST /v1/memory/capsules           RecordCapsule
//	POST /v1/memory/code               RecordCodePattern
//	POST /v1/memory/outcomes           RecordTaskOutcome
//	POST /v1/memory/errors             RecordErrorFix
//	POST /v1/memory/search             Search
//	GET  /v1/memory/stats              Stats
//	POST /v1/memory/reindex            Reindex (admin or service credential)
//	GET  /v1/memory/export             Export, JSON lines (admin or service credential)
//	POST /v1/memory/import             Import (admin or service credential)
//
// and the earlier QLP's contract where it made sense: POST /search/requests,
// POST /search/code, POST /store/decomposition, POST /store/capsule,
// GET /performance/task?type=&complexity= (404 without samples),
// POST /patterns/code, POST /patterns/error and GET /stats.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn httpx.HandlerFunc) { mux.Handle(pattern, httpx.Handle(s.log, fn)) }

	h("POST /v1/memory/requests/similar", jsonCall(s, s.SimilarRequests))
	h("POST /v1/memory/code/examples", jsonCall(s, s.CodeExamples))
	h("GET /v1/memory/tiers", s.getTiers(false))
	h("POST /v1/memory/repairs/hints", jsonCall(s, s.RepairHints))
	h("POST /v1/memory/reuse", jsonCall(s, s.FindReusable))
	h("POST /v1/memory/requests", jsonCall(s, func(ctx context.Context, r RequestRecord) (status, error) {
		return stored, s.RecordRequest(ctx, r)
	}))
	h("POST /v1/memory/capsules", jsonCall(s, s.RecordCapsule))
	h("POST /v1/memory/code", jsonCall(s, func(ctx context.Context, p CodePattern) (status, error) {
		id, err := s.RecordCodePattern(ctx, p)
		return status{Status: "stored", ID: id}, err
	}))
	h("POST /v1/memory/outcomes", jsonCall(s, func(ctx context.Context, o TaskOutcome) (status, error) {
		return stored, s.RecordTaskOutcome(ctx, o)
	}))
	h("POST /v1/memory/errors", jsonCall(s, func(ctx context.Context, f ErrorFix) (status, error) {
		return stored, s.RecordErrorFix(ctx, f)
	}))
	h("POST /v1/memory/search", jsonCall(s, s.Search))
	h("GET /v1/memory/stats", s.getStats)
	h("POST /v1/memory/reindex", func(w http.ResponseWriter, r *http.Request) error {
		p, _ := auth.From(r.Context())
		if !p.Has(auth.ScopeAdmin) && !p.Has(auth.ScopeService) {
			return httpx.Forbidden("reindex re-embeds every tenant's entries: it needs an admin or service credential")
		}
		return jsonCall(s, s.Reindex)(w, r)
	})
	h("GET /v1/memory/export", s.getExport)
	h("POST /v1/memory/import", s.postImport)

	// The earlier QLP's routes.
	h("POST /search/requests", jsonCall(s, s.SimilarRequests))
	h("POST /search/code", jsonCall(s, s.CodeExamples))
	h("POST /store/decomposition", jsonCall(s, func(ctx context.Context, d legacyDecomposition) (status, error) {
		return stored, s.RecordRequest(ctx, d.record())
	}))
	h("POST /store/capsule", jsonCall(s, func(ctx context.Context, c legacyCapsule) (CapsuleStored, error) {
		return s.RecordCapsule(ctx, c.record())
	}))
	h("GET /performance/task", s.getTiers(true))
	h("POST /patterns/code", jsonCall(s, func(ctx context.Context, p legacyPattern) (status, error) {
		id, err := s.RecordCodePattern(ctx, p.pattern())
		return status{Status: "stored", ID: id}, err
	}))
	h("POST /patterns/error", jsonCall(s, func(ctx context.Context, f ErrorFix) (status, error) {
		return stored, s.RecordErrorFix(ctx, f)
	}))
	h("GET /stats", s.getStats)
	return mux
}

type status struct {
	Status string `json:"status"`
	ID     string `json:"id,omitempty"`
}

var stored = status{Status: "stored"}

// jsonCall adapts a method taking a JSON body and returning a JSON result.
func jsonCall[Q, R any](s *Service, fn func(context.Context, Q) (R, error)) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var q Q
		if err := httpx.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &q); err != nil {
			return err
		}
		res, err := fn(r.Context(), q)
		if err != nil {
			return httpError(err)
		}
		httpx.WriteJSON(w, http.StatusOK, res)
		return nil
	}
}

func (s *Service) getStats(w http.ResponseWriter, r *http.Request) error {
	st, err := s.Stats(r.Context())
	if err != nil {
		return httpError(err)
	}
	httpx.WriteJSON(w, http.StatusOK, st)
	return nil
}

func (s *Service) getTiers(legacy bool) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		q, err := tierQuery(r.URL.Query(), legacy)
		if err != nil {
			return httpError(err)
		}
		st, err := s.TierStats(r.Context(), q)
		if err != nil {
			return httpError(err)
		}
		if legacy && st.Samples == 0 {
			return httpx.NotFound("performance data for this task type and complexity")
		}
		httpx.WriteJSON(w, http.StatusOK, st)
		return nil
	}
}

func tierQuery(v url.Values, legacy bool) (TierQuery, error) {
	q := TierQuery{TaskType: v.Get("task_type"), Complexity: v.Get("complexity")}
	if legacy && q.TaskType == "" {
		q.TaskType = v.Get("type")
	}
	if s := v.Get("min_samples"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return q, fieldErr("min_samples", "%q is not an integer", s)
		}
		q.MinSamples = n
	}
	if s := v.Get("min_success_rate"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return q, fieldErr("min_success_rate", "%q is not a number", s)
		}
		q.MinSuccessRate = f
	}
	return q, nil
}

// Error codes the client maps back to sentinels.
const (
	codeNoTenant        = "no_tenant"
	codeNoMatch         = "no_match"
	codeReindexRequired = "reindex_required"
)

// httpError maps service errors to what the caller sees.
func httpError(err error) error {
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		return httpx.BadRequest(fe.Field, "%s", fe.Message)
	case errors.Is(err, ErrNoTenant):
		return &httpx.Error{Status: http.StatusForbidden, Code: codeNoTenant, Err: err,
			Message: "the credential names no tenant (service callers send " + auth.TenantHeader + ")"}
	case errors.Is(err, ErrNoMatch):
		return &httpx.Error{Status: http.StatusNotFound, Code: codeNoMatch, Message: err.Error(), Err: err}
	case errors.Is(err, ErrReindexRequired):
		return &httpx.Error{Status: http.StatusServiceUnavailable, Code: codeReindexRequired, Message: err.Error(), Err: err}
	case errors.Is(err, vector.ErrDimension), errors.Is(err, vector.ErrInvalid), errors.Is(err, vector.ErrUnknownCollection):
		return httpx.BadRequest("body", "%s", err.Error())
	}
	return err
}

// legacyDecomposition is the earlier /store/decomposition body.
type legacyDecomposition struct {
	Request struct {
		ID          string `json:"id"`
		RequestID   string `json:"request_id"`
		Description string `json:"description"`
		Language    string `json:"language"`
		UserID      string `json:"user_id"`
	} `json:"request"`
	Tasks        []Task              `json:"tasks"`
	Dependencies map[string][]string `json:"dependencies"`
}

func (d legacyDecomposition) record() RequestRecord {
	id := d.Request.RequestID
	if id == "" {
		id = d.Request.ID
	}
	tasks := make([]Task, len(d.Tasks))
	for i, t := range d.Tasks {
		if len(t.Dependencies) == 0 {
			t.Dependencies = d.Dependencies[t.ID]
		}
		tasks[i] = t
	}
	return RequestRecord{RequestID: id, Description: d.Request.Description, Language: d.Request.Language, UserID: d.Request.UserID, Tasks: tasks}
}

// legacyCapsule accepts the earlier QLCapsule JSON (id, request_id,
// source_code and tests maps, validation_report, metadata) as well as a
// CapsuleRecord.
type legacyCapsule struct {
	CapsuleRecord
	ID               string            `json:"id"`
	SourceCode       map[string]string `json:"source_code"`
	Tests            map[string]string `json:"tests"`
	ValidationReport *struct {
		OverallStatus   string  `json:"overall_status"`
		ConfidenceScore float64 `json:"confidence_score"`
	} `json:"validation_report"`
	Metadata map[string]any `json:"metadata"`
}

func (c legacyCapsule) record() CapsuleRecord {
	r := c.CapsuleRecord
	if r.CapsuleID == "" {
		r.CapsuleID = c.ID
	}
	if r.Description == "" {
		r.Description = str(c.Metadata, "description")
		if r.Description == "" {
			r.Description = str(c.Metadata, "original_request")
		}
	}
	if r.Language == "" {
		r.Language = str(c.Metadata, "language")
	}
	for p, content := range c.SourceCode {
		r.Files = append(r.Files, CapsuleFile{Path: p, Content: content, Role: "source"})
	}
	for p, content := range c.Tests {
		r.Files = append(r.Files, CapsuleFile{Path: p, Content: content, Role: "test"})
	}
	if vr := c.ValidationReport; vr != nil && !r.Validated {
		r.Validated = vr.OverallStatus == "passed" || vr.OverallStatus == "valid"
		r.ValidationScore = vr.ConfidenceScore
	}
	return r
}

// legacyPattern is the earlier /patterns/code body.
type legacyPattern struct {
	Content  string `json:"content"`
	Metadata struct {
		TaskType    string  `json:"task_type"`
		Complexity  string  `json:"complexity"`
		Tier        string  `json:"tier"`
		Confidence  float64 `json:"confidence"`
		Language    string  `json:"language"`
		Description string  `json:"description"`
		RequestID   string  `json:"request_id"`
		Validated   bool    `json:"validated"`
	} `json:"metadata"`
}

func (p legacyPattern) pattern() CodePattern {
	m := p.Metadata
	desc := m.Description
	if desc == "" {
		desc = m.TaskType + " " + m.Complexity
	}
	return CodePattern{RequestID: m.RequestID, Language: m.Language, TaskType: m.TaskType, Complexity: m.Complexity, Tier: m.Tier,
		Description: desc, Code: p.Content, Validated: m.Validated, Score: m.Confidence}
}
