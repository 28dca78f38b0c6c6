package memory_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/memory/vector"
)

// suites is the Memory conformance suite: every case runs against the
// service and against the client over HTTP.
var suites = map[string]func(t *testing.T, m memory.Memory, rec *recorder){
	"learning loop":    testLearningLoop,
	"tier statistics":  testTierStats,
	"repair hints":     testRepairHints,
	"tenant isolation": testTenantIsolation,
	"invalid input":    testInvalidInput,
	"metering":         testMetering,
	"search and stats": testSearchAndStats,
}

const (
	firstRequest = "Build a REST API in Go for managing todo items with PostgreSQL storage"
	paraphrase   = "Create a Go REST service that manages todo items and stores them in PostgreSQL"
	handlerCode  = `package main

// createTodo stores a new todo item in PostgreSQL.
func createTodo(w http.ResponseWriter, r *http.Request) {
	var item TodoItem
	if err := json.NewDecoder(r.Body).Decode(&item); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	row := db.QueryRow("INSERT INTO todo_items (title) VALUES ($1) RETURNING id", item.Title)
	row.Scan(&item.ID)
	json.NewEncoder(w).Encode(item)
}
`
)

func ptr[T any](v T) *T { return &v }

// testLearningLoop is the acceptance scenario: a first job is recorded; a
// second job with a paraphrased request gets the first one's decomposition
// and code back, but not its capsule for reuse (only a near-identical
// request may reuse).
func testLearningLoop(t *testing.T, m memory.Memory, _ *recorder) {
	ctx := asTenant(t.Context(), "acme")
	tasks := []memory.Task{
		{ID: "t1", Type: "codegen", Description: "Define the TodoItem model and PostgreSQL schema", Complexity: "simple"},
		{ID: "t2", Type: "codegen", Description: "Implement HTTP handlers to create and list todo items", Complexity: "medium", Dependencies: []string{"t1"}},
		{ID: "t3", Type: "test", Description: "Write tests for the todo handlers", Complexity: "simple", Dependencies: []string{"t2"}},
	}
	must(t, m.RecordRequest(ctx, memory.RequestRecord{RequestID: "req-1", Description: firstRequest, Language: "go", Tasks: tasks}))
	// The same request id again, now with its outcome: replaced, not added.
	must(t, m.RecordRequest(ctx, memory.RequestRecord{RequestID: "req-1", Description: firstRequest, Language: "go", Tasks: tasks,
		Success: ptr(true), SuccessRate: 1, ExecutionTime: 42.5, CapsuleID: "cap-1"}))
	st, err := m.RecordCapsule(ctx, memory.CapsuleRecord{
		CapsuleID: "cap-1", RequestID: "req-1", Description: firstRequest, Language: "go", Validated: true, ValidationScore: 0.92,
		Files: []memory.CapsuleFile{
			{Path: "handlers.go", Content: handlerCode, Role: "source", TaskType: "codegen", Task: tasks[1].Description},
			{Path: "handlers_test.go", Content: "package main\n\nfunc TestCreateTodo(t *testing.T) {}\n", Role: "test", Task: tasks[2].Description},
			{Path: "README.md", Content: "# Todo API", Role: "doc"},
		},
	})
	must(t, err)
	if st.Patterns != 2 || !st.Reusable || st.CapsuleID != "cap-1" {
		t.Fatalf("RecordCapsule = %+v, want 2 patterns (docs skipped), reusable", st)
	}

	// Job 2: a paraphrase.
	reqs, err := m.SimilarRequests(ctx, memory.RequestQuery{RequestID: "req-2", Description: paraphrase})
	must(t, err)
	if len(reqs) != 1 || reqs[0].RequestID != "req-1" || !reqs[0].Success || reqs[0].CapsuleID != "cap-1" || reqs[0].ExecutionTime != 42.5 {
		t.Fatalf("SimilarRequests = %+v, want req-1 with its outcome", reqs)
	}
	if len(reqs[0].Tasks) != 3 || reqs[0].Tasks[1].Dependencies[0] != "t1" || reqs[0].Tasks[1].Complexity != "medium" {
		t.Fatalf("decomposition hint lost detail: %+v", reqs[0].Tasks)
	}
	if reqs[0].TenantID != "acme" || reqs[0].Score <= 0 || reqs[0].Score >= 0.95 {
		t.Fatalf("match %+v", reqs[0])
	}
	code, err := m.CodeExamples(ctx, memory.CodeQuery{RequestID: "req-2", Query: paraphrase + "\nImplement HTTP handlers to create and list todo items", Language: "go"})
	must(t, err)
	if len(code) == 0 || code[0].Path != "handlers.go" || !strings.Contains(code[0].Code, "func createTodo") || code[0].CapsuleID != "cap-1" {
		t.Fatalf("CodeExamples = %+v, want handlers.go from cap-1 first", code)
	}
	if code[0].Task != tasks[1].Description {
		t.Fatalf("example task %q, want the task the file was written for, %q", code[0].Task, tasks[1].Description)
	}
	if code[0].SuccessRate != 0.92 {
		t.Fatalf("success_rate %v, want the validation score", code[0].SuccessRate)
	}
	// A query that matches the test file best still gets no test file.
	tests, err := m.CodeExamples(ctx, memory.CodeQuery{RequestID: "req-2", Query: firstRequest + "\nWrite tests for the todo handlers\nhandlers_test.go TestCreateTodo", Language: "go"})
	must(t, err)
	for _, c := range tests {
		if c.Path == "handlers_test.go" {
			t.Fatalf("CodeExamples offered the test file %s as an example: %+v", c.Path, tests)
		}
	}
	none, err := m.CodeExamples(ctx, memory.CodeQuery{Query: paraphrase, Language: "python"})
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("a python query got go code: %+v", none)
	}
	if _, err := m.FindReusable(ctx, memory.ReuseQuery{RequestID: "req-2", Description: paraphrase}); !errors.Is(err, memory.ErrNoMatch) {
		t.Fatalf("FindReusable(paraphrase) = %v, want ErrNoMatch", err)
	}
	reuse, err := m.FindReusable(ctx, memory.ReuseQuery{Description: firstRequest + ".", Language: "go"})
	must(t, err)
	if reuse.CapsuleID != "cap-1" || reuse.RequestID != "req-1" || reuse.Score < 0.95 {
		t.Fatalf("FindReusable(identical) = %+v", reuse)
	}

	// An unvalidated capsule is neither an example nor reusable.
	st, err = m.RecordCapsule(ctx, memory.CapsuleRecord{CapsuleID: "cap-bad", RequestID: "req-3", Description: "Build a broken thing in Go",
		Files: []memory.CapsuleFile{{Path: "broken.go", Content: "package main\nfunc broken() {"}}})
	must(t, err)
	if st.Status != "skipped" || st.Patterns != 0 || st.Reusable {
		t.Fatalf("unvalidated capsule %+v", st)
	}
	if _, err := m.FindReusable(ctx, memory.ReuseQuery{Description: "Build a broken thing in Go"}); !errors.Is(err, memory.ErrNoMatch) {
		t.Fatalf("an unvalidated capsule was offered for reuse: %v", err)
	}
}

