package marketing_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/logx"
	mkt "github.com/quantumlayer/qlp/internal/marketing"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
)

// callUsage is every scripted call's usage: on T1 (gpt-4.1-mini, $0.40 and
// $1.60 per million) a call costs 1000 × 0.4 + 500 × 1.6 = $0.0012.
var callUsage = llm.Usage{InputTokens: 1000, OutputTokens: 500}

const callPUSD = 1_200_000_000

var (
	channelRe = regexp.MustCompile(`(?m)^Channel: (\S+)`)
	themeRe   = regexp.MustCompile(`theme: (.+)`)
)

// copy is a scripted copywriter: content within each channel's limits,
// the launch-day LinkedIn post over the limit on the first ask (re-asked), and a
// Product Hunt tagline over it twice (repaired).
type copywriter struct {
	mu    sync.Mutex
	asked map[string]int
}

func (w *copywriter) reply(c llmtest.Call) llmtest.Reply {
	w.mu.Lock()
	w.asked[c.TaskID]++
	n := w.asked[c.TaskID]
	w.mu.Unlock()
	ch := channelRe.FindStringSubmatch(c.Prompt())[1]
	theme := "launch"
	if m := themeRe.FindStringSubmatch(c.Prompt()); m != nil {
		theme = strings.TrimSpace(m[1])
	}
	link := "https://example.com/url-shortener/launch?utm_source=" + ch + "&utm_campaign=spring-launch-2026"
	var ct mkt.Content
	switch ch {
	case mkt.ChannelX:
		// 230 characters of text plus a 90-character link: 331 raw, 263
		// as X counts it (the link as 23), plus two hashtags.
		ct = mkt.Content{Body: strings.Repeat("Short links ", 20)[:230] + " " + theme[:min(8, len(theme))] + " " + link, Hashtags: []string{"golang"}}
	case mkt.ChannelLinkedIn:
		body := "We built a URL shortener in Go. " + theme + ". " + link
		if n == 1 && c.TaskID == "p002-linkedin" {
			body = strings.Repeat("Far too long for LinkedIn. ", 120)
		}
		ct = mkt.Content{Body: body, Hashtags: []string{"golang", "opensource"}}
	case mkt.ChannelBlog, mkt.ChannelDevTo:
		ct = mkt.Content{Title: "Building a URL shortener: " + theme, Body: strings.Repeat("A small Go service that shortens links and redirects them. ", 10), Hashtags: []string{"go"}}
	case mkt.ChannelEmail:
		ct = mkt.Content{Subject: "Meet the URL shortener", Body: strings.Repeat("It shortens links and redirects them, with tests. ", 4)}
	case mkt.ChannelHackerNews:
		ct = mkt.Content{Title: "Show HN: A tiny URL shortener in Go with an HTTP API", Body: "Links live in memory; " + link}
	case mkt.ChannelProductHunt:
		ct = mkt.Content{Tagline: "Shorten links and redirect them from a tiny, tested Go service, in memory, fast", Body: "A URL shortener in Go. #golang"}
	}
	return llmtest.Reply{Content: llmtest.JSON(ct)}
}

func strategyReply() llmtest.Reply {
	return llmtest.Reply{Content: llmtest.JSON(mkt.Strategy{Name: "url-shortener launch", Summary: "Show developers a small, tested Go service.",
		Pillars: []string{"small", "tested", "fast"}, Themes: []string{"why short links", "the API", "the tests", "running it"},
		KPIs: []string{"100 stars"}})}
}

func optimiserReply() llmtest.Reply {
	return llmtest.Reply{Content: llmtest.JSON(map[string]any{"notes": "Tightened the first post; the HN title stays plain.",
		"revisions": []any{
			map[string]any{"piece_id": "p001-x", "body": "A tiny Go URL shortener, tested and fast: https://example.com/url-shortener", "hashtags": []string{"golang"}},
			map[string]any{"piece_id": "p006-hackernews", "title": "Show HN: URL shortener #golang", "body": "In memory."},
		}})}
}

type harness struct {
	st    store.Store
	srv   *llmtest.Server
	acts  *mkt.Activities
	cw    *copywriter
	guard *budget.Service
}

