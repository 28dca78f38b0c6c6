// Package domain holds the platform's records — jobs, tasks, files,
// attempts, reviews, events, usage — which the store persists and the
// services pass between them; it imports nothing of the platform.
//
// Consumers do not take the whole store: each declares the narrow interface
// of the store methods it uses (workflow.Store, orchestrator.Store,
// progress.Store, llm.UsageSink, …), which store.Store satisfies.
package domain
