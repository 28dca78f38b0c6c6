package capsule_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/capsule"
)

// TestDeriveKey: every process holding the signing key derives the same
// key for a purpose; another purpose or another signing key gives another.
func TestDeriveKey(t *testing.T) {
	dir := t.TempDir()
	a, err := capsule.LoadOrCreateSigner(dir)
	require.NoError(t, err)
	again, err := capsule.LoadOrCreateSigner(dir)
	require.NoError(t, err)
	other, err := capsule.LoadOrCreateSigner(t.TempDir())
	require.NoError(t, err)
	k1, err := a.DeriveKey("delivery credentials")
	require.NoError(t, err)
	require.Len(t, k1, 32)
	k2, err := again.DeriveKey("delivery credentials")
	require.NoError(t, err)
	require.Equal(t, k1, k2, "the same signing key, the same derived key")
	k3, err := a.DeriveKey("something else")
	require.NoError(t, err)
	require.NotEqual(t, k1, k3)
	k4, err := other.DeriveKey("delivery credentials")
	require.NoError(t, err)
	require.NotEqual(t, k1, k4)
}
