package orchestrator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// POST /v2/execute's options, turned into what the job does. Each option
// either changes what runs or is refused with a status naming it (400 for a
// value that is wrong, 501 for one asking for something this build does not
// do): none is accepted and then ignored.

// Execution modes of POST /v2/execute.
const (
	ModeBasic    = "basic"
	ModeComplete = "complete"
	ModeRobust   = "robust"
)

// deliveryKey is the metadata key under which a v2 job keeps its delivery
// options; like workflow.ExecutionKey it is written by the server only.
const deliveryKey = "qlp_delivery"

// traceKey is the metadata key under which a job keeps the id of its trace
// (written by the server only, when the job was submitted inside a trace).
const traceKey = "qlp_trace_id"

// tracerName is the instrumentation scope of the orchestrator's spans.
const tracerName = "github.com/quantumlayer/qlp/internal/orchestrator"

// traceIDOf reads a job's trace id, "" when it has none.
func traceIDOf(job domain.Job) string {
	var m struct {
		TraceID string `json:"qlp_trace_id"`
	}
	_ = json.Unmarshal(job.Metadata, &m)
	return m.TraceID
}

// reservedPrefix marks the metadata keys the server writes.
const reservedPrefix = "qlp_"

// V2Plan is what a v2 request's mode and options resolve to.
type V2Plan struct {
	Mode      string                    `json:"mode"`
	Execution workflow.ExecutionOptions `json:"validation"`
	// Delivery is how the capsule is delivered: its download format.
	Delivery Delivery `json:"delivery"`
}

// Delivery is a v2 job's delivery: a download in Format (zip, tar or
// tar.gz), the only method this build has.
type Delivery struct {
	Method string `json:"method"`
	Format string `json:"format"`
}

// resolveV2 checks a v2 request's mode, options.validation and
// options.delivery and resolves them:
//
//   - mode basic validates the assembled capsule quickly (compile checks,
//     tests, QLP's built-in security rules); complete (the default)
//     validates each task's attempts quickly and the capsule in full;
//     robust validates every attempt in full too (linter and scanner
//     findings reach the fixer) and is strict;
//   - validation.strict: the job completes only if the capsule's validation
//     passed (default: true in robust mode, false otherwise);
//   - validation.security: security checks always run; false is refused;
//   - validation.performance: there is no performance check; true is 501;
//   - delivery.format: zip (default), tar, tar.gz or targz: the format of
//     the result's download link; delivery.method: download is the only
//     method (email, s3… are 501); delivery.stream: true is 501.
func resolveV2(o V2Options) (V2Plan, error) {
	p := V2Plan{Mode: o.Mode, Delivery: Delivery{Method: "download", Format: capsule.FormatZip}}
	if p.Mode == "" {
		p.Mode = ModeComplete
	}
	switch p.Mode {
	case ModeBasic:
		p.Execution.CapsuleChecks = workflow.ChecksQuick
	case ModeComplete:
	case ModeRobust:
		p.Execution = workflow.ExecutionOptions{TaskChecks: workflow.ChecksFull, CapsuleChecks: workflow.ChecksFull, Strict: true}
	default:
		return V2Plan{}, httpx.BadRequest("options.mode", "%q is not basic, complete or robust", p.Mode)
	}
	if p.Execution.TaskChecks == "" {
		p.Execution.TaskChecks = workflow.ChecksQuick
	}
	if p.Execution.CapsuleChecks == "" {
		p.Execution.CapsuleChecks = workflow.ChecksFull
	}
	if err := eachOption("options.validation", o.Validation, map[string]func(field string, v any) error{
		"strict": func(field string, v any) error {
			b, err := boolOption(field, v)
			p.Execution.Strict = b
			return err
		},
		"security": func(field string, v any) error {
			if b, err := boolOption(field, v); err != nil || b {
				return err
			}
			return &httpx.Error{Status: http.StatusBadRequest, Code: "unsupported_option", Field: field,
				Message: "security checks cannot be turned off: QLP's security rules check every attempt and the scanners the capsule"}
		},
		"performance": func(field string, v any) error {
			if b, err := boolOption(field, v); err != nil || !b {
				return err
			}
			return notImplemented(field, "performance validation: no benchmark or load test runs on generated code")
		},
	}); err != nil {
		return V2Plan{}, err
	}
	if err := eachOption("options.delivery", o.Delivery, map[string]func(field string, v any) error{
		"format": func(field string, v any) error {
			s, ok := v.(string)
			if !ok || !capsule.ValidFormat(normalFormat(s)) {
				return httpx.BadRequest(field, "must be zip, tar, tar.gz or targz")
			}
			p.Delivery.Format = normalFormat(s)
			return nil
		},
		"method": func(field string, v any) error {
			s, ok := v.(string)
			switch {
			case !ok:
				return httpx.BadRequest(field, "must be a string")
			case s == "download":
				return nil
			}
			return notImplemented(field, fmt.Sprintf("delivery by %q: the capsule is delivered as a download (the result's downloads links)", s))
		},
		"stream": func(field string, v any) error {
			if b, err := boolOption(field, v); err != nil || !b {
				return err
			}
			return notImplemented(field, "streamed delivery: the archive is downloaded whole from the result's downloads links; progress streams from links.progress")
		},
	}); err != nil {
		return V2Plan{}, err
	}
	return p, nil
}

