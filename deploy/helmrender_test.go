package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

// renderChart renders a Helm chart the way `helm template` does, with the
// same template engine (Go text/template), the same function library
// (sprig, less env/expandenv, plus Helm's include, tpl, required, toYaml,
// fromYaml, toJson) and the same objects (.Values, .Release, .Chart,
// .Capabilities, .Template), in strict mode (a missing value is an error,
// like `helm lint --strict`). There is no helm binary for Debian 12 and
// helm's own engine pulls in the Kubernetes client libraries; this renderer
// implements only what the chart uses, so that the chart is rendered and
// checked for real by `go test`. It returns the rendered text of each
// template file by its chart path.
func renderChart(chartDir string, overrides ...map[string]any) (map[string]string, error) {
	var chart map[string]any
	if err := yaml.Unmarshal([]byte(mustRead(filepath.Join(chartDir, "Chart.yaml"))), &chart); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	name, _ := chart["name"].(string)
	var values map[string]any
	if err := yaml.Unmarshal([]byte(mustRead(filepath.Join(chartDir, "values.yaml"))), &values); err != nil {
		return nil, fmt.Errorf("values.yaml: %w", err)
	}
	for _, o := range overrides {
		values = mergeValues(values, o)
	}

	root := template.New(name)
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = func(v any) string {
		b, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(b), "\n")
	}
	funcs["fromYaml"] = func(s string) map[string]any {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	funcs["required"] = func(msg string, v any) (any, error) {
		if v == nil || fmt.Sprint(v) == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	funcs["include"] = func(name string, data any) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data any) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	funcs["lookup"] = func(string, string, string, string) (map[string]any, error) { return map[string]any{}, nil }
	root.Funcs(funcs).Option("missingkey=error")

	var files []string
	err := filepath.WalkDir(filepath.Join(chartDir, "templates"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		rel, _ := filepath.Rel(chartDir, f)
		tname := path.Join(name, filepath.ToSlash(rel))
		if _, err := root.New(tname).Parse(mustRead(f)); err != nil {
			return nil, err
		}
	}
	top := map[string]any{
		"Values": values,
		"Release": map[string]any{"Name": "qlp", "Namespace": "qlp-production", "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1},
		"Chart": map[string]any{"Name": name, "Version": chart["version"], "AppVersion": chart["appVersion"],
			"Description": chart["description"], "Type": chart["type"]},
		"Capabilities": map[string]any{"KubeVersion": map[string]any{"Version": "v1.31.0", "Major": "1", "Minor": "31"}},
	}
	out := map[string]string{}
	for _, f := range files {
		rel, _ := filepath.Rel(chartDir, f)
		base := filepath.Base(f)
		if strings.HasPrefix(base, "_") || !(strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml") || strings.HasSuffix(base, ".txt")) {
			continue
		}
		tname := path.Join(name, filepath.ToSlash(rel))
		data := map[string]any{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]any{"Name": tname, "BasePath": path.Join(name, "templates")}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, tname, data); err != nil {
			return nil, err
		}
		out[tname] = buf.String()
	}
	return out, nil
}

// mergeValues deep-merges src over dst, as helm does with -f files.
func mergeValues(dst, src map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(dm, sm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func mustRead(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		panic(err)
	}
	return string(b)
}
