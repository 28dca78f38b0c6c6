package workflow

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/quantumlayer/qlp/internal/answer"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// Project is the shared context decided once, by decomposition, and given
// to every task: the same language, layout and commands for all.
type Project struct {
	Name         string   `json:"name"`
	Description  string   `json:"description,omitempty"`
	Language     string   `json:"language"`
	Framework    string   `json:"framework,omitempty"`
	Entrypoint   string   `json:"entrypoint,omitempty"`
	Layout       string   `json:"layout,omitempty"`
	Dependencies []string `json:"dependencies,omitempty"`
	Commands     struct {
		Build string `json:"build,omitempty"`
		Test  string `json:"test,omitempty"`
		Run   string `json:"run,omitempty"`
	} `json:"commands"`
}

// PlannedTask is one node of the task graph as the decomposer wrote it.
type PlannedTask struct {
	ID           string   `json:"id"`
	Type         string   `json:"type"`
	Description  string   `json:"description"`
	Complexity   string   `json:"complexity"`
	Dependencies []string `json:"dependencies"`
	Files        []string `json:"files,omitempty"`
}

// Plan is the decomposer's answer.
type Plan struct {
	Project Project       `json:"project"`
	Tasks   []PlannedTask `json:"tasks"`
}

// Languages QLP generates, with their default commands.
var languageDefaults = map[string]struct{ build, test, run string }{
	"go":         {"go build ./...", "go test ./...", "go run ."},
	"python":     {"python3 -m compileall -q .", "python3 -m pytest -q", "python3 main.py"},
	"javascript": {"", "node --test", "node index.js"},
	"typescript": {"tsc --noEmit", "node --test", "node dist/index.js"},
	"java":       {"javac -d build $(find . -name '*.java')", "", "java -cp build Main"},
	"rust":       {"cargo build --offline", "cargo test --offline", "cargo run --offline"},
	"bash":       {"bash -n main.sh", "", "bash main.sh"},
}

