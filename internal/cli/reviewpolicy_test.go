package cli_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReviewPolicyCommands shows and changes the tenant's review policy
// in-process.
func TestReviewPolicyCommands(t *testing.T) {
	t.Setenv("QLP_DATA_DIR", filepath.Join(t.TempDir(), "data"))
	t.Setenv("QLP_URL", "")
	t.Setenv("QLP_HITL_THRESHOLD", "0.5")

	code, out, errs := runArgs(t, "review", "policy")
	require.Equal(t, 0, code, errs)
	require.Regexp(t, `threshold\s+0.5\s+default`, out)
	require.Regexp(t, `timeout\s+24h\s+default`, out)
	require.Regexp(t, `on timeout\s+wait\s+default`, out)

	code, out, errs = runArgs(t, "review", "policy", "set", "--threshold", "0.8", "--timeout", "2h", "--on-timeout", "approve", "--aitl=true")
	require.Equal(t, 0, code, errs)
	require.Regexp(t, `threshold\s+0.8\s+tenant`, out)
	require.Regexp(t, `timeout\s+2h\s+tenant`, out)
	require.Regexp(t, `on timeout\s+approve\s+tenant`, out)
	require.Regexp(t, `aitl\s+true\s+tenant`, out)
	require.Contains(t, out, "changed ")

	code, out, errs = runArgs(t, "review", "policy", "set", "--reset", "threshold,aitl", "--json")
	require.Equal(t, 0, code, errs)
	var v struct {
		Threshold float64
		Timeout   string
		OnTimeout string `json:"on_timeout"`
		AITL      bool
		Sources   map[string]string
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	require.Equal(t, 0.5, v.Threshold)
	require.Equal(t, "2h", v.Timeout)
	require.Equal(t, "approve", v.OnTimeout)
	require.False(t, v.AITL)
	require.Equal(t, map[string]string{"threshold": "default", "timeout": "tenant", "on_timeout": "tenant", "aitl": "default"}, v.Sources)

	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--timeout", "soon"}, `timeout: "soon" is not a positive duration`},
		{[]string{"--on-timeout", "shrug"}, "on_timeout: must be approve, reject or wait"},
		{[]string{"--threshold", "2"}, "--threshold 2: want a number from 0"},
		{[]string{"--reset", "reviewers"}, "--reset reviewers: want threshold, timeout, on-timeout or aitl"},
		{[]string{"--reset", "timeout", "--timeout", "1h"}, "--reset timeout: also given a value"},
		{nil, "nothing to change"},
	} {
		code, _, errs = runArgs(t, append([]string{"review", "policy", "set"}, tc.args...)...)
		require.Equal(t, 1, code, tc.args)
		require.Contains(t, errs, tc.err, tc.args)
	}
}
