package cli_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/capsule"
)

// writeCapsule builds a small capsule signed by signer and writes it as a
// zip; resign, when set, edits main.go and builds the capsule again signed
// with that key (a forgery whose hashes and signatures are all valid).
func writeCapsule(t *testing.T, path string, signer *capsule.Signer, resign *capsule.Signer) {
	t.Helper()
	main := "package main\n\nfunc main() {}\n"
	if resign != nil {
		// A forger rebuilds the edited capsule and signs manifest and
		// provenance with a key of their own.
		main, signer = "package main\n\nfunc main() { steal() }\n", resign
	}
	c, err := capsule.Build(capsule.Input{ID: "cap-1", Version: 1, Name: "shortener", Description: "d", Request: "r", RequestID: "req-1",
		Language: "go", Files: map[string][]byte{"main.go": []byte(main)},
		Report: capsule.NotValidated("test"), CreatedAt: "2026-11-25T10:00:00Z"}, signer)
	require.NoError(t, err)
	files := c.Files
	var buf bytes.Buffer
	require.NoError(t, capsule.WriteArchive(&buf, capsule.FormatZip, files, time.Unix(0, 0)))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
}

// TestCapsuleVerifyRefusesUntrustedSigners: a capsule edited and signed
// again with someone else's key has valid hashes and a valid signature;
// verify must still fail unless that key is trusted (--key, the configured
// trust list) or the user accepts any signer (--allow-untrusted). The
// installation's own key is trusted on its machine.
func TestCapsuleVerifyRefusesUntrustedSigners(t *testing.T) {
	dir := t.TempDir()
	serverData := filepath.Join(dir, "server")
	server, err := capsule.LoadOrCreateSigner(serverData)
	require.NoError(t, err)
	_, otherPriv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	other := capsule.NewSigner(otherPriv)
	otherPEM, err := other.PublicKeyPEM()
	require.NoError(t, err)
	otherKey := filepath.Join(dir, "other.pem")
	require.NoError(t, os.WriteFile(otherKey, otherPEM, 0o600))
	serverPEM, err := server.PublicKeyPEM()
	require.NoError(t, err)
	serverKey := filepath.Join(dir, "server.pem")
	require.NoError(t, os.WriteFile(serverKey, serverPEM, 0o600))

	genuine, forged := filepath.Join(dir, "genuine.zip"), filepath.Join(dir, "forged.zip")
	writeCapsule(t, genuine, server, nil)
	writeCapsule(t, forged, server, other)

	elsewhere := filepath.Join(dir, "elsewhere") // a machine with no key of its own
	otherB64 := base64.StdEncoding.EncodeToString(other.PublicKey())
	for _, tc := range []struct {
		name    string
		data    string
		trust   string // QLP_CAPSULE_TRUSTED_KEYS
		args    []string
		ok      bool
		trusted bool
		why     string
	}{
		{name: "genuine, on the server", data: serverData, args: []string{genuine}, ok: true, trusted: true},
		{name: "forged, on the server", data: serverData, args: []string{forged}, why: "not trusted here"},
		{name: "forged, elsewhere", data: elsewhere, args: []string{forged}, why: "not trusted here"},
		{name: "genuine, elsewhere", data: elsewhere, args: []string{genuine}, why: "--allow-untrusted"},
		{name: "genuine, elsewhere, with the publisher's key", data: elsewhere, args: []string{genuine, "--key", serverKey}, ok: true, trusted: true},
		{name: "forged, with the publisher's key", data: elsewhere, args: []string{forged, "--key", serverKey}, why: "not by a key given with --key"},
		{name: "forged, with the forger's key given", data: elsewhere, args: []string{forged, "--key", otherKey}, ok: true, trusted: true},
		{name: "--key narrows the trust to itself", data: serverData, args: []string{genuine, "--key", otherKey}, why: "not by a key given with --key"},
		{name: "forged, allowed", data: serverData, args: []string{forged, "--allow-untrusted"}, ok: true},
		{name: "forged, signer in the trust list as a file", data: serverData, trust: otherKey, args: []string{forged}, ok: true, trusted: true},
		{name: "forged, signer in the trust list as base64", data: elsewhere, trust: serverKey + "," + otherB64, args: []string{forged}, ok: true, trusted: true},
		{name: "forged, trust list of others", data: elsewhere, trust: serverKey, args: []string{forged}, why: "not trusted here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"QLP_DATA_DIR": tc.data, "QLP_CAPSULE_TRUSTED_KEYS": tc.trust}
			code, stdout, stderr := run(t, env, append([]string{"capsule", "verify"}, tc.args...)...)
			if !tc.ok {
				require.Equal(t, 1, code, stdout)
				require.Contains(t, stderr, "does not verify")
				require.Contains(t, stderr, tc.why)
				require.NotContains(t, stdout, "  OK")
				return
			}
			require.Equal(t, 0, code, stderr)
			require.Contains(t, stdout, "  OK")
			code, stdout, stderr = run(t, env, append([]string{"capsule", "verify", "--json"}, tc.args...)...)
			require.Equal(t, 0, code, stderr)
			var v struct {
				OK, Intact, Trusted bool
			}
			require.NoError(t, json.Unmarshal([]byte(stdout), &v))
			require.True(t, v.OK)
			require.True(t, v.Intact)
			require.Equal(t, tc.trusted, v.Trusted)
		})
	}

	t.Run("a bad trust list is named", func(t *testing.T) {
		code, _, stderr := run(t, map[string]string{"QLP_DATA_DIR": elsewhere, "QLP_CAPSULE_TRUSTED_KEYS": filepath.Join(dir, "missing.pem")},
			"capsule", "verify", genuine)
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "QLP_CAPSULE_TRUSTED_KEYS")
	})
	t.Run("an oversized file is refused before it is read", func(t *testing.T) {
		big := filepath.Join(dir, "big.zip")
		f, err := os.Create(big)
		require.NoError(t, err)
		require.NoError(t, f.Truncate(capsule.MaxArchiveBytes+1))
		require.NoError(t, f.Close())
		code, _, stderr := run(t, map[string]string{"QLP_DATA_DIR": elsewhere}, "capsule", "verify", big)
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "larger than")
	})
}
