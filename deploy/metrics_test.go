package deploy_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/quantumlayer/qlp/internal/httpx"
)

// metric is one series name a query may use, with the labels it carries.
// A nil label set means "not checked" (series from outside QLP).
type metric struct {
	labels map[string]bool
	source string
}

// targetLabels are added to every QLP series at scrape time
// (deploy/prometheus/prometheus*.yml).
var targetLabels = []string{"job", "instance", "service", "namespace", "pod"}

// externalMetrics are series the rules use that QLP does not expose: they
// come from Prometheus itself or from the Kubernetes components every
// cluster's Prometheus scrapes (prometheus.yml has a job for each).
var externalMetrics = map[string]string{
	"up":     "Prometheus (scrape health)",
	"ALERTS": "Prometheus (alert state)",
	"kube_deployment_status_replicas_available": "kube-state-metrics",
	"kube_pod_container_resource_limits":        "kube-state-metrics",
	"kube_pod_container_status_restarts_total":  "kube-state-metrics",
	"container_cpu_usage_seconds_total":         "kubelet cAdvisor",
	"container_memory_working_set_bytes":        "kubelet cAdvisor",
	"kubelet_volume_stats_used_bytes":           "kubelet",
	"kubelet_volume_stats_capacity_bytes":       "kubelet",
}

var (
	// prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_x", ...}, labels)
	metricDef = regexp.MustCompile(`(?s)prometheus\.New(Counter|Gauge|Histogram|Summary)(Vec|Func)?\(\s*prometheus\.\w+Opts\{\s*Name:\s*"(qlp_\w+)"`)
	labelsLit = regexp.MustCompile(`(?s)^\},\s*\[\]string\{([^}]*)\}`)
	labelsApp = regexp.MustCompile(`(?s)^\},\s*append\((\w+),\s*([^)]*)\)`)
	labelsVar = regexp.MustCompile(`(?s)^\},\s*(\w+)\)`)
	strLit    = regexp.MustCompile(`"([^"]*)"`)
)

