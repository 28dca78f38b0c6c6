package workflow

import (
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/vocab"
	"github.com/stretchr/testify/require"
)

const goodPlan = `{"project":{"name":"url-shortener","language":"go","commands":{"test":"go test ./..."}},
"tasks":[{"id":"t1","type":"code_generation","description":"store","complexity":"simple","dependencies":[]},
{"id":"t2","type":"code_generation","description":"http","complexity":"medium","dependencies":["t1"]}]}`

func TestParsePlan(t *testing.T) {
	tests := []struct {
		name, answer, lang string
		wantErr            string
	}{
		{"plain json", goodPlan, "", ""},
		{"fenced with prose", "Here is the plan:\n```json\n" + goodPlan + "\n```\nGood luck!", "", ""},
		{"prose around raw json", "Sure! " + goodPlan + " Hope it helps.", "", ""},
		{"language mismatch", goodPlan, "python", `requires "python"`},
		{"language alias", strings.Replace(goodPlan, `"language":"go"`, `"language":"golang"`, 1), "go", ""},
		{"not json", "I cannot do that.", "", "no JSON object"},
		{"truncated json", goodPlan[:80], "", "not valid JSON"},
		{"cycle", `{"project":{"name":"x","language":"go"},"tasks":[{"id":"a","type":"code_generation","description":"a","complexity":"simple","dependencies":["b"]},{"id":"b","type":"code_generation","description":"b","complexity":"simple","dependencies":["a"]}]}`, "", "dependency cycle: a → b → a"},
		{"self dependency", `{"project":{"name":"x","language":"go"},"tasks":[{"id":"a","type":"code_generation","description":"a","complexity":"simple","dependencies":["a"]}]}`, "", "depends on itself"},
		{"unknown dependency", `{"project":{"name":"x","language":"go"},"tasks":[{"id":"a","type":"code_generation","description":"a","complexity":"simple","dependencies":["zz"]}]}`, "", `unknown task "zz"`},
		{"bad enums", `{"project":{"name":"X Y","language":"cobol"},"tasks":[{"id":"A!","type":"magic","description":"","complexity":"huge"}]}`, "", "kebab-case"},
		{"duplicate ids", `{"project":{"name":"x","language":"go"},"tasks":[{"id":"a","type":"code_generation","description":"a","complexity":"simple"},{"id":"a","type":"code_generation","description":"b","complexity":"simple"}]}`, "", "used twice"},
		{"no tasks", `{"project":{"name":"x","language":"go"},"tasks":[]}`, "", "tasks is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePlan(tt.answer, tt.lang, 20)
			if tt.wantErr != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Len(t, p.Tasks, 2)
			require.Equal(t, "go build ./...", p.Project.Commands.Build, "defaults fill missing commands")
			require.Equal(t, "go test ./...", p.Project.Commands.Test)
		})
	}
	_, err := ParsePlan(goodPlan, "", 1)
	require.ErrorContains(t, err, "more than the limit of")
	require.ErrorContains(t, err, "workflow.max_tasks", "the error names the setting to change")
}

func TestDetectLanguageUsesWordBoundaries(t *testing.T) {
	tests := map[string]string{
		"Build a URL shortener in Go with tests":        "go",
		"a golang CLI":                                  "go",
		"implement a sorting algorithm with good tests": "",
		"let users go back to the previous page":        "",
		"a REST API in Python using FastAPI":            "python",
		"a JavaScript todo app":                         "javascript",
		"write unit tests for the parser":               "",
		"a TypeScript library":                          "typescript",
		"a Java service":                                "java",
		"a Node.js server":                              "javascript",
		"a Rust CLI":                                    "rust",
		"a shell script that backs up a directory":      "bash",
		"Trust the process; ensure robustness":          "",
	}
	for text, want := range tests {
		require.Equal(t, want, DetectLanguage(text), text)
	}
}

func TestParseAnswer(t *testing.T) {
	tests := []struct {
		name    string
		answer  string
		paths   []string
		wantErr string
	}{
		{"json", `{"summary":"s","files":[{"path":"main.go","content":"package main\n"}]}`, []string{"main.go"}, ""},
		{"json in fence with prose", "Done.\n```json\n{\"files\":[{\"path\":\"a/b.py\",\"content\":\"x = 1\\n\"}]}\n```", []string{"a/b.py"}, ""},
		{"fenced blocks with info paths", "```go path=main.go\npackage main\n```\n\n```go title=\"store/store.go\"\npackage store\n```", []string{"main.go", "store/store.go"}, ""},
		{"fenced blocks with headings", "### main.go\n```go\npackage main\n```\nFile: go.mod\n```\nmodule x\n```\n```bash\ngo test ./...\n```", []string{"main.go", "go.mod"}, ""},
		{"traversal", `{"files":[{"path":"../../etc/cron.d/x","content":"x"}]}`, nil, "leaves its directory"},
		{"absolute", `{"files":[{"path":"/etc/passwd","content":"x"}]}`, nil, "absolute"},
		{"no files", "I think you should write it yourself.", nil, "contains no files"},
		{"fences inside json content are stripped", `{"files":[{"path":"main.go","content":"` + "```go\\npackage main\\n```" + `"}]}`, []string{"main.go"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAnswer(tt.answer)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			var paths []string
			for _, f := range a.Files {
				paths = append(paths, f.Path)
				require.False(t, strings.Contains(f.Content, "```"), "fence left in %s", f.Path)
			}
			require.Equal(t, tt.paths, paths)
		})
	}
}

func TestEveryLanguageHasDefaultCommands(t *testing.T) {
	for _, l := range vocab.Languages() {
		if _, ok := languageDefaults[l]; !ok {
			t.Errorf("language %q has no default commands in languageDefaults", l)
		}
	}
	if len(languageDefaults) != len(vocab.Languages()) {
		t.Errorf("languageDefaults has %d languages, vocab has %d", len(languageDefaults), len(vocab.Languages()))
	}
}
