package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/quantumlayer/qlp/internal/answer"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// ReviewerTier is the tier the automated reviewer (AITL) runs on.
const ReviewerTier = "T2"

// Who decided a review, besides a named person.
const (
	DecidedByAITL    = "aitl"
	DecidedByTimeout = "timeout"
)

// ReviewInput opens, or asks the automated reviewer about, the review of
// one attempt of a task.
type ReviewInput struct {
	RequestID  string
	TaskID     string
	Attempt    int
	Confidence float64
	Reasons    []string
	Summary    string
	Policy     ReviewPolicy
}

// AIVerdict is the automated reviewer's answer.
type AIVerdict struct {
	Decision string // approve|refine
	Comment  string
}

// CloseReviewInput applies a decision to a review.
type CloseReviewInput struct {
	RequestID string
	TaskID    string
	Attempt   int
	Decision  ReviewDecision
	// Expired: nobody decided in time and Decision is the timeout policy's.
	Expired bool
	// Withdrawn: the job stopped waiting (it was cancelled); the review is
	// closed without touching the task.
	Withdrawn bool
}

// NoteInput is a line for a job's progress.
type NoteInput struct {
	RequestID string
	TaskID    string
	Message   string
}

// reviewStatus is the store status a decision leaves a review in.
func reviewStatus(decision string) (string, error) {
	switch decision {
	case DecisionApprove:
		return domain.ReviewApproved, nil
	case DecisionReject:
		return domain.ReviewRejected, nil
	case DecisionRequestChanges:
		return domain.ReviewChangesRequested, nil
	}
	return "", fmt.Errorf("%q is not approve, reject or request_changes", decision)
}

// DecisionOf is the decision a decided review stands for: an expired one
// stands for its timeout policy. Pending (or withdrawn) reviews have none.
func DecisionOf(r domain.Review) string {
	switch r.Status {
	case domain.ReviewApproved:
		return DecisionApprove
	case domain.ReviewRejected:
		return DecisionReject
	case domain.ReviewChangesRequested:
		return DecisionRequestChanges
	case domain.ReviewExpired:
		if r.TimeoutPolicy == vocab.OnTimeoutApprove || r.TimeoutPolicy == vocab.OnTimeoutReject {
			return r.TimeoutPolicy
		}
	}
	return ""
}

