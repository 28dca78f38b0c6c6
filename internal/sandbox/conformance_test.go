package sandbox_test

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/sandbox"
)

// conformance is the behaviour every Runner must have: each backend, the
// Service and the HTTP Client pass the same table.
func conformance(t *testing.T, r sandbox.Runner) {
	sh := func(script string) []sandbox.Command {
		return []sandbox.Command{{Name: "sh", Args: []string{"bash", "-c", script}}}
	}
	tests := []struct {
		name    string
		spec    sandbox.Spec
		status  sandbox.Status
		exit    int
		stdout  string // substring of the first command's stdout
		check   func(t *testing.T, res *sandbox.Result)
		specErr string // expected SpecError field
	}{
		{name: "python hello", spec: sandbox.Spec{Language: "python", Files: files("main.py", "print('hello', 6*7)")},
			status: sandbox.StatusCompleted, exit: 0, stdout: "hello 42"},
		{name: "exit code", spec: sandbox.Spec{Language: "bash", Files: files("main.sh", "echo out; echo err >&2; exit 3")},
			status: sandbox.StatusFailed, exit: 3, stdout: "out", check: func(t *testing.T, res *sandbox.Result) {
				if res.Commands[0].Stderr != "err\n" {
					t.Errorf("stderr = %q", res.Commands[0].Stderr)
				}
			}},
		{name: "stops at first failure", spec: sandbox.Spec{Language: "bash", Commands: []sandbox.Command{
			{Name: "build", Args: []string{"false"}}, {Name: "test", Args: []string{"echo", "ran"}}}},
			status: sandbox.StatusFailed, exit: 1, check: func(t *testing.T, res *sandbox.Result) {
				if len(res.Commands) != 2 || res.Commands[1].Status != sandbox.StatusSkipped {
					t.Errorf("commands = %+v, want the second skipped", res.Commands)
				}
			}},
		{name: "continue on failure", spec: sandbox.Spec{Language: "bash", Commands: []sandbox.Command{
			{Name: "lint", Args: []string{"false"}, ContinueOnFailure: true}, {Name: "test", Args: []string{"echo", "ran"}}}},
			status: sandbox.StatusFailed, exit: 0, check: func(t *testing.T, res *sandbox.Result) {
				if res.Commands[1].Status != sandbox.StatusCompleted || res.Commands[1].Stdout != "ran\n" {
					t.Errorf("second command = %+v", res.Commands[1])
				}
			}},
		{name: "stdin env and subdirectories", spec: sandbox.Spec{Language: "bash", Env: map[string]string{"GREETING": "hi"},
			Files:    []sandbox.File{{Path: "bin/tool.sh", Content: []byte("#!/bin/bash\necho tool \"$GREETING\""), Executable: true}},
			Commands: []sandbox.Command{{Args: []string{"bash", "-c", "read x; echo got $x; ./bin/tool.sh"}, Stdin: "line\n"}}},
			status: sandbox.StatusCompleted, stdout: "got line\ntool hi"},
		{name: "collects files", spec: sandbox.Spec{Language: "bash", Collect: []string{"out/*.xml", "missing.txt", "link"},
			Commands: sh("mkdir out; echo '<r/>' > out/report.xml; ln -s /etc/hostname link")},
			status: sandbox.StatusCompleted, check: func(t *testing.T, res *sandbox.Result) {
				if len(res.Files) != 1 || res.Files[0].Path != "out/report.xml" || string(res.Files[0].Content) != "<r/>\n" {
					t.Errorf("files = %+v, want only out/report.xml", res.Files)
				}
				if len(res.Notes) < 2 {
					t.Errorf("notes = %q, want the missing file and the link outside reported", res.Notes)
				}
			}},
		{name: "command timeout", spec: sandbox.Spec{Language: "bash",
			Commands: []sandbox.Command{{Args: []string{"sleep", "30"}, Timeout: sandbox.Duration(300 * time.Millisecond)}}},
			status: sandbox.StatusTimeout, exit: -1},
		{name: "command not found", spec: sandbox.Spec{Language: "bash", Commands: []sandbox.Command{{Args: []string{"no-such-program"}}}},
			status: sandbox.StatusFailed, exit: 127},
		{name: "dependency unavailable", spec: sandbox.Spec{Language: "python", Files: files("main.py", "import nopkg",
			"requirements.txt", "qlp-no-such-package==1.0\n")},
			status: sandbox.StatusError, exit: -1, check: func(t *testing.T, res *sandbox.Result) {
				if !strings.Contains(res.Reason, "dependency unavailable") || len(res.MissingDependencies) != 1 {
					t.Errorf("reason = %q, missing = %q", res.Reason, res.MissingDependencies)
				}
			}},
		{name: "installed dependency is fine", spec: sandbox.Spec{Language: "python", Dependencies: []string{"pytest"},
			Files: files("main.py", "import pytest; print('ok')")}, status: sandbox.StatusCompleted, stdout: "ok"},
		{name: "unknown language", spec: sandbox.Spec{Language: "cobol"}, specErr: "language"},
		{name: "path traversal", spec: sandbox.Spec{Language: "bash", Files: files("../../x", "boom")}, specErr: "files[0].path"},
		{name: "absolute path", spec: sandbox.Spec{Language: "bash", Files: files("/etc/x", "boom")}, specErr: "files[0].path"},
		{name: "negative limit", spec: sandbox.Spec{Language: "bash", Limits: sandbox.Limits{MemoryBytes: -1}}, specErr: "limits.memory_bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var streamed bytes.Buffer
			res, err := r.Run(t.Context(), tc.spec, func(c sandbox.OutputChunk) {
				mu.Lock()
				defer mu.Unlock()
				if c.Command == 0 && c.Stream == sandbox.Stdout {
					streamed.Write(c.Data)
				}
			})
			if tc.specErr != "" {
				var se *sandbox.SpecError
				if !errors.As(err, &se) || se.Field != tc.specErr {
					t.Fatalf("err = %v, want a SpecError on %s", err, tc.specErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Status != tc.status || res.ExitCode != tc.exit {
				t.Fatalf("status %s exit %d, want %s %d (reason %q, commands %+v)", res.Status, res.ExitCode, tc.status, tc.exit, res.Reason, res.Commands)
			}
			if tc.stdout != "" && !strings.Contains(res.Commands[0].Stdout, tc.stdout) {
				t.Errorf("stdout = %q, want %q in it", res.Commands[0].Stdout, tc.stdout)
			}
			if len(res.Commands) > 0 && res.Commands[0].Status != sandbox.StatusSkipped {
				mu.Lock()
				if streamed.String() != res.Commands[0].Stdout {
					t.Errorf("streamed stdout %q != result stdout %q", streamed.String(), res.Commands[0].Stdout)
				}
				mu.Unlock()
			}
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
}

func TestConformance(t *testing.T) {
	// The runners are independent of each other: run them side by side.
	for _, b := range allBackends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			conformance(t, runnerFor(t, b))
		})
	}
	t.Run("service", func(t *testing.T) {
		t.Parallel()
		conformance(t, newService(t, testConfig(sandbox.BackendBwrap)))
	})
	t.Run("client", func(t *testing.T) {
		t.Parallel()
		svc := newService(t, testConfig(sandbox.BackendBwrap))
		srv := httptest.NewServer(auth.Require(auth.ServiceToken{Token: "test-token"}, logx.Discard())(svc.Handler()))
		t.Cleanup(srv.Close)
		conformance(t, sandbox.NewClient(srv.URL, "test-token", srv.Client()))
	})
}

func newService(t *testing.T, cfg sandbox.Config) *sandbox.Service {
	t.Helper()
	backendAvailable(t, cfg.Backend)
	svc, err := sandbox.New(t.Context(), cfg, sandbox.Deps{Logger: logx.Discard(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}
