package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The chart is rendered, linted and checked by the real tools, which
// scripts/deps/deploy.sh installs: helm, kubeconform, and the Kubernetes
// JSON schemas kubeconform validates against, generated offline by
// deploy/kubeschema from the OpenAPI document of the Kubernetes release the
// chart's kubeVersion names as its oldest.

// kubeSchemaRoot is where scripts/deps/deploy.sh puts the schemas;
// QLP_KUBE_SCHEMAS overrides it.
const kubeSchemaRoot = "/usr/local/share/qlp/kubernetes-json-schema"

// kubeSchemas returns the schemas' root and the Kubernetes version they
// describe ("1.27.0"), or skips — fails under QLP_TEST_REQUIRE_SERVICES=1 —
// when they are missing.
func kubeSchemas(t *testing.T) (string, string) {
	t.Helper()
	root := os.Getenv("QLP_KUBE_SCHEMAS")
	if root == "" {
		root = kubeSchemaRoot
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "v*-standalone-strict"))
	if len(dirs) == 1 {
		if _, err := os.Stat(filepath.Join(dirs[0], "deployment-apps-v1.json")); err == nil {
			v := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(dirs[0]), "v"), "-standalone-strict")
			return root, v
		}
	}
	msg := fmt.Sprintf("the Kubernetes JSON schemas are not in %s (one v*-standalone-strict directory; found %v): run scripts/install-deps.sh test", root, dirs)
	if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return "", ""
}

// helmCmd runs helm with a home of its own, so that no user's
// repositories, plugins or kubeconfig take part.
func helmCmd(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	helm := requireTool(t, "helm")
	home := t.TempDir()
	cmd := exec.Command(helm, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "kubeconfig"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// valuesArgs writes each set of values to a file and returns helm's
// --values flags for them, in order (later ones win, deep-merged).
func valuesArgs(t *testing.T, overrides []map[string]any) []string {
	t.Helper()
	dir := t.TempDir()
	var args []string
	for i, o := range overrides {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("values-%d.json", i))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", p)
	}
	return args
}

// sourceRe marks where each template's output starts in a release manifest.
var sourceRe = regexp.MustCompile(`(?m)^# Source: (\S+)\s*$`)

// renderChart renders the chart with helm itself, as `helm install` would
// into namespace qlp-production (client-side only: no cluster), with the
// given values laid over the chart's (helm install has no --kube-version;
// the chart reads no .Capabilities, so its output does not depend on it).
// It returns the rendered text of each template file by its chart
// path (qlp/templates/...), hooks included, and NOTES.txt.
func renderChart(t *testing.T, chartDir string, overrides ...map[string]any) (map[string]string, error) {
	t.Helper()
	args := append([]string{"install", "qlp", chartDir, "--namespace", "qlp-production", "--dry-run=client",
		"--output", "json"}, valuesArgs(t, overrides)...)
	out, err := helmCmd(t, args...)
	if err != nil {
		return nil, err
	}
	var rel struct {
		Manifest string `json:"manifest"`
		Hooks    []struct {
			Path     string `json:"path"`
			Manifest string `json:"manifest"`
		} `json:"hooks"`
		Info struct {
			Notes string `json:"notes"`
		} `json:"info"`
	}
	if err := json.Unmarshal(out, &rel); err != nil {
		return nil, fmt.Errorf("helm's release JSON: %w", err)
	}
	files := map[string]string{}
	idx := sourceRe.FindAllStringSubmatchIndex(rel.Manifest, -1)
	if len(idx) == 0 && strings.TrimSpace(rel.Manifest) != "" {
		return nil, fmt.Errorf("helm's manifest has no '# Source:' markers:\n%s", rel.Manifest)
	}
	for i, m := range idx {
		end := len(rel.Manifest)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		path := rel.Manifest[m[2]:m[3]]
		files[path] += "---\n" + rel.Manifest[m[1]:end]
	}
	for _, h := range rel.Hooks {
		files[h.Path] += "---\n" + h.Manifest + "\n"
	}
	if rel.Info.Notes != "" {
		files[filepath.Base(chartDir)+"/templates/NOTES.txt"] = rel.Info.Notes
	}
	return files, nil
}

// kubeconformResult is kubeconform's JSON report.
type kubeconformResult struct {
	// Resources has one entry per document; an empty document's entry has
	// no status.
	Resources []kubeconformResource `json:"resources"`
	Summary   struct {
		Valid, Invalid, Errors, Skipped int
	} `json:"summary"`
}

type kubeconformResource struct {
	Filename string `json:"filename"`
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	Msg      string `json:"msg"`
}

// objects leaves out the entries of empty documents.
func (r kubeconformResult) objects() []kubeconformResource {
	var out []kubeconformResource
	for _, x := range r.Resources {
		if x.Status != "" {
			out = append(out, x)
		}
	}
	return out
}

// kubeconform validates the objects in manifests (YAML documents) against
// the Kubernetes schemas, strictly: unknown fields, wrong types, missing
// required fields and kinds without a schema are all reported.
func kubeconform(t *testing.T, manifests string) kubeconformResult {
	t.Helper()
	bin := requireTool(t, "kubeconform")
	root, version := kubeSchemas(t)
	f := filepath.Join(t.TempDir(), "manifests.yaml")
	if err := os.WriteFile(f, []byte(manifests), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-strict", "-schema-location", root, "-kubernetes-version", version,
		"-output", "json", "-verbose", "-summary", f)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res kubeconformResult
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("kubeconform: %v (%v): %s%s", jerr, err, out, stderr.String())
	}
	// kubeconform exits 1 when anything is invalid; the report says what.
	if err != nil && res.Summary.Invalid+res.Summary.Errors == 0 {
		t.Fatalf("kubeconform: %v: %s", err, stderr.String())
	}
	return res
}

// allDocuments joins every rendered template (not NOTES.txt) into one
// stream of YAML documents.
func allDocuments(files map[string]string) string {
	names := make([]string, 0, len(files))
	for name := range files {
		if !strings.HasSuffix(name, "NOTES.txt") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		b.WriteString(files[name])
		b.WriteString("\n")
	}
	return b.String()
}