// eachOption runs the check of every key of opts, in a stable order, and
// refuses a key it does not know.
func eachOption(prefix string, opts map[string]any, checks map[string]func(field string, v any) error) error {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := prefix + "." + k
		check, ok := checks[k]
		if !ok {
			known := make([]string, 0, len(checks))
			for n := range checks {
				known = append(known, n)
			}
			slices.Sort(known)
			return httpx.BadRequest(field, "is not an option here (known: %s)", strings.Join(known, ", "))
		}
		if opts[k] == nil {
			continue // null: the default
		}
		if err := check(field, opts[k]); err != nil {
			return err
		}
	}
	return nil
}

func boolOption(field string, v any) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, httpx.BadRequest(field, "must be true or false")
	}
	return b, nil
}

func notImplemented(field, what string) error {
	return &httpx.Error{Status: http.StatusNotImplemented, Code: "not_implemented", Field: field, Message: "not implemented: " + what}
}

// normalFormat accepts the earlier clients' "targz" for tar.gz.
func normalFormat(f string) string {
	if f == "targz" {
		return capsule.FormatTarGz
	}
	return f
}

// features lists what a job runs with, from the settings it was started
// with: the validation depths and strictness, the repair loop and tier
// escalation (QLP_WORKFLOW_MAX_ATTEMPTS, _ESCALATE_AFTER), a forced tier,
// human and automated review (the review policy in force for the job),
// reuse, and the delivery. What actually ran is in the result: the
// capsule's validation report names every check and why one was skipped.
func (s *Service) features(plan V2Plan, tierOverride string, review workflow.ReviewPolicy, reuse bool) []string {
	depth := func(quick bool) string {
		if quick {
			return workflow.ChecksQuick
		}
		return workflow.ChecksFull
	}
	f := []string{"task_validation:" + depth(plan.Execution.QuickTasks()), "capsule_validation:" + depth(plan.Execution.QuickCapsule())}
	if plan.Execution.Strict {
		f = append(f, "strict_validation")
	}
	attempts, escalate := s.cfg.Workflow.MaxAttempts, s.cfg.Workflow.EscalateAfter
	if attempts <= 0 {
		attempts = workflow.Defaults().MaxAttempts
	}
	if escalate <= 0 {
		escalate = workflow.Defaults().EscalateAfter
	}
	if attempts > 1 {
		f = append(f, fmt.Sprintf("repair_loop:%d_attempts", attempts))
	}
	if tierOverride != "" {
		f = append(f, "tier_override:"+tierOverride)
	}
	if attempts > escalate {
		f = append(f, fmt.Sprintf("tier_escalation:after_%d", escalate))
	}
	if review.Enabled() {
		f = append(f, fmt.Sprintf("human_review:below_%g", review.Threshold))
		if review.AITL {
			f = append(f, "automated_review")
		}
	}
	if reuse {
		f = append(f, "reuse")
	}
	f = append(f, "signed_capsule", "delivery:"+plan.Delivery.Method+":"+plan.Delivery.Format)
	return f
}
