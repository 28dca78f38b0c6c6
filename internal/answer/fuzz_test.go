package answer

import (
	"encoding/json"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/capsule"
)

// FuzzParse feeds arbitrary model answers to Parse. Whatever a model
// writes, an accepted answer holds at least one file, every path is safe
// (relative, clean, no "..", no .git, not QLP's own files) and given once,
// no content holds a NUL or exceeds the limit, a path is never both written
// and deleted; and an answer rebuilt as the JSON QLP asks for (deletions as
// {"path", "delete": true}) parses back to the same files and deletions.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"summary":"ok","files":[{"path":"main.go","content":"package main\n"}]}`,
		"Here it is:\n```json\n{\"summary\":\"s\",\"files\":[{\"path\":\"a/b.py\",\"content\":\"x = 1\\n\"}]}\n```\nDone.",
		"File: main.go\n```go\npackage main\n```\n",
		"```go path=cmd/app/main.go\npackage main\n```",
		"### `Makefile`\n```\nall:\n\ttrue\n```",
		// Hostile: traversal, absolute, .git, reserved names, backslashes, NUL.
		`{"files":[{"path":"../../etc/passwd","content":"x"}]}`,
		`{"files":[{"path":"/etc/passwd","content":"x"}]}`,
		`{"files":[{"path":".git/config","content":"x"}]}`,
		`{"files":[{"path":"qlp-manifest.json","content":"{}"}]}`,
		`{"files":[{"path":"a\\..\\..\\b","content":"x"}]}`,
		`{"files":[{"path":"a.go","content":"a\u0000b"}]}`,
		`{"files":[{"path":"stray.go","delete":true},{"path":"a.go","content":"package a\n"}]}`,
		`{"files":[{"path":"../x.go","delete":true}]}`,
		`{"files":[{"path":"./a.go","content":"1"},{"path":"a.go","content":"2"}]}`,
		`{"files":[{"path":" a.go ","content":"` + "```go\\npackage a\\n```" + `"}]}`,
		"```go title=../escape.go\npackage x\n```",
		"File: /abs.go\n```go\npackage x\n```",
		"{\"files\": [", // truncated JSON
		"```\n```\n```",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		a, err := Parse(text)
		if err != nil {
			if a != nil {
				t.Fatalf("Parse refused the answer (%v) but returned files", err)
			}
			return
		}
		checkFiles(t, a)
		if s := strings.TrimSpace(a.Summary); s != a.Summary {
			t.Fatalf("summary %q is not trimmed", a.Summary)
		}
		// The same files sent back as the JSON QLP asks for parse to the
		// same paths; a file's content loses at most one more outer fence.
		entries := make([]entry, 0, len(a.Files)+len(a.Deleted))
		for _, f := range a.Files {
			entries = append(entries, entry{Path: f.Path, Content: f.Content})
		}
		for _, p := range a.Deleted {
			entries = append(entries, entry{Path: p, Delete: true})
		}
		b, err := json.Marshal(struct {
			Summary string  `json:"summary"`
			Files   []entry `json:"files"`
		}{a.Summary, entries})
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(string(b))
		if err != nil {
			t.Fatalf("the accepted answer, re-encoded as JSON, is refused: %v\n%s", err, b)
		}
		if strings.Join(again.Deleted, "\n") != strings.Join(a.Deleted, "\n") {
			t.Fatalf("re-encoded answer deletes %q, the first parse %q", again.Deleted, a.Deleted)
		}
		if len(again.Files) != len(a.Files) {
			t.Fatalf("re-encoded answer has %d files, the first parse %d", len(again.Files), len(a.Files))
		}
		for i := range a.Files {
			if again.Files[i].Path != a.Files[i].Path {
				t.Fatalf("file %d: path %q became %q", i, a.Files[i].Path, again.Files[i].Path)
			}
			if want := stripOuterFence(a.Files[i].Content); again.Files[i].Content != want {
				t.Fatalf("file %s: content %q became %q", a.Files[i].Path, a.Files[i].Content, again.Files[i].Content)
			}
		}
	})
}

func checkFiles(t *testing.T, a *Answer) {
	t.Helper()
	if len(a.Files) == 0 && len(a.Deleted) == 0 {
		t.Fatal("an accepted answer neither writes nor deletes a file")
	}
	seen := map[string]bool{}
	for _, p := range a.Deleted {
		if err := capsule.CheckPath(p); err != nil {
			t.Fatalf("accepted deletion %q fails CheckPath: %v", p, err)
		}
		if seen[p] {
			t.Fatalf("deletion %q given twice", p)
		}
		seen[p] = true
	}
	for _, f := range a.Files {
		p := f.Path
		if err := capsule.CheckPath(p); err != nil {
			t.Fatalf("accepted path %q fails CheckPath: %v", p, err)
		}
		if path.IsAbs(p) || path.Clean(p) != p || !filepath.IsLocal(p) || strings.ContainsAny(p, "\\\x00") {
			t.Fatalf("accepted path %q is not clean and relative", p)
		}
		if seen[p] {
			t.Fatalf("path %q given twice", p)
		}
		seen[p] = true
		if strings.ContainsRune(f.Content, 0) {
			t.Fatalf("file %s holds a NUL byte", p)
		}
		if len(f.Content) > capsule.MaxFileBytes+1 {
			t.Fatalf("file %s is %d bytes, over the limit", p, len(f.Content))
		}
	}
}

// FuzzJSONObject checks that what JSONObject finds is a JSON object taken
// verbatim from the answer.
func FuzzJSONObject(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, "text ```json\n{\"a\":[1,2]}\n``` more", "prose {\"a\": {\"b\": \"}\"}} trailing {",
		"{", "}{", `{"a":"\ud800"}`, "```\n{bad}\n```\n{\"ok\":true}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		raw, err := JSONObject(text)
		if err != nil {
			if raw != "" {
				t.Fatalf("JSONObject failed (%v) but returned %q", err, raw)
			}
			return
		}
		if !strings.HasPrefix(raw, "{") || !json.Valid([]byte(raw)) {
			t.Fatalf("JSONObject returned %q, not a JSON object", raw)
		}
		if !strings.Contains(text, raw) {
			t.Fatalf("JSONObject returned %q, which is not in the answer", raw)
		}
	})
}
