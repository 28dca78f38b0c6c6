// Package validation is the Validation Mesh: it checks a project with the
// real compilers, linters, type checkers, security scanners and the
// project's own tests, every one of them run inside the Execution Sandbox
// (the code under check is hostile), and sums the evidence up in a report
// whose confidence score follows one documented formula (score.go,
// docs/validation.md).
//
// [Mesh] is the in-process implementation of [Validator]; [Client] talks to
// a Mesh's HTTP handler. Both pass the same conformance suite.
package validation

import (
	"context"
	"fmt"
)

// Validator validates projects. The in-process [Mesh] and the HTTP
// [Client] implement it.
type Validator interface {
	// Validate checks the project and reports what every applicable check
	// found. It returns a [*RequestError] for a malformed request; a
	// project that fails its checks is a report with status failed, not an
	// error.
	Validate(ctx context.Context, req Request) (*Report, error)
	// Validators lists the checks this host can run, with tool versions.
	Validators(ctx context.Context) (*ValidatorsResponse, error)
}

// Request is a project to validate.
type Request struct {
	// Language is one of [vocab.Languages]: go, python, javascript, typescript,
	// bash, java, rust.
	Language string `json:"language"`
	// Files is the project, at relative slash-separated paths.
	Files []File `json:"files"`
	// Commands are the project's own build, test and run commands (as a
	// capsule manifest states them). Test, when set, is the command the
	// tests check runs; empty means the language's default test runner.
	Commands Commands `json:"commands"`
	// Dependencies the project declares beyond its manifest files
	// (go.mod, requirements.txt, package.json are read too).
	Dependencies []string `json:"dependencies,omitempty"`
	// Partial says the files are part of a project (one generated task
	// and what it depends on): the checks that need the whole project
	// (declared dependencies, manifest commands) are skipped, saying so.
	Partial bool `json:"partial,omitempty"`
	// Quick runs only what decides whether the code works — the compile
	// checks, the tests and QLP's built-in security rules — and reports
	// the style, type and third-party security checks as skipped (the
	// workflow validates each task quickly, unless
	// workflow.task_validation is full, and the assembled capsule in full,
	// routing what only the full validation finds back to the tasks).
	Quick bool `json:"quick,omitempty"`
	// SkipTests leaves the project's tests out (the tests check is
	// reported as skipped).
	SkipTests bool `json:"skip_tests,omitempty"`
	// Label names the request in logs and the report, e.g. "task t2".
	Label string `json:"label,omitempty"`
}

// File is one file of the project. Content is text (UTF-8); binary files
// are rejected.
type File struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

// Commands are a project's build, test and run commands, as shell words.
type Commands struct {
	Build string `json:"build,omitempty"`
	Test  string `json:"test,omitempty"`
	Run   string `json:"run,omitempty"`
}

