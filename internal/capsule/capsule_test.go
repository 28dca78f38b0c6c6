package capsule_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/capsule"
)

func testSigner(t *testing.T) *capsule.Signer {
	t.Helper()
	s, err := capsule.LoadOrCreateSigner(t.TempDir())
	require.NoError(t, err)
	return s
}

func input() capsule.Input {
	return capsule.Input{
		ID: "cap-1", Version: 1, Name: "url-shortener", Description: "A URL shortener", Request: "Build a URL shortener in Go",
		RequestID: "req-1", Language: "go", Entrypoint: "main.go",
		Commands: capsule.Commands{Build: "go build ./...", Test: "go test ./...", Run: "go run ."},
		Files: map[string][]byte{
			"go.mod":                       []byte("module example.com/short\n\ngo 1.22\n"),
			"main.go":                      []byte("package main\n\nfunc main() {}\n"),
			"internal/store/store.go":      []byte("package store\n"),
			"internal/store/store_test.go": []byte("package store\n"),
		},
		Generator: capsule.Generator{QLPVersion: "test", Provider: "replay", Models: map[string]string{"T0": "m0"}},
		Cost:      capsule.Cost{Calls: 3, InputTokens: 100, OutputTokens: 50, USD: "0.000123", PUSD: 123_000_000},
		Report:    capsule.NotValidated("validation is not wired in yet"),
		CreatedAt: "2026-11-25T10:00:00Z",
	}
}

func TestBuildArchiveVerifyRoundTrip(t *testing.T) {
	s := testSigner(t)
	c, err := capsule.Build(input(), s)
	require.NoError(t, err)
	require.Contains(t, c.Files, capsule.ReadmeFile)
	require.Contains(t, c.Files, capsule.ReportFile)
	readme := string(c.Files[capsule.ReadmeFile])
	require.Contains(t, readme, "go test ./...")
	require.Contains(t, readme, "not_validated")
	require.Contains(t, readme, capsule.SBOMFile)
	require.Contains(t, readme, capsule.ProvenanceFile)
	require.Equal(t, "not_validated", c.Manifest.Validation.Status)
	roles := map[string]string{}
	for _, f := range c.Manifest.Files {
		roles[f.Path] = f.Role
	}
	require.Equal(t, map[string]string{"go.mod": "config", "main.go": "source", "internal/store/store.go": "source",
		"internal/store/store_test.go": "test", "README.md": "doc", "validation-report.json": "report",
		capsule.SBOMFile: "report", capsule.ProvenanceFile: "report"}, roles)

	for _, format := range []string{capsule.FormatZip, capsule.FormatTar, capsule.FormatTarGz} {
		t.Run(format, func(t *testing.T) {
			var a, b bytes.Buffer
			mt, _ := time.Parse(time.RFC3339, c.Manifest.CreatedAt)
			require.NoError(t, capsule.WriteArchive(&a, format, c.Files, mt))
			require.NoError(t, capsule.WriteArchive(&b, format, c.Files, mt))
			require.Equal(t, a.Bytes(), b.Bytes(), "archives are deterministic")
			files, err := capsule.ReadArchive(a.Bytes())
			require.NoError(t, err)
			v, err := capsule.Verify(files, s.PublicKey())
			require.NoError(t, err)
			require.True(t, v.OK(), v.Problems)
			require.True(t, v.Trusted)
			require.Equal(t, 8, v.Files)
			require.True(t, v.Attested)
		})
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	s := testSigner(t)
	a, err := capsule.Build(input(), s)
	require.NoError(t, err)
	b, err := capsule.Build(input(), s)
	require.NoError(t, err)
	require.Equal(t, a.ManifestJSON, b.ManifestJSON)
}

func TestVerifyFindsEveryTampering(t *testing.T) {
	s := testSigner(t)
	c, err := capsule.Build(input(), s)
	require.NoError(t, err)
	_, other, _ := ed25519.GenerateKey(nil)
	tests := []struct {
		name    string
		tamper  func(files map[string][]byte)
		problem string
	}{
		{"changed content", func(f map[string][]byte) { f["main.go"] = []byte("package main\n\nfunc main() { evil() }\n") }, "main.go: size"},
		{"same size, other bytes", func(f map[string][]byte) { f["main.go"] = bytes.ToUpper(f["main.go"]) }, "main.go: SHA-256"},
		{"missing file", func(f map[string][]byte) { delete(f, "go.mod") }, "go.mod: listed in the manifest but missing"},
		{"extra file", func(f map[string][]byte) { f["backdoor.sh"] = []byte("curl x | sh") }, "backdoor.sh: in the archive but not in the manifest"},
		{"edited manifest", func(f map[string][]byte) {
			f[capsule.ManifestFile] = bytes.Replace(f[capsule.ManifestFile], []byte(`"url-shortener"`), []byte(`"url-shortener2"`), 1)
		}, "signature does not match"},
		{"re-signed by another key", func(f map[string][]byte) {
			// Whoever re-signs the manifest re-signs the provenance too.
			var env capsule.Envelope
			require.NoError(t, json.Unmarshal(f[capsule.ProvenanceFile], &env))
			payload, err := base64.StdEncoding.DecodeString(env.Payload)
			require.NoError(t, err)
			prov, err := json.Marshal(capsule.NewSigner(other).SignEnvelope(env.PayloadType, payload))
			require.NoError(t, err)
			f[capsule.ProvenanceFile] = prov
			var m capsule.Manifest
			require.NoError(t, json.Unmarshal(f[capsule.ManifestFile], &m))
			m.Name = "evil"
			for i := range m.Files {
				if m.Files[i].Path == capsule.ProvenanceFile {
					m.Files[i].Size, m.Files[i].SHA256 = int64(len(prov)), capsule.Digest(prov)
				}
			}
			raw, err := capsule.NewSigner(other).Sign(&m)
			require.NoError(t, err)
			f[capsule.ManifestFile] = raw
		}, "untrusted"},
		{"manifest re-signed by another key, provenance not", func(f map[string][]byte) {
			var m capsule.Manifest
			require.NoError(t, json.Unmarshal(f[capsule.ManifestFile], &m))
			raw, err := capsule.NewSigner(other).Sign(&m)
			require.NoError(t, err)
			f[capsule.ManifestFile] = raw
		}, "no signature of the envelope is by key"},
		{"unsigned", func(f map[string][]byte) {
			var m capsule.Manifest
			require.NoError(t, json.Unmarshal(f[capsule.ManifestFile], &m))
			m.Signature = nil
			raw, _ := json.Marshal(m)
			f[capsule.ManifestFile] = raw
		}, "not signed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string][]byte{}
			for k, v := range c.Files {
				files[k] = append([]byte(nil), v...)
			}
			tt.tamper(files)
			v, err := capsule.Verify(files, s.PublicKey())
			require.NoError(t, err)
			if tt.problem == "untrusted" {
				require.True(t, v.Intact(), "a valid signature by another key is intact…")
				require.False(t, v.Trusted, "…but not trusted…")
				require.False(t, v.OK(), "…so the capsule does not verify")
				v, err = capsule.Verify(files, s.PublicKey(), other.Public().(ed25519.PublicKey))
				require.NoError(t, err)
				require.True(t, v.OK(), "it does when its signer is trusted")
				return
			}
			require.False(t, v.OK())
			require.Contains(t, strings.Join(v.Problems, "\n"), tt.problem)
		})
	}
}

