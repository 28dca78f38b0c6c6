// Package contracttest checks answers of the orchestrator API against the
// contracts of the earlier QLP's clients (its Python and JavaScript SDKs and
// its CLI), recorded as JSON fixtures in
// internal/orchestrator/testdata/earlier-clients: the request each client
// sends, and what it needs of the answer to keep working (the keys it
// requires or tolerates, their types, the words it compares). The fixtures
// were written by reading those clients; each one names the function it
// records.
package contracttest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Dir is the fixtures' directory, relative to internal/orchestrator.
const Dir = "testdata/earlier-clients"

// Fixture is one call of an earlier client.
type Fixture struct {
	Name string `json:"-"` // file name without .json
	// Client names the client and the function this call comes from.
	Client string `json:"client"`
	// Reads says what the client does with the answer.
	Reads string `json:"reads"`
	// Engine: the call starts or cancels a job, so it needs the workflow
	// engine (checked end to end, internal/e2e).
	Engine  bool     `json:"engine,omitempty"`
	Request Request  `json:"request"`
	Answer  Contract `json:"response"`
	// States lists the job states the call is checked in, each with the
	// values the answer must then have (field path → JSON value, or
	// "type:T" for any value of type T). A call without states is checked
	// end to end, against a job it starts or cancels itself.
	States map[string]map[string]any `json:"states,omitempty"`
}

// Request is what the client sends. Path holds placeholders
// ({workflow_id}, {request_id}, {capsule_id}) filled in by the test.
type Request struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// Contract is what the client needs of the answer.
type Contract struct {
	Status int `json:"status"`
	// Exact: the answer's top-level keys must all be in Fields (the
	// Python SDK builds dataclasses from it: an unknown key raises).
	Exact bool `json:"exact,omitempty"`
	// Fields maps a dotted path to a type: string, number, boolean,
	// object, array, array<string>, isotime (what Python 3.8's
	// datetime.fromisoformat parses), enum:A,B,C, any; "|null" allows
	// null, a trailing "?" allows the key to be absent.
	Fields map[string]string `json:"fields,omitempty"`
	// Binary answers: the Content-Type prefix and the first bytes (hex).
	ContentType string `json:"content_type,omitempty"`
	Magic       string `json:"magic,omitempty"`
}

// Load reads every fixture in dir.
func Load(t testing.TB, dir string) []Fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no fixtures in %s", dir)
	var out []Fixture
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		require.NoError(t, err)
		var f Fixture
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&f), p)
		f.Name = strings.TrimSuffix(filepath.Base(p), ".json")
		require.NotEmpty(t, f.Client, p)
		require.NotEmpty(t, f.Request.Method, p)
		out = append(out, f)
	}
	return out
}

// Path fills the request path's placeholders.
func (f Fixture) Path(vars map[string]string) string {
	p := f.Request.Path
	for k, v := range vars {
		p = strings.ReplaceAll(p, "{"+k+"}", v)
	}
	return p
}

// Check checks an answer against the fixture's contract and, when state
// is not empty, the values that state requires.
func (f Fixture) Check(t testing.TB, state string, status int, contentType string, body []byte) {
	t.Helper()
	c := f.Answer
	require.Equal(t, c.Status, status, "%s: %s", f.Name, body)
	if c.Magic != "" {
		require.True(t, strings.HasPrefix(contentType, c.ContentType), "%s: content type %q", f.Name, contentType)
		magic, err := hex.DecodeString(c.Magic)
		require.NoError(t, err)
		require.True(t, bytes.HasPrefix(body, magic), "%s: the answer does not start with %s", f.Name, c.Magic)
		return
	}
	var doc map[string]any
	require.NoError(t, json.Unmarshal(body, &doc), "%s: %s", f.Name, body)
	if c.Exact {
		allowed := map[string]bool{}
		for p := range c.Fields {
			allowed[strings.SplitN(p, ".", 2)[0]] = true
		}
		var extra []string
		for k := range doc {
			if !allowed[k] {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
		require.Empty(t, extra, "%s (%s): keys the client does not accept: %s", f.Name, f.Client, body)
	}
	paths := make([]string, 0, len(c.Fields))
	for p := range c.Fields {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := checkField(doc, p, c.Fields[p]); err != nil {
			require.Fail(t, fmt.Sprintf("%s (%s): %s: %v", f.Name, f.Client, p, err), string(body))
		}
	}
	if state == "" {
		return
	}
	want, ok := f.States[state]
	require.True(t, ok, "%s: no expectations for state %s", f.Name, state)
	for p, v := range want {
		got, found := lookup(doc, p)
		require.True(t, found, "%s, %s job: %s is missing: %s", f.Name, state, p, body)
		if typ, ok := v.(string); ok && strings.HasPrefix(typ, "type:") {
			require.NoError(t, checkType(got, strings.TrimPrefix(typ, "type:")), "%s, %s job: %s", f.Name, state, p)
			continue
		}
		require.Equal(t, v, got, "%s, %s job: %s", f.Name, state, p)
	}
}

// isoTime is what datetime.fromisoformat accepts on Python 3.8 to 3.10
// (the earlier SDK supports >= 3.8): no "Z", at most microseconds.
var isoTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?([+-]\d{2}:\d{2})?$`)

func lookup(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func checkField(doc map[string]any, path, spec string) error {
	optional := strings.HasSuffix(spec, "?")
	spec = strings.TrimSuffix(spec, "?")
	nullable := strings.HasSuffix(spec, "|null")
	spec = strings.TrimSuffix(spec, "|null")
	v, ok := lookup(doc, path)
	switch {
	case !ok && optional:
		return nil
	case !ok:
		return fmt.Errorf("missing")
	case v == nil && nullable:
		return nil
	case v == nil:
		return fmt.Errorf("is null")
	}
	return checkType(v, spec)
}

func checkType(v any, spec string) error {
	bad := func() error { return fmt.Errorf("%v (%T) is not %s", v, v, spec) }
	switch {
	case spec == "any":
		return nil
	case spec == "string":
		if _, ok := v.(string); !ok {
			return bad()
		}
	case spec == "number":
		if _, ok := v.(float64); !ok {
			return bad()
		}
	case spec == "boolean":
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case spec == "object":
		if _, ok := v.(map[string]any); !ok {
			return bad()
		}
	case spec == "array":
		if _, ok := v.([]any); !ok {
			return bad()
		}
	case spec == "array<string>":
		a, ok := v.([]any)
		if !ok {
			return bad()
		}
		for _, e := range a {
			if _, ok := e.(string); !ok {
				return bad()
			}
		}
	case spec == "isotime":
		s, ok := v.(string)
		if !ok || !isoTime.MatchString(s) {
			return fmt.Errorf("%v is not a time Python 3.8's datetime.fromisoformat parses", v)
		}
	case strings.HasPrefix(spec, "enum:"):
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		for _, w := range strings.Split(strings.TrimPrefix(spec, "enum:"), ",") {
			if s == w {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of the words the client knows (%s)", s, strings.TrimPrefix(spec, "enum:"))
	default:
		return fmt.Errorf("unknown type %q in the fixture", spec)
	}
	return nil
}
