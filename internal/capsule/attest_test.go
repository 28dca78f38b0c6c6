package capsule_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/capsule"
)

// cyclonedxSchema compiles the CycloneDX 1.6 JSON schema from testdata
// (with the SPDX and JSF schemas it refers to), asserting formats.
func cyclonedxSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, name := range []string{"bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"} {
		f, err := os.Open(filepath.Join("testdata", "cyclonedx", name))
		require.NoError(t, err)
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		require.NoError(t, err)
		require.NoError(t, c.AddResource("http://cyclonedx.org/schema/"+name, doc))
	}
	s, err := c.Compile("http://cyclonedx.org/schema/bom-1.6.schema.json")
	require.NoError(t, err)
	return s
}

type sbomComponent struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Purl     string `json:"purl"`
	Licenses []struct {
		License struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"license"`
		Expression string `json:"expression"`
	} `json:"licenses"`
	Properties []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"properties"`
}

func (c sbomComponent) prop(name string) []string {
	var out []string
	for _, p := range c.Properties {
		if p.Name == name {
			out = append(out, p.Value)
		}
	}
	return out
}

func (c sbomComponent) licence() string {
	if len(c.Licenses) == 0 {
		return ""
	}
	l := c.Licenses[0]
	return l.License.ID + l.License.Name + l.Expression
}

