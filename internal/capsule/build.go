package capsule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/template"
)

// Report is validation-report.json. The field names of the earlier QLP
// (overall_status, checks, confidence_score, requires_human_review) are kept.
type Report struct {
	OverallStatus       string          `json:"overall_status"` // passed|warning|failed|not_validated
	ConfidenceScore     *float64        `json:"confidence_score"`
	RequiresHumanReview bool            `json:"requires_human_review"`
	ReviewReasons       []string        `json:"review_reasons,omitempty"`
	Summary             string          `json:"summary"`
	Checks              json.RawMessage `json:"checks"`
	Scoring             json.RawMessage `json:"scoring,omitempty"`
	Tests               json.RawMessage `json:"tests,omitempty"`
}

// NotValidated is the honest report of a capsule no tool has checked.
func NotValidated(reason string) Report {
	return Report{
		OverallStatus:       "not_validated",
		RequiresHumanReview: true,
		Summary:             "not validated: " + reason,
		Checks:              json.RawMessage("[]"),
	}
}

// Input is everything a capsule is built from.
type Input struct {
	ID            string
	Version       int
	ParentVersion int
	Name          string
	Description   string
	Request       string
	RequestID     string
	Language      string
	Framework     string
	Entrypoint    string
	Commands      Commands
	Dependencies  []string
	Files         map[string][]byte // project files, paths already checked
	Generator     Generator
	Cost          Cost
	Report        Report
	ReusedFrom    string
	Warnings      []string
	CreatedAt     string // RFC 3339, UTC, second precision
}

// Capsule is a built capsule: every file, the manifest included.
type Capsule struct {
	Manifest     Manifest
	ManifestJSON []byte
	Files        map[string][]byte // includes README.md, validation-report.json, the SBOM, the provenance and qlp-manifest.json
}

