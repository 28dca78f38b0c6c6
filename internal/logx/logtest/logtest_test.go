package logtest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/logx/logtest"
)

// TestScannerFindsEverySecret: scripts/scan-logs.sh, which ends make test,
// fails on each kind of secret planted in a log and never prints it, and
// passes a clean directory.
func TestScannerFindsEverySecret(t *testing.T) {
	secrets := append(logtest.Canaries(),
		"qlp_"+strings.Repeat("Ab1-", 10)+"xyz",
		"AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
		"Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
	)
	require.Len(t, logtest.Canaries(), 3)
	for _, secret := range secrets {
		t.Run(secret[:8], func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "clean.log"), []byte(`{"level":"INFO","msg":"job done"}`+"\n"), 0o600))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "leak.log"), []byte(`{"level":"DEBUG","msg":"call","detail":"`+secret+`"}`+"\n"), 0o600))
			out, err := exec.Command("../../../scripts/scan-logs.sh", dir).CombinedOutput()
			require.Error(t, err, "the scan must fail: %s", out)
			require.Contains(t, string(out), "leak.log:1:")
			require.NotContains(t, string(out), secret[8:], "the secret is masked")
		})
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clean.log"), []byte(`{"msg":"key qlp_abc… created","prefix":"qlp_abcdefgh"}`+"\n"), 0o600))
	out, err := exec.Command("../../../scripts/scan-logs.sh", dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
}
