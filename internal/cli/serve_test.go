package cli_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServeList: `qlp serve --list` prints the targets table, and with a
// target what serving it would open here and reach by URL.
func TestServeList(t *testing.T) {
	none := map[string]string{"QLP_DATA_DIR": t.TempDir(), "QLP_MEMORY_URL": "", "QLP_VALIDATION_URL": "", "QLP_SANDBOX_URL": ""}
	split := map[string]string{"QLP_DATA_DIR": t.TempDir(), "QLP_MEMORY_URL": "http://memory:8003", "QLP_VALIDATION_URL": "http://validation:8002",
		"QLP_SANDBOX_URL": ""}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		contains []string
		excludes []string
	}{
		{name: "table", env: none, args: []string{"serve", "--list"}, contains: []string{
			"TARGET", "NEEDS",
			"orchestrator  -                  127.0.0.1:8000  api.addr (QLP_API_ADDR)",
			"validation    sandbox            127.0.0.1:8002  services.validation.addr (QLP_VALIDATION_ADDR)  services.validation.url (QLP_VALIDATION_URL)",
			"worker        memory,validation  127.0.0.1:8005  services.worker.addr (QLP_WORKER_ADDR)",
		}, excludes: []string{"qlp serve "}},
		{name: "worker, one process", env: none, args: []string{"serve", "--list", "worker"}, contains: []string{
			"qlp serve worker:", "serves          worker", "also opens      memory, sandbox, validation", "reaches by URL  -",
		}},
		{name: "worker, split", env: split, args: []string{"serve", "worker", "--list"}, contains: []string{
			"also opens      -", "reaches by URL  memory at http://memory:8003, validation at http://validation:8002",
		}},
		{name: "all", env: split, args: []string{"serve", "--list", "all"}, contains: []string{
			"serves          orchestrator, agents, memory, sandbox, validation, worker", "reaches by URL  -",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.env, tc.args...)
			require.Equal(t, 0, code, stderr)
			for _, s := range tc.contains {
				require.Contains(t, stdout, s)
			}
			for _, s := range tc.excludes {
				require.NotContains(t, stdout, s)
			}
		})
	}
}

func TestServeArgumentErrors(t *testing.T) {
	env := map[string]string{"QLP_DATA_DIR": t.TempDir()}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no target", args: []string{"serve"}, want: "want one argument, TARGET[,TARGET...] (orchestrator, agents, memory, sandbox, validation, worker or all), got 0"},
		{name: "two arguments", args: []string{"serve", "worker", "agents"}, want: "got 2; 'qlp serve --list' prints the targets"},
		{name: "unknown target", args: []string{"serve", "worker,marketing"}, want: `unknown target "marketing" (want orchestrator, agents, memory, sandbox, validation, worker or all)`},
		{name: "unknown target in --list", args: []string{"serve", "--list", "nope"}, want: `unknown target "nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, env, tc.args...)
			require.Equal(t, 1, code)
			require.Contains(t, stderr, tc.want)
			require.Equal(t, 1, strings.Count(stderr, "qlp:"), "one error line")
		})
	}
}
