package workflow

import "encoding/json"

// Validation depths: quick runs what decides whether the code works (the
// compile checks, the tests, QLP's built-in security rules); full adds the
// linters, type checkers and third-party security scanners.
const (
	ChecksQuick = "quick"
	ChecksFull  = "full"
)

// ExecutionKey is the key of a job's metadata that holds its
// ExecutionOptions. The orchestrator writes it when the job is submitted; a
// client may not.
const ExecutionKey = "qlp_execution"

// ExecutionOptions are how a job validates what it makes, resolved when it
// is submitted (POST /v2/execute's mode and options.validation) and kept in
// the job's metadata, where the activities read them. The zero value is the
// default: every task's attempts validated quickly, the assembled capsule in
// full, and a capsule whose validation ends with warnings accepted.
type ExecutionOptions struct {
	// TaskChecks is the depth of each attempt's validation: quick (the
	// default) or full, whose linter and scanner findings then reach the
	// fixer too.
	TaskChecks string `json:"task_checks,omitempty"`
	// CapsuleChecks is the depth of the assembled capsule's validation: full
	// (the default) or quick.
	CapsuleChecks string `json:"capsule_checks,omitempty"`
	// Strict fails a job whose capsule's validation is anything but passed
	// (warning, not_validated); the capsule is kept as evidence, as a capsule
	// that failed is.
	Strict bool `json:"strict,omitempty"`
}

// QuickTasks reports whether task attempts are validated quickly.
func (o ExecutionOptions) QuickTasks() bool { return o.TaskChecks != ChecksFull }

// QuickCapsule reports whether the capsule is validated quickly.
func (o ExecutionOptions) QuickCapsule() bool { return o.CapsuleChecks == ChecksQuick }

// ExecutionOf reads a job's ExecutionOptions from its metadata; a job
// without them (submitted through POST /execute, or before they existed)
// gets the defaults.
func ExecutionOf(metadata json.RawMessage) ExecutionOptions {
	var m struct {
		Execution ExecutionOptions `json:"qlp_execution"`
	}
	_ = json.Unmarshal(metadata, &m)
	return m.Execution
}
