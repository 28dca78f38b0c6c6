package recallbench

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/memory"
)

// similarHeader is the sentence the decomposer prompt puts before similar
// requests (prompts/decomposer.v1.tmpl), once per prompt that has any.
const similarHeader = "\n\nSimilar requests that succeeded before, with the plans that worked (for reference; plan this request on its own merits):"

// hintLead is what the re-ask prompt puts before each repair hint
// (workflow.Activities.repairHints).
const hintLead = " A fix that worked for a similar problem before: "

// BenchmarkRequestRecall stores the labelled past requests as the workflow
// records a successful job (description, language, task graph), asks for
// each new request's similar plans as the decomposer does (its text,
// successful jobs only, 3 at most, then only those of the job's language),
// and scores the answers at every threshold. The bytes are those of the
// prompt lines the decomposer template renders for the plans kept.
func BenchmarkRequestRecall(b *testing.B) {
	data := load(b)
	var provider string
	var def float64
	var rel [][]string
	var answers [][]hit
	for range b.N {
		provider, def, rel, answers = measureRequests(b, data)
	}
	b.Logf("similar plans: embedder %s, %d stored requests, %d new requests (%d with no relevant one), k = %d, configured threshold %.2f",
		provider, len(data.StoredRequests), len(rel), countNone(rel), k, def)
	report(b, rel, answers, def, len(similarHeader), "plan bytes / request")
	for i, q := range data.RequestQueries {
		b.Logf("request %2d %-10s want %v got [%s]", i+1, q.Language, q.Relevant, hitList(answers[i]))
	}
}

// measureRequests stores the labelled requests in a fresh memory and
// returns the embedder, its configured request threshold, the relevant
// ids of each new request and what the decomposer would be given.
func measureRequests(tb testing.TB, data relevance) (provider string, def float64, rel [][]string, answers [][]hit) {
	tb.Helper()
	ctx, cfg, m := open(tb)
	ok := true
	for _, r := range data.StoredRequests {
		if err := m.RecordRequest(ctx, memory.RequestRecord{RequestID: r.ID, Description: r.Description, Language: r.Language,
			Tasks: r.Tasks, Success: &ok, SuccessRate: 1, ExecutionTime: 20}); err != nil {
			tb.Fatal(err)
		}
	}
	def = memory.DefaultThresholds(cfg.Embedder.Provider).Requests
	if cfg.Thresholds.Requests > 0 {
		def = cfg.Thresholds.Requests
	}
	for i, q := range data.RequestQueries {
		rel = append(rel, q.Relevant)
		got, err := m.SimilarRequests(ctx, memory.RequestQuery{RequestID: fmt.Sprintf("query-%d", i), Description: q.Request,
			Limit: k, SuccessfulOnly: true, MinScore: 0.0001})
		if err != nil {
			tb.Fatal(err)
		}
		var hs []hit
		for _, r := range got {
			if r.Language != "" && r.Language != q.Language {
				continue // the decomposer keeps only plans in the job's language
			}
			hs = append(hs, hit{id: r.RequestID, score: r.Score, bytes: len(similarLine(r))})
		}
		answers = append(answers, hs)
	}
	return cfg.Embedder.Provider, def, rel, answers
}

// similarLine renders one similar request as the decomposer template does.
func similarLine(r memory.RequestMatch) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n- %q", r.Description)
	if r.Language != "" {
		fmt.Fprintf(&sb, " (%s)", r.Language)
	}
	sb.WriteString(": ")
	for i, t := range r.Tasks {
		if i > 0 {
			sb.WriteString("; ")
		}
		fmt.Fprintf(&sb, "%s [%s, %s] %s", t.ID, t.Type, t.Complexity, t.Description)
	}
	return sb.String()
}

// BenchmarkRepairRecall stores the labelled errors with the fixes that
// resolved them, as the workflow records a failed attempt's validation
// failures and the passing attempt's summary, asks for each new failure's
// hints as the re-ask does (the failure text, the project's language), and
// scores the answers at every threshold. The bytes are those of the hint
// sentences the re-ask prompt carries.
func BenchmarkRepairRecall(b *testing.B) {
	data := load(b)
	var provider string
	var def float64
	var rel [][]string
	var answers [][]hit
	for range b.N {
		provider, def, rel, answers = measureRepairs(b, data)
	}
	b.Logf("repair hints: embedder %s, %d stored fixes, %d new failures (%d with no relevant fix), k = %d, configured threshold %.2f",
		provider, len(data.StoredErrors), len(rel), countNone(rel), k, def)
	report(b, rel, answers, def, 0, "hint bytes / re-ask")
	for i, q := range data.ErrorQueries {
		b.Logf("failure %2d %-10s want %v got [%s]", i+1, q.Language, q.Relevant, hitList(answers[i]))
	}
}

