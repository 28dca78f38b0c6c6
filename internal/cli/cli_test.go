package cli_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/cli"
	"github.com/quantumlayer/qlp/internal/forge/forgetest"
	"github.com/quantumlayer/qlp/internal/memory/localstore"
	"github.com/quantumlayer/qlp/internal/memory/vector"
	"github.com/quantumlayer/qlp/internal/store"
)

func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errOut bytes.Buffer
	code := cli.Execute(context.Background(), "test", args, &out, &errOut)
	return code, out.String(), errOut.String()
}

const example = "../../examples/url-shortener"

// TestGenerateWithTheExampleCassette is `make demo` as a test: qlp generate
// in-process on the scripted cassette writes a capsule that verifies.
func TestGenerateWithTheExampleCassette(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"QLP_DATA_DIR": filepath.Join(dir, "data"), "QLP_TEMPORAL_PORT": "0", "QLP_URL": "", "QLP_LOG_LEVEL": "warn",
		"QLP_DATABASE_URL": "", "QLP_STORE_DRIVER": ""}
	request, err := os.ReadFile(filepath.Join(example, "request.txt"))
	require.NoError(t, err)
	out, archive := filepath.Join(dir, "demo"), filepath.Join(dir, "demo.zip")
	code, stdout, stderr := run(t, env, "generate", strings.TrimSpace(string(request)),
		"--llm", "replay:"+filepath.Join(example, "cassette.jsonl"), "--out", out, "--archive", archive)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "capsule url-shortener")
	require.Contains(t, stdout, "scripted cassette: no model ran")
	require.Contains(t, stderr, "job completed", "progress is shown")

	for _, p := range []string{"go.mod", "main.go", "shortener/store.go", "server/server_test.go", "README.md", capsule.ManifestFile,
		capsule.SBOMFile, capsule.ProvenanceFile} {
		require.FileExists(t, filepath.Join(out, p))
	}
	code, stdout, stderr = run(t, env, "capsule", "verify", archive, "--json")
	require.Equal(t, 0, code, stderr)
	var v struct {
		OK       bool `json:"ok"`
		Files    int  `json:"files_checked"`
		Trusted  bool `json:"trusted"`
		Attested bool `json:"attested"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &v))
	require.True(t, v.OK)
	require.True(t, v.Attested, "SBOM and provenance checked")
	require.True(t, v.Trusted, "signed by this data dir's key")
	require.GreaterOrEqual(t, v.Files, 3)

	// Tamper with one file: verify must fail, naming it.
	data, err := os.ReadFile(archive)
	require.NoError(t, err)
	files, err := capsule.ReadArchive(data)
	require.NoError(t, err)
	files["main.go"] = append(files["main.go"], []byte("// evil\n")...)
	var buf bytes.Buffer
	require.NoError(t, capsule.WriteArchive(&buf, capsule.FormatZip, files, capsuleTime(t, files)))
	bad := filepath.Join(dir, "bad.zip")
	require.NoError(t, os.WriteFile(bad, buf.Bytes(), 0o600))
	code, stdout, stderr = run(t, env, "capsule", "verify", bad)
	require.Equal(t, 1, code)
	require.Contains(t, stdout, "MISMATCH main.go")
	require.Contains(t, stdout, "provenance says", "the provenance rejects the changed file too")
	require.Contains(t, stderr, "does not verify")

	// The stored capsule is listed, and its job's status is readable.
	code, stdout, stderr = run(t, env, "capsule", "list", "--json")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, `"name": "url-shortener"`)

	// Retest: the demo capsule, rebuilt and validated again in fresh
	// sandboxes, gives the report it carries — by archive and by id.
	code, stdout, stderr = run(t, env, "capsule", "retest", archive, "--json")
	require.Equal(t, 0, code, "%s\n%s", stdout, stderr)
	var rt struct {
		Same        bool   `json:"same"`
		Capsule     string `json:"capsule"`
		Status      string `json:"status"`
		Differences []any  `json:"differences"`
		Integrity   []any  `json:"integrity"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &rt))
	require.True(t, rt.Same)
	require.Empty(t, rt.Differences)
	require.Empty(t, rt.Integrity)
	var m capsule.Manifest
	require.NoError(t, json.Unmarshal(files[capsule.ManifestFile], &m))
	require.Equal(t, m.Validation.Status, rt.Status, "the demo validates as it did")
	code, stdout, stderr = run(t, env, "capsule", "retest", rt.Capsule)
	require.Equal(t, 0, code, "%s\n%s", stdout, stderr)
	require.Contains(t, stdout, "no difference")

	// A tampered capsule: main.go now holds an access key (and, where Go
	// runs in the sandbox, no longer compiles). The retest names the
	// changed file and what the checks now find.
	files["main.go"] = []byte("package main\n\nconst awsKey = \"AKIAQWERTYUIOPASDFGH\"\n\nfunc main() { undefinedCall() }\n")
	buf.Reset()
	require.NoError(t, capsule.WriteArchive(&buf, capsule.FormatZip, files, capsuleTime(t, files)))
	require.NoError(t, os.WriteFile(bad, buf.Bytes(), 0o600))
	code, stdout, stderr = run(t, env, "capsule", "retest", bad)
	require.Equal(t, 1, code, "%s\n%s", stdout, stderr)
	require.Contains(t, stdout, "INTEGRITY main.go: size")
	require.Contains(t, stdout, "DIFFERS report overall status: capsule "+m.Validation.Status+", retest failed")
	require.Regexp(t, `DIFFERS \S+ finding: capsule absent, retest main.go:3: .*\[aws-access-key-id\]`, stdout)
	require.Contains(t, stderr, "the retest differs")

	// A second version, as a delivery round's repair stores one, and the
	// round: capsule diff prints the unified diff between the versions,
	// capsule show lists the rounds.
	st, err := store.OpenSQLite(t.Context(), store.SQLitePath(filepath.Join(dir, "data")))
	require.NoError(t, err)
	v1, err := st.GetCapsuleVersion(t.Context(), "", rt.Capsule, 1)
	require.NoError(t, err)
	c1, err := st.GetCapsule(t.Context(), "", rt.Capsule)
	require.NoError(t, err)
	v2 := v1
	v2.Version, v2.ParentVersion, v2.Message, v2.Files = 2, 1, "delivery round 2", nil
	for _, f := range v1.Files {
		if f.Path == "main.go" {
			f.Content = bytes.Replace(f.Content, []byte("// Command shorty serves the URL shortener."), []byte("// Command shorty serves the URL shortener (MIT License)."), 1)
		}
		v2.Files = append(v2.Files, f)
	}
	require.NoError(t, st.AddCapsuleVersion(t.Context(), c1, v2))
	require.NoError(t, st.PutDeliveryRound(t.Context(), store.DeliveryRound{TenantID: c1.TenantID, CapsuleID: c1.ID, LoopID: "loop", Round: 1, Version: 1,
		Forge: "github", Repo: "acme/shorty", PR: 3, Branch: "qlp/url-shortener", SHA: "0123456789abcdef", State: "failure", FailingRuns: []string{"license"}}))
	require.NoError(t, st.Close())
	code, stdout, stderr = run(t, env, "capsule", "diff", rt.Capsule, "1", "2")
	require.Equal(t, 0, code, stderr)
	require.True(t, strings.HasPrefix(stdout, "diff --git a/main.go b/main.go\n"), stdout)
	require.Contains(t, stdout, "-// Command shorty serves the URL shortener.\n+// Command shorty serves the URL shortener (MIT License).\n")
	code, _, stderr = run(t, env, "capsule", "diff", rt.Capsule, "1", "x")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, `V2 "x" is not a version number`)
	code, stdout, stderr = run(t, env, "capsule", "show", rt.Capsule)
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `version\s+2 of 2`, stdout)
	require.Contains(t, stdout, "round 1: v1 on qlp/url-shortener (acme/shorty#3) at 0123456789ab: failure (failing: license)")
	// qlp capsule pr: the stored capsule goes to a (fake) GitHub as a
	// pull request whose URL is printed; the token comes from
	// QLP_GIT_TOKEN only.
	gh := forgetest.NewGitHub(t, "ghp_cli_token", "octo")
	env["QLP_FORGE_GITHUB_URL"] = gh.URL + "/"
	env["QLP_GIT_TOKEN"] = ""
	code, _, stderr = run(t, env, "capsule", "pr", rt.Capsule, "--forge", "github", "--repo", "octo/shortener", "--create")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "QLP_GIT_TOKEN")
	env["QLP_GIT_TOKEN"] = "ghp_cli_token"
	code, stdout, stderr = run(t, env, "capsule", "pr", rt.Capsule, "--forge", "github", "--repo", "octo/shortener", "--create", "--title", "url-shortener v1")
	require.Equal(t, 0, code, stderr)
	prs := gh.PullRequests("octo/shortener")
	require.Len(t, prs, 1)
	require.Equal(t, "url-shortener v1", prs[0].Title)
	require.Equal(t, gh.URL+"/octo/shortener/pull/1\n", stdout)
	require.Contains(t, gh.Git.CloneBack(t, "octo/shortener.git", prs[0].Head), "shortener/store.go")
}

