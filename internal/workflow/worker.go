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
	RegisterWorkflow(w)
	w.RegisterActivity(acts)
	return w
}

// RegisterWorkflow registers QLPWorkflow under WorkflowName and
// DeliveryWorkflow under DeliveryWorkflowName with r. The
// worker and the replay tests (worker.NewWorkflowReplayer) both register it
// here, so that the replayed workflow is the one the worker runs.
func RegisterWorkflow(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(QLPWorkflow, workflow.RegisterOptions{Name: WorkflowName})
	r.RegisterWorkflowWithOptions(DeliveryWorkflow, workflow.RegisterOptions{Name: DeliveryWorkflowName})
}
