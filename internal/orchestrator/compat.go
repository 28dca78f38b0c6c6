package orchestrator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// The earlier QLP's clients read these routes with fixed expectations: its
// Python SDK builds dataclasses from GET /v2/workflows/{id} and its result
// (an unknown or missing key raises), both SDKs wait for the upper-case
// states COMPLETED, FAILED and CANCELLED, and its CLI polls
// /workflow/status/{id} for running|completed|failed|canceled and reads
// GET /capsule/{id} for validate and inspect. These routes answer exactly
// those shapes (recorded in testdata/earlier-clients/); QLP's own view of a
// job is GET /api/v2/jobs/{id}.

// pythonTime formats a time as Python's datetime.isoformat() does, which is
// what the earlier SDK's datetime.fromisoformat() parses on every Python 3
// (it refuses Go's "Z" and nanoseconds before 3.11).
func pythonTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format("2006-01-02T15:04:05.000000-07:00")
	return &s
}

// LegacyWorkflowStatus answers GET /v2/workflows/{id}: the earlier SDKs'
// WorkflowStatus, with no key more or less.
type LegacyWorkflowStatus struct {
	WorkflowID string `json:"workflow_id"`
	// Status is RUNNING (also while queued), COMPLETED, FAILED or
	// CANCELLED, the words the SDKs' wait_for_completion compares.
	Status        string   `json:"status"`
	StartedAt     *string  `json:"started_at"`
	CompletedAt   *string  `json:"completed_at"`
	ExecutionTime *float64 `json:"execution_time"`
	// Progress is a free-form object for the SDKs; a failed job's reason is
	// its message.
	Progress   Progress `json:"progress"`
	ResultLink string   `json:"result_link,omitempty"`
	// No trace_id here: the earlier Python SDK's dataclass refuses any
	// other key. QLP's own status (GET /api/v2/jobs/{id}) has it.
}

// LegacyResult answers GET /v2/workflows/{id}/result: the earlier SDKs'
// CapsuleResult, with no key more or less.
type LegacyResult struct {
	CapsuleID *string `json:"capsule_id"`
	RequestID string  `json:"request_id"`
	Status    string  `json:"status"` // the job's: completed, failed or cancelled
	// SourceCode is every file of the capsule at its path (the SDK's only
	// map of files), validation-report.json and the manifest aside.
	SourceCode map[string]string `json:"source_code"`
	// Downloads links the archive as zip, tar and targz (tar.gz).
	Downloads map[string]string    `json:"downloads"`
	Metadata  LegacyResultMetadata `json:"metadata"`
}

// LegacyResultMetadata is the free-form metadata of LegacyResult: what the
// SDK's CapsuleResult has no field for.
type LegacyResultMetadata struct {
	WorkflowID string `json:"workflow_id"`
	Mode       string `json:"mode"`
	Error      string `json:"error,omitempty"`
	// Download is the archive in the format the job's options.delivery
	// asked for.
	Download   string                     `json:"download,omitempty"`
	Validation *capsule.ValidationSummary `json:"validation,omitempty"`
	Result     JobResult                  `json:"result"`
}

// LegacyJobStatus answers GET /workflow/status/{id}: the earlier CLI's
// shape (it reads status, error, started_at, result).
type LegacyJobStatus struct {
	// Status is running (also while queued), completed, failed or canceled.
	Status     string  `json:"status"`
	WorkflowID string  `json:"workflow_id"`
	RequestID  string  `json:"request_id"`
	StartedAt  *string `json:"started_at"`
	// One of these, by status.
	CompletedAt *string `json:"completed_at,omitempty"`
	FailedAt    *string `json:"failed_at,omitempty"`
	CanceledAt  *string `json:"canceled_at,omitempty"`
	// WorkflowStatus is QUEUED or RUNNING while the job runs.
	WorkflowStatus string `json:"workflow_status,omitempty"`
	Error          string `json:"error,omitempty"`
	// Result is the earlier WorkflowResult, also while running (for the
	// counts of tasks done).
	Result *LegacyWorkflowResult `json:"result"`
}

