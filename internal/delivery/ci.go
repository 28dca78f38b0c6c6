package delivery

import "context"

// CIState is the combined state of the CI runs of one commit.
type CIState string

// CI states, as forges report them once folded into one.
const (
	// CIPending: at least one run has not finished, or none has started.
	CIPending CIState = "pending"
	// CISuccess: every run finished and passed.
	CISuccess CIState = "success"
	// CIFailure: at least one run finished and failed (or errored).
	CIFailure CIState = "failure"
)

// PullRequest names a pull (merge) request opened for a delivery: where it
// lives and the branch whose head the CI runs on.
type PullRequest struct {
	// Forge is "github" or "gitlab".
	Forge string `json:"forge"`
	// Repo is owner/name (GitHub) or the project's full path (GitLab).
	Repo string `json:"repo"`
	// Number is the pull request's number (GitLab: the merge request's iid).
	Number int `json:"number"`
	// URL is the page a person opens.
	URL string `json:"url"`
	// Branch is the head branch, the one later versions are pushed to.
	Branch string `json:"branch"`
	// Base is the branch it merges into.
	Base string `json:"base"`
	// APIURL is the forge's API base URL the pull request was opened
	// through, where its CI is read ("" for the configured one).
	APIURL string `json:"api_url,omitempty"`
}

// CIStatus is what a forge says about the CI of one commit.
type CIStatus struct {
	State CIState `json:"state"`
	// Failed names the failing runs (jobs or check runs), when State is
	// CIFailure.
	Failed []CIRun `json:"failed,omitempty"`
}

// CIRun is one failing CI run and the end of its log.
type CIRun struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
	// Log is the tail of the run's log (bounded by the forge client), the
	// text the repair loop is given as the failure.
	Log string `json:"log,omitempty"`
}

// CI reads the CI status of a commit of a pull request. Forge clients
// implement it; the delivery loop polls it after each push (or is woken by
// a webhook whose signature the forge client checked).
type CI interface {
	CIStatus(ctx context.Context, pr PullRequest, sha string) (CIStatus, error)
}

// CIEvent is a forge's webhook, its signature already checked, saying the
// CI state of a commit changed.
type CIEvent struct {
	Forge string  `json:"forge"`
	Repo  string  `json:"repo"`
	SHA   string  `json:"sha"`
	State CIState `json:"state"`
}

// CIWaker is told of CI events received by webhook so that the delivery
// rounds waiting on that commit look at once instead of at their next poll.
type CIWaker interface {
	WakeCI(ctx context.Context, ev CIEvent) error
}
