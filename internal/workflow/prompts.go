package workflow

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/memory"
)

//go:embed prompts/*.tmpl
var promptFS embed.FS

// PromptVersions names the prompt file used for each role; the manifest
// records them as provenance.
var PromptVersions = map[string]string{
	"decomposer":  "decomposer.v2",
	"coder":       "coder.v2",
	"test_writer": "test_writer.v2",
	"fixer":       "fixer.v4",
	"reviewer":    "reviewer.v2",
}

var prompts = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	// data and dataRule are bound per call by renderPrompt (fence.go);
	// these only declare them for parsing.
	funcs := template.FuncMap{"join": strings.Join, "similarPlan": similarPlan,
		"data": func(label, text string) (string, error) { return "", errUnbound }, "dataRule": func() string { return "" }}
	for role, version := range PromptVersions {
		t := template.Must(template.New(version).Funcs(funcs).ParseFS(promptFS, "prompts/"+version+".tmpl"))
		for _, part := range []string{"system", "user"} {
			if t.Lookup(part) == nil {
				panic(fmt.Sprintf("prompt %s has no %q template", version, part))
			}
		}
		out[role] = t
	}
	return out
}()

// renderPrompt renders a role's system and user messages.
func renderPrompt(role string, data any) ([]llm.Message, error) {
	t, ok := prompts[role]
	if !ok {
		return nil, fmt.Errorf("workflow: no prompt for role %q", role)
	}
	t, err := fenced(t, data)
	if err != nil {
		return nil, fmt.Errorf("workflow: render %s prompt: %w", role, err)
	}
	var sys, user bytes.Buffer
	if err := t.ExecuteTemplate(&sys, "system", data); err != nil {
		return nil, fmt.Errorf("workflow: render %s system prompt: %w", role, err)
	}
	if err := t.ExecuteTemplate(&user, "user", data); err != nil {
		return nil, fmt.Errorf("workflow: render %s user prompt: %w", role, err)
	}
	return []llm.Message{{Role: llm.RoleSystem, Content: sys.String()}, {Role: llm.RoleUser, Content: user.String()}}, nil
}

type decomposerData struct {
	Description  string
	Requirements string
	Language     string
	Framework    string
	MaxTasks     int
	Languages    string
	Similar      []memory.RequestMatch
}

// example is a recalled piece of validated code, as the coder sees it.
type example struct {
	Path, Language, Description, Code string
}

// exampleBudget bounds the bytes of recalled code in one prompt.
const exampleBudget = 16 << 10

func examplesFor(xs []memory.CodeExample) []example {
	left := exampleBudget
	var out []example
	for _, x := range xs {
		if len(x.Code) > left {
			continue
		}
		left -= len(x.Code)
		// What the file was written for, not the earlier request's whole
		// text (paid for in every call, and not this job's request).
		desc := x.Task
		if desc == "" {
			desc = firstLine(x.Description)
		}
		out = append(out, example{Path: x.Path, Language: x.Language, Description: desc, Code: x.Code})
	}
	return out
}

type upstreamOutput struct {
	ID           string
	Summary      string
	Files        []domain.File
	Omitted      int
	OmittedPaths []string
}

type coderData struct {
	Project  Project
	Request  string
	Plan     []PlannedTask
	Upstream []upstreamOutput
	Task     PlannedTask
	Examples []example
	// Tests were written first; the code must pass them.
	Tests []domain.File
}

// fixerData is what the fixer sees: the task as the coder saw it, the
// task's current files, and what is wrong with them.
type fixerData struct {
	coderData
	Current  []domain.File
	Failures string
	Comment  string
	Hints    string
	Attempt  int
	// Capsule: the failures are findings of the capsule's full validation
	// routed to this task.
	Capsule bool
	// TestFiles are the task's test files; TestsFirst says the test
	// writer wrote them before the code.
	TestFiles  []string
	TestsFirst bool
}

// upstreamBudget bounds how many bytes of upstream files go into a prompt;
// beyond it files are named but left out, and the prompt says so.
const upstreamBudget = 96 << 10

// upstreamOutputs formats the outputs of the tasks a task depends on.
func upstreamOutputs(deps []domain.Task) []upstreamOutput {
	left := upstreamBudget
	out := make([]upstreamOutput, 0, len(deps))
	for _, d := range deps {
		u := upstreamOutput{ID: d.ID, Summary: d.Summary}
		for _, f := range d.Files {
			if len(f.Content) > left {
				u.Omitted += len(f.Content)
				u.OmittedPaths = append(u.OmittedPaths, f.Path)
				continue
			}
			left -= len(f.Content)
			u.Files = append(u.Files, f)
		}
		out = append(out, u)
	}
	return out
}