// LegacyWorkflowResult is the earlier WorkflowResult: JobResult and the
// metadata the earlier CLI shows (capsule_info.files by category,
// total_cost in USD).
type LegacyWorkflowResult struct {
	JobResult
	Metadata LegacyJobMetadata `json:"metadata"`
}

// LegacyJobMetadata is the metadata of LegacyWorkflowResult.
type LegacyJobMetadata struct {
	CapsuleInfo *LegacyCapsuleInfo `json:"capsule_info,omitempty"`
	TotalCost   float64            `json:"total_cost"`
}

// LegacyCapsuleInfo names a capsule's files by category, as the earlier
// capsule_info did.
type LegacyCapsuleInfo struct {
	CapsuleID string              `json:"capsule_id"`
	Language  string              `json:"language"`
	Framework string              `json:"framework"`
	Files     map[string][]string `json:"files"` // source, tests, docs, config
}

// LegacyCapsule answers GET /capsule/{id}: the earlier QLCapsule as the
// earlier CLI's validate and inspect read it.
type LegacyCapsule struct {
	CapsuleID        string            `json:"capsule_id"`
	RequestID        string            `json:"request_id"`
	Status           string            `json:"status"` // stored
	Manifest         json.RawMessage   `json:"manifest"`
	SourceCode       map[string]string `json:"source_code"`   // sources and configuration
	Tests            map[string]string `json:"tests"`         // test files
	Documentation    string            `json:"documentation"` // README.md
	ValidationReport json.RawMessage   `json:"validation_report"`
	// Validation is the report as the earlier CLI's validate reads it.
	Validation       LegacyValidation `json:"validation"`
	DeploymentConfig map[string]any   `json:"deployment_config"`
	Metadata         struct {
		CapsuleInfo LegacyCapsuleInfo `json:"capsule_info"`
		Version     int               `json:"version"`
	} `json:"metadata"`
	CreatedAt string `json:"created_at"`
}

// LegacyValidation sums a capsule's validation report up for the earlier
// CLI: overall_status passed, passed_with_warnings, failed or
// not_validated; confidence_score is absent when nothing was validated.
type LegacyValidation struct {
	OverallStatus       string        `json:"overall_status"`
	ConfidenceScore     *float64      `json:"confidence_score,omitempty"`
	RequiresHumanReview bool          `json:"requires_human_review"`
	Summary             string        `json:"summary"`
	Checks              []LegacyCheck `json:"checks"`
}

