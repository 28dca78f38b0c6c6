// Package recallbench measures how well the Vector Memory's code examples
// match a coder's task, on a labelled relevance set
// (testdata/relevance.json: validated files stored as capsules would store
// them, and tasks in Go, Python and JavaScript with the stored files that
// should be recalled for them, or none). For every threshold of a grid it
// reports precision@3 and recall@3 of the examples that would enter the
// prompt, the queries that got an example although none is relevant, and
// the bytes of examples a prompt would carry; the configured default
// threshold is the baseline of the same run. The same file labels the two
// other recalls that enter a prompt: past requests whose plans the
// decomposer should see (BenchmarkRequestRecall, SimilarRequests) and
// validation failures with the fixes a re-ask should carry
// (BenchmarkRepairRecall, RepairHints), measured the same way with the
// prompt bytes each adds.
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/recall/
//
// The configured embedder is measured: the built-in one by default, an
// OpenAI-compatible model with the memory's own settings in the
// environment (QLP_MEMORY_EMBEDDER_PROVIDER, _BASE_URL, _MODEL, _API_KEY)
// where one is reachable.
package recallbench
