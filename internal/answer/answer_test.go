package answer_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/answer"
	"github.com/quantumlayer/qlp/internal/domain"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		files   map[string]string // path → content
		summary string
		deleted []string
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
		{name: "a file deleted next to one written",
			text:    `{"summary":"s","files":[{"path":"stray.go","delete":true},{"path":"a.go","content":"package a\n"}]}`,
			files:   map[string]string{"a.go": "package a\n"},
			summary: "s", deleted: []string{"stray.go"}},
		{name: "only a deletion, given twice and with ./",
			text:    `{"files":[{"path":"./x/stray.go","delete":true},{"path":"x/stray.go","delete":true,"content":""}]}`,
			files:   map[string]string{},
			deleted: []string{"x/stray.go"}},
		{name: "delete: false is a file to write",
			text:  `{"files":[{"path":"a.go","content":"package a\n","delete":false}]}`,
			files: map[string]string{"a.go": "package a\n"}},
		{name: "deleting a path outside the project", text: `{"files":[{"path":"../main.go","delete":true}]}`,
			err: `path to delete rejected: path "../main.go" leaves its directory`},
		{name: "deleting an absolute path", text: `{"files":[{"path":"/etc/passwd","delete":true}]}`,
			err: `path to delete rejected: path "/etc/passwd" is absolute`},
		{name: "deleting the manifest", text: `{"files":[{"path":"qlp-manifest.json","delete":true}]}`,
			err: "path to delete rejected"},
		{name: "delete and content in one entry", text: `{"files":[{"path":"a.go","delete":true,"content":"package a\n"}]}`,
			err: `the entry for a.go has "delete": true and content`},
		{name: "one path written and deleted", text: `{"files":[{"path":"a.go","content":"package a\n"},{"path":"a.go","delete":true}]}`,
			err: "a.go is both written and deleted"},
		{name: "a fenced block never deletes", text: "Delete this file:\n\nstray.go\n```go\n```", files: map[string]string{"stray.go": "\n"}},
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
			require.Equal(t, tc.deleted, a.Deleted)
		})
	}
}

func TestApply(t *testing.T) {
	current := []domain.File{{Path: "go.mod", Content: "module m\n"}, {Path: "a.go", Content: "package a\n"}, {Path: "stray.go", Content: "package b\n"}}
	tests := []struct {
		name string
		text string
		want []string // the paths after, sorted
		err  string
	}{
		{name: "a deletion removes the file", text: `{"files":[{"path":"stray.go","delete":true}]}`, want: []string{"a.go", "go.mod"}},
		{name: "writes and deletions together",
			text: `{"files":[{"path":"stray.go","delete":true},{"path":"b.go","content":"package a\n"}]}`, want: []string{"a.go", "b.go", "go.mod"}},
		{name: "a write replaces, nothing deleted", text: `{"files":[{"path":"a.go","content":"package a // v2\n"}]}`, want: []string{"a.go", "go.mod", "stray.go"}},
		{name: "deleting an unknown file", text: `{"files":[{"path":"other/x.go","delete":true}]}`,
			err: "cannot delete other/x.go: it is not one of this task's files (go.mod, a.go, stray.go)"},
		{name: "deleting every file",
			text: `{"files":[{"path":"go.mod","delete":true},{"path":"a.go","delete":true},{"path":"stray.go","delete":true}]}`,
			err:  "the answer deletes every file of the task"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := answer.Parse(tc.text)
			require.NoError(t, err)
			got, err := a.Apply(current)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			var paths []string
			for _, f := range got {
				paths = append(paths, f.Path)
			}
			require.Equal(t, tc.want, paths)
		})
	}
	t.Run("the current files are not changed", func(t *testing.T) {
		a, err := answer.Parse(`{"files":[{"path":"stray.go","delete":true}]}`)
		require.NoError(t, err)
		_, err = a.Apply(current)
		require.NoError(t, err)
		require.Len(t, current, 3)
	})
	t.Run("nothing to delete in a task without files", func(t *testing.T) {
		a, err := answer.Parse(`{"files":[{"path":"x.go","delete":true}]}`)
		require.NoError(t, err)
		_, err = a.Apply(nil)
		require.ErrorContains(t, err, "not one of this task's files (it has none yet)")
		require.ErrorContains(t, a.WritesOnly(), "there are no files to delete yet")
	})
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
