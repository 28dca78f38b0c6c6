// Package consolebench measures the web console in a real browser: time
// to first render (first-contentful-paint, and the navigation's
// domContentLoaded) and page weight (bytes on the wire, the page and
// everything it loads, with the cache disabled) of the job page and the
// capsule page of a completed job, against a baseline in the same run:
// the very same HTML saved and served as a static page by the same server,
// so the ratio is what rendering it on the server (the API calls behind
// it, the templates, the highlighting, the signature check) costs.
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/console/
//
// It needs Debian's chromium (scripts/deps/browser.apt) and bubblewrap
// (the job's validation runs in the sandbox), and skips without chromium.
package consolebench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
)

const loads = 15

// model answers a one-task Python project of a realistic file size.
func model(c llmtest.Call) llmtest.Reply {
	if c.Role == "decomposer" {
		return llmtest.Reply{Content: `{"project":{"name":"bench-py","language":"python","commands":{"test":"python3 -m pytest -q","run":"python3 -m pytest -q"}},` +
			`"tasks":[{"id":"t1","type":"code_generation","description":"value.py and its test","complexity":"simple","dependencies":[]}]}`}
	}
	var b strings.Builder
	b.WriteString("\"\"\"Values.\"\"\"\n")
	for i := range 120 {
		fmt.Fprintf(&b, "\n\ndef value_%d() -> int:\n    \"\"\"Return %d.\"\"\"\n    return %d\n", i, i, i)
	}
	return llmtest.Reply{Content: llmtest.JSON(map[string]any{"summary": "values", "files": []map[string]string{
		{"path": "value.py", "content": b.String()},
		{"path": "test_value.py", "content": "from value import value_1\n\n\ndef test_value() -> None:\n    assert value_1() == 1\n"}}})}
}

type sample struct{ fcp, dcl, bytes float64 }

func BenchmarkConsolePages(b *testing.B) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		b.Skip("chromium is not installed (scripts/deps/browser.apt)")
	}
	ctx := b.Context()
	m := llmtest.New(model)
	defer m.Close()
	cfg := config.Defaults()
	cfg.DataDir = b.TempDir()
	cfg.Temporal.Port = 0
	cfg.LLM.Provider, cfg.LLM.BaseURL, cfg.LLM.APIKey = "openai", m.URL, "bench"
	cfg.LLM.Models = [4]string{"gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1", "gpt-4o"}
	p, err := app.Open(ctx, cfg, logx.Discard(), app.Options{Run: []string{app.Worker}, Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	static := map[string][]byte{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /baseline/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(static[r.PathValue("name")])
	})
	mux.Handle("/", p.APIHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	key, digest, err := auth.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := p.Store.EnsureTenant(ctx, "acme", "acme"); err != nil {
		b.Fatal(err)
	}
	if err := p.Store.CreateAPIKey(ctx, store.APIKey{ID: "bench", TenantID: "acme", Prefix: auth.DisplayPrefix(key.Reveal()), Digest: digest}); err != nil {
		b.Fatal(err)
	}
	c := orchestrator.NewClient(srv.URL, key, nil)
	sub, err := c.Execute(ctx, orchestrator.ExecuteRequest{Description: "Build bench-py: value functions in Python, with a pytest test."}, "")
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Follow(ctx, sub.WorkflowID, 0, func(orchestrator.ProgressEvent) error { return nil }); err != nil {
		b.Fatal(err)
	}
	st, err := c.Status(ctx, sub.WorkflowID)
	if err != nil || st.Result == nil || st.Result.CapsuleID == "" {
		b.Fatalf("the job did not make a capsule: %v %+v", err, st)
	}
	pages := map[string]string{
		"job":     "/ui/jobs/" + sub.WorkflowID,
		"capsule": "/ui/capsules/" + st.Result.CapsuleID + "?file=value.py",
	}
	// The baselines: each page's HTML as the console sent it, saved.
	hc := signIn(b, srv.URL, key.Reveal())
	for name, path := range pages {
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		static[name] = body
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1100, 900))
	actx, cancel := chromedp.NewExecAllocator(context.WithoutCancel(ctx), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/ui/login"), chromedp.SendKeys(chromedp.ID("key"), key.Reveal()),
		chromedp.Submit(chromedp.ID("key")), chromedp.WaitVisible(chromedp.ID("description"))))
	_, err = chromedp.Call(bctx, network.Enable, network.EnableParams{})
	must(err)
	_, err = chromedp.Call(bctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
	must(err)

	measure := func(u string) sample {
		must(chromedp.Do(bctx, chromedp.Navigate(u)))
		// Paint timing lands just after load; wait for it briefly.
		for range 50 {
			v, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`(performance.getEntriesByName('first-contentful-paint')[0] || {startTime: -1}).startTime`))
			must(err)
			if v >= 0 {
				dcl, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd`))
				must(err)
				bytes, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`performance.getEntriesByType('navigation')[0].transferSize +
					performance.getEntriesByType('resource').reduce((s, e) => s + e.transferSize, 0)`))
				must(err)
				return sample{fcp: v, dcl: dcl, bytes: bytes}
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.Fatalf("%s: no first-contentful-paint", u)
		return sample{}
	}
	b.ResetTimer()
	for range b.N {
		for _, name := range []string{"job", "capsule"} {
			var page, base []sample
			for range loads {
				page = append(page, measure(srv.URL+pages[name]))
				base = append(base, measure(srv.URL+"/baseline/"+name))
			}
			pm, bm := median(page), median(base)
			b.ReportMetric(pm.fcp, name+"-fcp-ms")
			b.ReportMetric(pm.bytes/1024, name+"-KB")
			b.ReportMetric(pm.fcp/bm.fcp, name+"-fcp/static")
			b.Logf("%s page: first render %.1f ms (DOMContentLoaded %.1f ms), %.1f KB on the wire; static copy: %.1f ms (%.1f ms), %.1f KB; ratio %.2f",
				name, pm.fcp, pm.dcl, pm.bytes/1024, bm.fcp, bm.dcl, bm.bytes/1024, pm.fcp/bm.fcp)
		}
	}
}

func median(s []sample) sample {
	pick := func(f func(sample) float64) float64 {
		v := make([]float64, len(s))
		for i, x := range s {
			v[i] = f(x)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return sample{fcp: pick(func(x sample) float64 { return x.fcp }), dcl: pick(func(x sample) float64 { return x.dcl }),
		bytes: pick(func(x sample) float64 { return x.bytes })}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs in through the form, for the baseline copies.
func signIn(b *testing.B, base, key string) *http.Client {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Get(base + "/ui/login")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindStringSubmatch(string(body))
	if m == nil {
		b.Fatal("no CSRF token on the sign-in page")
	}
	resp, err = hc.PostForm(base+"/ui/login", url.Values{"csrf": {m[1]}, "key": {key}})
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	return hc
}
