package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSandboxSeed: `qlp sandbox seed` builds (or finds) the Go build-cache
// seed in the machine's seed directory and says where; with the seed off,
// or kept nowhere, it refuses and names the setting.
func TestSandboxSeed(t *testing.T) {
	base := map[string]string{"QLP_DATA_DIR": t.TempDir(), "QLP_LOG_LEVEL": "warn", "QLP_SANDBOX_GO_CACHE_SEED": "true", "QLP_SANDBOX_GO_CACHE_SEED_DIR": ""}
	for _, tc := range []struct {
		name, key, value, want string
	}{
		{"seed off", "QLP_SANDBOX_GO_CACHE_SEED", "false", "sandbox.go_cache_seed (QLP_SANDBOX_GO_CACHE_SEED) is off"},
		{"kept nowhere", "QLP_SANDBOX_GO_CACHE_SEED_DIR", "none", "sandbox.go_cache_seed_dir (QLP_SANDBOX_GO_CACHE_SEED_DIR) is none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			env[tc.key] = tc.value
			code, _, stderr := run(t, env, "sandbox", "seed")
			require.Equal(t, 1, code)
			require.Contains(t, stderr, tc.want)
		})
	}
	t.Run("builds or finds it", func(t *testing.T) {
		// The machine's default directory: built once for every process
		// on it (other packages' tests included), reused after.
		code, stdout, stderr := run(t, base, "sandbox", "seed")
		require.Equal(t, 0, code, stderr)
		require.True(t, strings.HasPrefix(stdout, "go build-cache seed ready in "), stdout)
		dir := strings.TrimSpace(stdout[strings.LastIndex(stdout, ": ")+2:])
		_, err := os.Stat(filepath.Join(dir, "qlp-seed-complete"))
		require.NoError(t, err, "the seed %s has no completion mark", dir)
		_, err = os.Stat(filepath.Join(dir, "staticcheck"))
		require.NoError(t, err, "the seed %s holds no staticcheck cache", dir)
	})
}
