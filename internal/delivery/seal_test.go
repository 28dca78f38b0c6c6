package delivery_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/delivery"
)

func TestSealer(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := delivery.NewSealer(key)
	require.NoError(t, err)
	a := delivery.Auth{Token: "ghp_secret-token-123", Username: "bot", SSHKey: []byte("-----BEGIN KEY-----"), SSHKnownHost: "ssh-ed25519 AAAA"}
	sealed, err := s.Seal(a)
	require.NoError(t, err)
	require.NotContains(t, sealed, "ghp_secret")
	require.NotContains(t, sealed, "bot")
	again, err := s.Seal(a)
	require.NoError(t, err)
	require.NotEqual(t, sealed, again, "a fresh nonce each time")
	got, err := s.Open(sealed)
	require.NoError(t, err)
	require.Equal(t, a, got)

	other, err := delivery.NewSealer(bytes.Repeat([]byte{8}, 32))
	require.NoError(t, err)
	for name, in := range map[string]string{
		"another key": sealed, "altered": strings.Replace(sealed, sealed[10:11], "A", 1) + "B", "not base64": "%%%", "empty": "",
	} {
		opener := s
		if name == "another key" {
			opener = other
		}
		_, err := opener.Open(in)
		require.ErrorIs(t, err, delivery.ErrUnseal, name)
		require.NotContains(t, err.Error(), "ghp_secret", name)
	}
	_, err = delivery.NewSealer([]byte("short"))
	require.Error(t, err)
}