// TestSBOMValidatesAgainstCycloneDXSchema builds a capsule in every
// language the builder supports and checks its SBOM against the
// CycloneDX 1.6 schema, and what it says of each dependency: version,
// declared or detected, where found, licence (stated, or said unknown).
func TestSBOMValidatesAgainstCycloneDXSchema(t *testing.T) {
	schema := cyclonedxSchema(t)
	type want struct {
		purl, version, kind, source, licence, constraint string
	}
	tests := []struct {
		name     string
		language string
		files    map[string]string
		plan     []string
		want     []want
	}{
		{"go", "go", map[string]string{
			"go.mod":                  "module example.com/short\n\ngo 1.22\n\nrequire (\n\tgithub.com/google/uuid v1.6.0\n\tgolang.org/x/text v0.14.0 // indirect\n)\n",
			"main.go":                 "package main\n\nimport (\n\t\"fmt\"\n\t\"github.com/google/uuid\"\n\t\"example.com/short/internal/store\"\n\t\"github.com/go-chi/chi/v5\"\n)\n\nfunc main() { fmt.Println(uuid.New(), store.X, chi.NewRouter) }\n",
			"internal/store/store.go": "package store\n\nvar X = 1\n",
		}, nil, []want{
			{purl: "pkg:golang/github.com/go-chi/chi/v5", kind: "detected", source: "import in main.go", licence: capsule.LicenceUnknown},
			{purl: "pkg:golang/github.com/google/uuid@v1.6.0", version: "v1.6.0", kind: "declared", source: "go.mod", licence: capsule.LicenceUnknown},
			{purl: "pkg:golang/golang.org/x/text@v0.14.0", version: "v0.14.0", kind: "detected", source: "go.mod", licence: capsule.LicenceUnknown},
		}},
		{"python", "python", map[string]string{
			"requirements.txt": "# web\nFlask==3.0.0\nrequests>=2.31 ; python_version > '3.8'\n-r other.txt\n",
			"pyproject.toml":   "[project]\nname = \"app\"\ndependencies = [\"pydantic==2.5.2\"]\n[project.optional-dependencies]\ndev = [\"pytest~=7.4\"]\n",
			"app.py":           "import flask\n",
		}, nil, []want{
			{purl: "pkg:pypi/flask@3.0.0", version: "3.0.0", kind: "declared", source: "requirements.txt", licence: capsule.LicenceUnknown},
			{purl: "pkg:pypi/pydantic@2.5.2", version: "2.5.2", kind: "declared", source: "pyproject.toml", licence: capsule.LicenceUnknown},
			{purl: "pkg:pypi/pytest", kind: "declared", source: "pyproject.toml", licence: capsule.LicenceUnknown, constraint: "~=7.4"},
			{purl: "pkg:pypi/requests", kind: "declared", source: "requirements.txt", licence: capsule.LicenceUnknown, constraint: ">=2.31"},
		}},
		{"javascript with a lock file", "javascript", map[string]string{
			"package.json":      `{"name":"app","dependencies":{"express":"^4.18.2","@scope/util":"1.0.0"},"devDependencies":{"jest":"29.7.0"}}`,
			"package-lock.json": `{"lockfileVersion":3,"packages":{"":{"name":"app"},"node_modules/express":{"version":"4.18.2","license":"MIT"},"node_modules/express/node_modules/debug":{"version":"2.6.9","license":"MIT"},"node_modules/@scope/util":{"version":"1.0.0"}}}`,
			"index.js":          "require('express')\n",
		}, nil, []want{
			{purl: "pkg:npm/%40scope/util@1.0.0", version: "1.0.0", kind: "declared", source: "package-lock.json,package.json", licence: capsule.LicenceUnknown},
			{purl: "pkg:npm/debug@2.6.9", version: "2.6.9", kind: "detected", source: "package-lock.json", licence: "MIT"},
			{purl: "pkg:npm/express", kind: "declared", source: "package.json", licence: capsule.LicenceUnknown, constraint: "^4.18.2"},
			{purl: "pkg:npm/express@4.18.2", version: "4.18.2", kind: "detected", source: "package-lock.json", licence: "MIT"},
			{purl: "pkg:npm/jest@29.7.0", version: "29.7.0", kind: "declared", source: "package.json", licence: capsule.LicenceUnknown},
		}},
		{"rust", "rust", map[string]string{
			"Cargo.toml":  "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[dependencies]\nserde = { version = \"1.0\", features = [\"derive\"] }\nrand = \"=0.8.5\"\n",
			"Cargo.lock":  "version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.193\"\nsource = \"registry+https://example.invalid/index\"\n",
			"src/main.rs": "fn main() {}\n",
		}, nil, []want{
			{purl: "pkg:cargo/rand@0.8.5", version: "0.8.5", kind: "declared", source: "Cargo.toml", licence: capsule.LicenceUnknown},
			{purl: "pkg:cargo/serde", kind: "declared", source: "Cargo.toml", licence: capsule.LicenceUnknown, constraint: "1.0"},
			{purl: "pkg:cargo/serde@1.0.193", version: "1.0.193", kind: "detected", source: "Cargo.lock", licence: capsule.LicenceUnknown},
		}},
		{"java", "java", map[string]string{
			"pom.xml":                "<project><dependencies><dependency><groupId>junit</groupId><artifactId>junit</artifactId><version>4.13.2</version></dependency><dependency><groupId>org.x</groupId><artifactId>y</artifactId><version>${y.version}</version></dependency></dependencies></project>",
			"src/main/java/App.java": "class App {}\n",
		}, nil, []want{
			{purl: "pkg:maven/junit/junit@4.13.2", version: "4.13.2", kind: "declared", source: "pom.xml", licence: capsule.LicenceUnknown},
			{purl: "pkg:maven/org.x/y", kind: "declared", source: "pom.xml", licence: capsule.LicenceUnknown, constraint: "${y.version}"},
		}},
		{"bash, dependencies from the plan only", "bash", map[string]string{"run.sh": "#!/bin/sh\njq . x\n"}, []string{"jq"}, []want{
			{purl: "", kind: "declared", source: "plan", licence: capsule.LicenceUnknown},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input()
			in.Language, in.Dependencies = tt.language, tt.plan
			in.Files = map[string][]byte{}
			for p, b := range tt.files {
				in.Files[p] = []byte(b)
			}
			c, err := capsule.Build(in, testSigner(t))
			require.NoError(t, err)
			raw := c.Files[capsule.SBOMFile]
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			require.NoError(t, err)
			require.NoError(t, schema.Validate(doc), "SBOM does not validate against CycloneDX 1.6:\n%s", raw)

			var bom struct {
				BOMFormat   string          `json:"bomFormat"`
				SpecVersion string          `json:"specVersion"`
				Components  []sbomComponent `json:"components"`
			}
			require.NoError(t, json.Unmarshal(raw, &bom))
			require.Equal(t, "CycloneDX", bom.BOMFormat)
			require.Equal(t, "1.6", bom.SpecVersion)
			var got []want
			for _, comp := range bom.Components {
				w := want{purl: comp.Purl, version: comp.Version, licence: comp.licence()}
				if l := comp.prop("qlp:licence"); len(l) == 1 {
					require.Empty(t, w.licence, "a licence both stated and unknown")
					w.licence = l[0]
				}
				w.kind = strings.Join(comp.prop("qlp:kind"), ",")
				w.source = strings.Join(comp.prop("qlp:source"), ",")
				w.constraint = strings.Join(comp.prop("qlp:constraint"), ",")
				got = append(got, w)
			}
			sort.Slice(got, func(i, j int) bool { return got[i].purl < got[j].purl })
			require.Equal(t, tt.want, got)

			n, err := capsule.CheckSBOM(raw, in.ID)
			require.NoError(t, err)
			require.Equal(t, len(tt.want), n)
		})
	}
}

