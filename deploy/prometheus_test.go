package deploy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/store"
)

func promtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	bin := requireTool(t, "promtool")
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	out := promtool(t, "prometheus", "check", "rules", "rules/qlp-recording.yml", "rules/qlp-alerts.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatal(out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("prometheus/tests/*_test.yml")
	if len(files) == 0 {
		t.Fatal("no rule tests under prometheus/tests")
	}
	for i, f := range files {
		files[i] = strings.TrimPrefix(f, "prometheus/")
	}
	out := promtool(t, "prometheus", append([]string{"test", "rules"}, files...)...)
	if strings.Count(out, "SUCCESS") != len(files) {
		t.Fatal(out)
	}
}

func TestPromtoolCheckConfigSingle(t *testing.T) {
	out := promtool(t, "prometheus", "check", "config", "prometheus-single.yml")
	if !strings.Contains(out, "is valid prometheus config file syntax") {
		t.Fatal(out)
	}
}

// Debian's Prometheus is built without Kubernetes service discovery, and the
// in-cluster service account files do not exist here: the Kubernetes
// configuration is checked with its kubernetes_sd_configs replaced by
// file_sd_configs and those files pointed at empty temporary files. What
// that leaves unchecked (the SD blocks themselves, relabelling against real
// pods) is said in deploy/README.md.
func TestPromtoolCheckConfigKubernetes(t *testing.T) {
	src := readFile(t, "prometheus/prometheus.yml")
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "rules"), os.DirFS("prometheus/rules")); err != nil {
		t.Fatal(err)
	}
	sd := regexp.MustCompile(`kubernetes_sd_configs:\n(\s+)- role: (pod|node|endpoints)\n(?:\s+namespaces:\n\s+names: \[[\w, -]+\]\n)?`)
	n := len(sd.FindAllString(src, -1))
	if n != strings.Count(src, "kubernetes_sd_configs:") || n != 5 {
		t.Fatalf("found %d kubernetes_sd_configs blocks of the expected shape, want all 5", n)
	}
	conf := sd.ReplaceAllString(src, "file_sd_configs:\n$1- files: [targets.json]\n")
	for _, f := range []string{"/var/run/secrets/kubernetes.io/serviceaccount/token", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"} {
		local := filepath.Join(dir, filepath.Base(f))
		writeFile(t, local, "")
		conf = strings.ReplaceAll(conf, f, local)
	}
	writeFile(t, filepath.Join(dir, "targets.json"), "[]")
	writeFile(t, filepath.Join(dir, "prometheus.yml"), conf)
	out := promtool(t, dir, "check", "config", "prometheus.yml")
	if !strings.Contains(out, "is valid prometheus config file syntax") || !strings.Contains(out, "SUCCESS: 2 rule files found") ||
		strings.Contains(out, "FAILED") || strings.Contains(out, "WARNING") {
		t.Fatal(out)
	}
}

// ruleFile is the shape of a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T, path string) ruleFile {
	t.Helper()
	var rf ruleFile
	if err := yaml.Unmarshal([]byte(readFile(t, path)), &rf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rf
}

// TestEveryAlertIsTested requires, for every alert, a unit test where it
// fires and one where it stays silent.
func TestEveryAlertIsTested(t *testing.T) {
	type alertTest struct {
		AlertName string `yaml:"alertname"`
		ExpAlerts []any  `yaml:"exp_alerts"`
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	files, _ := filepath.Glob("prometheus/tests/*_test.yml")
	for _, f := range files {
		var tf struct {
			Tests []struct {
				AlertRuleTest []alertTest `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		if err := yaml.Unmarshal([]byte(readFile(t, f)), &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.AlertName] = true
				} else {
					silent[a.AlertName] = true
				}
			}
		}
	}
	rf := loadRules(t, "prometheus/rules/qlp-alerts.yml")
	seen := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			seen++
			if !fires[r.Alert] || !silent[r.Alert] {
				t.Errorf("alert %s: tested firing %v, tested silent %v; want both", r.Alert, fires[r.Alert], silent[r.Alert])
			}
			sev := r.Labels["severity"]
			if (g.Name == "qlp-critical" && sev != "critical") || (g.Name == "qlp-warning" && sev != "warning") {
				t.Errorf("alert %s in group %s has severity %q", r.Alert, g.Name, sev)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s needs a summary and a description", r.Alert)
			}
		}
	}
	if seen < 15 {
		t.Fatalf("only %d alerts found", seen)
	}
}

// TestPrometheusScrapesQLP runs a real Prometheus with prometheus-single.yml
// and the rules against the real orchestrator, Agent Factory and memory HTTP
// surfaces (the sandbox, validation and worker ports are left closed: the
// worker needs a Temporal server): the targets are up or down as they
// should be, QLP's series arrive with the labels the rules use (the model
// and budget series on the agents port, after one real POST /execute
// answered by a scripted model), every rule loads and evaluates, and
// QLPTargetDown goes pending for the closed ports.
func TestPrometheusScrapesQLP(t *testing.T) {
	t.Parallel()
	bin := requireTool(t, "prometheus")
	started := time.Now()
	model := llmtest.New(llmtest.NewScript(llmtest.Rule{Role: "agent", Replies: []llmtest.Reply{{Content: `{"summary":"hello",` +
		`"files":[{"path":"hello.py","content":"print('hello')\n"},{"path":"test_hello.py","content":"def test_hello():\n    assert True\n"}]}`}}}).Handle)
	t.Cleanup(model.Close)
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Store.Driver, cfg.Store.DatabaseURL = "sqlite", ""
	cfg.LLM.Provider, cfg.LLM.BaseURL = "openai", model.URL
	cfg.LLM.Models = [4]string{"gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1", "gpt-4o"}
	p, err := app.Open(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{NoEngine: true, Run: []string{app.Memory, app.Agents}, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	api := httptest.NewServer(p.APIHandler())
	t.Cleanup(api.Close)
	agentsHandler, err := p.Handler(app.Agents)
	if err != nil {
		t.Fatal(err)
	}
	agents := httptest.NewServer(agentsHandler)
	t.Cleanup(agents.Close)
	// One call through the Agent Factory, so that its model and budget
	// series exist.
	if _, err := p.Store.EnsureTenant(t.Context(), "acme", "acme"); err != nil {
		t.Fatal(err)
	}
	key, digest, err := auth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Store.CreateAPIKey(t.Context(), store.APIKey{ID: "k1", TenantID: "acme", Prefix: auth.DisplayPrefix(key.Reveal()), Digest: digest}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, agents.URL+"/execute",
		strings.NewReader(`{"task":{"id":"hello","description":"print hello in Python"},"tier":"T1"}`))
	req.Header.Set("Authorization", "Bearer "+key.Reveal())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /execute on the Agent Factory: %d %s", resp.StatusCode, body)
	}
	memHandler, err := p.Handler(app.Memory)
	if err != nil {
		t.Fatal(err)
	}
	mem := httptest.NewServer(memHandler)
	t.Cleanup(mem.Close)
	t.Logf("%v: QLP up", time.Since(started).Round(10*time.Millisecond))

	dir := t.TempDir()
	// The rules as shipped, evaluated every second instead of every 30 s or
	// minute so that the test need not wait for them.
	if err := os.Mkdir(filepath.Join(dir, "rules"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"qlp-recording.yml", "qlp-alerts.yml"} {
		r := regexp.MustCompile(`(?m)^(\s+interval:) \w+$`).ReplaceAllString(readFile(t, "prometheus/rules/"+f), "$1 1s")
		writeFile(t, filepath.Join(dir, "rules", f), r)
	}
	conf := readFile(t, "prometheus/prometheus-single.yml")
	for old, new := range map[string]string{
		`"127.0.0.1:8000"`:         fmt.Sprintf("%q", hostPort(api.URL)),
		`"127.0.0.1:8001"`:         fmt.Sprintf("%q", hostPort(agents.URL)),
		`"127.0.0.1:8005"`:         fmt.Sprintf(`"127.0.0.1:%d"`, freePort(t)),
		`"127.0.0.1:8003"`:         fmt.Sprintf("%q", hostPort(mem.URL)),
		`"127.0.0.1:8002"`:         fmt.Sprintf(`"127.0.0.1:%d"`, freePort(t)),
		`"127.0.0.1:8004"`:         fmt.Sprintf(`"127.0.0.1:%d"`, freePort(t)),
		"scrape_interval: 15s":     "scrape_interval: 1s",
		"evaluation_interval: 30s": "evaluation_interval: 1s",
	} {
		if strings.Count(conf, old) != 1 {
			t.Fatalf("prometheus-single.yml: %q occurs %d times, want once", old, strings.Count(conf, old))
		}
		conf = strings.Replace(conf, old, new, 1)
	}
	writeFile(t, filepath.Join(dir, "prometheus.yml"), conf)
	port := freePort(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	type sample struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	query := func(q string) []sample {
		resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var r struct {
			Data struct {
				Result []sample `json:"result"`
			} `json:"data"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&r)
		return r.Data.Result
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("%v: %s", time.Since(started).Round(10*time.Millisecond), what)
	}

	waitFor("prometheus ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	up := map[string]string{}
	waitFor("six targets scraped", func() bool {
		res := query(`up{job="qlp"}`)
		for _, s := range res {
			up[s.Metric["service"]] = fmt.Sprint(s.Value[1])
		}
		return len(res) == 6
	})
	want := map[string]string{"orchestrator": "1", "agents": "1", "memory": "1", "sandbox": "0", "validation": "0", "worker": "0"}
	for svc, v := range want {
		if up[svc] != v {
			t.Errorf("up{service=%q} = %s, want %s", svc, up[svc], v)
		}
	}
	// QLP's own series, with the labels the rules and the dashboard use.
	for _, q := range []string{
		`qlp_http_requests_total{job="qlp", service="orchestrator", endpoint="GET /metrics", status="200", namespace="qlp", pod="qlp-up"}`,
		`qlp_http_request_duration_seconds_bucket{job="qlp", service="memory", endpoint="GET /metrics"}`,
		`go_gc_gomemlimit_bytes{job="qlp", service="orchestrator"}`,
		`process_resident_memory_bytes{job="qlp", service="memory"}`,
		`qlp_llm_calls_total{job="qlp", service="agents", provider="openai", tier="T1", outcome="ok", namespace="qlp"}`,
		`qlp_llm_cost_usd_total{job="qlp", service="agents", tier="T1"}`,
		`qlp_budget_decisions_total{job="qlp", service="agents", decision="allowed"}`,
		// (its endpoint label is "/", the pattern the Agent Factory is mounted on)
		`qlp_http_requests_total{job="qlp", service="agents", method="POST", status="200"}`,
	} {
		waitFor(q, func() bool { return len(query(q)) > 0 })
	}

	// Every rule loaded and none failed to evaluate.
	rules := map[string]string{}
	waitFor("every rule evaluated", func() bool {
		resp, err := http.Get(base + "/api/v1/rules")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var r struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name      string `json:"name"`
						Health    string `json:"health"`
						LastError string `json:"lastError"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&r)
		evaluated := true
		for _, g := range r.Data.Groups {
			for _, rl := range g.Rules {
				rules[rl.Name] = rl.Health
				if rl.Health == "err" {
					t.Errorf("rule %s: %s", rl.Name, rl.LastError)
				}
				if rl.Health != "ok" {
					evaluated = false
				}
			}
		}
		return evaluated && len(rules) > 0
	})
	var names []string
	for _, f := range []string{"prometheus/rules/qlp-recording.yml", "prometheus/rules/qlp-alerts.yml"} {
		for _, g := range loadRules(t, f).Groups {
			for _, r := range g.Rules {
				names = append(names, r.Alert+r.Record)
			}
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := rules[n]; !ok {
			t.Errorf("rule %s was not loaded", n)
		}
	}

	// The closed ports make QLPTargetDown pending (it fires after 5 minutes).
	waitFor("QLPTargetDown pending for the sandbox", func() bool {
		for _, s := range query(`ALERTS{alertname="QLPTargetDown", alertstate="pending"}`) {
			if s.Metric["service"] == "sandbox" {
				return true
			}
		}
		return false
	})
	for _, s := range query(`ALERTS{alertname="QLPTargetDown"}`) {
		if svc := s.Metric["service"]; svc == "orchestrator" || svc == "agents" || svc == "memory" {
			t.Errorf("QLPTargetDown for %s, which is up", svc)
		}
	}
	// Each model call is counted once across the process's ports.
	if res := query(`sum(qlp_llm_calls_total{job="qlp"})`); len(res) != 1 || fmt.Sprint(res[0].Value[1]) != "1" {
		t.Errorf("sum of qlp_llm_calls_total over every port: %v, want 1 (one call, registered once)", res)
	}
}
