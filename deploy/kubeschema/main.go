// Command kubeschema turns a Kubernetes OpenAPI v2 document (the one the
// API server publishes at /openapi/v2) into the JSON schemas kubeconform
// validates manifests against, one file per kind and version, at the paths
// kubeconform looks for with -schema-location DIR -kubernetes-version V
// -strict: DIR/vV-standalone-strict/<kind><suffix>.json.
//
// kubeconform normally downloads such schemas; the deploy tests run where
// nothing but the package registries can be reached, so
// scripts/deps/deploy.sh generates them from the OpenAPI document of a
// Kubernetes release that ships inside a Go module. The schemas are what
// the API server's document says, made strict the way kubectl validates:
//
//   - every object with declared properties refuses any other field
//     (unless it is marked x-kubernetes-preserve-unknown-fields);
//   - int-or-string fields take an integer or a string, quantities a number
//     or a string (the API server accepts both);
//   - an optional field may be null (the API server treats it as unset);
//   - apiVersion and kind must be the schema's own;
//   - every referenced definition is carried in the file ("standalone").
//
// Usage:
//
//	kubeschema -in swagger.json -out DIR
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

func main() {
	in := flag.String("in", "", "the Kubernetes OpenAPI v2 document (swagger.json)")
	out := flag.String("out", "", "directory to write <kubernetes version>-standalone-strict/ into")
	flag.Parse()
	if *in == "" || *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	dir, n, err := run(*in, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubeschema:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "kubeschema: %d schemas written to %s\n", n, dir)
}

// document is the part of an OpenAPI v2 document the schemas come from.
type document struct {
	Info struct {
		Title   string `json:"title"`
		Version string `json:"version"`
	} `json:"info"`
	Definitions map[string]map[string]any `json:"definitions"`
}

type gvk struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

var releaseRe = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)

// run converts the document at in and writes its schemas under out. It
// returns the directory written and the number of schemas.
func run(in, out string) (string, int, error) {
	b, err := os.ReadFile(in)
	if err != nil {
		return "", 0, err
	}
	var doc document
	if err := json.Unmarshal(b, &doc); err != nil {
		return "", 0, fmt.Errorf("%s: %w", in, err)
	}
	if !releaseRe.MatchString(doc.Info.Version) {
		return "", 0, fmt.Errorf("%s: info.version %q is not a Kubernetes release (vX.Y.Z): the schemas' directory is named by it", in, doc.Info.Version)
	}
	schemas, err := convert(doc)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", in, err)
	}
	dir := filepath.Join(out, doc.Info.Version+"-standalone-strict")
	// A directory from an earlier run may hold kinds this document lacks.
	if err := os.RemoveAll(dir); err != nil {
		return "", 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, err
	}
	for name, s := range schemas {
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return "", 0, fmt.Errorf("%s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644); err != nil {
			return "", 0, err
		}
	}
	return dir, len(schemas), nil
}

// FileName is the file kubeconform reads for a kind: the kind in lower
// case, then the first label of its API group (none for the core group),
// then its version.
func FileName(k gvk) string {
	suffix := "-" + strings.ToLower(k.Version)
	if k.Group != "" {
		suffix = "-" + strings.ToLower(strings.Split(k.Group, ".")[0]) + suffix
	}
	return strings.ToLower(k.Kind) + suffix + ".json"
}

const quantity = "io.k8s.apimachinery.pkg.api.resource.Quantity"