func capsuleTime(t *testing.T, files map[string][]byte) time.Time {
	var m capsule.Manifest
	require.NoError(t, json.Unmarshal(files[capsule.ManifestFile], &m))
	tm, err := time.Parse(time.RFC3339, m.CreatedAt)
	require.NoError(t, err)
	return tm
}

func TestGenerateFailsWithTheReason(t *testing.T) {
	dir := t.TempDir()
	cassette := filepath.Join(dir, "empty.jsonl")
	require.NoError(t, os.WriteFile(cassette, []byte(`{"qlp_cassette":1,"kind":"scripted"}`+"\n"), 0o600))
	env := map[string]string{"QLP_DATA_DIR": filepath.Join(dir, "data"), "QLP_TEMPORAL_PORT": "0", "QLP_URL": "", "QLP_LOG_LEVEL": "warn",
		"QLP_DATABASE_URL": "", "QLP_STORE_DRIVER": ""}
	code, _, stderr := run(t, env, "generate", "a URL shortener in Go", "--llm", "replay:"+cassette)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "failed")
	require.Contains(t, stderr, "has no answer for this request")
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	code, _, stderr := run(t, map[string]string{"QLP_WORKFLOW_MAX_PARALLEL": "lots"}, "config", "verify")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "QLP_WORKFLOW_MAX_PARALLEL")
	code, _, stderr = run(t, map[string]string{"QLP_WORKFLOW_MAX_PARALLEL": "2", "QLP_LLM_PROVIDER": "magic"}, "config", "verify")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "QLP_LLM_PROVIDER")
}