// measureRepairs stores the labelled fixes in a fresh memory and returns
// the embedder, its configured error threshold, the relevant ids of each
// new failure and the hints its re-ask would be given.
func measureRepairs(tb testing.TB, data relevance) (provider string, def float64, rel [][]string, answers [][]hit) {
	tb.Helper()
	ctx, cfg, m := open(tb)
	for _, e := range data.StoredErrors {
		if err := m.RecordErrorFix(ctx, memory.ErrorFix{RequestID: "req-" + e.ID, Error: e.Error, Fix: e.Fix, Language: e.Language,
			ErrorType: e.ErrorType, TaskType: "implementation"}); err != nil {
			tb.Fatal(err)
		}
	}
	// Hints carry the fix, not the stored id: map fixes back to ids.
	byFix := map[string]string{}
	for _, e := range data.StoredErrors {
		byFix[e.Language+"\x00"+e.Fix] = e.ID
	}
	def = memory.DefaultThresholds(cfg.Embedder.Provider).Errors
	if cfg.Thresholds.Errors > 0 {
		def = cfg.Thresholds.Errors
	}
	for i, q := range data.ErrorQueries {
		rel = append(rel, q.Relevant)
		got, err := m.RepairHints(ctx, memory.ErrorQuery{RequestID: fmt.Sprintf("query-%d", i), Error: q.Error, Language: q.Language,
			Limit: k, MinScore: 0.0001})
		if err != nil {
			tb.Fatal(err)
		}
		var hs []hit
		for _, h := range got {
			id, ok := byFix[h.Language+"\x00"+h.Fix]
			if !ok {
				tb.Fatalf("error query %d got a hint that is not in the set: %q", i, h.Fix)
			}
			hs = append(hs, hit{id: id, score: h.Score, bytes: len(hintLead) + len(h.Fix) + 1})
		}
		answers = append(answers, hs)
	}
	return cfg.Embedder.Provider, def, rel, answers
}

// TestDefaultThresholdsMeetTarget keeps the measured defaults honest: at
// the configured thresholds of the built-in embedder, every recall that
// enters a prompt (code examples, similar plans, repair hints) reaches
// precision@3 ≥ 0.9 on the labelled set, and recalls something relevant.
// A change to the embedder, the stored texts or a threshold that breaks
// this must measure again (go test -bench . ./bench/recall/) and say why.
func TestDefaultThresholdsMeetTarget(t *testing.T) {
	if p := os.Getenv("QLP_MEMORY_EMBEDDER_PROVIDER"); p != "" && p != memory.ProviderBuiltin {
		t.Skipf("the environment configures the %s embedder: the defaults under test are the built-in one's (the benchmarks measure %s)", p, p)
	}
	data := load(t)
	_, cdef, code := measureCode(t, data)
	_, rdef, rrel, reqs := measureRequests(t, data)
	_, edef, erel, hints := measureRepairs(t, data)
	for _, tc := range []struct {
		name    string
		def     float64
		rel     [][]string
		answers [][]hit
	}{
		{"code examples", cdef, relevantOf(data), code},
		{"similar plans", rdef, rrel, reqs},
		{"repair hints", edef, erel, hints},
	} {
		p, r, wrong, _ := scoreOf(tc.rel, tc.answers, tc.def, 0)
		if p < 0.9 || r < 0.5 {
			t.Errorf("%s at the default threshold %.2f: precision@3 %.2f (want ≥ 0.9), recall@3 %.2f, %d queries with nothing relevant given something",
				tc.name, tc.def, p, r, wrong)
		}
	}
}

// report logs the grid (the configured threshold first, marked *), the
// best threshold of the grid with precision@3 ≥ 0.9, and reports the
// configured threshold's figures as metrics.
func report(b *testing.B, rel [][]string, answers [][]hit, def float64, header int, unit string) {
	b.Helper()
	b.Logf("%-9s %-13s %-10s %-26s %-22s", "threshold", "precision@3", "recall@3", "queries given an unrelated", unit)
	best := -1.0
	var bestP, bestR float64
	for _, t := range append([]float64{def}, thresholds...) {
		p, r, wrong, bytes := scoreOf(rel, answers, t, header)
		label := fmt.Sprintf("%.2f", t)
		if t == def {
			label += "*"
		}
		b.Logf("%-9s %-13.2f %-10.2f %-26d %-22.0f", label, p, r, wrong, bytes)
		if p >= 0.9 && (best < 0 || r > bestR) {
			best, bestP, bestR = t, p, r
		}
	}
	pd, rd, _, bd := scoreOf(rel, answers, def, header)
	b.ReportMetric(pd, "precision@3")
	b.ReportMetric(rd, "recall@3")
	b.ReportMetric(bd, "prompt-bytes/query")
	if best >= 0 {
		b.Logf("lowest threshold with the best recall at precision@3 >= 0.9: %.2f (precision %.2f, recall %.2f); * = configured", best, bestP, bestR)
	} else {
		b.Logf("no threshold of the grid reaches precision@3 >= 0.9; * = configured")
	}
}

func hitList(hs []hit) string {
	got := make([]string, 0, len(hs))
	for _, h := range hs {
		got = append(got, fmt.Sprintf("%s %.3f", h.id, h.score))
	}
	return strings.Join(got, ", ")
}
