package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// ReviewInfo is a review as the API shows it.
type ReviewInfo struct {
	ID         string     `json:"id"`
	RequestID  string     `json:"request_id"`
	WorkflowID string     `json:"workflow_id"`
	TaskID     string     `json:"task_id"`
	Attempt    int        `json:"attempt"`
	Status     string     `json:"status"` // pending|approved|rejected|changes_requested|expired
	Decision   string     `json:"decision,omitempty"`
	Confidence *float64   `json:"confidence"`
	Reasons    []string   `json:"reasons"`
	Summary    string     `json:"summary,omitempty"`
	Comment    string     `json:"comment,omitempty"`
	DecidedBy  string     `json:"decided_by,omitempty"`
	OnTimeout  string     `json:"on_timeout,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	TimeoutAt  *time.Time `json:"timeout_at,omitempty"`
	DecidedAt  *time.Time `json:"decided_at,omitempty"`
}

// ReviewList answers GET /hitl/pending.
type ReviewList struct {
	Reviews []ReviewInfo `json:"reviews"`
	Count   int          `json:"count"`
}

// ReviewResponse is the body of POST /hitl/respond/{id}: decision
// approve|reject|request_changes, a comment (required for
// request_changes: it becomes part of the next attempt's prompt) and who
// decides. The earlier QLP's HITLResponse fields (user_id, and response as
// a word, free text or {approved, comments, modifications}) are accepted
// too.
type ReviewResponse struct {
	Decision string `json:"decision,omitempty"`
	Comment  string `json:"comment,omitempty"`
	Reviewer string `json:"reviewer,omitempty"`

	RequestID string          `json:"request_id,omitempty"`
	UserID    string          `json:"user_id,omitempty"`
	Response  json.RawMessage `json:"response,omitempty"`
}

// reviewInfo shows a review of the job whose request id is requestID. A
// review names its job by key; the job's workflow id is derived from it.
func reviewInfo(r domain.Review, requestID string) ReviewInfo {
	reasons := r.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	return ReviewInfo{ID: r.ID, RequestID: requestID, WorkflowID: workflow.WorkflowID(r.JobID), TaskID: r.TaskID, Attempt: r.Attempt,
		Status: r.Status, Decision: workflow.DecisionOf(r), Confidence: r.Confidence, Reasons: reasons, Summary: r.Summary, Comment: r.Comment,
		DecidedBy: r.DecidedBy, OnTimeout: r.TimeoutPolicy, CreatedAt: r.CreatedAt, TimeoutAt: r.TimeoutAt, DecidedAt: r.DecidedAt}
}

// normalize turns the body into a decision and comment, reading the
// earlier QLP's fields when decision is absent.
func (b ReviewResponse) normalize() (decision, comment, reviewer string, err error) {
	decision, comment, reviewer = strings.ToLower(strings.TrimSpace(b.Decision)), strings.TrimSpace(b.Comment), strings.TrimSpace(b.Reviewer)
	if reviewer == "" {
		reviewer = strings.TrimSpace(b.UserID)
	}
	if decision == "" && len(b.Response) > 0 {
		var text string
		var obj struct {
			Approved      *bool  `json:"approved"`
			Comments      string `json:"comments"`
			Modifications any    `json:"modifications"`
		}
		switch {
		case json.Unmarshal(b.Response, &text) == nil:
			switch w := strings.ToLower(strings.TrimSpace(text)); w {
			case "approve", "approved", "yes":
				decision = workflow.DecisionApprove
			case "reject", "rejected", "no":
				decision = workflow.DecisionReject
			default:
				// Free text is feedback: the next attempt gets it.
				decision, comment = workflow.DecisionRequestChanges, strings.TrimSpace(text)
			}
		case json.Unmarshal(b.Response, &obj) == nil && obj.Approved != nil:
			if comment == "" {
				comment = strings.TrimSpace(obj.Comments)
			}
			mods := ""
			switch m := obj.Modifications.(type) {
			case nil:
			case string:
				mods = strings.TrimSpace(m)
			default:
				if b, _ := json.Marshal(m); string(b) != "[]" && string(b) != "{}" {
					mods = string(b)
				}
			}
			switch {
			case *obj.Approved:
				decision = workflow.DecisionApprove
			case mods != "":
				decision, comment = workflow.DecisionRequestChanges, strings.TrimSpace(comment+"\n"+mods)
			case comment != "":
				decision = workflow.DecisionRequestChanges
			default:
				decision = workflow.DecisionReject
			}
		default:
			return "", "", "", httpx.BadRequest("response", "must be a word (approve, reject), feedback text, or {\"approved\": bool, \"comments\": ..., \"modifications\": ...}")
		}
	}
	switch decision {
	case workflow.DecisionApprove, workflow.DecisionReject:
	case workflow.DecisionRequestChanges, "changes":
		decision = workflow.DecisionRequestChanges
		if comment == "" {
			return "", "", "", httpx.BadRequest("comment", "request_changes needs a comment saying what to change: the next attempt's prompt gets it")
		}
	case "":
		return "", "", "", httpx.BadRequest("decision", "is required: approve, reject or request_changes")
	default:
		return "", "", "", httpx.BadRequest("decision", "%q is not approve, reject or request_changes", decision)
	}
	if len(comment) > 10_000 {
		return "", "", "", httpx.BadRequest("comment", "is %d characters; the limit is 10000", len(comment))
	}
	return decision, comment, reviewer, nil
}

// reviewInfos shows a tenant's reviews with their jobs' request ids.
func (s *Service) reviewInfos(ctx context.Context, tenantID string, rs ...store.Review) ([]ReviewInfo, error) {
	requestIDs := map[string]string{}
	out := make([]ReviewInfo, 0, len(rs))
	for _, r := range rs {
		rid, ok := requestIDs[r.JobID]
		if !ok {
			job, err := s.store.GetJob(ctx, tenantID, r.JobID)
			switch {
			case err == nil:
				rid = job.RequestID
			case errors.Is(err, store.ErrNotFound):
				rid = r.JobID
			default:
				return nil, err
			}
			requestIDs[r.JobID] = rid
		}
		out = append(out, reviewInfo(r, rid))
	}
	return out, nil
}

// PendingReviews returns a tenant's reviews waiting for a decision, oldest
// first.
func (s *Service) PendingReviews(ctx context.Context, tenantID string) ([]domain.Review, error) {
	return s.store.ListReviews(ctx, tenantID, domain.ReviewPending)
}

// Review returns one of a tenant's reviews.
func (s *Service) Review(ctx context.Context, tenantID, id string) (domain.Review, error) {
	r, err := s.store.GetReview(ctx, tenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return domain.Review{}, httpx.NotFound("review " + id)
	}
	return r, err
}

// Decide records a decision on a pending review and tells the job's
// workflow (ReviewSignal). The store decides who was first: a second
// decision is a conflict, and re-sends the recorded one in case the first
// signal was lost.
func (s *Service) Decide(ctx context.Context, tenantID, id, decision, comment, by string) (domain.Review, error) {
	status := map[string]string{workflow.DecisionApprove: domain.ReviewApproved, workflow.DecisionReject: domain.ReviewRejected,
		workflow.DecisionRequestChanges: domain.ReviewChangesRequested}[decision]
	if status == "" {
		return domain.Review{}, httpx.BadRequest("decision", "%q is not approve, reject or request_changes", decision)
	}
	r, err := s.Review(ctx, tenantID, id)
	if err != nil {
		return domain.Review{}, err
	}
	if s.tc == nil {
		return domain.Review{}, httpx.Unavailable(errNoEngine, "cannot deliver a decision from here: %v", errNoEngine)
	}
	// The review names its job by key, which is the tenant's as the review is.
	job, err := s.store.GetJob(ctx, tenantID, r.JobID)
	if errors.Is(err, store.ErrNotFound) {
		return domain.Review{}, httpx.NotFound("review " + id)
	}
	if err != nil {
		return domain.Review{}, err
	}
	if r.Status == domain.ReviewPending && job.Status.Terminal() {
		return domain.Review{}, httpx.Conflict("job %s is already %s; review %s can no longer change it", job.RequestID, job.Status, id)
	}
	if by == "" {
		by = "api"
	}
	if err := s.store.DecideReview(ctx, id, status, comment, by, time.Now().UTC()); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			return domain.Review{}, err
		}
		cur, gerr := s.store.GetReview(ctx, tenantID, id)
		if gerr != nil {
			return domain.Review{}, gerr
		}
		if d := workflow.DecisionOf(cur); d != "" && cur.Status != domain.ReviewExpired && !job.Status.Terminal() {
			// Heal a lost signal; the workflow ignores a repeat.
			_ = s.signal(ctx, job, workflow.ReviewDecision{ReviewID: id, Decision: d, Comment: cur.Comment, DecidedBy: cur.DecidedBy})
		}
		return domain.Review{}, httpx.Conflict("review %s was already decided: %s by %s", id, cur.Status, cur.DecidedBy)
	}
	if err := s.signal(ctx, job, workflow.ReviewDecision{ReviewID: id, Decision: decision, Comment: comment, DecidedBy: by}); err != nil {
		return domain.Review{}, httpx.Unavailable(err, "the decision on review %s is recorded, but the job could not be told; repeat the request to retry", id)
	}
	return s.store.GetReview(ctx, tenantID, id)
}

func (s *Service) signal(ctx context.Context, job domain.Job, d workflow.ReviewDecision) error {
	err := s.tc.SignalWorkflow(ctx, job.WorkflowID, "", workflow.ReviewSignal, d)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		// The workflow ended (cancelled, failed) after the review opened:
		// nothing waits for the decision any more.
		s.logger.Warn("review decision for a job that no longer runs", "job", job.ID, "review", d.ReviewID)
		return nil
	}
	return err
}

func (s *Service) handleHITLPending(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	rs, err := s.PendingReviews(r.Context(), tid)
	if err != nil {
		return err
	}
	infos, err := s.reviewInfos(r.Context(), tid, rs...)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, ReviewList{Reviews: infos, Count: len(infos)})
	return nil
}

func (s *Service) handleHITLStatus(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	rv, err := s.Review(r.Context(), tid, r.PathValue("id"))
	if err != nil {
		return err
	}
	infos, err := s.reviewInfos(r.Context(), tid, rv)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, infos[0])
	return nil
}

func (s *Service) handleHITLRespond(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	var body ReviewResponse
	if err := httpx.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	decision, comment, by, err := body.normalize()
	if err != nil {
		return err
	}
	if by == "" {
		if p, ok := auth.From(r.Context()); ok && p.KeyID != "" {
			by = "key:" + p.KeyID
		}
	}
	rv, err := s.Decide(r.Context(), tid, r.PathValue("id"), decision, comment, by)
	if err != nil {
		return err
	}
	infos, err := s.reviewInfos(r.Context(), tid, rv)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, infos[0])
	return nil
}