// TestCycloneDXSchemaRejects keeps the schema test honest: an SBOM the
// schema forbids is refused.
func TestCycloneDXSchemaRejects(t *testing.T) {
	schema := cyclonedxSchema(t)
	c, err := capsule.Build(input(), testSigner(t))
	require.NoError(t, err)
	for _, edit := range []struct{ from, to string }{
		{`"specVersion": "1.6"`, `"specVersion": 1.6`},
		{`"type": "application"`, `"type": "spaceship"`},
		{`"serialNumber": "urn:uuid:`, `"serialNumber": "uuid:`},
	} {
		raw := bytes.Replace(c.Files[capsule.SBOMFile], []byte(edit.from), []byte(edit.to), 1)
		require.NotEqual(t, c.Files[capsule.SBOMFile], raw, edit.from)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		require.NoError(t, err)
		require.Error(t, schema.Validate(doc), edit.to)
	}
}

func statementOf(t *testing.T, envelope []byte) map[string]any {
	t.Helper()
	var env capsule.Envelope
	require.NoError(t, json.Unmarshal(envelope, &env))
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	require.NoError(t, err)
	var st map[string]any
	require.NoError(t, json.Unmarshal(payload, &st))
	return st
}

// TestProvenanceStatement checks what the signed statement records: every
// output file as a subject, the request's digest, models, prompt versions
// and the validation's tool versions.
func TestProvenanceStatement(t *testing.T) {
	s := testSigner(t)
	in := input()
	in.Generator.PromptVersions = map[string]string{"planner": "p3"}
	in.Report = capsule.Report{OverallStatus: "passed", Summary: "ok",
		Checks: json.RawMessage(`[{"name":"go-build","tool":"go","tool_version":"1.26.8","status":"passed"},{"name":"staticcheck","tool":"staticcheck","tool_version":"2025.1","status":"passed"}]`)}
	c, err := capsule.Build(in, s)
	require.NoError(t, err)
	require.Equal(t, &capsule.Attestations{SBOM: capsule.SBOMFile, SBOMSpec: "CycloneDX 1.6", Provenance: capsule.ProvenanceFile}, c.Manifest.Attestations)

	st, problems := capsule.VerifyProvenance(c.Files, s.PublicKey())
	require.Empty(t, problems)
	var subjects []string
	for _, sub := range st.GetSubject() {
		subjects = append(subjects, sub.GetName())
		require.Equal(t, capsule.Digest(c.Files[sub.GetName()]), sub.GetDigest()["sha256"])
	}
	require.Equal(t, []string{capsule.ReadmeFile, "go.mod", "internal/store/store.go", "internal/store/store_test.go", "main.go",
		capsule.SBOMFile, capsule.ReportFile}, subjects)

	raw := statementOf(t, c.Files[capsule.ProvenanceFile])
	require.Equal(t, "https://in-toto.io/Statement/v1", raw["_type"])
	require.Equal(t, "https://slsa.dev/provenance/v1", raw["predicateType"])
	pred := raw["predicate"].(map[string]any)
	bd := pred["buildDefinition"].(map[string]any)
	require.Equal(t, capsule.Digest([]byte(in.Request)), bd["externalParameters"].(map[string]any)["request_sha256"])
	ip := bd["internalParameters"].(map[string]any)
	require.Equal(t, map[string]any{"T0": "m0"}, ip["models"])
	require.Equal(t, map[string]any{"planner": "p3"}, ip["prompt_versions"])
	tools := ip["validation"].(map[string]any)["tools"].([]any)
	require.Equal(t, []any{
		map[string]any{"check": "go-build", "tool": "go", "version": "1.26.8", "status": "passed"},
		map[string]any{"check": "staticcheck", "tool": "staticcheck", "version": "2025.1", "status": "passed"},
	}, tools)
	rd := pred["runDetails"].(map[string]any)
	require.Equal(t, "cap-1@v1", rd["metadata"].(map[string]any)["invocationId"])
	require.Equal(t, map[string]any{"qlp": "test"}, rd["builder"].(map[string]any)["version"])

	again, err := capsule.Build(in, s)
	require.NoError(t, err)
	require.Equal(t, c.Files[capsule.ProvenanceFile], again.Files[capsule.ProvenanceFile], "provenance is deterministic")
	require.Equal(t, c.Files[capsule.SBOMFile], again.Files[capsule.SBOMFile], "SBOM is deterministic")
}

