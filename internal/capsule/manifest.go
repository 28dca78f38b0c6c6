// Package capsule builds, signs, archives and verifies QLP capsules: a
// project's files at their paths plus qlp-manifest.json (every file with its
// role, size and SHA-256; commands; generator; cost; validation summary;
// ed25519 signature over the manifest's canonical bytes),
// validation-report.json, README.md, a CycloneDX SBOM (qlp-sbom.cdx.json)
// and a DSSE-signed in-toto SLSA provenance statement
// (qlp-provenance.intoto.json) whose subjects are every output file.
//
// Archives (zip, tar, tar.gz) are deterministic: the same capsule always
// gives the same bytes.
package capsule

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

// SchemaVersion of qlp-manifest.json.
const SchemaVersion = "qlp.capsule/v1"

// Reserved file names QLP writes itself.
const (
	ManifestFile = "qlp-manifest.json"
	ReportFile   = "validation-report.json"
	ReadmeFile   = "README.md"
)

// OwnFile reports whether p is one of the files QLP writes into every
// capsule itself (README.md aside, which a project may bring).
func OwnFile(p string) bool {
	return p == ManifestFile || p == ReportFile || p == SBOMFile || p == ProvenanceFile
}

// File roles.
const (
	RoleSource = "source"
	RoleTest   = "test"
	RoleDoc    = "doc"
	RoleConfig = "config"
	RoleReport = "report"
)

// Limits on what a capsule may hold.
const (
	MaxFiles     = 500
	MaxFileBytes = 1 << 20
	MaxTotal     = 20 << 20
)

// Commands tell a user how to build, run and test the project.
type Commands struct {
	Build string `json:"build,omitempty"`
	Run   string `json:"run,omitempty"`
	Test  string `json:"test,omitempty"`
}

