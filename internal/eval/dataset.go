// Package eval measures the platform on a dataset of tasks, as a grader
// would: every task's request goes through the API as a job; the capsule
// it produces gets the task's hidden tests added and is tested again in the
// sandbox (the Validation Mesh's tests). The result — pass@1, attempts,
// tokens, dollars per solved task, wall time and failure reasons — names
// the dataset by its digest, so that runs on the same dataset compare.
// The format is docs/eval.md.
package eval

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// Task is one line of a dataset.
type Task struct {
	// ID names the task in the results; unique in the dataset.
	ID string `json:"id"`
	// Language is the project's language (the job's constraint).
	Language string `json:"language"`
	// Request is what the platform is asked to build.
	Request string `json:"request"`
	// HiddenTests are files (path → content) added to the capsule after
	// generation, replacing any file of the same path; the job never
	// sees them.
	HiddenTests map[string]string `json:"hidden_tests"`
	// Reference is a known solution (path → content), optional: what a
	// dataset's author checked the hidden tests against. QLP never
	// sends it to the model.
	Reference map[string]string `json:"reference,omitempty"`
	// TestCommand overrides the capsule's own test command for grading
	// (e.g. "python3 -m pytest -q test_hidden.py"); empty uses the
	// capsule's, else the language's default runner.
	TestCommand string `json:"test_command,omitempty"`
}

// Dataset is a parsed dataset.
type Dataset struct {
	Name string `json:"name,omitempty"`
	// Digest is the hex SHA-256 of the dataset's bytes: two results
	// with the same digest ran the same tasks and the same hidden tests.
	Digest string `json:"digest"`
	Tasks  []Task `json:"-"`
}

// MaxTasks bounds one evaluation.
const MaxTasks = 500

// Parse reads a JSONL dataset: one task per line, blank lines and lines
// starting with # ignored.
func Parse(name string, data []byte) (*Dataset, error) {
	sum := sha256.Sum256(data)
	ds := &Dataset{Name: name, Digest: hex.EncodeToString(sum[:])}
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		var t Task
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&t); err != nil {
			return nil, fmt.Errorf("dataset line %d: %w", line, err)
		}
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("dataset line %d (%s): %w", line, t.ID, err)
		}
		if first, dup := seen[t.ID]; dup {
			return nil, fmt.Errorf("dataset line %d: id %q is also on line %d", line, t.ID, first)
		}
		seen[t.ID] = line
		ds.Tasks = append(ds.Tasks, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dataset line %d: %w", line+1, err)
	}
	switch {
	case len(ds.Tasks) == 0:
		return nil, fmt.Errorf("dataset %s holds no task", name)
	case len(ds.Tasks) > MaxTasks:
		return nil, fmt.Errorf("dataset %s holds %d tasks; at most %d run at once: split it", name, len(ds.Tasks), MaxTasks)
	}
	return ds, nil
}

func (t *Task) check() error {
	switch {
	case t.ID == "":
		return fmt.Errorf("id is empty")
	case t.Request == "":
		return fmt.Errorf("request is empty")
	case len(t.HiddenTests) == 0:
		return fmt.Errorf("hidden_tests is empty: a task needs the tests that grade it")
	}
	lang, ok := vocab.NormalizeLanguage(t.Language)
	if !ok {
		return fmt.Errorf("language %q: want one of %v", t.Language, vocab.Languages())
	}
	t.Language = lang
	for _, p := range sortedKeys(t.HiddenTests) {
		if err := capsule.CheckPath(p); err != nil {
			return fmt.Errorf("hidden_tests: %w", err)
		}
	}
	for _, p := range sortedKeys(t.Reference) {
		if err := capsule.CheckPath(p); err != nil {
			return fmt.Errorf("reference: %w", err)
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