// newHarness wires the real activities to a SQLite store and the scripted
// model behind the platform's provider layer (metering into the ledger,
// the response cache) and the budget guard, with a request budget of
// requestUSD ("" for none).
func newHarness(t *testing.T, requestUSD string, wrap func(llmtest.Call, llmtest.Reply) llmtest.Reply) *harness {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "qlp.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	_, err = st.EnsureTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	cw := &copywriter{asked: map[string]int{}}
	srv := llmtest.New(func(c llmtest.Call) llmtest.Reply {
		var r llmtest.Reply
		switch c.Role {
		case "strategist":
			r = strategyReply()
		case "copywriter":
			r = cw.reply(c)
		case "optimiser":
			r = optimiserReply()
		default:
			return llmtest.Reply{Status: 400, Body: `{"error":{"message":"unexpected role ` + c.Role + `"}}`}
		}
		u := callUsage
		r.Usage = &u
		if wrap != nil {
			r = wrap(c, r)
		}
		return r
	})
	t.Cleanup(srv.Close)
	cfg := tiers.Defaults()
	cfg.Provider, cfg.BaseURL = "openai", srv.URL
	cfg.Models = [4]string{"gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1", "gpt-4o"}
	router, err := tiers.Build(cfg, st, logx.Discard())
	require.NoError(t, err)
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	bc := budget.Defaults()
	bc.RequestUSD, bc.Policy = requestUSD, "stop"
	guard, err := budget.New(bc, budget.Deps{Store: st, Prices: prices, Plan: &costs.Plan{}, Logger: logx.Discard()})
	require.NoError(t, err)
	t.Cleanup(func() { guard.Close() })
	require.NoError(t, router.Wrap(func(ts []tiers.Target) ([]tiers.Target, error) {
		rungs := make([]budget.Rung, len(ts))
		for i, tg := range ts {
			rungs[i] = budget.Rung{Tier: tg.Tier, Provider: tg.Provider, Model: tg.Model}
		}
		guarded, err := guard.Guard(rungs, 2048)
		if err != nil {
			return nil, err
		}
		for i := range ts {
			ts[i].Provider = guarded[i]
		}
		return ts, nil
	}))
	acts := &mkt.Activities{Store: st, Models: router, Tier: "T1", MaxTokens: 2048, Temperature: 0.2, MaxPieces: 40, Logger: logx.Discard()}
	return &harness{st: st, srv: srv, acts: acts, cw: cw, guard: guard}
}

// demoCapsule stores the example's capsule (examples/url-shortener): its
// manifest and README, as the workflow stores a capsule.
func (h *harness) demoCapsule(t *testing.T) string {
	t.Helper()
	request, err := os.ReadFile("../../examples/url-shortener/request.txt")
	require.NoError(t, err)
	var plan struct {
		Project struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			Language    string `json:"language"`
		} `json:"project"`
	}
	b, err := os.ReadFile("../../examples/url-shortener/plan.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &plan))
	manifest, err := json.Marshal(map[string]any{"schema_version": "1", "id": "cap-demo", "version": 1, "name": plan.Project.Name,
		"description": plan.Project.Description, "request": strings.TrimSpace(string(request)), "languages": []string{plan.Project.Language}})
	require.NoError(t, err)
	readme := []byte("# " + plan.Project.Name + "\n\n" + plan.Project.Description + "\n")
	require.NoError(t, h.st.AddCapsuleVersion(t.Context(), store.Capsule{ID: "cap-demo", TenantID: "acme", Name: plan.Project.Name,
		Description: plan.Project.Description, Language: plan.Project.Language},
		store.CapsuleVersion{CapsuleID: "cap-demo", Version: 1, Manifest: manifest, Report: []byte(`{}`),
			Files: []store.CapsuleFile{{Path: "README.md", Role: "doc", Size: int64(len(readme)), Content: readme}}}))
	return "cap-demo"
}

// campaign records a campaign for brief, as the API does.
func (h *harness) campaign(t *testing.T, id string, b mkt.Brief) {
	t.Helper()
	require.NoError(t, b.Normalize(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)))
	raw, err := json.Marshal(b)
	require.NoError(t, err)
	_, _, err = h.st.CreateCampaign(t.Context(), store.Campaign{ID: id, TenantID: "acme", WorkflowID: mkt.WorkflowID(id), Brief: raw})
	require.NoError(t, err)
}

var testWorkerOptions = worker.Options{DeadlockDetectionTimeout: 30 * time.Second}

func (h *harness) env() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(logx.Discard()))
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(2 * time.Minute)
	env.SetWorkerOptions(testWorkerOptions)
	mkt.Register(env, h.acts)
	return env
}

// callsPerTask counts the model calls answered per task id (piece).
func (h *harness) callsPerTask() map[string]int {
	out := map[string]int{}
	for _, c := range h.srv.Calls() {
		out[c.Role+"/"+c.TaskID]++
	}
	return out
}

func ledger(t *testing.T, st store.Store, campaignID string) []store.Usage {
	t.Helper()
	rows, err := st.ListUsage(context.Background(), store.UsageFilter{JobID: campaignID})
	require.NoError(t, err)
	return rows
}