// OpenReview records a pending review of an attempt that passed with too
// little confidence and announces it (review_requested, with the command
// that answers it). Opening it again (a retry) finds the same review.
func (a *Activities) OpenReview(ctx context.Context, in ReviewInput) (string, error) {
	job, err := a.Store.GetJob(ctx, "", in.RequestID)
	if err != nil {
		return "", err
	}
	id := ReviewID(job.ID, in.TaskID, in.Attempt)
	if _, err := a.Store.GetReview(ctx, "", id); err == nil {
		return id, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	conf, now := in.Confidence, a.now()
	r := domain.Review{ID: id, TenantID: job.TenantID, JobID: job.ID, TaskID: in.TaskID, Attempt: in.Attempt, Status: domain.ReviewPending,
		Confidence: &conf, Reasons: in.Reasons, Summary: in.Summary, TimeoutPolicy: in.Policy.OnTimeout, CreatedAt: now}
	data := map[string]any{"review_id": id, "attempt": in.Attempt, "confidence": conf, "threshold": in.Policy.Threshold,
		"on_timeout": in.Policy.OnTimeout, "summary": in.Summary, "respond": "qlp review approve|reject|changes " + id}
	if in.Policy.OnTimeout != vocab.OnTimeoutWait && in.Policy.Timeout > 0 {
		at := now.Add(in.Policy.Timeout)
		r.TimeoutAt = &at
		data["timeout_at"] = at
	}
	if err := a.Store.CreateReview(ctx, r); err != nil && !errors.Is(err, store.ErrConflict) {
		return "", err
	}
	a.publish(ctx, job, progress.ReviewRequested, in.TaskID,
		fmt.Sprintf("attempt %d passed with confidence %.2f, below the review threshold %.2f: waiting for a review (qlp review show %s)",
			in.Attempt, conf, in.Policy.Threshold, id), data)
	return id, nil
}

// reviewerData is what the automated reviewer sees.
type reviewerData struct {
	Project    Project
	Request    string
	Task       PlannedTask
	Current    []domain.File
	Confidence float64
	Summary    string
	Reasons    []string
	Attempt    int
	// Earlier are the changes reviewers asked for before, so that the
	// reviewer can tell whether they were made.
	Earlier []string
}

// AIReview asks the automated reviewer (on ReviewerTier) whether the
// attempt can be accepted. An unusable answer is an error: the workflow
// then waits for a person instead.
func (a *Activities) AIReview(ctx context.Context, in ReviewInput) (AIVerdict, error) {
	g, err := a.loadTask(ctx, TaskInput{RequestID: in.RequestID, TaskID: in.TaskID, Attempt: in.Attempt})
	if err != nil {
		return AIVerdict{}, err
	}
	atts, err := a.Store.ListAttempts(ctx, g.job.ID, in.TaskID)
	if err != nil {
		return AIVerdict{}, err
	}
	var earlier []string
	for _, at := range atts {
		if at.Attempt <= in.Attempt && at.Comment != "" {
			earlier = append(earlier, fmt.Sprintf("attempt %d was asked: %s", at.Attempt, at.Comment))
		}
	}
	msgs, err := renderPrompt("reviewer", reviewerData{Project: g.plan.Project, Request: g.request, Task: g.planned, Current: g.task.Files,
		Confidence: in.Confidence, Summary: in.Summary, Reasons: in.Reasons, Attempt: in.Attempt, Earlier: earlier})
	if err != nil {
		return AIVerdict{}, err
	}
	resp, err := a.call(ctx, g.job, ReviewerTier, llm.Meta{TaskID: in.TaskID, Role: "reviewer"}, msgs, true)
	if err != nil {
		return AIVerdict{}, err
	}
	v, err := parseVerdict(resp.Content)
	if err != nil {
		return AIVerdict{}, temporal.NewNonRetryableApplicationError("the automated reviewer's answer was unusable: "+err.Error(), ErrTypeUnusableOutput, nil)
	}
	return v, nil
}

// parseVerdict reads {"decision": "approve"|"refine", "comment": "..."}.
func parseVerdict(content string) (AIVerdict, error) {
	obj, err := answer.JSONObject(content)
	if err != nil {
		return AIVerdict{}, err
	}
	var raw struct {
		Decision string `json:"decision"`
		Comment  string `json:"comment"`
	}
	if err := json.Unmarshal([]byte(obj), &raw); err != nil {
		return AIVerdict{}, fmt.Errorf("not a verdict object: %w", err)
	}
	v := AIVerdict{Comment: strings.TrimSpace(raw.Comment)}
	switch strings.ToLower(strings.TrimSpace(raw.Decision)) {
	case "approve", "approved":
		v.Decision = "approve"
	case "refine", "request_changes", "changes":
		v.Decision = "refine"
		if v.Comment == "" {
			return AIVerdict{}, errors.New(`decision "refine" without a comment saying what to change`)
		}
	default:
		return AIVerdict{}, fmt.Errorf("decision %q is not approve or refine", raw.Decision)
	}
	return v, nil
}

// CloseReview applies a decision: it records it on the review unless the
// review was decided already (by the API, or in a race with the timeout),
// in which case the recorded decision wins and is returned. Approval
// completes the task. The decision is announced (review_decided).
func (a *Activities) CloseReview(ctx context.Context, in CloseReviewInput) (ReviewDecision, error) {
	job, err := a.Store.GetJob(ctx, "", in.RequestID)
	if err != nil {
		return ReviewDecision{}, err
	}
	id := in.Decision.ReviewID
	rv, err := a.Store.GetReview(ctx, "", id)
	if err != nil {
		return ReviewDecision{}, err
	}
	if rv.Status == domain.ReviewPending {
		status := domain.ReviewExpired
		if !in.Expired && !in.Withdrawn {
			if status, err = reviewStatus(in.Decision.Decision); err != nil {
				return ReviewDecision{}, temporal.NewNonRetryableApplicationError("review "+id+": "+err.Error(), ErrTypeJobState, nil)
			}
		}
		err := a.Store.DecideReview(ctx, id, status, in.Decision.Comment, in.Decision.DecidedBy, a.now())
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return ReviewDecision{}, err
		}
		if rv, err = a.Store.GetReview(ctx, "", id); err != nil {
			return ReviewDecision{}, err
		}
	}
	if in.Withdrawn {
		return ReviewDecision{ReviewID: id}, nil
	}
	d := ReviewDecision{ReviewID: id, Decision: DecisionOf(rv), Comment: rv.Comment, DecidedBy: rv.DecidedBy}
	if d.Decision == "" {
		return ReviewDecision{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("review %s is %s, which decides nothing", id, rv.Status), ErrTypeJobState, nil)
	}
	if d.Decision == DecisionApprove {
		if err := a.completeTask(ctx, job, in.TaskID, in.Attempt); err != nil {
			return ReviewDecision{}, err
		}
	}
	msg := fmt.Sprintf("review %s: %s by %s", id, d.Decision, d.DecidedBy)
	if rv.Status == domain.ReviewExpired {
		msg = fmt.Sprintf("review %s: nobody decided in time; the timeout policy %s applies", id, d.Decision)
	}
	if d.Comment != "" {
		msg += ": " + d.Comment
	}
	a.publish(ctx, job, progress.ReviewDecided, in.TaskID, msg, map[string]any{"review_id": id, "attempt": in.Attempt,
		"decision": d.Decision, "status": rv.Status, "decided_by": d.DecidedBy, "comment": d.Comment})
	return d, nil
}

// Note publishes a line of progress for the workflow, which cannot publish
// itself.
func (a *Activities) Note(ctx context.Context, in NoteInput) error {
	job, err := a.Store.GetJob(ctx, "", in.RequestID)
	if err != nil {
		return err
	}
	a.publish(ctx, job, progress.LogMessage, in.TaskID, in.Message, nil)
	return nil
}