var (
	taskTypes = map[string]bool{"code_generation": true, "test_creation": true, "documentation": true, "configuration": true}
	taskIDRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	nameRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// PlanError lists everything wrong with a plan, for the re-ask prompt and
// for the job's failure reason.
type PlanError struct{ Problems []string }

func (e *PlanError) Error() string {
	return "invalid task graph: " + strings.Join(e.Problems, "; ")
}

// ParsePlan reads the decomposer's answer and checks it: JSON shape, ids,
// enums, references, cycles and the requested language. maxTasks bounds the
// graph.
func ParsePlan(answerText, wantLanguage string, maxTasks int) (*Plan, error) {
	raw, err := answer.JSONObject(answerText)
	if err != nil {
		return nil, &PlanError{Problems: []string{err.Error()}}
	}
	var p Plan
	dec := json.NewDecoder(strings.NewReader(raw))
	if err := dec.Decode(&p); err != nil {
		return nil, &PlanError{Problems: []string{"the answer does not match the schema: " + err.Error()}}
	}
	var probs []string
	add := func(f string, a ...any) { probs = append(probs, fmt.Sprintf(f, a...)) }

	p.Project.Name = strings.TrimSpace(p.Project.Name)
	lang, langOK := vocab.NormalizeLanguage(p.Project.Language)
	p.Project.Language = lang
	if !nameRe.MatchString(p.Project.Name) {
		add("project.name %q must be lower-case kebab-case (a-z, 0-9, -)", p.Project.Name)
	}
	if !langOK {
		add("project.language %q is not one of %s", p.Project.Language, strings.Join(vocab.Languages(), ", "))
	}
	if wantLanguage != "" && p.Project.Language != wantLanguage {
		add("project.language is %q but the request requires %q", p.Project.Language, wantLanguage)
	}
	if len(p.Tasks) == 0 {
		add("tasks is empty")
	}
	if len(p.Tasks) > maxTasks {
		add("%d tasks, more than the limit of %d (workflow.max_tasks, QLP_WORKFLOW_MAX_TASKS): merge related work", len(p.Tasks), maxTasks)
	}
	ids := map[string]bool{}
	for i, t := range p.Tasks {
		switch {
		case !taskIDRe.MatchString(t.ID):
			add("tasks[%d].id %q must match %s", i, t.ID, taskIDRe)
		case ids[t.ID]:
			add("tasks[%d].id %q is used twice", i, t.ID)
		}
		ids[t.ID] = true
		if strings.TrimSpace(t.Description) == "" {
			add("task %s has no description", t.ID)
		}
		p.Tasks[i].Complexity = strings.ToLower(strings.TrimSpace(t.Complexity))
		if !vocab.ValidComplexity(p.Tasks[i].Complexity) {
			add("task %s complexity %q is not one of %s", t.ID, t.Complexity, strings.Join(vocab.Complexities(), ", "))
		}
		p.Tasks[i].Type = strings.ToLower(strings.TrimSpace(t.Type))
		if !taskTypes[p.Tasks[i].Type] {
			add("task %s type %q is not code_generation, test_creation, documentation or configuration", t.ID, t.Type)
		}
	}
	for _, t := range p.Tasks {
		for _, d := range t.Dependencies {
			switch {
			case d == t.ID:
				add("task %s depends on itself", t.ID)
			case !ids[d]:
				add("task %s depends on unknown task %q", t.ID, d)
			}
		}
	}
	if len(probs) == 0 {
		if cycle := findCycle(p.Tasks); cycle != nil {
			add("dependency cycle: %s", strings.Join(cycle, " → "))
		}
	}
	if len(probs) > 0 {
		return nil, &PlanError{Problems: probs}
	}
	d := languageDefaults[p.Project.Language]
	if p.Project.Commands.Build == "" {
		p.Project.Commands.Build = d.build
	}
	if p.Project.Commands.Test == "" {
		p.Project.Commands.Test = d.test
	}
	if p.Project.Commands.Run == "" {
		p.Project.Commands.Run = d.run
	}
	return &p, nil
}

// findCycle returns the ids along a dependency cycle, or nil.
func findCycle(tasks []PlannedTask) []string {
	deps := map[string][]string{}
	for _, t := range tasks {
		deps[t.ID] = t.Dependencies
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(id string) []string
	visit = func(id string) []string {
		color[id] = grey
		stack = append(stack, id)
		for _, d := range deps[id] {
			switch color[d] {
			case grey:
				for i, s := range stack {
					if s == d {
						return append(append([]string(nil), stack[i:]...), d)
					}
				}
			case white:
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
		return nil
	}
	for _, t := range tasks {
		if color[t.ID] == white {
			if c := visit(t.ID); c != nil {
				return c
			}
		}
	}
	return nil
}

// DetectLanguage finds a programming language named in a request, using
// word boundaries and code context: "algorithm" is not Go, "tests" is not
// TypeScript, "javascript" is not Java, and "go back" is not Go.
func DetectLanguage(text string) string {
	t := strings.ToLower(text)
	for _, c := range languagePatterns {
		if c.re.MatchString(t) {
			return c.lang
		}
	}
	return ""
}

var languagePatterns = []struct {
	lang string
	re   *regexp.Regexp
}{
	{"typescript", regexp.MustCompile(`\btypescript\b|\bts\b(?:\s+(?:project|service|server|app|library|module|code))|\.ts\b|\btsc\b`)},
	{"javascript", regexp.MustCompile(`\bjavascript\b|\bnode(?:\.js|js)?\b|\.js\b|\bjs\b`)},
	{"python", regexp.MustCompile(`\bpython3?\b|\bpytest\b|\bflask\b|\bdjango\b|\bfastapi\b|\.py\b`)},
	{"go", regexp.MustCompile(`\bgolang\b|\b(?:in|using|with|written in|idiomatic) go\b|\bgo (?:service|server|program|cli|module|package|api|binary|library|microservice|app|application|code)\b|\bgo\.mod\b`)},
	{"rust", regexp.MustCompile(`\brust\b|\bcargo\b`)},
	{"java", regexp.MustCompile(`\bjava\b|\bspring boot\b|\bmaven\b`)},
	{"bash", regexp.MustCompile(`\bbash\b|\bshell script\b`)},
}
