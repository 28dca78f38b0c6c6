package planfuzz

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/vocab"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// The plan format's rules, as the decomposer's prompt states them.
var (
	nameRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	taskIDRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	taskTypes = map[string]bool{"code_generation": true, "test_creation": true, "documentation": true, "configuration": true}
)

// FuzzParsePlan feeds arbitrary decomposer answers to ParsePlan. A refused
// plan is a *workflow.PlanError with at least one problem and no plan; an accepted
// one keeps every rule (name, language, task count, unique ids, known
// types and complexities, known dependencies, no cycle, default commands)
// and, re-encoded as JSON, parses back to itself.
func FuzzParsePlan(f *testing.F) {
	ok := `{"project":{"name":"kv-store","language":"go"},"tasks":[` +
		`{"id":"t1","type":"code_generation","description":"store","complexity":"medium","dependencies":[]},` +
		`{"id":"t2","type":"test_creation","description":"tests","complexity":"simple","dependencies":["t1"]}]}`
	for _, s := range []struct {
		text, lang string
		max        int
	}{
		{ok, "go", 10},
		{"Here is the plan:\n```json\n" + ok + "\n```", "", 10},
		{ok, "python", 10}, // the wrong language
		{ok, "", 1},        // too many tasks
		{`{"project":{"name":"x","language":"Go"},"tasks":[{"id":"a","type":"code_generation","description":"d","complexity":"simple","dependencies":["b"]},{"id":"b","type":"code_generation","description":"d","complexity":"simple","dependencies":["a"]}]}`, "", 10},
		{`{"project":{"name":"x","language":"go"},"tasks":[{"id":"a","type":"code_generation","description":"d","complexity":"simple","dependencies":["a"]}]}`, "", 10},
		{`{"project":{"name":"x","language":"go"},"tasks":[{"id":"a","type":"code_generation","description":"d","complexity":"simple"},{"id":"a","type":"code_generation","description":"d","complexity":"simple"}]}`, "", 10},
		{`{"project":{"name":"../../x","language":"go"},"tasks":[{"id":"A B","type":"rm -rf","description":" ","complexity":"huge","dependencies":["nope"]}]}`, "", 10},
		{`{"project":{"name":"x","language":"go"},"tasks":null}`, "", 10},
		{`{"project":[],"tasks":{}}`, "", 10},
		{`{"project":{"name":"x"`, "", 10},
		{"no plan at all", "", 10},
	} {
		f.Add(s.text, s.lang, s.max)
	}
	f.Fuzz(func(t *testing.T, text, want string, maxTasks int) {
		maxTasks = min(max(maxTasks, -1), 64)
		p, err := workflow.ParsePlan(text, want, maxTasks)
		if err != nil {
			var pe *workflow.PlanError
			if !errors.As(err, &pe) || len(pe.Problems) == 0 {
				t.Fatalf("refusal %v is not a PlanError with problems", err)
			}
			if p != nil {
				t.Fatalf("ParsePlan refused the plan (%v) but returned one", err)
			}
			return
		}
		checkPlan(t, p, want, maxTasks)
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		again, err := workflow.ParsePlan(string(b), want, maxTasks)
		if err != nil {
			t.Fatalf("the accepted plan, re-encoded, is refused: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(normalizePlan(p), normalizePlan(again)) {
			t.Fatalf("the accepted plan changed when parsed again:\n%+v\n%+v", p, again)
		}
	})
}

// normalizePlan makes nil and empty slices compare equal.
func normalizePlan(p *workflow.Plan) *workflow.Plan {
	c := *p
	c.Tasks = append([]workflow.PlannedTask{}, p.Tasks...)
	for i := range c.Tasks {
		if len(c.Tasks[i].Dependencies) == 0 {
			c.Tasks[i].Dependencies = nil
		}
		if len(c.Tasks[i].Files) == 0 {
			c.Tasks[i].Files = nil
		}
	}
	if len(c.Project.Dependencies) == 0 {
		c.Project.Dependencies = nil
	}
	return &c
}

func checkPlan(t *testing.T, p *workflow.Plan, want string, maxTasks int) {
	t.Helper()
	if !nameRe.MatchString(p.Project.Name) {
		t.Fatalf("accepted project name %q", p.Project.Name)
	}
	if l, ok := vocab.NormalizeLanguage(p.Project.Language); !ok || l != p.Project.Language {
		t.Fatalf("accepted language %q is not a normalized one", p.Project.Language)
	}
	if want != "" && p.Project.Language != want {
		t.Fatalf("accepted language %q, the request requires %q", p.Project.Language, want)
	}
	if len(p.Tasks) == 0 || len(p.Tasks) > maxTasks {
		t.Fatalf("accepted %d tasks with a limit of %d", len(p.Tasks), maxTasks)
	}
	ids := map[string]bool{}
	for _, task := range p.Tasks {
		if !taskIDRe.MatchString(task.ID) || ids[task.ID] {
			t.Fatalf("accepted task id %q (bad or given twice)", task.ID)
		}
		ids[task.ID] = true
		if !taskTypes[task.Type] || !vocab.ValidComplexity(task.Complexity) || strings.TrimSpace(task.Description) == "" {
			t.Fatalf("accepted task %+v", task)
		}
	}
	// No cycle: Kahn's algorithm, independent of findCycle, takes every task.
	indeg := map[string]int{}
	users := map[string][]string{}
	for _, task := range p.Tasks {
		for _, d := range task.Dependencies {
			if !ids[d] || d == task.ID {
				t.Fatalf("task %s depends on %q", task.ID, d)
			}
			indeg[task.ID]++
			users[d] = append(users[d], task.ID)
		}
	}
	var ready []string
	for _, task := range p.Tasks {
		if indeg[task.ID] == 0 {
			ready = append(ready, task.ID)
		}
	}
	done := 0
	for len(ready) > 0 {
		id := ready[0]
		ready = ready[1:]
		done++
		for _, u := range users[id] {
			if indeg[u]--; indeg[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if done != len(p.Tasks) {
		t.Fatalf("accepted a plan with a dependency cycle: %+v", p.Tasks)
	}
	// Every language has a build or a test command by default.
	if p.Project.Commands.Build == "" && p.Project.Commands.Test == "" {
		t.Fatalf("accepted plan lacks the default commands: %+v", p.Project.Commands)
	}
}
