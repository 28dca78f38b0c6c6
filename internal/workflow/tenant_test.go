package workflow_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/validation"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

// tenantRecorder records the tenant each validation is made for.
type tenantRecorder struct {
	wf.Validator
	mu      sync.Mutex
	tenants []string
}

func (r *tenantRecorder) Validate(ctx context.Context, req validation.Request) (*validation.Report, error) {
	p, _ := auth.From(ctx)
	r.mu.Lock()
	r.tenants = append(r.tenants, p.TenantID)
	r.mu.Unlock()
	return r.Validator.Validate(ctx, req)
}

// TestValidationsActForTheJobsTenant: the task's and the capsule's
// validations run for the job's tenant, so that the sandbox shares its
// slots fairly between tenants (a validation without one would run as
// nobody's, outside every tenant's share).
func TestValidationsActForTheJobsTenant(t *testing.T) {
	plan := `{"project":{"name":"one","language":"go","commands":{"build":"go build ./..."}},"tasks":[` +
		`{"id":"a","type":"code_generation","description":"a","complexity":"simple","dependencies":[]}]}`
	files := []map[string]string{
		{"path": "go.mod", "content": "module example.com/one\n\ngo 1.22\n"},
		{"path": "one.go", "content": "// Package one is one.\npackage one\n\n// One is 1.\nfunc One() int { return 1 }\n"},
	}
	h := newHarness(t, func(c llmtest.Call) llmtest.Reply {
		if c.Role == "decomposer" {
			return llmtest.Reply{Content: plan}
		}
		return llmtest.Reply{Content: llmtest.JSON(map[string]any{"files": files})}
	})
	if h.acts.Validator == nil {
		t.Skip("needs the sandbox (bwrap)")
	}
	rec := &tenantRecorder{Validator: h.acts.Validator}
	h.acts.Validator = rec
	h.newJob(t, "req-tenant", "one file in Go", "go")
	h.run("req-tenant")
	require.NoError(t, h.env.GetWorkflowError())
	require.Len(t, rec.tenants, 2, "the task's validation and the capsule's")
	for _, tenant := range rec.tenants {
		require.Equal(t, "acme", tenant)
	}
}
