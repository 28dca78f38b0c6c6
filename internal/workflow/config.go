package workflow

import (
	"time"

	"github.com/quantumlayer/qlp/internal/settings"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// Config is how jobs run: the server-wide settings under "workflow." and
// the review policy under "hitl.". The orchestrator copies them into each
// job's [Input]; the worker reads MaxTasks, DecomposerTier and MaxParallel.
type Config struct {
	// MaxParallel is how many independent tasks are generated at once.
	MaxParallel int
	// MaxAttempts bounds the generate → validate → fix loop of one task,
	// repairs of the capsule's findings included.
	MaxAttempts int
	// EscalateAfter is how many failed attempts on one tier move a task to
	// the next tier.
	EscalateAfter int
	// MaxTasks bounds the task graph a job may plan.
	MaxTasks         int
	HeartbeatTimeout time.Duration
	TaskTimeout      time.Duration
	// DecomposerTier plans jobs.
	DecomposerTier string
	// TaskValidation is how each task's attempts are validated:
	// TaskValidationQuick or TaskValidationFull.
	TaskValidation string
	// Review is the server's review policy; a tenant's policy and a job's
	// metadata may override each field (see docs/api.md).
	Review ReviewPolicy
	// CIPollInterval is the delivery loop's wait between looks at a pushed
	// commit's CI (a webhook wakes it sooner); DeliveryMaxRounds bounds its
	// pushes, the first included.
	CIPollInterval    time.Duration
	DeliveryMaxRounds int
	// CITimeout bounds the wait for one pushed commit's CI: a repository
	// with no CI (or a stuck one) ends the loop instead of polling it for
	// days.
	CITimeout time.Duration
}

// Defaults returns the configuration used when nothing is set. A zero
// field of an [Input] means the default of the same name.
func Defaults() Config {
	return Config{
		MaxParallel:       4,
		MaxAttempts:       3,
		EscalateAfter:     2,
		MaxTasks:          20,
		HeartbeatTimeout:  30 * time.Second,
		TaskTimeout:       20 * time.Minute,
		DecomposerTier:    "T2",
		TaskValidation:    TaskValidationQuick,
		Review:            ReviewPolicy{Timeout: 24 * time.Hour, OnTimeout: vocab.OnTimeoutWait},
		CIPollInterval:    DefaultCIPollInterval,
		DeliveryMaxRounds: DefaultDeliveryMaxRounds,
		CITimeout:         DefaultCITimeout,
	}
}

// Settings binds the configuration to YAML keys under "workflow." and
// "hitl." and to QLP_WORKFLOW_* and QLP_HITL_* environment variables.
func (c *Config) Settings() []settings.Setting {
	return []settings.Setting{
		{Key: "workflow.max_parallel", Env: "QLP_WORKFLOW_MAX_PARALLEL", Help: "independent tasks generated at once per job", Value: settings.Int(&c.MaxParallel)},
		{Key: "workflow.max_attempts", Env: "QLP_WORKFLOW_MAX_ATTEMPTS", Help: "attempts of one task in the generate → validate → fix loop, repairs of the capsule's findings included (1 turns repair off)", Value: settings.Int(&c.MaxAttempts)},
		{Key: "workflow.escalate_after", Env: "QLP_WORKFLOW_ESCALATE_AFTER", Help: "failed attempts on one tier before a task moves to the next tier", Value: settings.Int(&c.EscalateAfter)},
		{Key: "workflow.max_tasks", Env: "QLP_WORKFLOW_MAX_TASKS", Help: "largest task graph a job may plan", Value: settings.Int(&c.MaxTasks)},
		{Key: "workflow.heartbeat_timeout", Env: "QLP_WORKFLOW_HEARTBEAT_TIMEOUT", Help: "how long a silent model call may go before Temporal retries it", Value: settings.Duration(&c.HeartbeatTimeout)},
		{Key: "workflow.task_timeout", Env: "QLP_WORKFLOW_TASK_TIMEOUT", Help: "time limit of one attempt of one task", Value: settings.Duration(&c.TaskTimeout)},
		{Key: "workflow.decomposer_tier", Env: "QLP_WORKFLOW_DECOMPOSER_TIER", Help: "tier that plans jobs (T0..T3); a malformed plan is tried again on each stronger tier while attempts are left", Value: settings.String(&c.DecomposerTier)},
		{Key: "workflow.task_validation", Env: "QLP_WORKFLOW_TASK_VALIDATION", Help: "how each task's attempts are validated: quick (the default: compile, tests, built-in rules; what only the capsule's full validation finds is routed back to the task that owns the file) or full (every check, on every attempt)", Value: settings.String(&c.TaskValidation)},
		{Key: "hitl.threshold", Env: "QLP_HITL_THRESHOLD", Help: "a task that passes validation with a confidence below this (0..1) waits for a review; 0 turns reviews off", Value: settings.Float(&c.Review.Threshold)},
		{Key: "hitl.timeout", Env: "QLP_HITL_TIMEOUT", Help: "how long a review waits for a decision before hitl.on_timeout applies", Value: settings.Duration(&c.Review.Timeout)},
		{Key: "hitl.on_timeout", Env: "QLP_HITL_ON_TIMEOUT", Help: "what an unanswered review becomes after hitl.timeout: approve, reject or wait (forever)", Value: settings.String(&c.Review.OnTimeout)},
		{Key: "delivery.ci_poll_interval", Env: "QLP_DELIVERY_CI_POLL_INTERVAL", Help: "how often the delivery loop looks at the CI of a commit it pushed to a pull request (a checked webhook wakes it sooner)", Value: settings.Duration(&c.CIPollInterval)},
		{Key: "delivery.ci_timeout", Env: "QLP_DELIVERY_CI_TIMEOUT", Help: "longest wait for the CI of one pushed commit to finish; then the delivery loop stops with an error saying so", Value: settings.Duration(&c.CITimeout)},
		{Key: "delivery.max_rounds", Env: "QLP_DELIVERY_MAX_ROUNDS", Help: "pushes of one delivery loop, the first included: after that many failed CI runs it stops repairing", Value: settings.Int(&c.DeliveryMaxRounds)},
		{Key: "hitl.aitl", Env: "QLP_HITL_AITL", Help: "let the automated reviewer (tier T2) approve or ask for changes before a person is asked", Value: settings.Bool(&c.Review.AITL)},
	}
}

// Validate reports the first setting that is out of range, by name.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return settings.Invalid(c.Settings(), key, format, args...)
	}
	switch {
	case c.MaxParallel < 1 || c.MaxParallel > 64:
		return bad("workflow.max_parallel", "%d is outside 1..64", c.MaxParallel)
	case c.MaxAttempts < 1 || c.MaxAttempts > 10:
		return bad("workflow.max_attempts", "%d is outside 1..10", c.MaxAttempts)
	case c.EscalateAfter < 1:
		return bad("workflow.escalate_after", "%d must be at least 1", c.EscalateAfter)
	case c.MaxTasks < 1 || c.MaxTasks > 200:
		return bad("workflow.max_tasks", "%d is outside 1..200", c.MaxTasks)
	case c.HeartbeatTimeout < time.Second:
		return bad("workflow.heartbeat_timeout", "%v is shorter than 1s", c.HeartbeatTimeout)
	case c.TaskTimeout < 10*time.Second:
		return bad("workflow.task_timeout", "%v is shorter than 10s", c.TaskTimeout)
	}
	if err := c.validateReview(); err != nil {
		return err
	}
	switch {
	case c.TaskValidation != TaskValidationQuick && c.TaskValidation != TaskValidationFull:
		return bad("workflow.task_validation", "%q is not quick or full", c.TaskValidation)
	case !vocab.ValidTier(c.DecomposerTier):
		return bad("workflow.decomposer_tier", "%q is not T0..T3", c.DecomposerTier)
	case c.CIPollInterval < time.Second:
		return bad("delivery.ci_poll_interval", "%v is shorter than 1s", c.CIPollInterval)
	case c.CITimeout < c.CIPollInterval:
		return bad("delivery.ci_timeout", "%v is shorter than delivery.ci_poll_interval (%v)", c.CITimeout, c.CIPollInterval)
	case c.CITimeout/c.CIPollInterval > 2000:
		return bad("delivery.ci_timeout", "%v makes %d looks at one commit's CI (at delivery.ci_poll_interval %v): at most 2000 keep the workflow's history bounded", c.CITimeout, c.CITimeout/c.CIPollInterval, c.CIPollInterval)
	case c.DeliveryMaxRounds < 1 || c.DeliveryMaxRounds > 20:
		return bad("delivery.max_rounds", "%d is outside 1..20", c.DeliveryMaxRounds)
	}
	return nil
}

// validateReview checks the review policy (the "hitl." settings).
func (c *Config) validateReview() error {
	r := c.Review
	switch {
	case r.Threshold < 0 || r.Threshold > 1 || r.Threshold != r.Threshold:
		return settings.Invalid(c.Settings(), "hitl.threshold", "%v is outside 0..1", r.Threshold)
	case !vocab.ValidOnTimeout(r.OnTimeout):
		return settings.Invalid(c.Settings(), "hitl.on_timeout", "%q is not approve, reject or wait", r.OnTimeout)
	case r.OnTimeout != vocab.OnTimeoutWait && r.Timeout <= 0:
		return settings.Invalid(c.Settings(), "hitl.timeout", "%v must be positive (use hitl.on_timeout=wait to wait forever)", r.Timeout)
	}
	return nil
}
