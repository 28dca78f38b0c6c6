package recallbench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/settings"
)

// relevance is testdata/relevance.json.
type relevance struct {
	Stored []struct {
		Capsule, Language, Request, Path, Task, Code string
	}
	Queries []struct {
		Language, Request, Task string
		Relevant                []string // capsule/path
	}
	// StoredRequests and RequestQueries label SimilarRequests.
	StoredRequests []struct {
		ID, Language, Description string
		Tasks                     []memory.Task
	} `json:"stored_requests"`
	RequestQueries []struct {
		Language, Request string
		Relevant          []string // stored request ids
	} `json:"request_queries"`
	// StoredErrors and ErrorQueries label RepairHints.
	StoredErrors []struct {
		ID, Language, Error, Fix string
		ErrorType                string `json:"error_type"`
	} `json:"stored_errors"`
	ErrorQueries []struct {
		Language, Error string
		Relevant        []string // stored error ids
	} `json:"error_queries"`
}

// k is how many examples a coder's prompt may carry (the workflow asks
// for 2; 3 leaves room and is what the issue measures).
const k = 3

// thresholds is the grid of minimum scores measured.
var thresholds = []float64{0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9}

type hit struct {
	id    string
	score float64
	bytes int
}

func load(tb testing.TB) relevance {
	tb.Helper()
	raw, err := os.ReadFile("testdata/relevance.json")
	if err != nil {
		tb.Fatal(err)
	}
	var r relevance
	if err := json.Unmarshal(raw, &r); err != nil {
		tb.Fatal(err)
	}
	return r
}

// BenchmarkCodeRecall stores the labelled files as validated capsules
// (each with a test file next to it, which must never be recalled), asks
// for each query's examples as the coder does (the task's description, the
// project's language), and scores the answers at every threshold.
func BenchmarkCodeRecall(b *testing.B) {
	data := load(b)
	var answers [][]hit
	var def float64
	var provider string
	for range b.N {
		provider, def, answers = measureCode(b, data)
	}

	b.Logf("embedder %s, %d stored files, %d queries (%d with no relevant file), k = %d, configured threshold %.2f",
		provider, len(data.Stored), len(data.Queries), countEmpty(data), k, def)
	logCodeGrid(b, data, answers, def)
}

// measureCode stores the labelled files in a fresh memory and returns the
// embedder, its configured code threshold and each query's examples.
func measureCode(tb testing.TB, data relevance) (provider string, def float64, answers [][]hit) {
	tb.Helper()
	ctx, cfg, m := open(tb)
	for i, s := range data.Stored {
		test := strings.TrimSuffix(s.Path, path.Ext(s.Path)) + "_test" + path.Ext(s.Path)
		if _, err := m.RecordCapsule(ctx, memory.CapsuleRecord{CapsuleID: s.Capsule, RequestID: fmt.Sprintf("req-%d", i), Description: s.Request,
			Language: s.Language, Validated: true, ValidationScore: 0.9, Files: []memory.CapsuleFile{
				{Path: s.Path, Content: s.Code, Role: "source", Task: s.Task},
				{Path: test, Content: "// tests of " + s.Task + "\n" + s.Code, Role: "test", Task: "Write tests: " + s.Task},
			}}); err != nil {
			tb.Fatal(err)
		}
	}
	def = memory.DefaultThresholds(cfg.Embedder.Provider).Code
	if cfg.Thresholds.Code > 0 {
		def = cfg.Thresholds.Code
	}
	for i, q := range data.Queries {
		ex, err := m.CodeExamples(ctx, memory.CodeQuery{RequestID: fmt.Sprintf("query-%d", i), Query: q.Task, Language: q.Language,
			Limit: k, MinScore: 0.0001})
		if err != nil {
			tb.Fatal(err)
		}
		var hs []hit
		for _, e := range ex {
			if strings.Contains(e.Path, "_test") {
				tb.Fatalf("query %d got the test file %s/%s", i, e.CapsuleID, e.Path)
			}
			hs = append(hs, hit{id: e.CapsuleID + "/" + e.Path, score: e.Score, bytes: len(e.Code)})
		}
		answers = append(answers, hs)
	}
	return cfg.Embedder.Provider, def, answers
}

