package workflow_test

import (
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// The platform's store is what the worker gives the activities.
var _ workflow.Store = store.Store(nil)