func testTierStats(t *testing.T, m memory.Memory, _ *recorder) {
	ctx := asTenant(t.Context(), "acme")
	record := func(n int, tier string, success func(i int) bool, taskType, complexity string) {
		for i := range n {
			must(t, m.RecordTaskOutcome(ctx, memory.TaskOutcome{RequestID: fmt.Sprint("r", i, complexity), TaskID: "t", TaskType: taskType,
				Complexity: complexity, Tier: tier, Success: success(i), Attempts: 1, Duration: 10, CostUSD: 0.01,
				Description: "Implement a handler"}))
		}
	}
	record(6, "T0", func(i int) bool { return i != 0 }, "codegen", "simple") // 5/6
	record(2, "T1", func(int) bool { return true }, "codegen", "simple")
	record(3, "T0", func(int) bool { return true }, "codegen", "complex") // too few samples

	st, err := m.TierStats(ctx, memory.TierQuery{TaskType: "codegen", Complexity: "simple"})
	must(t, err)
	if st.Samples != 8 || len(st.Tiers) != 2 || st.Tiers[0].Tier != "T0" || st.Tiers[0].Samples != 6 || st.Tiers[0].Successes != 5 {
		t.Fatalf("TierStats = %+v", st)
	}
	if st.Recommended != "T0" || st.SuccessRate < 0.83 || st.SuccessRate > 0.84 || st.MinSamples != 5 {
		t.Fatalf("recommendation %q at %.3f (min samples %d), want T0 at 0.833", st.Recommended, st.SuccessRate, st.MinSamples)
	}
	if st.Tiers[0].MeanSeconds != 10 || st.Tiers[0].MeanCostUSD != 0.01 {
		t.Fatalf("means %+v", st.Tiers[0])
	}
	// A stricter router finds no tier good enough.
	st, err = m.TierStats(ctx, memory.TierQuery{TaskType: "codegen", Complexity: "simple", MinSuccessRate: 0.9})
	must(t, err)
	if st.Recommended != "" {
		t.Fatalf("with min success 0.9 recommended %q", st.Recommended)
	}
	st, err = m.TierStats(ctx, memory.TierQuery{TaskType: "codegen", Complexity: "complex"})
	must(t, err)
	if st.Samples != 3 || st.Recommended != "" {
		t.Fatalf("3 samples must not be enough by default: %+v", st)
	}
	st, err = m.TierStats(ctx, memory.TierQuery{TaskType: "docs", Complexity: "trivial"})
	must(t, err)
	if st.Samples != 0 || st.Recommended != "" || len(st.Tiers) != 0 {
		t.Fatalf("no outcomes: %+v", st)
	}
	// Re-recording an outcome (same request, task and tier) replaces it.
	record(1, "T1", func(int) bool { return false }, "codegen", "simple")
	st, _ = m.TierStats(ctx, memory.TierQuery{TaskType: "codegen", Complexity: "simple"})
	if st.Samples != 8 || st.Tiers[1].Successes != 1 {
		t.Fatalf("after replacing one T1 outcome: %+v", st.Tiers)
	}
	err = m.RecordTaskOutcome(ctx, memory.TaskOutcome{RequestID: "r", TaskID: "t", TaskType: "x", Complexity: "huge", Tier: "T0"})
	wantField(t, err, "complexity")
	err = m.RecordTaskOutcome(ctx, memory.TaskOutcome{RequestID: "r", TaskID: "t", TaskType: "x", Complexity: "simple", Tier: "T9"})
	wantField(t, err, "tier")
}

