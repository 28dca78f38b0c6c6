package forge

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/quantumlayer/qlp/internal/delivery"
)

// VerifyGitHubSignature checks X-Hub-Signature-256 ("sha256=<hex>"): the
// HMAC-SHA256 of the body with the webhook's secret, compared in constant
// time. An empty secret verifies nothing.
func VerifyGitHubSignature(secret string, body []byte, header string) bool {
	if secret == "" {
		return false
	}
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// SignGitHub is the X-Hub-Signature-256 GitHub sends for body (tests and
// the fake forge sign with it).
func SignGitHub(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifyGitLabToken compares X-Gitlab-Token with the webhook's secret
// token in constant time. An empty secret verifies nothing.
func VerifyGitLabToken(secret, header string) bool {
	if secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(secret), []byte(header)) == 1
}

// ghRepoPayload is the repository every GitHub webhook carries.
type ghRepoPayload struct {
	FullName string `json:"full_name"`
}

type ghRun struct {
	HeadSHA    string `json:"head_sha"`
	Status     string `json:"status"`
	Conclusion string `json:"conclusion"`
}

// ParseGitHubEvent reads a GitHub webhook of type event (X-GitHub-Event)
// into a CI event. ok is false for events that say nothing about CI (ping,
// push…), which are acknowledged and ignored.
func ParseGitHubEvent(event string, body []byte) (ev delivery.CIEvent, ok bool, err error) {
	var p struct {
		Repository  ghRepoPayload `json:"repository"`
		CheckSuite  *ghRun        `json:"check_suite"`
		CheckRun    *ghRun        `json:"check_run"`
		WorkflowRun *ghRun        `json:"workflow_run"`
		SHA         string        `json:"sha"`
		State       string        `json:"state"`
	}
	var run *ghRun
	switch event {
	case "check_suite", "check_run", "workflow_run", "status":
	default:
		return delivery.CIEvent{}, false, nil
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return delivery.CIEvent{}, false, fmt.Errorf("a %s event whose body is not JSON: %w", event, err)
	}
	ev = delivery.CIEvent{Forge: GitHub, Repo: p.Repository.FullName}
	switch event {
	case "check_suite":
		run = p.CheckSuite
	case "check_run":
		run = p.CheckRun
	case "workflow_run":
		run = p.WorkflowRun
	case "status":
		ev.SHA, ev.State = p.SHA, statusState(p.State)
	}
	if event != "status" {
		if run == nil {
			return delivery.CIEvent{}, false, fmt.Errorf("a %s event without its %s object", event, event)
		}
		ev.SHA, ev.State = run.HeadSHA, checkState(run.Status, run.Conclusion)
	}
	if ev.Repo == "" || ev.SHA == "" {
		return delivery.CIEvent{}, false, fmt.Errorf("a %s event without repository.full_name or the commit's sha", event)
	}
	return ev, true, nil
}

// ParseGitLabEvent reads a GitLab webhook (X-Gitlab-Event) into a CI
// event; only pipeline events say something about CI.
func ParseGitLabEvent(event string, body []byte) (ev delivery.CIEvent, ok bool, err error) {
	var p struct {
		ObjectKind       string `json:"object_kind"`
		ObjectAttributes struct {
			SHA    string `json:"sha"`
			Status string `json:"status"`
		} `json:"object_attributes"`
		Project struct {
			PathWithNamespace string `json:"path_with_namespace"`
		} `json:"project"`
	}
	if event != "Pipeline Hook" && event != "" {
		return delivery.CIEvent{}, false, nil
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return delivery.CIEvent{}, false, fmt.Errorf("a pipeline event whose body is not JSON: %w", err)
	}
	if p.ObjectKind != "pipeline" {
		return delivery.CIEvent{}, false, nil
	}
	ev = delivery.CIEvent{Forge: GitLab, Repo: p.Project.PathWithNamespace, SHA: p.ObjectAttributes.SHA, State: pipelineState(p.ObjectAttributes.Status)}
	if ev.Repo == "" || ev.SHA == "" {
		return delivery.CIEvent{}, false, fmt.Errorf("a pipeline event without project.path_with_namespace or object_attributes.sha")
	}
	return ev, true, nil
}