// LegacyCheck is one check: passed is false for a check that failed, warned
// or was skipped, and message says which and why.
type LegacyCheck struct {
	Name    string `json:"name"`
	Passed  bool   `json:"passed"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func legacyUpper(st domain.JobStatus) string {
	switch st {
	case domain.JobCompleted:
		return "COMPLETED"
	case domain.JobFailed:
		return "FAILED"
	case domain.JobCancelled:
		return "CANCELLED"
	}
	return "RUNNING"
}

func (s *Service) handleV2Status(w http.ResponseWriter, r *http.Request) error {
	job, err := s.jobFor(r)
	if err != nil {
		return err
	}
	job = s.liveCounts(r, job)
	resp := LegacyWorkflowStatus{WorkflowID: job.WorkflowID, Status: legacyUpper(job.Status), StartedAt: pythonTime(job.StartedAt),
		CompletedAt: pythonTime(job.CompletedAt), Progress: progressOf(job)}
	if job.StartedAt != nil {
		t := executionTime(job)
		resp.ExecutionTime = &t
	}
	if job.Status.Terminal() {
		resp.ResultLink = s.link("/v2/workflows/" + job.WorkflowID + "/result")
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

// liveCounts counts the tasks done so far (the job's tasks_done is written
// only at its end).
func (s *Service) liveCounts(r *http.Request, job domain.Job) domain.Job {
	if !job.Status.Terminal() && job.TasksTotal > 0 {
		if tasks, err := s.store.ListTasks(r.Context(), job.ID); err == nil {
			job.TasksDone = 0
			for _, t := range tasks {
				if t.Status == domain.TaskCompleted {
					job.TasksDone++
				}
			}
		}
	}
	return job
}

func (s *Service) handleV2Result(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	job, err := s.jobFor(r)
	if err != nil {
		return err
	}
	if !job.Status.Terminal() {
		return &httpx.Error{Status: http.StatusConflict, Code: "not_finished", Message: fmt.Sprintf("job %s is still %s; poll /v2/workflows/%s", job.RequestID, job.Status, job.WorkflowID)}
	}
	res, err := s.result(r, job)
	if err != nil {
		return err
	}
	resp := LegacyResult{RequestID: job.RequestID, Status: string(job.Status), SourceCode: map[string]string{}, Downloads: map[string]string{},
		Metadata: LegacyResultMetadata{WorkflowID: job.WorkflowID, Mode: job.Mode, Error: job.Error, Result: res}}
	if job.CapsuleID != "" {
		_, v, err := s.Capsule(r.Context(), tid, job.CapsuleID, 0)
		if err != nil {
			return err
		}
		id := job.CapsuleID
		resp.CapsuleID = &id
		resp.Downloads = s.downloads(id)
		for _, f := range v.Files {
			if f.Role != capsule.RoleReport {
				resp.SourceCode[f.Path] = string(f.Content)
			}
		}
		var m capsule.Manifest
		if json.Unmarshal(v.Manifest, &m) == nil {
			resp.Metadata.Validation = &m.Validation
		}
		resp.Metadata.Download = s.link("/api/capsules/" + id + "/download?format=" + deliveryOf(job).Format)
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

// deliveryOf reads a job's delivery options (zip download by default).
func deliveryOf(job domain.Job) Delivery {
	var m struct {
		Delivery Delivery `json:"qlp_delivery"`
	}
	_ = json.Unmarshal(job.Metadata, &m)
	if m.Delivery.Format == "" {
		m.Delivery.Format = capsule.FormatZip
	}
	if m.Delivery.Method == "" {
		m.Delivery.Method = "download"
	}
	return m.Delivery
}

func (s *Service) handleLegacyStatus(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	job, err := s.jobFor(r)
	if err != nil {
		return err
	}
	res, err := s.result(r, job)
	if err != nil {
		return err
	}
	resp := LegacyJobStatus{WorkflowID: job.WorkflowID, RequestID: job.RequestID, StartedAt: pythonTime(job.StartedAt), Error: job.Error,
		Result: &LegacyWorkflowResult{JobResult: res}}
	resp.Result.Metadata.TotalCost, _ = strconv.ParseFloat(res.Cost.USD, 64)
	switch job.Status {
	case domain.JobCompleted:
		resp.Status, resp.CompletedAt = "completed", pythonTime(job.CompletedAt)
	case domain.JobFailed:
		resp.Status, resp.FailedAt = "failed", pythonTime(job.CompletedAt)
	case domain.JobCancelled:
		resp.Status, resp.CanceledAt = "canceled", pythonTime(job.CompletedAt)
	default:
		resp.Status, resp.WorkflowStatus = "running", strings.ToUpper(string(job.Status))
	}
	if job.CapsuleID != "" {
		c, v, err := s.Capsule(r.Context(), tid, job.CapsuleID, 0)
		if err != nil {
			return err
		}
		info := capsuleInfo(c, v)
		resp.Result.Metadata.CapsuleInfo = &info
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

var legacyCategory = map[string]string{capsule.RoleSource: "source", capsule.RoleTest: "tests", capsule.RoleDoc: "docs", capsule.RoleConfig: "config"}

func capsuleInfo(c domain.Capsule, v domain.CapsuleVersion) LegacyCapsuleInfo {
	info := LegacyCapsuleInfo{CapsuleID: c.ID, Language: c.Language, Files: map[string][]string{"source": {}, "tests": {}, "docs": {}, "config": {}}}
	var m capsule.Manifest
	if json.Unmarshal(v.Manifest, &m) == nil {
		info.Framework = m.Framework
	}
	for _, f := range v.Files {
		if cat, ok := legacyCategory[f.Role]; ok {
			info.Files[cat] = append(info.Files[cat], f.Path)
		}
	}
	return info
}

var legacyOverall = map[string]string{"passed": "passed", "warning": "passed_with_warnings", "failed": "failed", "not_validated": "not_validated"}

func (s *Service) handleLegacyCapsule(w http.ResponseWriter, r *http.Request) error {
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
	// The capsule names its job by key; the client knows the job by the
	// request id it (or QLP) chose.
	job, err := s.store.GetJob(r.Context(), tid, c.JobID)
	if err != nil {
		return fmt.Errorf("capsule %s: its job: %w", c.ID, err)
	}
	out := LegacyCapsule{CapsuleID: c.ID, RequestID: job.RequestID, Status: "stored", Manifest: v.Manifest, SourceCode: map[string]string{},
		Tests: map[string]string{}, ValidationReport: v.Report, DeploymentConfig: map[string]any{}, CreatedAt: *pythonTime(&v.CreatedAt)}
	out.Metadata.CapsuleInfo, out.Metadata.Version = capsuleInfo(c, v), v.Version
	for _, f := range v.Files {
		switch {
		case f.Role == capsule.RoleReport:
		case f.Role == capsule.RoleTest:
			out.Tests[f.Path] = string(f.Content)
		case f.Path == capsule.ReadmeFile:
			out.Documentation = string(f.Content)
		default:
			out.SourceCode[f.Path] = string(f.Content)
		}
	}
	var rep struct {
		OverallStatus       string   `json:"overall_status"`
		ConfidenceScore     *float64 `json:"confidence_score"`
		RequiresHumanReview bool     `json:"requires_human_review"`
		Summary             string   `json:"summary"`
		Checks              []struct {
			Name, Status, Message, Reason string
		} `json:"checks"`
	}
	if err := json.Unmarshal(v.Report, &rep); err != nil {
		return fmt.Errorf("capsule %s: validation report: %w", c.ID, err)
	}
	out.Validation = LegacyValidation{OverallStatus: legacyOverall[rep.OverallStatus], ConfidenceScore: rep.ConfidenceScore,
		RequiresHumanReview: rep.RequiresHumanReview, Summary: rep.Summary, Checks: []LegacyCheck{}}
	if out.Validation.OverallStatus == "" {
		out.Validation.OverallStatus = rep.OverallStatus
	}
	for _, ch := range rep.Checks {
		msg := ch.Message
		if ch.Reason != "" && !strings.Contains(msg, ch.Reason) {
			msg = strings.TrimSpace(msg + " " + ch.Reason)
		}
		out.Validation.Checks = append(out.Validation.Checks, LegacyCheck{Name: ch.Name, Passed: ch.Status == "passed", Status: ch.Status, Message: msg})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// legacyExecute applies what the earlier CLI puts in POST /execute's
// metadata: its --language (metadata.language, "auto" by default) becomes
// constraints.language unless the constraints name one, and its --deploy
// (metadata.deploy_target) is refused: there is no deployment.
func legacyExecute(body *ExecuteRequest) error {
	if v, ok := body.Metadata["deploy_target"]; ok && v != nil && v != "" {
		return notImplemented("metadata.deploy_target", "deployment: download the capsule and deploy it yourself")
	}
	v, ok := body.Metadata["language"]
	if !ok || v == nil {
		return nil
	}
	lang, isString := v.(string)
	if !isString {
		return httpx.BadRequest("metadata.language", "must be a string")
	}
	if _, set := body.Constraints["language"]; set || lang == "" || lang == "auto" {
		return nil
	}
	if _, ok := vocab.NormalizeLanguage(lang); !ok {
		return httpx.BadRequest("metadata.language", "%q is not supported; use one of %s, or auto", lang, strings.Join(vocab.Languages(), ", "))
	}
	if body.Constraints == nil {
		body.Constraints = map[string]any{}
	}
	body.Constraints["language"] = lang
	return nil
}