func testRepairHints(t *testing.T, m memory.Memory, _ *recorder) {
	ctx := asTenant(t.Context(), "acme")
	must(t, m.RecordErrorFix(ctx, memory.ErrorFix{RequestID: "r1", Language: "go", ErrorType: "compile",
		Error: "/tmp/build123/handlers.go:12:5: undefined: fmt.Printn", Fix: "Use fmt.Println; Printn does not exist."}))
	must(t, m.RecordErrorFix(ctx, memory.ErrorFix{RequestID: "r2", Language: "go", ErrorType: "compile",
		Error: "/work/x/main.go:40:2: undefined: fmt.Printn", Fix: "Call fmt.Println instead of fmt.Printn."}))
	must(t, m.RecordErrorFix(ctx, memory.ErrorFix{Language: "python", Error: "ModuleNotFoundError: No module named 'requests'", Fix: "add requests to requirements.txt"}))
	hints, err := m.RepairHints(ctx, memory.ErrorQuery{Error: "server.go:7:3: undefined: fmt.Printn", Language: "go"})
	must(t, err)
	if len(hints) != 1 || !strings.Contains(hints[0].Fix, "fmt.Println instead") || hints[0].Occurrences != 2 {
		t.Fatalf("RepairHints = %+v, want the latest fix, seen twice", hints)
	}
	hints, err = m.RepairHints(ctx, memory.ErrorQuery{Error: "TypeError: cannot read properties of undefined", Language: "javascript"})
	must(t, err)
	if len(hints) != 0 {
		t.Fatalf("unrelated error got hints %+v", hints)
	}
	// Two failures of the same check worded alike but with unrelated
	// causes (bench/recall's labelled set scores them 0.68 with the
	// built-in embedder): the measured default threshold keeps the fix of
	// one out of the other's re-ask.
	must(t, m.RecordErrorFix(ctx, memory.ErrorFix{RequestID: "r3", Language: "go", ErrorType: "validation",
		Error: "check go-test (go test) failed: 1 of 4 tests failed\n  --- FAIL: TestParseDuration (0.00s)\n    duration_test.go:18: ParseDuration(\"1h30m\") = 1h0m0s, want 1h30m0s",
		Fix:   "ParseDuration now adds up every unit instead of returning after the first one"}))
	hints, err = m.RepairHints(ctx, memory.ErrorQuery{Language: "go",
		Error: "check go-test (go test) failed: 1 of 6 tests failed\n  --- FAIL: TestWinner (0.00s)\n    board_test.go:25: Winner(diagonal) = 0, want 88"})
	must(t, err)
	if len(hints) != 0 {
		t.Fatalf("a failing test of another function got hints %+v", hints)
	}
	hints, err = m.RepairHints(ctx, memory.ErrorQuery{Language: "go",
		Error: "check go-test (go test) failed: 1 of 3 tests failed\n  --- FAIL: TestParseDuration (0.00s)\n    parse_test.go:9: ParseDuration(\"2h15m\") = 2h0m0s, want 2h15m0s"})
	must(t, err)
	if len(hints) != 1 || !strings.Contains(hints[0].Fix, "adds up every unit") {
		t.Fatalf("the same failure in another job got hints %+v, want the ParseDuration fix", hints)
	}
}

