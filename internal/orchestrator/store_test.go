package orchestrator

import "github.com/quantumlayer/qlp/internal/store"

// The platform's store is what the API is given.
var _ Store = store.Store(nil)