func logCodeGrid(b *testing.B, data relevance, answers [][]hit, def float64) {
	b.Logf("%-9s %-13s %-10s %-26s %-22s", "threshold", "precision@3", "recall@3", "queries given an unrelated", "example bytes / query")
	best := -1.0
	var bestP, bestR float64
	for _, t := range append([]float64{def}, thresholds...) {
		p, r, wrong, bytes := score(data, answers, t)
		label := fmt.Sprintf("%.2f", t)
		if t == def {
			label += "*"
		}
		b.Logf("%-9s %-13.2f %-10.2f %-26d %-22.0f", label, p, r, wrong, bytes)
		if t != def && p >= 0.9 && (best < 0 || r > bestR) {
			best, bestP, bestR = t, p, r
		}
	}
	pd, rd, _, bd := score(data, answers, def)
	b.ReportMetric(pd, "precision@3")
	b.ReportMetric(rd, "recall@3")
	b.ReportMetric(bd, "example-bytes/query")
	if best >= 0 {
		b.Logf("lowest-recall-loss threshold with precision@3 >= 0.9: %.2f (precision %.2f, recall %.2f); * = configured", best, bestP, bestR)
	} else {
		b.Logf("no threshold of the grid reaches precision@3 >= 0.9; * = configured")
	}
	for i, q := range data.Queries {
		var got []string
		for _, h := range answers[i] {
			got = append(got, fmt.Sprintf("%s %.2f", h.id, h.score))
		}
		b.Logf("query %2d %-10s want %v got [%s]", i+1, q.Language, q.Relevant, strings.Join(got, ", "))
	}
}

// open starts a memory service on a fresh embedded store, with the
// embedder the environment configures (QLP_MEMORY_EMBEDDER_PROVIDER, …):
// the built-in one by default.
func open(tb testing.TB) (context.Context, memory.Config, *memory.Service) {
	tb.Helper()
	cfg := memory.Defaults()
	cfg.DataDir = tb.TempDir()
	if err := settings.Apply(cfg.Settings(), settings.Source{Environ: os.LookupEnv}); err != nil {
		tb.Fatal(err)
	}
	ctx := auth.WithPrincipal(context.Background(), auth.Principal{TenantID: "bench", KeyID: "bench"})
	m, err := memory.New(ctx, cfg, memory.Deps{Logger: logx.Discard(), Usage: discard{}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = m.Close() })
	return ctx, cfg, m
}

func countEmpty(d relevance) int {
	return countNone(relevantOf(d))
}

func countNone(rel [][]string) int {
	n := 0
	for _, r := range rel {
		if len(r) == 0 {
			n++
		}
	}
	return n
}

func relevantOf(d relevance) [][]string {
	rel := make([][]string, len(d.Queries))
	for i, q := range d.Queries {
		rel[i] = q.Relevant
	}
	return rel
}

// score returns, at threshold t: precision@k (relevant examples among all
// examples given, over all queries; 1 when none is given), recall@k
// (relevant examples given among all relevant ones), the queries with no
// relevant file that were given an example, and the mean bytes of example
// code per query.
func score(d relevance, answers [][]hit, t float64) (precision, recall float64, wrong int, bytes float64) {
	return scoreOf(relevantOf(d), answers, t, 0)
}

// scoreOf is score over any labelled queries (rel[i] are the ids relevant
// to query i); header is the bytes a prompt adds once when it carries at
// least one hit (an introducing sentence).
func scoreOf(rel [][]string, answers [][]hit, t float64, header int) (precision, recall float64, wrong int, bytes float64) {
	var given, good, relevant, total int
	for i, ids := range rel {
		want := map[string]bool{}
		for _, id := range ids {
			want[id] = true
		}
		relevant += len(want)
		gave := 0
		for _, h := range answers[i] {
			if h.score < t {
				continue
			}
			gave++
			total += h.bytes
			if want[h.id] {
				good++
			}
		}
		given += gave
		if gave > 0 {
			total += header
		}
		if len(want) == 0 && gave > 0 {
			wrong++
		}
	}
	precision = 1
	if given > 0 {
		precision = float64(good) / float64(given)
	}
	if relevant > 0 {
		recall = float64(good) / float64(relevant)
	}
	return precision, recall, wrong, float64(total) / float64(len(rel))
}

// discard meters nothing: the benchmark's embedding calls cost nothing to
// record (with a paid model, the provider's own dashboard counts them).
type discard struct{}

func (discard) RecordEmbedding(context.Context, memory.EmbeddingUsage) error { return nil }