func testTenantIsolation(t *testing.T, m memory.Memory, _ *recorder) {
	a, b := asTenant(t.Context(), "tenant-a"), asTenant(t.Context(), "tenant-b")
	must(t, m.RecordRequest(a, memory.RequestRecord{RequestID: "a-1", Description: firstRequest}))
	_, err := m.RecordCapsule(a, memory.CapsuleRecord{CapsuleID: "a-cap", RequestID: "a-1", Description: firstRequest, Validated: true,
		Files: []memory.CapsuleFile{{Path: "handlers.go", Content: handlerCode}}})
	must(t, err)
	must(t, m.RecordErrorFix(a, memory.ErrorFix{Error: "undefined: fmt.Printn", Fix: "fmt.Println"}))
	must(t, m.RecordTaskOutcome(a, memory.TaskOutcome{RequestID: "a-1", TaskID: "t", TaskType: "codegen", Complexity: "simple", Tier: "T0", Success: true}))

	reqs, err := m.SimilarRequests(b, memory.RequestQuery{Description: firstRequest})
	must(t, err)
	code, err := m.CodeExamples(b, memory.CodeQuery{Query: firstRequest})
	must(t, err)
	hints, err := m.RepairHints(b, memory.ErrorQuery{Error: "undefined: fmt.Printn"})
	must(t, err)
	st, err := m.TierStats(b, memory.TierQuery{TaskType: "codegen", Complexity: "simple"})
	must(t, err)
	if len(reqs)+len(code)+len(hints)+st.Samples != 0 {
		t.Fatalf("tenant-b sees tenant-a's entries: %d requests, %d code, %d hints, %d outcomes", len(reqs), len(code), len(hints), st.Samples)
	}
	if _, err := m.FindReusable(b, memory.ReuseQuery{Description: firstRequest}); !errors.Is(err, memory.ErrNoMatch) {
		t.Fatalf("tenant-b may reuse tenant-a's capsule: %v", err)
	}
	hits, err := m.Search(b, memory.SearchQuery{Collection: vector.Executions, Text: firstRequest})
	must(t, err)
	if len(hits) != 0 {
		t.Fatalf("raw search crosses tenants: %+v", hits)
	}
	// Tenant A does see them.
	reqs, err = m.SimilarRequests(a, memory.RequestQuery{Description: firstRequest})
	must(t, err)
	if len(reqs) != 1 {
		t.Fatalf("tenant-a lost its own request: %+v", reqs)
	}
	if _, err := m.SimilarRequests(t.Context(), memory.RequestQuery{Description: firstRequest}); !errors.Is(err, memory.ErrNoTenant) {
		t.Fatalf("no tenant: %v, want ErrNoTenant", err)
	}
}

