package answer_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/answer"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		files   map[string]string // path → content
		summary string
		err     string
	}{
		{name: "the JSON object asked for",
			text:    `{"summary":" a store ","files":[{"path":"store.go","content":"package store\n"}]}`,
			files:   map[string]string{"store.go": "package store\n"},
			summary: "a store"},
		{name: "JSON wrapped in prose and a fence",
			text:    "Here is the code you asked for:\n\n```json\n{\"summary\":\"s\",\"files\":[{\"path\":\"a.py\",\"content\":\"x = 1\\n\"}]}\n```\n\nLet me know!",
			files:   map[string]string{"a.py": "x = 1\n"},
			summary: "s"},
		{name: "JSON after prose, without a fence",
			text:  `Sure. {"files":[{"path":"a.py","content":"x = 1\n"}]} Hope it helps.`,
			files: map[string]string{"a.py": "x = 1\n"}},
		{name: "a fence left around a file's content inside JSON",
			text:  `{"files":[{"path":"main.go","content":"` + "```go\\npackage main\\n```" + `"}]}`,
			files: map[string]string{"main.go": "package main\n"}},
		{name: "fenced blocks with the path in the info string",
			text:  "```go path=cmd/main.go\npackage main\n```\n\n```python title=\"app.py\"\nprint(1)\n```",
			files: map[string]string{"cmd/main.go": "package main\n", "app.py": "print(1)\n"}},
		{name: "fenced blocks announced on the line before",
			text:  "Two files.\n\nFile: store.go\n```go\npackage store\n```\n\n### `store_test.go`\n```go\npackage store_test\n```\n\n**Makefile**\n```\nall:\n```\n\nRun it with:\n```sh\ngo test ./...\n```",
			files: map[string]string{"store.go": "package store\n", "store_test.go": "package store_test\n", "Makefile": "all:\n"}},
		{name: "a later version of a file wins",
			text:  `{"files":[{"path":"./a.py","content":"x = 1\n"},{"path":"a.py","content":"x = 2\n"}]}`,
			files: map[string]string{"a.py": "x = 2\n"}},
		{name: "no files", text: "I would write a store with a map.", err: "contains no files"},
		{name: "only a shell snippet", text: "Run:\n```sh\ngo test ./...\n```", err: "contains no files"},
		{name: "path outside the project", text: `{"files":[{"path":"../etc/passwd","content":"x"}]}`, err: "file path rejected"},
		{name: "absolute path", text: `{"files":[{"path":"/etc/passwd","content":"x"}]}`, err: "file path rejected"},
		{name: "a .git path", text: `{"files":[{"path":".git/config","content":"x"}]}`, err: "file path rejected"},
		{name: "a NUL byte", text: `{"files":[{"path":"a.bin","content":"a\u0000b"}]}`, err: "NUL byte"},
		// Found by FuzzParse: JSON would store U+FFFD instead of the byte.
		{name: "invalid UTF-8 in a fenced file", text: "File: a.txt\n```\n\xe6\n```", err: "not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := answer.Parse(tc.text)
			if tc.err != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			got := map[string]string{}
			for _, f := range a.Files {
				got[f.Path] = f.Content
			}
			require.Equal(t, tc.files, got)
			require.Equal(t, tc.summary, a.Summary)
		})
	}
}

func TestParseRejectsAnOversizedFile(t *testing.T) {
	big := strings.Repeat("x", 1<<20+1) // capsule.MaxFileBytes + 1
	_, err := answer.Parse(`{"files":[{"path":"big.txt","content":"` + big + `"}]}`)
	require.Error(t, err)
	require.Contains(t, err.Error(), "over the")
}

func TestJSONObject(t *testing.T) {
	tests := []struct {
		name, text, want, err string
	}{
		{name: "bare", text: ` {"a":1} `, want: `{"a":1}`},
		{name: "fenced among other fences", text: "```sh\nls\n```\n```json\n{\"a\":1}\n```", want: `{"a":1}`},
		{name: "after prose, trailing prose ignored", text: `The plan: {"a":{"b":[1,2]}} — done.`, want: `{"a":{"b":[1,2]}}`},
		{name: "no object", text: "no braces here", err: "no JSON object"},
		{name: "cut off", text: `{"a": [1, 2`, err: "not valid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := answer.JSONObject(tc.text)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.JSONEq(t, tc.want, got)
		})
	}
}