// Check statuses. Skipped is never counted as passed.
const (
	StatusPassed  = "passed"
	StatusWarning = "warning"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// Categories of checks.
const (
	CategoryCompile     = "compile"     // syntax and compilation: gates the score
	CategoryStyle       = "style"       // formatting and lint
	CategoryTypes       = "types"       // static types and static analysis
	CategorySecurity    = "security"    // scanners, secrets, dangerous patterns
	CategoryTests       = "tests"       // the project's own tests: gates the score
	CategoryConsistency = "consistency" // imports vs declared dependencies, commands
)

// Finding severities, worst first.
const (
	SeverityCritical = "critical"
	SeverityHigh     = "high"
	SeverityMedium   = "medium"
	SeverityLow      = "low"
	SeverityInfo     = "info"
)

// Finding is one thing a tool found, at a place in the project.
type Finding struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	RuleID   string `json:"rule_id"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d:%d: %s [%s %s]", f.File, f.Line, f.Column, f.Message, f.Severity, f.RuleID)
}

// Check is the outcome of one validator.
type Check struct {
	Name     string `json:"name"`     // e.g. "go-build", "staticcheck", "secrets"
	Category string `json:"category"` // one of the Category* constants
	// Type, Message and Severity keep the earlier QLP's ValidationCheck
	// fields: type static_analysis|unit_test|security, a one-line message,
	// and the worst finding as info|warning|error|critical.
	Type        string `json:"type"`
	Message     string `json:"message"`
	Severity    string `json:"severity"`
	Tool        string `json:"tool"`
	ToolVersion string `json:"tool_version"`
	Status      string `json:"status"` // passed|warning|failed|skipped
	// Reason says why a check failed or was skipped, e.g.
	// "skipped: staticcheck not installed".
	Reason     string    `json:"reason,omitempty"`
	Findings   []Finding `json:"findings"`
	DurationMS int64     `json:"duration_ms"`
	// Cached is true when the whole result came from the cache: an
	// earlier validation of the same tenant ran this check on the same
	// inputs (the files it reads, its tool's version, its options).
	Cached bool `json:"cached"`
	// Reused says which parts of the result were not run again but taken
	// from earlier validations (nil: all of it ran now).
	Reused *Reuse `json:"reused,omitempty"`
	// Output is the tail of the tool's own output, as evidence.
	Output string `json:"output,omitempty"`
}

// Reuse is what of a check's result came from earlier validations of the
// same tenant whose inputs for it were the same.
type Reuse struct {
	// Units is how many parts the result is made of: one, or one per Go
	// package for the per-package checks (go-vet, staticcheck, gosec,
	// gofmt); Reused how many of them were taken from earlier results.
	Units  int `json:"units"`
	Reused int `json:"reused"`
	// From are the labels of the validations that ran them.
	From []string `json:"from,omitempty"`
}

// TestRun is what the tests check counted.
type TestRun struct {
	Command string `json:"command"`
	Runner  string `json:"runner"` // go-test-json, pytest-junit, node-tap, bash-tap, rust-libtest, exit-code
	// Counted is false when the runner's output could not be parsed into
	// counts (a custom test command): only its exit code is known.
	Counted  bool   `json:"counted"`
	Total    int    `json:"total"`
	Passed   int    `json:"passed"`
	Failed   int    `json:"failed"`
	Skipped  int    `json:"skipped"`
	ExitCode int    `json:"exit_code"`
	Output   string `json:"output,omitempty"` // tail
}

// Report is the result of a validation. The earlier QLP's field names
// (overall_status, checks, confidence_score, requires_human_review) are
// kept; findings carry file, line and column.
type Report struct {
	OverallStatus       string   `json:"overall_status"` // passed|warning|failed
	ConfidenceScore     float64  `json:"confidence_score"`
	RequiresHumanReview bool     `json:"requires_human_review"`
	ReviewReasons       []string `json:"review_reasons"`
	Summary             string   `json:"summary"`
	Language            string   `json:"language"`
	Label               string   `json:"label,omitempty"`
	Checks              []Check  `json:"checks"`
	Tests               *TestRun `json:"tests,omitempty"`
	Scoring             Scoring  `json:"scoring"`
	// Reused names the checks whose results (in whole or in part) were
	// taken from earlier validations instead of run again.
	Reused []string `json:"reused,omitempty"`
	// ContentHash is the SHA-256 over the request's files and commands.
	ContentHash string `json:"content_hash"`
	DurationMS  int64  `json:"duration_ms"`
}

// Check returns the check with the given name, or nil.
func (r *Report) Check(name string) *Check {
	for i := range r.Checks {
		if r.Checks[i].Name == name {
			return &r.Checks[i]
		}
	}
	return nil
}

// Failed lists the names of the failed checks.
func (r *Report) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if c.Status == StatusFailed {
			out = append(out, c.Name)
		}
	}
	return out
}

// GateFailed reports whether a gating check (compile or tests) failed.
func (r *Report) GateFailed() bool {
	for _, c := range r.Checks {
		if c.Status == StatusFailed && gating(c.Category) {
			return true
		}
	}
	return false
}

// ValidatorInfo describes one check this host can (or cannot) run.
type ValidatorInfo struct {
	Name      string   `json:"name"`
	Category  string   `json:"category"`
	Languages []string `json:"languages"`
	Tool      string   `json:"tool"`
	Version   string   `json:"version,omitempty"`
	Available bool     `json:"available"`
	// Reason says why an unavailable check cannot run.
	Reason string `json:"reason,omitempty"`
}

// ValidatorsResponse is the body of GET /validators.
type ValidatorsResponse struct {
	Languages  []string        `json:"languages"`
	Validators []ValidatorInfo `json:"validators"`
}

// RequestError is a malformed request; Field names what is wrong
// ("language", "files[3].path", "files[0].content").
type RequestError struct {
	Field   string
	Message string
}

func (e *RequestError) Error() string { return "validation: " + e.Field + ": " + e.Message }

func reqErr(field, format string, args ...any) *RequestError {
	return &RequestError{Field: field, Message: fmt.Sprintf(format, args...)}
}
