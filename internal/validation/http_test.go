package validation_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/sandbox"
	"github.com/quantumlayer/qlp/internal/validation"
)

func post(t *testing.T, url string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestHTTPMalformedInputIsA400NamingTheProblem(t *testing.T) {
	_, mesh := sandboxed(t)
	srv := httptest.NewServer(mesh.Handler())
	defer srv.Close()
	file := func(path, content string) map[string]any { return map[string]any{"path": path, "content": content} }
	project := func(lang string, files ...map[string]any) []byte {
		b, _ := json.Marshal(map[string]any{"language": lang, "files": files})
		return b
	}
	fifty := strings.Repeat("a", 50<<20)
	tests := []struct {
		name, route string
		body        []byte
		field, msg  string
	}{
		{"unknown language", "/v1/validate", project("cobol", file("a.cob", "x")), "language", "unknown language"},
		{"empty project", "/v1/validate", project("go"), "files", "empty"},
		{"50 MB file", "/v1/validate", project("python", file("big.py", fifty)), "files[0].content", "over the limit"},
		{"binary file", "/v1/validate", project("python", file("a.py", "x = 1\n"), file("logo.png", "\x89PNG\x00\x00")), "files[1].content", "binary"},
		{"path traversal", "/v1/validate", project("python", file("../../../etc/cron.d/x", "x")), "files[0].path", "leaves its directory"},
		{"malformed JSON", "/v1/validate", []byte(`{"language": "go", "files": [`), "body", "JSON"},
		{"legacy: unknown language", "/validate/code", []byte(`{"code": "x", "language": "cobol"}`), "language", "unknown language"},
		{"legacy: empty code", "/validate/code", []byte(`{"code": "  ", "language": "go"}`), "code", "empty"},
		{"legacy: 50 MB code", "/validate/code", mustMarshal(map[string]string{"code": fifty, "language": "python"}), "code", "over the limit"},
		{"legacy: binary code", "/validate/code", []byte(`{"code": "\u0000\u0001ELF", "language": "python"}`), "code", "binary"},
		{"legacy: path traversal in filename", "/validate/code", []byte(`{"code": "x=1", "language": "python", "filename": "../x.py"}`), "filename", "leaves its directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, srv.URL+tc.route, tc.body)
			var eb httpx.ErrorBody
			_ = json.Unmarshal(body, &eb)
			if code != http.StatusBadRequest || eb.Field != tc.field || !strings.Contains(eb.Error, tc.msg) {
				t.Errorf("%d %s, want 400 naming %s (%q)", code, body, tc.field, tc.msg)
			}
		})
	}
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestHTTPValidateCodeKeepsTheEarlierContract: POST /validate/code takes
// {code, language} and answers the earlier ValidationReport fields, with
// findings at file, line and column.
func TestHTTPValidateCodeKeepsTheEarlierContract(t *testing.T) {
	_, mesh := sandboxed(t)
	srv := httptest.NewServer(mesh.Handler())
	defer srv.Close()
	code, body := post(t, srv.URL+"/validate/code", []byte(`{"code": "import os\n\ndef f(x):\n    return undefined_name + x\n", "language": "python"}`))
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var r map[string]any
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "overall_status", "checks", "confidence_score", "requires_human_review", "created_at", "metadata"} {
		if _, ok := r[k]; !ok {
			t.Errorf("no %q in %s", k, body)
		}
	}
	if r["overall_status"] != "failed" || r["requires_human_review"] != true {
		t.Errorf("overall %v review %v, want failed and review", r["overall_status"], r["requires_human_review"])
	}
	var found bool
	for _, c := range r["checks"].([]any) {
		c := c.(map[string]any)
		for _, k := range []string{"name", "type", "status", "message", "severity", "tool", "tool_version", "findings"} {
			if _, ok := c[k]; !ok {
				t.Errorf("check %v has no %q", c["name"], k)
			}
		}
		if c["name"] != "pyflakes" {
			continue
		}
		for _, f := range c["findings"].([]any) {
			f := f.(map[string]any)
			if f["file"] == "main.py" && f["line"] == 4.0 && f["column"].(float64) > 0 && strings.Contains(f["message"].(string), "undefined name") {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no pyflakes finding at main.py:4 in %s", body)
	}
	resp, err := http.Get(srv.URL + "/validators")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /validators: %v %v", err, resp)
	}
	resp.Body.Close()
}

// A Validation Mesh whose sandbox runs in another process that is down
// answers 503 naming the sandbox, rather than a report of skipped checks,
// so that its caller tries again.
func TestHTTPSandboxDownIsA503NamingIt(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // nothing listens there now
	mesh, err := validation.New(t.Context(), validation.Defaults(), validation.Deps{
		Logger: logx.Discard(), Sandbox: sandbox.NewClient(down.URL, "", nil)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mesh.Handler())
	defer srv.Close()
	req := validation.Request{Language: "go", Files: []validation.File{
		{Path: "go.mod", Content: "module x\n\ngo 1.22\n"},
		{Path: "main.go", Content: "package main\n\nfunc main() {}\n"},
	}}
	_, err = validation.NewClient(srv.URL, "", nil).Validate(t.Context(), req)
	se, ok := httpx.AsStatusError(err)
	if !ok || se.Status != http.StatusServiceUnavailable || se.Code != "unavailable" || se.RetryAfter == 0 ||
		!strings.Contains(se.Message, "the sandbox service is unavailable") {
		t.Fatalf("got %v (%#v), want a 503 naming the sandbox with a Retry-After", err, se)
	}
	if svc, down := httpx.ServiceDown(err); !down || svc != "validation" {
		t.Errorf("ServiceDown(%v) = %q, %v; want validation, true", err, svc, down)
	}
}
