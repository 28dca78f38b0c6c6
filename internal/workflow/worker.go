package workflow

import (
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// NewWorker returns a worker for the qlp-main queue with QLPWorkflow and the
// activities registered. The caller starts and stops it.
func NewWorker(c client.Client, acts *Activities, opts worker.Options) worker.Worker {
	w := worker.New(c, TaskQueue, opts)
	w.RegisterWorkflowWithOptions(QLPWorkflow, workflow.RegisterOptions{Name: WorkflowName})
	w.RegisterActivity(acts)
	return w
}