func testInvalidInput(t *testing.T, m memory.Memory, _ *recorder) {
	ctx := asTenant(t.Context(), "acme")
	huge := strings.Repeat("word ", 2<<20) // 10 MiB
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"empty description", func() error { _, err := m.SimilarRequests(ctx, memory.RequestQuery{Description: "  "}); return err }, "description"},
		{"10 MB text", func() error { _, err := m.SimilarRequests(ctx, memory.RequestQuery{Description: huge}); return err }, "description"},
		{"10 MB code", func() error {
			_, err := m.RecordCodePattern(ctx, memory.CodePattern{Description: "x", Code: huge, Language: "go"})
			return err
		}, "code"},
		{"limit", func() error { _, err := m.CodeExamples(ctx, memory.CodeQuery{Query: "x", Limit: 1000}); return err }, "limit"},
		{"unknown collection", func() error {
			_, err := m.Search(ctx, memory.SearchQuery{Collection: "qlp_secrets", Text: "x"})
			return err
		}, "collection"},
		{"wrong dimension", func() error {
			_, err := m.Search(ctx, memory.SearchQuery{Collection: vector.CodePatterns, Vector: []float32{1, 2, 3}})
			return err
		}, "vector"},
		{"text and vector", func() error {
			_, err := m.Search(ctx, memory.SearchQuery{Collection: vector.CodePatterns, Text: "x", Vector: []float32{1}})
			return err
		}, "vector"},
		{"filter on the tenant", func() error {
			_, err := m.SimilarRequests(ctx, memory.RequestQuery{Description: "x", Filters: map[string]any{vector.TenantKey: "other"}})
			return err
		}, "filters"},
		{"min score", func() error {
			_, err := m.FindReusable(ctx, memory.ReuseQuery{Description: "x", MinScore: 2})
			return err
		}, "min_score"},
		{"no files", func() error {
			_, err := m.RecordCapsule(ctx, memory.CapsuleRecord{CapsuleID: "c", RequestID: "r", Description: "d", Validated: true})
			return err
		}, "files"},
		{"no language", func() error {
			_, err := m.RecordCodePattern(ctx, memory.CodePattern{Description: "d", Code: "x", Path: "Makefile"})
			return err
		}, "language"},
		{"unknown reindex collection", func() error {
			_, err := m.Reindex(ctx, memory.ReindexOptions{Collections: []string{"nope"}})
			return err
		}, "collections[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantField(t, tt.call(), tt.field) })
	}
}

func testMetering(t *testing.T, m memory.Memory, rec *recorder) {
	ctx := asTenant(t.Context(), "acme")
	must(t, m.RecordRequest(ctx, memory.RequestRecord{RequestID: "job-7", Description: "Build a chess engine in Rust"}))
	_, err := m.SimilarRequests(ctx, memory.RequestQuery{RequestID: "job-8", Description: "Write a chess engine"})
	must(t, err)
	_, err = m.SimilarRequests(ctx, memory.RequestQuery{RequestID: "job-8", Description: "Write a chess engine"})
	must(t, err)
	var mine []memory.EmbeddingUsage
	for _, u := range rec.all() {
		if u.TenantID == "acme" && (u.RequestID == "job-7" || u.RequestID == "job-8") {
			mine = append(mine, u)
		}
	}
	if len(mine) != 3 {
		t.Fatalf("%d usage records, want 3: %+v", len(mine), mine)
	}
	if u := mine[0]; u.Purpose != memory.PurposeStore || u.Provider != "builtin" || u.InputTokens != 0 || u.Cached || u.Texts != 1 || u.At.IsZero() {
		t.Fatalf("store usage %+v", u)
	}
	if u := mine[1]; u.Purpose != memory.PurposeSearch || u.Cached {
		t.Fatalf("first search usage %+v", u)
	}
	if u := mine[2]; !u.Cached || u.InputTokens != 0 {
		t.Fatalf("repeated search must be served from the cache and say so: %+v", u)
	}
}

func testSearchAndStats(t *testing.T, m memory.Memory, _ *recorder) {
	ctx := asTenant(t.Context(), "acme")
	_, err := m.RecordCodePattern(ctx, memory.CodePattern{Description: "retry with exponential backoff", Path: "retry.py",
		Code: "def retry(fn, attempts=3):\n    ...", Validated: true, Score: 1})
	must(t, err)
	hits, err := m.Search(ctx, memory.SearchQuery{Collection: vector.CodePatterns, Text: "exponential backoff retry", Limit: 3})
	must(t, err)
	if len(hits) != 1 || hits[0].Payload["language"] != "python" || hits[0].Collection != vector.CodePatterns {
		t.Fatalf("Search = %+v", hits)
	}
	st, err := m.Stats(ctx)
	must(t, err)
	if st.Backend == "" || st.Embedder.Provider != "builtin" || !st.Embedder.Lexical || st.Embedder.Dimension != 384 || len(st.Collections) != 5 {
		t.Fatalf("Stats = %+v", st)
	}
	for _, c := range st.Collections {
		want := 0
		if c.Name == vector.CodePatterns {
			want = 1
		}
		if c.Points != want || c.Dimension != 384 {
			t.Fatalf("collection %+v, want %d points", c, want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var fe *memory.FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("error %v, want a FieldError naming %q", err, field)
	}
}