// qlpMetrics reads every qlp_* metric registered in the Go code under
// internal/ (the registration calls themselves), with its type and labels.
func qlpMetrics(t *testing.T) map[string]metric {
	t.Helper()
	out := map[string]metric{}
	err := filepath.WalkDir("../internal", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src := readFile(t, path)
		for _, m := range metricDef.FindAllStringSubmatchIndex(src, -1) {
			kind, vec, name := src[m[2]:m[3]], "", src[m[6]:m[7]]
			if m[4] >= 0 {
				vec = src[m[4]:m[5]]
			}
			labels := map[string]bool{}
			if vec == "Vec" {
				ls, ok := vecLabels(src, strings.LastIndex(src[:m[6]], "Opts{")+len("Opts"))
				if !ok {
					t.Fatalf("%s: cannot read the labels of %s", path, name)
				}
				for _, l := range ls {
					labels[l] = true
				}
			}
			for _, l := range targetLabels {
				labels[l] = true
			}
			series := []string{name}
			if kind == "Histogram" || kind == "Summary" {
				series = []string{name + "_sum", name + "_count"}
				if kind == "Histogram" {
					series = append(series, name+"_bucket")
				} else {
					series = append(series, name)
				}
			}
			for _, s := range series {
				ls := labels
				if strings.HasSuffix(s, "_bucket") {
					ls = copyWith(labels, "le")
				}
				out[s] = metric{labels: ls, source: path}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("found only %d qlp_* series in internal/", len(out))
	}
	return out
}

// vecLabels reads the label names after the Opts literal whose opening
// brace is at open: a []string literal, append(var, ...) or a variable.
func vecLabels(src string, open int) ([]string, bool) {
	depth, inString, end := 0, false, -1
	for i := open; i < len(src) && end < 0; i++ {
		switch c := src[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{':
			depth++
		case c == '}':
			if depth--; depth == 0 {
				end = i
			}
		}
	}
	if end < 0 {
		return nil, false
	}
	rest := src[end:]
	strs := func(s string) []string {
		var out []string
		for _, m := range strLit.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		return out
	}
	variable := func(name string) []string {
		m := regexp.MustCompile(name + `\s*:?=\s*\[\]string\{([^}]*)\}`).FindStringSubmatch(src)
		if m == nil {
			return nil
		}
		return strs(m[1])
	}
	if m := labelsLit.FindStringSubmatch(rest); m != nil {
		return strs(m[1]), true
	}
	if m := labelsApp.FindStringSubmatch(rest); m != nil {
		base := variable(m[1])
		return append(base, strs(m[2])...), base != nil
	}
	if m := labelsVar.FindStringSubmatch(rest); m != nil {
		v := variable(m[1])
		return v, v != nil
	}
	return nil, false
}

func copyWith(m map[string]bool, extra ...string) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	for _, e := range extra {
		out[e] = true
	}
	return out
}

// runtimeMetrics are the Go runtime and process series every QLP service
// exposes: gathered from a real probes registry (httpx.NewProbes).
func runtimeMetrics(t *testing.T) map[string]metric {
	t.Helper()
	mfs, err := httpx.NewProbes("test", "test").Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]metric{}
	for _, mf := range mfs {
		labels := map[string]bool{}
		for _, l := range targetLabels {
			labels[l] = true
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		name := mf.GetName()
		switch mf.GetType().String() {
		case "HISTOGRAM":
			out[name+"_bucket"] = metric{labels: copyWith(labels, "le"), source: "Go collector"}
			out[name+"_sum"] = metric{labels: labels, source: "Go collector"}
			out[name+"_count"] = metric{labels: labels, source: "Go collector"}
		case "SUMMARY":
			out[name] = metric{labels: copyWith(labels, "quantile"), source: "Go collector"}
			out[name+"_sum"] = metric{labels: labels, source: "Go collector"}
			out[name+"_count"] = metric{labels: labels, source: "Go collector"}
		default:
			out[name] = metric{labels: labels, source: "Go collector"}
		}
	}
	for _, must := range []string{"process_resident_memory_bytes", "process_cpu_seconds_total", "go_gc_gomemlimit_bytes"} {
		if _, ok := out[must]; !ok {
			t.Fatalf("the probes registry exposes no %s", must)
		}
	}
	return out
}

// knownMetrics is everything a rule or a panel may query: QLP's series,
// the runtime's, the recording rules' (labels: their by-clause), and the
// external ones.
func knownMetrics(t *testing.T) map[string]metric {
	t.Helper()
	known := qlpMetrics(t)
	for k, v := range runtimeMetrics(t) {
		known[k] = v
	}
	for k, v := range externalMetrics {
		known[k] = metric{source: v}
	}
	for _, g := range loadRules(t, "prometheus/rules/qlp-recording.yml").Groups {
		for _, r := range g.Rules {
			by := regexp.MustCompile(`(?s)^\s*(?:histogram_quantile\(0\.\d+,\s*)?sum by \(([^)]*)\)`).FindStringSubmatch(r.Expr)
			labels := map[string]bool{}
			if by != nil {
				for _, l := range strings.Split(by[1], ",") {
					if l = strings.TrimSpace(l); l != "le" {
						labels[l] = true
					}
				}
			} else {
				// a ratio of two recorded series keeps their labels
				labels = nil
				for _, g2 := range loadRules(t, "prometheus/rules/qlp-recording.yml").Groups {
					for _, r2 := range g2.Rules {
						if strings.Contains(r.Expr, r2.Record) && r2.Record != r.Record {
							if b := regexp.MustCompile(`sum by \(([^)]*)\)`).FindStringSubmatch(r2.Expr); b != nil && labels == nil {
								labels = map[string]bool{}
								for _, l := range strings.Split(b[1], ",") {
									labels[strings.TrimSpace(l)] = true
								}
							}
						}
					}
				}
			}
			known[r.Record] = metric{labels: labels, source: "recording rule"}
		}
	}
	return known
}

var (
	grouping   = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	selector   = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)?\{([^}]*)\}`)
	matcher    = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	rangeSel   = regexp.MustCompile(`\[[0-9a-z$_]+\]`)
	quoted     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	number     = regexp.MustCompile(`\b\d+(\.\d+)?(e[+-]?\d+)?\b`)
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	keywords   = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "Inf": true, "NaN": true}
)

// queryRefs returns the series names an expression reads and checks its
// label matchers and groupings against known.
func queryRefs(t *testing.T, where, expr string, known map[string]metric) []string {
	t.Helper()
	var names []string
	var exprLabels = map[string]bool{}
	checked := true
	for _, m := range selector.FindAllStringSubmatch(expr, -1) {
		name := m[1]
		if name == "" {
			for _, mm := range matcher.FindAllStringSubmatch(m[2], -1) {
				if mm[1] == "__name__" {
					name = mm[3]
				}
			}
		}
		if name == "" {
			continue
		}
		names = append(names, name)
		k, ok := known[name]
		if !ok {
			continue // reported below
		}
		if k.labels == nil {
			checked = false
			continue
		}
		for l := range k.labels {
			exprLabels[l] = true
		}
		for _, mm := range matcher.FindAllStringSubmatch(m[2], -1) {
			if mm[1] != "__name__" && !k.labels[mm[1]] {
				t.Errorf("%s: %s has no label %q (it has %v; %s)", where, name, mm[1], keys(k.labels), k.source)
			}
		}
	}
	rest := selector.ReplaceAllString(expr, " $1 ")
	for _, g := range grouping.FindAllStringSubmatch(rest, -1) {
		for _, l := range strings.Split(g[2], ",") {
			l = strings.TrimSpace(l)
			if l != "" && checked && len(exprLabels) > 0 && !exprLabels[l] {
				t.Errorf("%s: groups by %q, which none of its series has", where, l)
			}
		}
	}
	rest = grouping.ReplaceAllString(rest, " ")
	rest = rangeSel.ReplaceAllString(rest, " ")
	rest = quoted.ReplaceAllString(rest, " ")
	rest = number.ReplaceAllString(rest, " ")
	for _, loc := range identifier.FindAllStringIndex(rest, -1) {
		id := rest[loc[0]:loc[1]]
		after := strings.TrimLeft(rest[loc[1]:], " \t\n")
		if keywords[id] || strings.HasPrefix(after, "(") {
			continue // a keyword, a function or an aggregation
		}
		names = append(names, id)
	}
	for _, n := range names {
		if _, ok := known[n]; !ok {
			t.Errorf("%s: %s is not a metric QLP registers (internal/...), nor a runtime, recording-rule or listed external series", where, n)
		}
	}
	return names
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestRuleMetricsExist: every series the recording and alerting rules read
// is registered by QLP's code (or is a listed runtime/external series), and
// every label they match or group by is one that series has.
func TestRuleMetricsExist(t *testing.T) {
	known := knownMetrics(t)
	used := map[string]bool{}
	for _, f := range []string{"prometheus/rules/qlp-recording.yml", "prometheus/rules/qlp-alerts.yml"} {
		for _, g := range loadRules(t, f).Groups {
			for _, r := range g.Rules {
				for _, n := range queryRefs(t, f+" "+r.Alert+r.Record, r.Expr, known) {
					used[n] = true
				}
			}
		}
	}
	for _, must := range []string{"qlp_http_requests_total", "qlp_http_request_duration_seconds_bucket", "qlp_sandbox_queue_depth",
		"qlp_llm_calls_total", "qlp_budget_decisions_total", "qlp_jobs_total", "process_resident_memory_bytes", "up"} {
		if !used[must] {
			t.Errorf("the rules no longer use %s", must)
		}
	}
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		GridPos struct{ H, W, X, Y int } `json:"gridPos"`
		Targets []struct {
			Expr         string `json:"expr"`
			LegendFormat string `json:"legendFormat"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal([]byte(readFile(t, "grafana/qlp-dashboard.json")), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// grafanaVars turns a panel query into PromQL.
func grafanaVars(expr string) string {
	return strings.NewReplacer("$__rate_interval", "5m", "$namespace", ".*", "$service", ".*").Replace(expr)
}

var legendLabel = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// TestDashboard: the dashboard is well formed, covers what it must, reads
// only metrics QLP registers with labels they have, and every query is
// PromQL that Prometheus' own parser accepts (promtool check rules over
// the queries as recording rules).
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	known := knownMetrics(t)
	if d.UID == "" || d.Title == "" {
		t.Fatal("the dashboard needs a uid and a title")
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["datasource"] || !vars["namespace"] {
		t.Errorf("templating variables %v, want datasource and namespace", vars)
	}
	ids := map[int]bool{}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	used := map[string]bool{}
	n := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X < 0 || p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			expr := grafanaVars(tg.Expr)
			names := queryRefs(t, "panel "+p.Title, expr, known)
			labels := map[string]bool{}
			all := true
			for _, nm := range names {
				used[nm] = true
				if known[nm].labels == nil {
					all = false
				}
				for l := range known[nm].labels {
					labels[l] = true
				}
			}
			for _, m := range legendLabel.FindAllStringSubmatch(tg.LegendFormat, -1) {
				if all && !labels[m[1]] {
					t.Errorf("panel %q: legend uses {{%s}}, which its series lack", p.Title, m[1])
				}
			}
			n++
			fmt.Fprintf(&rules, "      - record: dashboard:query%d\n        expr: %s\n", n, strconvQuote(expr))
		}
	}
	for _, must := range []string{"qlp_llm_calls_total", "qlp_llm_tokens_total", "qlp_llm_cost_usd_total", "qlp_http_requests_total",
		"qlp_sandbox_runs_total", "qlp_sandbox_queue_depth", "qlp_validation_validations_total", "qlp_memory_recall_total", "qlp_budget_decisions_total", "process_resident_memory_bytes",
		"qlp_jobs_total", "qlp_job_duration_seconds_bucket"} {
		if !used[must] && !usedViaRecording(must, used) {
			t.Errorf("the dashboard shows nothing of %s", must)
		}
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "dashboard-queries.yml"), rules.String())
	out := promtool(t, dir, "check", "rules", "dashboard-queries.yml")
	if !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", n)) {
		t.Fatal(out)
	}
}