// TestProvenanceRejectsOneByteChange flips one byte of every output file
// in turn: the provenance alone (without the manifest's help) rejects it,
// naming the file, and so does Verify.
func TestProvenanceRejectsOneByteChange(t *testing.T) {
	s := testSigner(t)
	c, err := capsule.Build(input(), s)
	require.NoError(t, err)
	for p := range c.Files {
		if p == capsule.ManifestFile || p == capsule.ProvenanceFile {
			continue
		}
		t.Run(p, func(t *testing.T) {
			files := copyFiles(c.Files)
			b := append([]byte(nil), files[p]...)
			b[len(b)/2] ^= 0x01
			files[p] = b
			_, problems := capsule.VerifyProvenance(files, s.PublicKey())
			require.Len(t, problems, 1)
			require.Contains(t, problems[0], p+": SHA-256")
			require.Contains(t, problems[0], "provenance says")
			v, err := capsule.Verify(files, s.PublicKey())
			require.NoError(t, err)
			require.False(t, v.OK())
			require.Contains(t, strings.Join(v.Problems, "\n"), p+": SHA-256 "+capsule.Digest(b)+", provenance says")
		})
	}
}

// TestProvenanceRejectsForgery: the envelope must be signed by the
// manifest's key, over the payload as it is, and name every file.
func TestProvenanceRejectsForgery(t *testing.T) {
	s := testSigner(t)
	c, err := capsule.Build(input(), s)
	require.NoError(t, err)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	other := capsule.NewSigner(otherKey)
	var env capsule.Envelope
	require.NoError(t, json.Unmarshal(c.Files[capsule.ProvenanceFile], &env))
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	rewrite := func(e capsule.Envelope) []byte { b, _ := json.Marshal(e); return b }
	tests := []struct {
		name    string
		tamper  func(f map[string][]byte)
		problem string
	}{
		{"signed by another key", func(f map[string][]byte) {
			f[capsule.ProvenanceFile] = rewrite(other.SignEnvelope(capsule.PayloadType, payload))
		}, "no signature of the envelope is by key"},
		{"payload edited", func(f map[string][]byte) {
			e := env
			e.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(payload, []byte("cap-1@v1"), []byte("cap-2@v1"), 1))
			f[capsule.ProvenanceFile] = rewrite(e)
		}, "no signature of the envelope is by key"},
		{"payload type changed", func(f map[string][]byte) {
			e := env
			e.PayloadType = "application/json"
			f[capsule.ProvenanceFile] = rewrite(e)
		}, "payload type"},
		{"extra file", func(f map[string][]byte) { f["backdoor.sh"] = []byte("x") }, "backdoor.sh: in the capsule but not a subject"},
		{"file removed", func(f map[string][]byte) { delete(f, "main.go") }, "subject main.go is not in the capsule"},
		{"provenance missing", func(f map[string][]byte) { delete(f, capsule.ProvenanceFile) }, capsule.ProvenanceFile + ": missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := copyFiles(c.Files)
			tt.tamper(files)
			_, problems := capsule.VerifyProvenance(files, s.PublicKey())
			require.Contains(t, strings.Join(problems, "\n"), tt.problem)
			v, err := capsule.Verify(files, s.PublicKey())
			require.NoError(t, err)
			require.False(t, v.OK())
		})
	}
}

func TestBuildRefusesQLPNames(t *testing.T) {
	for _, name := range []string{capsule.SBOMFile, capsule.ProvenanceFile, capsule.ReportFile} {
		in := input()
		in.Files[name] = []byte("{}")
		_, err := capsule.Build(in, testSigner(t))
		require.ErrorContains(t, err, "reserved for QLP")
	}
}

// TestVerifyNotesCapsulesWithoutAttestations: a capsule made before QLP
// wrote SBOMs still verifies, and the verification says what it lacks.
func TestVerifyNotesCapsulesWithoutAttestations(t *testing.T) {
	s := testSigner(t)
	c, err := capsule.Build(input(), s)
	require.NoError(t, err)
	files := copyFiles(c.Files)
	delete(files, capsule.SBOMFile)
	delete(files, capsule.ProvenanceFile)
	m := c.Manifest
	m.Attestations = nil
	var kept []capsule.ManifestFileEntry
	for _, e := range m.Files {
		if e.Path != capsule.SBOMFile && e.Path != capsule.ProvenanceFile {
			kept = append(kept, e)
		}
	}
	m.Files = kept
	raw, err := s.Sign(&m)
	require.NoError(t, err)
	files[capsule.ManifestFile] = raw
	v, err := capsule.Verify(files, s.PublicKey())
	require.NoError(t, err)
	require.True(t, v.OK(), v.Problems)
	require.False(t, v.Attested)
	require.Contains(t, strings.Join(v.Notes, "\n"), "no SBOM or provenance")
}

func copyFiles(in map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