// ManifestFileEntry describes one file of the capsule.
type ManifestFileEntry struct {
	Path   string `json:"path"`
	Role   string `json:"role"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Generator records what made the capsule.
type Generator struct {
	QLPVersion     string            `json:"qlp_version"`
	Provider       string            `json:"provider"`
	Models         map[string]string `json:"models"`          // tier → model
	PromptVersions map[string]string `json:"prompt_versions"` // role → version
	// Scripted is true when the answers came from a scripted cassette: no
	// model ran.
	Scripted bool `json:"scripted,omitempty"`
}

// Cost sums the metered calls that produced the capsule.
type Cost struct {
	Calls             int    `json:"calls"`
	InputTokens       int64  `json:"input_tokens"`
	CachedInputTokens int64  `json:"cached_input_tokens"`
	OutputTokens      int64  `json:"output_tokens"`
	USD               string `json:"usd"`  // six decimals
	PUSD              int64  `json:"pusd"` // exact, pico-USD
}

// ValidationSummary is the manifest's view of validation-report.json.
type ValidationSummary struct {
	Status              string   `json:"status"` // passed|warning|failed|not_validated
	ConfidenceScore     *float64 `json:"confidence_score"`
	RequiresHumanReview bool     `json:"requires_human_review"`
	Summary             string   `json:"summary"`
}

// Signature is the detached ed25519 signature of the manifest.
type Signature struct {
	Algorithm string `json:"algorithm"` // "ed25519"
	KeyID     string `json:"key_id"`    // first 16 hex of SHA-256(public key)
	PublicKey string `json:"public_key"`
	Value     string `json:"value"` // base64 of the signature over CanonicalBytes
}

// Manifest is qlp-manifest.json.
type Manifest struct {
	SchemaVersion string              `json:"schema_version"`
	ID            string              `json:"id"`
	Version       int                 `json:"version"`
	ParentVersion int                 `json:"parent_version,omitempty"`
	Name          string              `json:"name"`
	Description   string              `json:"description"`
	Request       string              `json:"request"`
	RequestID     string              `json:"request_id"`
	Languages     []string            `json:"languages"`
	Framework     string              `json:"framework,omitempty"`
	Entrypoint    string              `json:"entrypoint,omitempty"`
	Commands      Commands            `json:"commands"`
	Dependencies  []string            `json:"dependencies"`
	Files         []ManifestFileEntry `json:"files"`
	Generator     Generator           `json:"generator"`
	Cost          Cost                `json:"cost"`
	Validation    ValidationSummary   `json:"validation"`
	ReusedFrom    string              `json:"reused_from,omitempty"`
	Warnings      []string            `json:"warnings,omitempty"`
	Attestations  *Attestations       `json:"attestations,omitempty"`
	CreatedAt     string              `json:"created_at"`
	Signature     *Signature          `json:"signature,omitempty"`
}

// CanonicalBytes is what the signature covers: the manifest JSON without its
// "signature" member, object keys sorted, no insignificant whitespace, no
// HTML escaping. It is computed from the raw JSON, so fields a newer QLP adds
// stay covered when an older one verifies.
func CanonicalBytes(manifestJSON []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(manifestJSON))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("capsule: manifest is not a JSON object: %w", err)
	}
	delete(m, "signature")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil { // map keys are sorted by encoding/json
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Digest is the hex SHA-256 of b.
func Digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var safePath = regexp.MustCompile(`^[A-Za-z0-9_.][A-Za-z0-9_.+@-]*(/[A-Za-z0-9_.][A-Za-z0-9_.+@-]*)*$`)

// CheckPath rejects paths a capsule must not contain: absolute paths, "..",
// backslashes, spaces and shell metacharacters, hidden traversal tricks and
// QLP's own reserved names.
func CheckPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty path")
	case len(p) > 255:
		return fmt.Errorf("path %q is longer than 255 bytes", p[:40]+"…")
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is absolute", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return fmt.Errorf("path %q leaves its directory", p)
		}
		if seg == ".git" {
			return fmt.Errorf("path %q writes into .git", p)
		}
	}
	switch {
	case !safePath.MatchString(p):
		return fmt.Errorf("path %q has characters outside [A-Za-z0-9_.+@-/] or an empty segment", p)
	case path.Clean(p) != p:
		return fmt.Errorf("path %q is not clean", p)
	}
	if OwnFile(p) {
		return fmt.Errorf("path %q is reserved for QLP", p)
	}
	return nil
}

// RoleOf classifies a path.
func RoleOf(p string) string {
	base := path.Base(p)
	lower := strings.ToLower(p)
	switch {
	case p == ReportFile, p == SBOMFile, p == ProvenanceFile:
		return RoleReport
	case strings.HasSuffix(base, "_test.go"), strings.HasPrefix(base, "test_") && strings.HasSuffix(base, ".py"),
		strings.HasSuffix(base, "_test.py"), strings.Contains(base, ".test."), strings.Contains(base, ".spec."),
		strings.HasPrefix(lower, "tests/"), strings.HasPrefix(lower, "test/"), strings.Contains(lower, "/tests/"),
		strings.Contains(lower, "__tests__/"), strings.HasSuffix(base, "Test.java"), strings.HasSuffix(base, "_test.sh"):
		return RoleTest
	case strings.HasSuffix(lower, ".md"), strings.HasSuffix(lower, ".rst"), strings.HasSuffix(lower, ".txt") && !strings.Contains(lower, "requirements"),
		strings.HasPrefix(lower, "docs/"), base == "LICENSE":
		return RoleDoc
	case base == "go.mod", base == "go.sum", base == "package.json", base == "package-lock.json", base == "tsconfig.json",
		base == "requirements.txt", base == "pyproject.toml", base == "setup.cfg", base == "Cargo.toml", base == "Cargo.lock",
		base == "pom.xml", base == "Makefile", base == "Dockerfile", strings.HasPrefix(base, "."),
		strings.HasSuffix(lower, ".yaml"), strings.HasSuffix(lower, ".yml"), strings.HasSuffix(lower, ".toml"),
		strings.HasSuffix(lower, ".ini"), strings.HasSuffix(lower, ".cfg"), strings.HasSuffix(lower, ".json"):
		return RoleConfig
	default:
		return RoleSource
	}
}

// sortedEntries returns manifest entries for files, sorted by path.
func sortedEntries(files map[string][]byte) []ManifestFileEntry {
	out := make([]ManifestFileEntry, 0, len(files))
	for p, b := range files {
		out = append(out, ManifestFileEntry{Path: p, Role: RoleOf(p), Size: int64(len(b)), SHA256: Digest(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
