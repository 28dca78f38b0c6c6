package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/memory"
)

type dropUsage struct{}

func (dropUsage) RecordEmbedding(context.Context, memory.EmbeddingUsage) error { return nil }

// TestBackupCommands walks the runbook with the CLI on SQLite: keygen,
// create, list, verify, a restore over live data refused, a restore into
// an empty data directory, and the restored store answering.
func TestBackupCommands(t *testing.T) {
	code, key, stderr := run(t, map[string]string{"QLP_LOG_LEVEL": "warn"}, "backup", "keygen")
	require.Equal(t, 0, code, stderr)
	key = strings.TrimSpace(key)
	require.True(t, strings.HasPrefix(key, "AGE-SECRET-KEY-1"), key)
	require.NotContains(t, stderr, key, "the key goes to stdout only")

	blobs := t.TempDir()
	env := map[string]string{"QLP_DATA_DIR": t.TempDir(), "QLP_BLOB_DIR": blobs, "QLP_BACKUP_KEY": key, "QLP_LOG_LEVEL": "warn"}
	code, _, stderr = run(t, env, "apikey", "create", "--tenant", "acme", "--json")
	require.Equal(t, 0, code, stderr)
	code, keys, stderr := run(t, env, "apikey", "list", "--tenant", "acme")
	require.Equal(t, 0, code, stderr)
	keyID := strings.Fields(strings.Split(keys, "\n")[1])[0]

	// A running platform holds the embedded memory: the error says how to
	// take a backup anyway.
	mcfg := memory.Defaults()
	mcfg.DataDir = filepath.Join(env["QLP_DATA_DIR"], "memory")
	mem, err := memory.New(t.Context(), mcfg, memory.Deps{Logger: logx.Discard(), Usage: dropUsage{}})
	require.NoError(t, err)
	code, _, stderr = run(t, env, "backup", "create")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "set QLP_MEMORY_URL to its memory service")
	require.NoError(t, mem.Close())

	code, out, stderr := run(t, env, "backup", "create", "--json")
	require.Equal(t, 0, code, stderr)
	var m struct {
		ID          string `json:"id"`
		StoreDriver string `json:"store_driver"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &m), out)
	require.Equal(t, "sqlite", m.StoreDriver)

	code, out, stderr = run(t, env, "backup", "list")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, m.ID)
	code, out, stderr = run(t, env, "backup", "verify", m.ID)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "verified")

	code, _, stderr = run(t, env, "backup", "restore", m.ID)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "already holds data")
	require.Contains(t, stderr, "--force")

	fresh := map[string]string{}
	for k, v := range env {
		fresh[k] = v
	}
	fresh["QLP_DATA_DIR"] = t.TempDir()
	code, out, stderr = run(t, fresh, "backup", "restore", m.ID)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "restored")
	require.Contains(t, stderr, "decrypting and checking the backup", "each step is printed")
	_, err = os.Stat(filepath.Join(fresh["QLP_DATA_DIR"], "qlp.db"))
	require.NoError(t, err)
	code, out, stderr = run(t, fresh, "apikey", "list", "--tenant", "acme")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, keyID, "the restored store has the key made before the backup")

	wrong := map[string]string{}
	for k, v := range fresh {
		wrong[k] = v
	}
	code, key2, _ := run(t, map[string]string{"QLP_LOG_LEVEL": "warn"}, "backup", "keygen")
	require.Equal(t, 0, code)
	wrong["QLP_BACKUP_KEY"] = strings.TrimSpace(key2)
	code, _, stderr = run(t, wrong, "backup", "verify", m.ID)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "not encrypted to the configured key")
	require.NotContains(t, stderr, "AGE-SECRET-KEY")
}
