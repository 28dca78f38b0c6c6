package capsule

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ProvenanceFile is the capsule's signed provenance: a DSSE envelope whose
// payload is an in-toto Statement v1 with an SLSA provenance v1 predicate.
const ProvenanceFile = "qlp-provenance.intoto.json"

// Provenance constants.
const (
	// PayloadType is the DSSE payload type of an in-toto statement.
	PayloadType = "application/vnd.in-toto+json"
	// SLSAProvenanceV1 is the predicate type.
	SLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
	// BuildType names how QLP builds a capsule (documented in docs/capsule.md).
	BuildType = "https://github.com/quantumlayer/qlp/blob/main/docs/capsule.md#provenance"
	// BuilderID names the builder.
	BuilderID = "https://github.com/quantumlayer/qlp"
)

// Attestations names the capsule's SBOM and provenance files in the
// manifest. A capsule made before QLP wrote them has none.
type Attestations struct {
	SBOM       string `json:"sbom"`       // CycloneDX JSON
	SBOMSpec   string `json:"sbom_spec"`  // "CycloneDX 1.6"
	Provenance string `json:"provenance"` // DSSE envelope of an in-toto statement
}

// Envelope is a DSSE envelope
// (https://github.com/secure-systems-lab/dsse/blob/master/envelope.md).
type Envelope struct {
	PayloadType string              `json:"payloadType"`
	Payload     string              `json:"payload"` // base64
	Signatures  []EnvelopeSignature `json:"signatures"`
}

// EnvelopeSignature is one signature of an envelope.
type EnvelopeSignature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"` // base64 ed25519 signature over PAE(payloadType, payload)
}

// PAE is DSSE's pre-authentication encoding: what a signature covers.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "DSSEv1 %d %s %d ", len(payloadType), payloadType, len(payload))
	b.Write(payload)
	return b.Bytes()
}

// SignEnvelope signs payload into a DSSE envelope with the capsule key.
func (s *Signer) SignEnvelope(payloadType string, payload []byte) Envelope {
	return Envelope{PayloadType: payloadType, Payload: base64.StdEncoding.EncodeToString(payload),
		Signatures: []EnvelopeSignature{{KeyID: KeyID(s.PublicKey()), Sig: base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, PAE(payloadType, payload)))}}}
}

// OpenEnvelope checks that env carries a valid signature by pub and
// returns its payload.
func OpenEnvelope(env Envelope, pub ed25519.PublicKey) ([]byte, error) {
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("envelope payload is not base64: %w", err)
	}
	if len(env.Signatures) == 0 {
		return nil, errors.New("envelope has no signature")
	}
	pae := PAE(env.PayloadType, payload)
	for _, sig := range env.Signatures {
		v, err := base64.StdEncoding.DecodeString(sig.Sig)
		if err == nil && ed25519.Verify(pub, pae, v) {
			return payload, nil
		}
	}
	return nil, fmt.Errorf("no signature of the envelope is by key %s", KeyID(pub))
}

// validationTool is what provenance records of one check of the report.
type validationTool struct {
	Check   string `json:"check"`
	Tool    string `json:"tool"`
	Version string `json:"version"`
	Status  string `json:"status"`
}