// usedViaRecording reports whether a recording rule the dashboard uses
// reads metric.
func usedViaRecording(metric string, used map[string]bool) bool {
	b, err := os.ReadFile("prometheus/rules/qlp-recording.yml")
	if err != nil {
		return false
	}
	var rf ruleFile
	if yaml.Unmarshal(b, &rf) != nil {
		return false
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if used[r.Record] && strings.Contains(r.Expr, metric) {
				return true
			}
		}
	}
	return false
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s) // a JSON string is a valid YAML double-quoted scalar
	return string(b)
}

// TestDashboardLinksLatencyToTraces: a latency panel repeated per service
// asks for the exemplars (trace ids) of the HTTP latency histogram and
// links each to its trace.
func TestDashboardLinksLatencyToTraces(t *testing.T) {
	var d struct {
		Panels []struct {
			Title       string `json:"title"`
			Repeat      string `json:"repeat"`
			FieldConfig struct {
				Overrides []struct {
					Matcher struct {
						Options string `json:"options"`
					} `json:"matcher"`
					Properties []struct {
						ID    string `json:"id"`
						Value []struct {
							URL string `json:"url"`
						} `json:"value"`
					} `json:"properties"`
				} `json:"overrides"`
			} `json:"fieldConfig"`
			Targets []struct {
				Expr     string `json:"expr"`
				Exemplar bool   `json:"exemplar"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readFile(t, "grafana/qlp-dashboard.json")), &d); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Panels {
		if p.Repeat != "service" {
			continue
		}
		exemplars := false
		for _, tg := range p.Targets {
			exemplars = exemplars || tg.Exemplar && strings.Contains(tg.Expr, "qlp_http_request_duration_seconds_bucket")
		}
		link := false
		for _, o := range p.FieldConfig.Overrides {
			for _, pr := range o.Properties {
				for _, v := range pr.Value {
					link = link || o.Matcher.Options == "trace_id" && pr.ID == "links" && strings.Contains(v.URL, "${__value.raw}")
				}
			}
		}
		if exemplars && link {
			return
		}
		t.Errorf("panel %q: exemplars %v, trace link %v", p.Title, exemplars, link)
	}
	t.Error("no latency panel repeated per service links its exemplars to traces")
}
