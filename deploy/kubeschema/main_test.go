package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// swagger is a small OpenAPI v2 document in the API server's shape.
const swagger = `{
  "info": {"title": "Kubernetes", "version": "v1.27.0"},
  "definitions": {
    "io.k8s.api.apps.v1.Deployment": {
      "type": "object",
      "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"}
      },
      "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    },
    "io.k8s.api.apps.v1.DeploymentSpec": {
      "type": "object",
      "required": ["selector"],
      "properties": {
        "replicas": {"type": "integer", "format": "int32"},
        "selector": {"type": "string"},
        "maxSurge": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
        "cpu": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
        "free": {"type": "object", "properties": {"a": {"type": "string"}}, "x-kubernetes-preserve-unknown-fields": true}
      }
    },
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
    "io.k8s.api.core.v1.Unused": {"type": "object", "properties": {"x": {"type": "string"}}},
    "io.k8s.api.core.v1.ConfigMap": {
      "type": "object",
      "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "data": {"type": "object", "additionalProperties": {"type": "string"}}},
      "x-kubernetes-group-version-kind": [{"group": "", "kind": "ConfigMap", "version": "v1"}]
    }
  }
}`

func TestConvert(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "swagger.json")
	if err := os.WriteFile(in, []byte(swagger), 0o600); err != nil {
		t.Fatal(err)
	}
	out, n, err := run(in, filepath.Join(dir, "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(out) != "v1.27.0-standalone-strict" || n != 2 {
		t.Fatalf("wrote %d schemas to %s", n, out)
	}
	read := func(name string) map[string]any {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	d := read("deployment-apps-v1.json")
	at := func(v any, path ...string) any {
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		return v
	}
	defs := at(d, "definitions").(map[string]any)
	spec := "io.k8s.api.apps.v1.DeploymentSpec"
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"kind is the schema's own", at(d, "properties", "kind", "enum"), []any{"Deployment"}},
		{"apiVersion is the schema's own", at(d, "properties", "apiVersion", "enum"), []any{"apps/v1"}},
		{"objects refuse other fields", at(defs[spec], "additionalProperties"), false},
		{"the root too", d["additionalProperties"], false},
		{"optional fields may be null", at(defs[spec], "properties", "replicas", "type"), []any{"integer", "null"}},
		{"required fields may not", at(defs[spec], "properties", "selector", "type"), "string"},
		{"int-or-string", at(defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"], "oneOf"), []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}},
		{"quantity", at(defs["io.k8s.apimachinery.pkg.api.resource.Quantity"], "oneOf"), []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}},
		{"preserve-unknown-fields stays open", at(defs[spec], "properties", "free", "additionalProperties"), nil},
		{"only referenced definitions are carried", defs["io.k8s.api.core.v1.Unused"], nil},
		{"maps keep their value schema", at(read("configmap-v1.json"), "properties", "data", "additionalProperties"), map[string]any{"type": "string"}},
		{"core kinds have no group", at(read("configmap-v1.json"), "properties", "apiVersion", "enum"), []any{"v1"}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestFileName(t *testing.T) {
	for k, want := range map[gvk]string{
		{"", "v1", "Service"}:                            "service-v1.json",
		{"apps", "v1", "Deployment"}:                     "deployment-apps-v1.json",
		{"networking.k8s.io", "v1", "NetworkPolicy"}:     "networkpolicy-networking-v1.json",
		{"autoscaling", "v2", "HorizontalPodAutoscaler"}: "horizontalpodautoscaler-autoscaling-v2.json",
	} {
		if got := FileName(k); got != want {
			t.Errorf("FileName(%+v) = %s, want %s", k, got, want)
		}
	}
}

func TestRefusesWhatItCannotName(t *testing.T) {
	dir := t.TempDir()
	for name, doc := range map[string]string{
		"not a release":  strings.Replace(swagger, `"v1.27.0"`, `"unversioned"`, 1),
		"dangling $ref":  strings.Replace(swagger, `"#/definitions/io.k8s.api.apps.v1.DeploymentSpec"`, `"#/definitions/Nope"`, 1),
		"no definitions": `{"info": {"version": "v1.27.0"}, "definitions": {}}`,
	} {
		in := filepath.Join(dir, "swagger.json")
		if err := os.WriteFile(in, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := run(in, filepath.Join(dir, "out")); err == nil {
			t.Errorf("%s: converted without an error", name)
		}
	}
}