// buildStatement is the in-toto statement of a capsule: every output file
// (all but the manifest and the provenance itself) as a subject.
func buildStatement(in Input, files map[string][]byte) ([]byte, error) {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	subjects := make([]*intoto.ResourceDescriptor, 0, len(paths))
	for _, p := range paths {
		subjects = append(subjects, &intoto.ResourceDescriptor{Name: p, Digest: map[string]string{"sha256": Digest(files[p])}})
	}
	var checks []struct {
		Name        string `json:"name"`
		Tool        string `json:"tool"`
		ToolVersion string `json:"tool_version"`
		Status      string `json:"status"`
	}
	if len(in.Report.Checks) > 0 {
		if err := json.Unmarshal(in.Report.Checks, &checks); err != nil {
			return nil, fmt.Errorf("capsule: provenance: read the report's checks: %w", err)
		}
	}
	tools := make([]validationTool, 0, len(checks))
	for _, c := range checks {
		tools = append(tools, validationTool{Check: c.Name, Tool: c.Tool, Version: c.ToolVersion, Status: c.Status})
	}
	external, err := toStruct(map[string]any{
		"request_id":     in.RequestID,
		"request_sha256": Digest([]byte(in.Request)),
		"language":       in.Language,
		"framework":      in.Framework,
		"commands":       in.Commands,
	})
	if err != nil {
		return nil, err
	}
	internal, err := toStruct(map[string]any{
		"provider":        in.Generator.Provider,
		"models":          in.Generator.Models,
		"prompt_versions": in.Generator.PromptVersions,
		"scripted":        in.Generator.Scripted,
		"reused_from":     in.ReusedFrom,
		"validation": map[string]any{
			"status": in.Report.OverallStatus,
			"tools":  tools,
		},
	})
	if err != nil {
		return nil, err
	}
	created, err := time.Parse(time.RFC3339, in.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("capsule: created_at %q: %w", in.CreatedAt, err)
	}
	pred := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType: BuildType, ExternalParameters: external, InternalParameters: internal,
			ResolvedDependencies: []*intoto.ResourceDescriptor{{Name: "request", Digest: map[string]string{"sha256": Digest([]byte(in.Request))}}},
		},
		RunDetails: &slsa.RunDetails{
			Builder:  &slsa.Builder{Id: BuilderID, Version: map[string]string{"qlp": in.Generator.QLPVersion}},
			Metadata: &slsa.BuildMetadata{InvocationId: in.ID + "@v" + strconv.Itoa(in.Version), FinishedOn: timestamppb.New(created)},
		},
	}
	if err := pred.Validate(); err != nil {
		return nil, fmt.Errorf("capsule: provenance predicate: %w", err)
	}
	predJSON, err := protojson.Marshal(pred)
	if err != nil {
		return nil, err
	}
	predStruct := &structpb.Struct{}
	if err := protojson.Unmarshal(predJSON, predStruct); err != nil {
		return nil, err
	}
	st := &intoto.Statement{Type: intoto.StatementTypeUri, Subject: subjects, PredicateType: SLSAProvenanceV1, Predicate: predStruct}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("capsule: provenance statement: %w", err)
	}
	raw, err := protojson.Marshal(st)
	if err != nil {
		return nil, err
	}
	// protojson varies its whitespace on purpose; compacting makes the
	// payload the same bytes for the same capsule.
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func toStruct(v any) (*structpb.Struct, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(b, s); err != nil {
		return nil, err
	}
	return s, nil
}

// VerifyProvenance checks a capsule's provenance against its files: the
// envelope is signed by pub, its statement is an in-toto v1 statement with
// an SLSA v1 predicate, and its subjects are exactly the capsule's files
// (all but the manifest and the provenance) with their SHA-256. It returns
// every problem found; none means the provenance holds.
func VerifyProvenance(files map[string][]byte, pub ed25519.PublicKey) (*intoto.Statement, []string) {
	raw, ok := files[ProvenanceFile]
	if !ok {
		return nil, []string{ProvenanceFile + ": missing"}
	}
	var env Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, []string{fmt.Sprintf("%s: not a DSSE envelope: %v", ProvenanceFile, err)}
	}
	if env.PayloadType != PayloadType {
		return nil, []string{fmt.Sprintf("%s: payload type %q, want %q", ProvenanceFile, env.PayloadType, PayloadType)}
	}
	payload, err := OpenEnvelope(env, pub)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: %v", ProvenanceFile, err)}
	}
	st := &intoto.Statement{}
	if err := protojson.Unmarshal(payload, st); err != nil {
		return nil, []string{fmt.Sprintf("%s: statement: %v", ProvenanceFile, err)}
	}
	if err := st.Validate(); err != nil {
		return nil, []string{fmt.Sprintf("%s: statement: %v", ProvenanceFile, err)}
	}
	if st.GetType() != intoto.StatementTypeUri || st.GetPredicateType() != SLSAProvenanceV1 {
		return nil, []string{fmt.Sprintf("%s: statement %s with predicate %s, want %s with %s", ProvenanceFile, st.GetType(), st.GetPredicateType(), intoto.StatementTypeUri, SLSAProvenanceV1)}
	}
	predJSON, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: predicate: %v", ProvenanceFile, err)}
	}
	pred := &slsa.Provenance{}
	if err := protojson.Unmarshal(predJSON, pred); err != nil {
		return nil, []string{fmt.Sprintf("%s: predicate is not SLSA provenance v1: %v", ProvenanceFile, err)}
	}
	if err := pred.Validate(); err != nil {
		return nil, []string{fmt.Sprintf("%s: predicate: %v", ProvenanceFile, err)}
	}
	var problems []string
	seen := map[string]bool{}
	for _, s := range st.GetSubject() {
		seen[s.GetName()] = true
		b, ok := files[s.GetName()]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: subject %s is not in the capsule", ProvenanceFile, s.GetName()))
		case s.GetDigest()["sha256"] != Digest(b):
			problems = append(problems, fmt.Sprintf("%s: SHA-256 %s, provenance says %s", s.GetName(), Digest(b), s.GetDigest()["sha256"]))
		}
	}
	for _, p := range sortedKeys(files) {
		if p != ManifestFile && p != ProvenanceFile && !seen[p] {
			problems = append(problems, fmt.Sprintf("%s: in the capsule but not a subject of the provenance", p))
		}
	}
	return st, problems
}