// Build assembles the capsule and signs its manifest with s.
func Build(in Input, s *Signer) (*Capsule, error) {
	if in.ID == "" || in.Name == "" || in.CreatedAt == "" {
		return nil, fmt.Errorf("capsule: id, name and created_at are required")
	}
	if len(in.Files) == 0 {
		return nil, fmt.Errorf("capsule: no project files")
	}
	files := make(map[string][]byte, len(in.Files)+5)
	var total int64
	for p, b := range in.Files {
		if p == ReadmeFile {
			continue // added below
		}
		if OwnFile(p) {
			return nil, fmt.Errorf("capsule: path %q is reserved for QLP", p)
		}
		if err := CheckPath(p); err != nil {
			return nil, fmt.Errorf("capsule: %w", err)
		}
		if len(b) > MaxFileBytes {
			return nil, fmt.Errorf("capsule: file %s is %d bytes, over the %d limit", p, len(b), MaxFileBytes)
		}
		total += int64(len(b))
		files[p] = b
	}
	if len(files) > MaxFiles {
		return nil, fmt.Errorf("capsule: %d files, over the %d limit", len(files), MaxFiles)
	}
	if total > MaxTotal {
		return nil, fmt.Errorf("capsule: %d bytes of files, over the %d limit", total, MaxTotal)
	}
	report, err := json.MarshalIndent(in.Report, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("capsule: encode report: %w", err)
	}
	files[ReportFile] = append(report, '\n')
	sbom, err := BuildSBOM(in, in.Generator.QLPVersion)
	if err != nil {
		return nil, err
	}
	files[SBOMFile] = sbom

	m := Manifest{
		SchemaVersion: SchemaVersion, ID: in.ID, Version: in.Version, ParentVersion: in.ParentVersion,
		Name: in.Name, Description: in.Description, Request: in.Request, RequestID: in.RequestID,
		Languages: []string{in.Language}, Framework: in.Framework, Entrypoint: in.Entrypoint,
		Commands: in.Commands, Dependencies: nonNil(in.Dependencies), Generator: in.Generator, Cost: in.Cost,
		Validation: ValidationSummary{Status: in.Report.OverallStatus, ConfidenceScore: in.Report.ConfidenceScore,
			RequiresHumanReview: in.Report.RequiresHumanReview, Summary: in.Report.Summary},
		ReusedFrom: in.ReusedFrom, Warnings: in.Warnings, CreatedAt: in.CreatedAt,
	}
	if in.Language == "" {
		m.Languages = []string{}
	}
	readme, err := renderReadme(m, in.Files[ReadmeFile])
	if err != nil {
		return nil, err
	}
	files[ReadmeFile] = readme
	// The provenance's subjects are every output file; the manifest then
	// lists the provenance too, and its signature covers all of them.
	stmt, err := buildStatement(in, files)
	if err != nil {
		return nil, err
	}
	env, err := json.MarshalIndent(s.SignEnvelope(PayloadType, stmt), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("capsule: encode provenance: %w", err)
	}
	files[ProvenanceFile] = append(env, '\n')
	m.Attestations = &Attestations{SBOM: SBOMFile, SBOMSpec: "CycloneDX " + SBOMSpecVersion, Provenance: ProvenanceFile}
	m.Files = sortedEntries(files)
	mj, err := s.Sign(&m)
	if err != nil {
		return nil, err
	}
	files[ManifestFile] = mj
	return &Capsule{Manifest: m, ManifestJSON: mj, Files: files}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

var readmeTmpl = template.Must(template.New("readme").Parse(`{{if not .Own}}# {{.M.Name}}

{{.M.Description}}
{{else}}{{.Own}}
{{end}}
## QLP capsule

This project was generated by QLP from the request:

> {{.Request}}

| | |
|---|---|
| Capsule | ` + "`{{.M.ID}}`" + ` version {{.M.Version}} |
| Language | {{.Lang}}{{if .M.Framework}} ({{.M.Framework}}){{end}} |
| Validation | **{{.M.Validation.Status}}** — {{.M.Validation.Summary}} |
| Model cost | ${{.M.Cost.USD}} ({{.M.Cost.Calls}} calls, {{.M.Cost.InputTokens}} tokens in, {{.M.Cost.OutputTokens}} out) |
{{- if .M.ReusedFrom}}
| Reused from | ` + "`{{.M.ReusedFrom}}`" + ` |
{{- end}}
{{- if .M.Generator.Scripted}}
| Generator | scripted cassette: no model ran |
{{- end}}

### Build, run and test
{{if .M.Commands.Build}}
Build:

    {{.M.Commands.Build}}
{{end}}{{if .M.Commands.Test}}
Test:

    {{.M.Commands.Test}}
{{end}}{{if .M.Commands.Run}}
Run:

    {{.M.Commands.Run}}
{{end}}
` + "`qlp-manifest.json`" + ` lists every file with its SHA-256 and is signed; check it with
` + "`qlp capsule verify <archive>`" + `. ` + "`validation-report.json`" + ` holds the validation evidence,
` + "`qlp-sbom.cdx.json`" + ` the dependencies (CycloneDX SBOM) and ` + "`qlp-provenance.intoto.json`" + ` the signed
provenance (in-toto, SLSA); ` + "`qlp capsule retest <archive>`" + ` validates the capsule again.
`))

// renderReadme writes QLP's README, or appends QLP's section to the one the
// project brought.
func renderReadme(m Manifest, own []byte) ([]byte, error) {
	var buf bytes.Buffer
	lang := strings.Join(m.Languages, ", ")
	if lang == "" {
		lang = "unspecified"
	}
	req := strings.ReplaceAll(strings.TrimSpace(m.Request), "\n", "\n> ")
	err := readmeTmpl.Execute(&buf, map[string]any{"M": m, "Own": strings.TrimRight(string(own), "\n"), "Lang": lang, "Request": req})
	if err != nil {
		return nil, fmt.Errorf("capsule: render README: %w", err)
	}
	return buf.Bytes(), nil
}
