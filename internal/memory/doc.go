// Package memory is QLP's Vector Memory service (port 8003): it remembers
// past requests, validated code, task outcomes and error fixes, per tenant,
// and hands them back to later jobs so that every run is cheaper and better
// than the last.
//
// # Uses
//
// The workflow calls [Memory] (in process: [*Service]; split: [*Client]):
//
//   - [Memory.SimilarRequests]: past requests with their decomposition and
//     outcome, as hints for the decomposer;
//   - [Memory.CodeExamples]: validated code from earlier capsules, as
//     examples in the coder's prompt;
//   - [Memory.TierStats]: per (task type, complexity, tier) success
//     statistics with sample counts, read by the tier router;
//   - [Memory.RepairHints]: fixes that worked for similar errors, for the
//     repair loop;
//   - [Memory.FindReusable]: a validated capsule made for a near-identical
//     request, to deliver again without an LLM call.
//
// and records what happened with RecordRequest, RecordCapsule,
// RecordCodePattern, RecordTaskOutcome and RecordErrorFix.
//
// # Tenancy
//
// Every method acts for the tenant of the principal in its context
// (auth.From). Stores keep tenants apart structurally (a graph per tenant,
// the tenant in the primary key, or a must-match on an is_tenant index), and
// filters cannot name the tenant.
//
// # Stores and embedders
//
// Vectors live in one of three stores behind vector.Store: the embedded
// HNSW store (package localstore, crash-safe under a data directory),
// pgvector (package pgvector) or Qdrant (package qdrant). Texts become
// vectors through package embed: the builtin lexical embedder (the
// default: feature hashing, no network, no cost — similarity of words, not
// of meaning), OpenAI, Azure OpenAI, Ollama or AWS Bedrock. Every embedding
// call is metered through the host's [UsageRecorder].
//
// See docs/memory.md for the configuration and the reasons behind it.
package memory
