package validation_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/validation"
)

// conformance is the behaviour every Validator must have: the in-process
// Mesh and the HTTP Client pass the same table.
func conformance(t *testing.T, v validation.Validator) {
	good := loadProject(t, "python/good", "python")
	bad := loadProject(t, "python/syntax-error", "python")
	bad.Quick = true
	tests := []struct {
		name   string
		req    validation.Request
		status string
		check  string // a check that must have this status…
		want   string
		field  string // …or the RequestError field expected
	}{
		{name: "good project", req: good, status: validation.StatusPassed, check: "tests", want: validation.StatusPassed},
		{name: "syntax error", req: bad, status: validation.StatusFailed, check: "py-compile", want: validation.StatusFailed},
		{name: "unknown language", req: validation.Request{Language: "cobol", Files: good.Files}, field: "language"},
		{name: "no language", req: validation.Request{Files: good.Files}, field: "language"},
		{name: "empty project", req: validation.Request{Language: "python"}, field: "files"},
		{name: "path traversal", req: validation.Request{Language: "python", Files: []validation.File{{Path: "../../etc/passwd", Content: "x"}}}, field: "files[0].path"},
		{name: "absolute path", req: validation.Request{Language: "python", Files: []validation.File{{Path: "/etc/passwd", Content: "x"}}}, field: "files[0].path"},
		{name: "binary file", req: validation.Request{Language: "python", Files: []validation.File{{Path: "a.py", Content: "x = 1\n"}, {Path: "blob.bin", Content: "\x7fELF\x00\x01"}}}, field: "files[1].content"},
		{name: "file over the limit", req: validation.Request{Language: "python", Files: []validation.File{{Path: "big.py", Content: strings.Repeat("#", 2<<20)}}}, field: "files[0].content"},
		{name: "duplicate path", req: validation.Request{Language: "python", Files: []validation.File{{Path: "a.py", Content: "1"}, {Path: "a.py", Content: "2"}}}, field: "files[1].path"},
		{name: "multi-line command", req: validation.Request{Language: "python", Files: good.Files, Commands: validation.Commands{Test: "pytest\nrm -rf /"}}, field: "commands.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := v.Validate(t.Context(), tc.req)
			if tc.field != "" {
				var re *validation.RequestError
				if !errors.As(err, &re) || re.Field != tc.field || re.Message == "" {
					t.Fatalf("err = %v, want a RequestError naming %s", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.OverallStatus != tc.status {
				t.Errorf("overall %s, want %s: %s", r.OverallStatus, tc.status, r.Summary)
			}
			if tc.want != "" {
				if c := r.Check(tc.check); c == nil || c.Status != tc.want {
					t.Errorf("%s = %+v, want %s", tc.check, c, tc.want)
				}
			}
			if r.ContentHash == "" || r.Scoring.Formula == "" || len(r.Checks) == 0 {
				t.Errorf("report lacks its evidence: %+v", r)
			}
		})
	}
	t.Run("validators", func(t *testing.T) {
		resp, err := v.Validators(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]validation.ValidatorInfo{}
		for _, vi := range resp.Validators {
			if _, seen := byName[vi.Name]; !seen || vi.Available {
				byName[vi.Name] = vi
			}
		}
		for _, name := range []string{"go-build", "py-compile", "secrets", "patterns", "tests"} {
			vi, ok := byName[name]
			if !ok || !vi.Available || vi.Version == "" {
				t.Errorf("%s = %+v, want available with a version", name, vi)
			}
		}
		if len(resp.Languages) < 5 {
			t.Errorf("languages = %v", resp.Languages)
		}
	})
}

func TestConformance(t *testing.T) {
	_, mesh := sandboxed(t)
	t.Run("mesh", func(t *testing.T) { conformance(t, mesh) })
	t.Run("client", func(t *testing.T) {
		srv := httptest.NewServer(mesh.Handler())
		defer srv.Close()
		conformance(t, validation.NewClient(srv.URL, auth.Secret("token"), nil))
	})
}