func TestAPIKeyCreateJSON(t *testing.T) {
	env := map[string]string{"QLP_DATA_DIR": t.TempDir(), "QLP_DATABASE_URL": "", "QLP_STORE_DRIVER": ""}
	code, stdout, stderr := run(t, env, "apikey", "create", "--tenant", "acme", "--json")
	require.Equal(t, 0, code, stderr)
	var k struct{ Key string }
	require.NoError(t, json.Unmarshal([]byte(stdout), &k))
	require.True(t, strings.HasPrefix(k.Key, "qlp_"))
	code, stdout, _ = run(t, env, "apikey", "list", "--tenant", "acme")
	require.Equal(t, 0, code)
	require.NotContains(t, stdout, k.Key, "keys are never shown again")
	require.Contains(t, stdout, k.Key[:12])
}

// TestMemoryRecover: a memory log damaged before its last record stops the
// memory from opening with an error naming `qlp memory recover`, which
// keeps every intact record; the memory opens again afterwards.
func TestMemoryRecover(t *testing.T) {
	dir := t.TempDir()
	memDir := filepath.Join(dir, "data", "memory")
	env := map[string]string{"QLP_DATA_DIR": filepath.Join(dir, "data"), "QLP_URL": "", "QLP_MEMORY_URL": "", "QLP_LOG_LEVEL": "warn",
		"QLP_DATABASE_URL": "", "QLP_STORE_DRIVER": ""}
	for k, v := range env {
		t.Setenv(k, v)
	}
	s, err := localstore.Open(t.Context(), localstore.Config{Dir: memDir})
	require.NoError(t, err)
	require.NoError(t, s.EnsureCollection(t.Context(), vector.Executions, 4))
	for i := range 4 {
		require.NoError(t, s.Upsert(t.Context(), vector.Executions, []vector.Point{{ID: fmt.Sprintf("00000000-0000-0000-0000-00000000000%d", i), Tenant: "local",
			Vector: []float32{1, float32(i), 0, 0}, Payload: map[string]any{"description": fmt.Sprint("job ", i)}}}))
	}
	require.NoError(t, s.Close())
	logs, _ := filepath.Glob(filepath.Join(memDir, "wal-*.log"))
	require.Len(t, logs, 1)
	b, err := os.ReadFile(logs[0])
	require.NoError(t, err)
	second := 8 + int(binary.LittleEndian.Uint32(b)) // the first point's record
	b[second+12] ^= 0x55
	require.NoError(t, os.WriteFile(logs[0], b, 0o600))

	code, _, stderr := run(t, nil, "memory", "stats")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "qlp memory recover")

	code, stdout, stderr := run(t, nil, "memory", "recover", "--json")
	require.Equal(t, 0, code, stderr)
	var rep localstore.RecoveryReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Len(t, rep.Dropped, 1)
	require.Equal(t, 3, rep.Points, "the three intact points are kept")
	require.FileExists(t, rep.Backup)

	code, stdout, stderr = run(t, nil, "memory", "stats", "--json", "--tenant", "local")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, `"points": 3`)
	code, stdout, stderr = run(t, nil, "memory", "recover")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "nothing to recover")
}
