package workflow_test

import (
	"math"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/settings"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*wf.Config)
		want string // the whole error; "" for none
	}{
		{"defaults", func(*wf.Config) {}, ""},
		{"parallel zero", func(c *wf.Config) { c.MaxParallel = 0 }, "workflow.max_parallel (QLP_WORKFLOW_MAX_PARALLEL): 0 is outside 1..64"},
		{"parallel too many", func(c *wf.Config) { c.MaxParallel = 65 }, "workflow.max_parallel (QLP_WORKFLOW_MAX_PARALLEL): 65 is outside 1..64"},
		{"attempts", func(c *wf.Config) { c.MaxAttempts = 11 }, "workflow.max_attempts (QLP_WORKFLOW_MAX_ATTEMPTS): 11 is outside 1..10"},
		{"one attempt", func(c *wf.Config) { c.MaxAttempts = 1 }, ""},
		{"escalate", func(c *wf.Config) { c.EscalateAfter = 0 }, "workflow.escalate_after (QLP_WORKFLOW_ESCALATE_AFTER): 0 must be at least 1"},
		{"tasks", func(c *wf.Config) { c.MaxTasks = 201 }, "workflow.max_tasks (QLP_WORKFLOW_MAX_TASKS): 201 is outside 1..200"},
		{"heartbeat", func(c *wf.Config) { c.HeartbeatTimeout = 500 * time.Millisecond }, "workflow.heartbeat_timeout (QLP_WORKFLOW_HEARTBEAT_TIMEOUT): 500ms is shorter than 1s"},
		{"task timeout", func(c *wf.Config) { c.TaskTimeout = 5 * time.Second }, "workflow.task_timeout (QLP_WORKFLOW_TASK_TIMEOUT): 5s is shorter than 10s"},
		{"task validation", func(c *wf.Config) { c.TaskValidation = "thorough" }, `workflow.task_validation (QLP_WORKFLOW_TASK_VALIDATION): "thorough" is not quick or full`},
		{"task validation full", func(c *wf.Config) { c.TaskValidation = wf.TaskValidationFull }, ""},
		{"decomposer tier", func(c *wf.Config) { c.DecomposerTier = "T9" }, `workflow.decomposer_tier (QLP_WORKFLOW_DECOMPOSER_TIER): "T9" is not T0..T3`},
		{"review threshold", func(c *wf.Config) { c.Review.Threshold = 1.5 }, "hitl.threshold (QLP_HITL_THRESHOLD): 1.5 is outside 0..1"},
		{"review threshold NaN", func(c *wf.Config) { c.Review.Threshold = math.NaN() }, "hitl.threshold (QLP_HITL_THRESHOLD): NaN is outside 0..1"},
		{"review on timeout", func(c *wf.Config) { c.Review.OnTimeout = "ignore" }, `hitl.on_timeout (QLP_HITL_ON_TIMEOUT): "ignore" is not approve, reject or wait`},
		{"review timeout", func(c *wf.Config) { c.Review.OnTimeout, c.Review.Timeout = "approve", 0 },
			"hitl.timeout (QLP_HITL_TIMEOUT): 0s must be positive (use hitl.on_timeout=wait to wait forever)"},
		{"review wait needs no timeout", func(c *wf.Config) { c.Review.Threshold, c.Review.Timeout = 0.8, 0 }, ""},
		{"ci poll interval", func(c *wf.Config) { c.CIPollInterval = 0 }, "delivery.ci_poll_interval (QLP_DELIVERY_CI_POLL_INTERVAL): 0s is shorter than 1s"},
		{"ci timeout under the poll interval", func(c *wf.Config) { c.CITimeout = time.Second }, "delivery.ci_timeout (QLP_DELIVERY_CI_TIMEOUT): 1s is shorter than delivery.ci_poll_interval (30s)"},
		{"ci timeout of too many looks", func(c *wf.Config) { c.CITimeout = 24 * time.Hour; c.CIPollInterval = time.Second },
			"delivery.ci_timeout (QLP_DELIVERY_CI_TIMEOUT): 24h0m0s makes 86400 looks at one commit's CI (at delivery.ci_poll_interval 1s): at most 2000 keep the workflow's history bounded"},
		{"delivery rounds", func(c *wf.Config) { c.DeliveryMaxRounds = 0 }, "delivery.max_rounds (QLP_DELIVERY_MAX_ROUNDS): 0 is outside 1..20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := wf.Defaults()
			tt.mod(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestConfigSettings: every field is reachable by its key and variable, and
// applying a value through the settings changes the field.
func TestConfigSettings(t *testing.T) {
	c := wf.Defaults()
	env := map[string]string{
		"QLP_WORKFLOW_MAX_PARALLEL": "8", "QLP_WORKFLOW_MAX_ATTEMPTS": "5", "QLP_WORKFLOW_ESCALATE_AFTER": "3",
		"QLP_WORKFLOW_MAX_TASKS": "40", "QLP_WORKFLOW_HEARTBEAT_TIMEOUT": "1m", "QLP_WORKFLOW_TASK_TIMEOUT": "30m",
		"QLP_WORKFLOW_DECOMPOSER_TIER": "T3", "QLP_WORKFLOW_TASK_VALIDATION": "full",
		"QLP_HITL_THRESHOLD": "0.7", "QLP_HITL_TIMEOUT": "2h", "QLP_HITL_ON_TIMEOUT": "reject", "QLP_HITL_AITL": "true",
		"QLP_DELIVERY_CI_POLL_INTERVAL": "45s", "QLP_DELIVERY_MAX_ROUNDS": "5", "QLP_DELIVERY_CI_TIMEOUT": "3h",
	}
	list := c.Settings()
	if len(list) != len(env) {
		t.Fatalf("%d settings, want %d", len(list), len(env))
	}
	err := settings.Apply(list, settings.Source{Environ: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	want := wf.Config{MaxParallel: 8, MaxAttempts: 5, EscalateAfter: 3, MaxTasks: 40, HeartbeatTimeout: time.Minute,
		TaskTimeout: 30 * time.Minute, DecomposerTier: "T3", TaskValidation: "full",
		Review: wf.ReviewPolicy{Threshold: 0.7, Timeout: 2 * time.Hour, OnTimeout: "reject", AITL: true}, CIPollInterval: 45 * time.Second, DeliveryMaxRounds: 5, CITimeout: 3 * time.Hour}
	if c != want {
		t.Fatalf("after Apply: %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
