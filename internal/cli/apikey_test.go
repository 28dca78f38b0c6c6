package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/store"
)

// TestAPIKeyScopesExpiryRotationAndAudit: keys get the scopes asked for
// (unknown ones refused) and an expiry; rotation makes a new key with the
// same scopes and lets the old one work until the overlap ends; every key
// change is in the audit log that `qlp audit` shows.
func TestAPIKeyScopesExpiryRotationAndAudit(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"QLP_DATA_DIR": dir, "QLP_DATABASE_URL": "", "QLP_STORE_DRIVER": "", "USER": "ops"}
	code, _, stderr := run(t, env, "apikey", "create", "--tenant", "acme", "--scope", "read,deploy")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `unknown scope "deploy"`)

	code, out, stderr := run(t, env, "apikey", "create", "--tenant", "acme", "--scope", "read", "--scope", "review", "--expires", "720h", "--json")
	require.Equal(t, 0, code, stderr)
	var k struct {
		ID        string     `json:"id"`
		Key       string     `json:"key"`
		Scopes    []string   `json:"scopes"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &k))
	require.Equal(t, []string{"read", "review"}, k.Scopes)
	require.NotNil(t, k.ExpiresAt)
	require.WithinDuration(t, time.Now().Add(720*time.Hour), *k.ExpiresAt, time.Minute)

	code, out, stderr = run(t, env, "apikey", "rotate", k.ID, "--tenant", "acme", "--overlap", "1h")
	require.Equal(t, 0, code, stderr)
	newKey := strings.TrimSpace(out)
	require.True(t, strings.HasPrefix(newKey, "qlp_"))
	require.Contains(t, stderr, "replaces "+k.ID)

	s, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "qlp.db"))
	require.NoError(t, err)
	defer s.Close()
	keys, err := s.ListAPIKeys(t.Context(), "acme")
	require.NoError(t, err)
	require.Len(t, keys, 2)
	for _, key := range keys {
		require.Equal(t, []string{"read", "review"}, key.Scopes, "the new key keeps the scopes")
		require.NotNil(t, key.ExpiresAt)
		if key.ID == k.ID {
			require.WithinDuration(t, time.Now().Add(time.Hour), *key.ExpiresAt, time.Minute, "the old key works for the overlap")
			require.False(t, key.Expired(time.Now()))
		} else {
			require.WithinDuration(t, time.Now().Add(720*time.Hour), *key.ExpiresAt, time.Minute, "the new key lives as long as the old one did")
		}
	}
	code, _, stderr = run(t, env, "apikey", "revoke", k.ID, "--tenant", "acme")
	require.Equal(t, 0, code, stderr)
	code, _, _ = run(t, env, "apikey", "rotate", k.ID, "--tenant", "acme")
	require.Equal(t, 1, code, "a revoked key cannot be rotated")

	code, out, stderr = run(t, env, "audit", "--tenant", "acme")
	require.Equal(t, 0, code, stderr)
	for _, want := range []string{"apikey create", "apikey rotate", "apikey revoke", "cli:ops"} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, newKey, "no key in the audit log")
	require.NotContains(t, out, k.Key)
}