// convert returns every kind's schema by file name.
func convert(doc document) (map[string]map[string]any, error) {
	if len(doc.Definitions) == 0 {
		return nil, errors.New("no definitions")
	}
	defs := make(map[string]any, len(doc.Definitions))
	for name, d := range doc.Definitions {
		defs[name] = strictify(deepCopy(d))
	}
	if _, ok := defs[quantity]; ok {
		defs[quantity] = map[string]any{"description": "a quantity: a number or a string such as 500m or 1Gi",
			"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
	}
	out := map[string]map[string]any{}
	names := make([]string, 0, len(doc.Definitions))
	for name := range doc.Definitions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		raw, ok := doc.Definitions[name]["x-kubernetes-group-version-kind"]
		if !ok {
			continue
		}
		var kinds []gvk
		if b, err := json.Marshal(raw); err != nil || json.Unmarshal(b, &kinds) != nil {
			return nil, fmt.Errorf("%s: x-kubernetes-group-version-kind is not a list of group, version, kind", name)
		}
		for _, k := range kinds {
			file := FileName(k)
			if _, dup := out[file]; dup {
				continue // the first (sorted) definition of a kind wins, as the API server serves one
			}
			root, _ := deepCopy(defs[name]).(map[string]any)
			apiVersion := k.Version
			if k.Group != "" {
				apiVersion = k.Group + "/" + k.Version
			}
			if props, ok := root["properties"].(map[string]any); ok {
				if _, ok := props["apiVersion"]; ok {
					props["apiVersion"] = map[string]any{"type": "string", "enum": []any{apiVersion}}
				}
				if _, ok := props["kind"]; ok {
					props["kind"] = map[string]any{"type": "string", "enum": []any{k.Kind}}
				}
			}
			closure := map[string]any{}
			if err := collectRefs(root, defs, closure); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			root["$schema"] = "http://json-schema.org/draft-07/schema#"
			if len(closure) > 0 {
				root["definitions"] = closure
			}
			out[file] = root
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no definition names a kind (x-kubernetes-group-version-kind)")
	}
	return out, nil
}

// strictify rewrites one definition in place, recursively; see the package
// documentation for what it does.
func strictify(v any) any {
	switch n := v.(type) {
	case map[string]any:
		if n["format"] == "int-or-string" {
			repl := map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
			if d, ok := n["description"]; ok {
				repl["description"] = d
			}
			return repl
		}
		for k, c := range n {
			if k == "properties" {
				continue
			}
			n[k] = strictify(c)
		}
		props, ok := n["properties"].(map[string]any)
		if !ok {
			return n
		}
		required := map[string]bool{}
		if rs, ok := n["required"].([]any); ok {
			for _, r := range rs {
				if s, ok := r.(string); ok {
					required[s] = true
				}
			}
		}
		for name, p := range props {
			p = strictify(p)
			if pm, ok := p.(map[string]any); ok && !required[name] {
				if t, ok := pm["type"].(string); ok && t != "null" {
					pm["type"] = []any{t, "null"}
				}
			}
			props[name] = p
		}
		if _, set := n["additionalProperties"]; !set && n["x-kubernetes-preserve-unknown-fields"] != true {
			n["additionalProperties"] = false
		}
		return n
	case []any:
		for i, c := range n {
			n[i] = strictify(c)
		}
		return n
	}
	return v
}

// collectRefs adds every definition v refers to, directly or not, to into.
func collectRefs(v any, defs map[string]any, into map[string]any) error {
	switch n := v.(type) {
	case map[string]any:
		if ref, ok := n["$ref"].(string); ok {
			name, ok := strings.CutPrefix(ref, "#/definitions/")
			if !ok {
				return fmt.Errorf("reference %q is not to a definition of the document", ref)
			}
			if _, seen := into[name]; !seen {
				d, ok := defs[name]
				if !ok {
					return fmt.Errorf("reference to %s, which the document does not define", name)
				}
				into[name] = d
				if err := collectRefs(d, defs, into); err != nil {
					return err
				}
			}
		}
		for _, c := range n {
			if err := collectRefs(c, defs, into); err != nil {
				return err
			}
		}
	case []any:
		for _, c := range n {
			if err := collectRefs(c, defs, into); err != nil {
				return err
			}
		}
	}
	return nil
}

func deepCopy(v any) any {
	switch n := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(n))
		for k, c := range n {
			m[k] = deepCopy(c)
		}
		return m
	case []any:
		s := make([]any, len(n))
		for i, c := range n {
			s[i] = deepCopy(c)
		}
		return s
	}
	return v
}