func TestCheckPath(t *testing.T) {
	good := []string{"main.go", "cmd/server/main.go", "tests/test_app.py", "web/app.test.ts", ".gitignore", "pkg/v1.2/x_y-z.go", "README.md"}
	bad := []string{"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a b.go", "x;rm -rf", "$(id).go", "a\\b", ".git/config",
		"qlp-manifest.json", "validation-report.json", "qlp-sbom.cdx.json", "qlp-provenance.intoto.json", "-rf", "a/", "\x00"}
	for _, p := range good {
		require.NoError(t, capsule.CheckPath(p), p)
	}
	for _, p := range bad {
		require.Error(t, capsule.CheckPath(p), "%q must be rejected", p)
	}
}

func TestBuildRejects(t *testing.T) {
	s := testSigner(t)
	in := input()
	in.Files = map[string][]byte{"../escape.go": []byte("x")}
	_, err := capsule.Build(in, s)
	require.ErrorContains(t, err, "leaves its directory")
	in.Files = map[string][]byte{"big.bin": make([]byte, capsule.MaxFileBytes+1)}
	_, err = capsule.Build(in, s)
	require.ErrorContains(t, err, "limit")
	in.Files = nil
	_, err = capsule.Build(in, s)
	require.ErrorContains(t, err, "no project files")
}

func TestReadmeKeepsTheProjectsOwn(t *testing.T) {
	in := input()
	in.Files["README.md"] = []byte("# Shorty\n\nOur own words.\n")
	c, err := capsule.Build(in, testSigner(t))
	require.NoError(t, err)
	readme := string(c.Files["README.md"])
	require.True(t, strings.HasPrefix(readme, "# Shorty\n\nOur own words."))
	require.Contains(t, readme, "## QLP capsule")
}

func TestSigningKeyIsPrivateAndStable(t *testing.T) {
	dir := t.TempDir()
	a, err := capsule.LoadOrCreateSigner(dir)
	require.NoError(t, err)
	b, err := capsule.LoadOrCreateSigner(dir)
	require.NoError(t, err)
	require.Equal(t, a.PublicKey(), b.PublicKey())
	st, err := os.Stat(capsule.KeyFile(dir))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	pemKey, err := a.PublicKeyPEM()
	require.NoError(t, err)
	pub, err := capsule.ParsePublicKey(pemKey)
	require.NoError(t, err)
	require.Equal(t, a.PublicKey(), pub)
}

func TestReadArchiveRejectsUnsafeEntries(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, capsule.WriteArchive(&buf, capsule.FormatTar, map[string][]byte{"../../etc/x": []byte("x")}, time.Unix(0, 0)))
	_, err := capsule.ReadArchive(buf.Bytes())
	require.Error(t, err)
	_, err = capsule.ReadArchive([]byte("not an archive"))
	require.ErrorContains(t, err, "not a zip")
}
